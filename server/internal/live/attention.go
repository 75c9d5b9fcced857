package live

import (
	"context"
	"fmt"
	"time"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// ReportAttention applies a batch of v's attention events in one tab and returns the
// lease they hold for. The batch is checked whole before any of it is applied: every
// sensor named must be visible, and every attribute named must exist on its sensor
// (declared or seen in data); otherwise NotFound naming the event's field
// (events[i].sensor_id or events[i].attribute_id). An event without an attribute is
// about the whole sensor (the web app's tiles).
func (s *Service) ReportAttention(ctx context.Context, v authz.Viewer, tabID string, events []attention.Event) (time.Duration, error) {
	checked := make(map[[2]string]bool)
	for i, e := range events {
		id, attr := e.SensorID, e.AttributeID
		if id == "" {
			continue
		}
		if !checked[[2]string{id, ""}] {
			if err := s.sensors.CheckView(ctx, v, id); err != nil {
				if apperr.IsNotFound(err) {
					return 0, apperr.Wrap(apperr.KindNotFound, err, fmt.Sprintf("events[%d].sensor_id: sensor not found", i))
				}
				return 0, fmt.Errorf("report attention: %w", err)
			}
			checked[[2]string{id, ""}] = true
		}
		if attr == "" || checked[[2]string{id, attr}] {
			continue
		}
		if err := s.sensors.CheckAttribute(ctx, id, attr); err != nil {
			if apperr.IsNotFound(err) {
				return 0, apperr.Wrap(apperr.KindNotFound, err, fmt.Sprintf("events[%d].attribute_id: sensor %s has no attribute %q", i, id, attr))
			}
			return 0, fmt.Errorf("report attention: %w", err)
		}
		checked[[2]string{id, attr}] = true
	}
	if err := s.tracker.Report(attention.Viewer{UserID: v.UserID.String(), TabID: tabID}, events); err != nil {
		return 0, fmt.Errorf("report attention: %w", err)
	}
	return s.tracker.Lease(), nil
}

// Attention returns the attention on a sensor v may see, of the whole cluster. When
// this node does not follow the sensor's attention yet, it follows it for one
// attentionRefresh and a margin, the time other nodes take to repeat theirs (cluster
// mode only; ctx ending cuts the wait short).
func (s *Service) Attention(ctx context.Context, v authz.Viewer, sensorID string) (attention.SensorAttention, error) {
	if err := s.sensors.CheckView(ctx, v, sensorID); err != nil {
		return attention.SensorAttention{}, fmt.Errorf("get attention: %w", err)
	}
	if !s.remote.solo && !s.followsAttention(sensorID) {
		defer s.followAttention(sensorID)()
		t := time.NewTimer(attentionRefresh + attentionRefresh/2)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return s.clusterAttention(sensorID), nil
}

// RunAttentionWatch sends the attention on the sensors named, of the whole cluster:
// the current state of every one the viewer may see, then every change (coalesced per
// sensor), until ctx ends (nil) or a send fails. A sensor the viewer may no longer see
// is dropped at once (through g); the others go on. Other nodes' attention counts from
// their next repeat (within attentionRefresh) and every change after.
func (s *Service) RunAttentionWatch(ctx context.Context, g Guard, sensorIDs []string, send func([]attention.SensorAttention) error) error {
	sub := s.tracker.Subscribe(sensorIDs...)
	defer sub.Close()
	if err := g.Watch(s.sensors, sensorIDs, sub.Remove); err != nil {
		return fmt.Errorf("watch attention: %w", err)
	}
	l := newAttListener()
	defer s.followAttentions(sensorIDs, l)()
	var first []attention.SensorAttention
	for _, id := range sensorIDs {
		if g.Allows(id) {
			first = append(first, s.clusterAttention(id))
		}
	}
	if err := send(first); err != nil {
		return fmt.Errorf("send attention: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil // the guard's interceptor gives the credential's error when that is why
		case <-sub.C():
		case <-l.notify:
		}
		var out []attention.SensorAttention
		seen := make(map[string]bool)
		for _, c := range sub.Drain() {
			seen[c.SensorID] = true
			if g.Allows(c.SensorID) {
				out = append(out, s.clusterAttention(c.SensorID))
			}
		}
		for _, id := range l.drain() {
			if !seen[id] && g.Allows(id) {
				seen[id] = true
				out = append(out, s.clusterAttention(id))
			}
		}
		if len(out) == 0 {
			continue
		}
		if err := send(out); err != nil {
			return fmt.Errorf("send attention: %w", err)
		}
	}
}
