// Package attentionrpc serves sensocto.v1.AttentionService: it converts attention
// reports of the calling viewer (user and browser tab) and the tracker's state between
// the protobuf messages and the attention domain, after checking that the caller may
// see each sensor named.
package attentionrpc

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// Handler implements sensoctov1connect.AttentionServiceHandler.
type Handler struct {
	tracker *attention.Tracker
	sensors *sensors.Service
}

var _ sensoctov1connect.AttentionServiceHandler = (*Handler)(nil)

// New returns a Handler.
func New(tracker *attention.Tracker, sensors *sensors.Service) *Handler {
	return &Handler{tracker: tracker, sensors: sensors}
}

// ReportAttention applies a batch of the caller's events in one tab. The batch is
// checked whole before any of it is applied: every sensor named must be visible, and
// every attribute named must exist on its sensor (declared or seen in data); otherwise
// NotFound naming the event's field (events[i].sensor_id or events[i].attribute_id).
// An event without attribute_id is about the whole sensor (the web app's tiles).
func (h *Handler) ReportAttention(ctx context.Context, req *sensoctov1.ReportAttentionRequest) (*sensoctov1.ReportAttentionResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	events := make([]attention.Event, len(req.GetEvents()))
	checked := make(map[[2]string]bool)
	for i, e := range req.GetEvents() {
		events[i] = attention.Event{
			SensorID: e.GetSensorId(), AttributeID: e.GetAttributeId(), Kind: attention.EventKind(e.GetKind()), //nolint:gosec // G115: protovalidate keeps kind within the defined enum values (1..11)
			BatteryLevel: e.GetBatteryLevel(), BatteryCharging: e.GetBatteryCharging(),
		}
		id, attr := e.GetSensorId(), e.GetAttributeId()
		if id == "" {
			continue
		}
		if !checked[[2]string{id, ""}] {
			if err := h.sensors.CheckView(ctx, v, id); err != nil {
				if apperr.IsNotFound(err) {
					return nil, apperr.Wrap(apperr.KindNotFound, err, fmt.Sprintf("events[%d].sensor_id: sensor not found", i))
				}
				return nil, fmt.Errorf("report attention: %w", err)
			}
			checked[[2]string{id, ""}] = true
		}
		if attr == "" || checked[[2]string{id, attr}] {
			continue
		}
		if err := h.sensors.CheckAttribute(ctx, id, attr); err != nil {
			if apperr.IsNotFound(err) {
				return nil, apperr.Wrap(apperr.KindNotFound, err, fmt.Sprintf("events[%d].attribute_id: sensor %s has no attribute %q", i, id, attr))
			}
			return nil, fmt.Errorf("report attention: %w", err)
		}
		checked[[2]string{id, attr}] = true
	}
	if err := h.tracker.Report(attention.Viewer{UserID: v.UserID.String(), TabID: req.GetTabId()}, events); err != nil {
		return nil, fmt.Errorf("report attention: %w", err)
	}
	return &sensoctov1.ReportAttentionResponse{LeaseMs: uint32(h.tracker.Lease() / time.Millisecond)}, nil //nolint:gosec // G115: a lease is seconds long
}

// GetAttention returns the attention on a visible sensor.
func (h *Handler) GetAttention(ctx context.Context, req *sensoctov1.GetAttentionRequest) (*sensoctov1.GetAttentionResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.sensors.CheckView(ctx, v, req.GetSensorId()); err != nil {
		return nil, fmt.Errorf("get attention: %w", err)
	}
	return &sensoctov1.GetAttentionResponse{Attention: toProto(h.tracker.Snapshot(req.GetSensorId()))}, nil
}

// WatchAttention streams the attention on visible sensors: the current state, then
// every change (coalesced per sensor). A sensor the caller may no longer see (made
// private, deleted) is dropped at once; the stream goes on with the others. A revoked
// credential ends it (authz.StreamGuard).
func (h *Handler) WatchAttention(ctx context.Context, req *sensoctov1.WatchAttentionRequest, stream *connect.ServerStream[sensoctov1.WatchAttentionResponse]) error {
	g, err := authz.GuardStream(ctx)
	if err != nil {
		return err
	}
	defer g.Close()
	ids := req.GetSensorIds()
	sub := h.tracker.Subscribe(ids...)
	defer sub.Close()
	if err := g.Watch(h.sensors, ids, sub.Remove); err != nil {
		return fmt.Errorf("watch attention: %w", err)
	}
	first := &sensoctov1.WatchAttentionResponse{}
	for _, id := range ids {
		if g.Allows(id) {
			first.Attention = append(first.Attention, toProto(h.tracker.Snapshot(id)))
		}
	}
	if err := stream.Send(first); err != nil {
		return fmt.Errorf("send attention: %w", err)
	}
	for {
		changes, err := sub.Next(g.Context())
		if err != nil {
			return g.Err() // nil when the client went away, else the credential's error
		}
		res := &sensoctov1.WatchAttentionResponse{}
		for _, c := range changes {
			if g.Allows(c.SensorID) {
				res.Attention = append(res.Attention, toProto(c.SensorAttention))
			}
		}
		if len(res.Attention) == 0 {
			continue
		}
		if !g.Valid() {
			return g.Err()
		}
		if err := stream.Send(res); err != nil {
			return fmt.Errorf("send attention: %w", err)
		}
	}
}

func toLevel(l attention.Level) sensoctov1.AttentionLevel { return sensoctov1.AttentionLevel(l + 1) }

func toProto(a attention.SensorAttention) *sensoctov1.SensorAttention {
	out := &sensoctov1.SensorAttention{SensorId: a.SensorID, Level: toLevel(a.Level), Watchers: a.Watchers}
	if !a.ChangedAt.IsZero() {
		out.ChangedAt = timestamppb.New(a.ChangedAt)
	}
	for _, aa := range a.Attributes {
		out.Attributes = append(out.Attributes, &sensoctov1.AttributeAttention{
			AttributeId: aa.AttributeID, Level: toLevel(aa.Level), Viewers: aa.Viewers,
			Hovering: aa.Hovering, Focused: aa.Focused, Pinned: aa.Pinned,
		})
	}
	return out
}
