package live

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// WatchRequest is what a Watch stream asks for.
type WatchRequest struct {
	SensorIDs []string
	// AttributeIDs limits the attributes (all when empty).
	AttributeIDs []string
	// TabID names the viewer's browser tab, whose attention sets the delivery windows
	// ("" : the most attention any of the user's tabs pays).
	TabID string
	// Recent asks for what the rings hold first.
	Recent bool
}

// SensorEvent is a hub event resolved for one viewer.
type SensorEvent struct {
	// Kind is the hub's, except that EventRegistered and EventUpdated of a sensor the
	// viewer can no longer see become EventRemoved.
	Kind     hub.EventKind
	SensorID string
	// Sensor is the sensor as the viewer sees it (EventRegistered, EventUpdated).
	Sensor sensors.Sensor
	// Attention is the sensor's attention level now (every kind but EventRemoved and
	// the two above, whose Sensor is shown with its own level).
	Attention attention.Level
}

// WatchConn is the transport of a watch session (sensorsrpc adapts a Watch stream).
type WatchConn interface {
	// Start is called once the session is set up, before the first delivery (the
	// handler sends the response headers then: with skip_recent the first delivery may
	// be long in coming).
	Start() error
	// Send sends a delivery (valid until Send returns) with its events resolved.
	Send(d *hub.Delivery, events []SensorEvent) error
}

// RunWatch runs a watch session until ctx ends (nil) or a send fails. While it runs it
// counts as LOW attention on its sensors. Data is delivered at the watcher window
// (WatchWindow) of this watcher's own attention on each attribute (its user's, in the
// request's tab when named: immediate at HIGH), not of other viewers'.
//
// Access is followed through g: a sensor the viewer may no longer see (made private,
// deleted, its room left) is dropped at once (an EventRemoved, then nothing more of
// it) while the others go on.
func (s *Service) RunWatch(ctx context.Context, g Guard, req WatchRequest, conn WatchConn) error {
	ids := req.SensorIDs
	var held watchHeld
	defer held.release()
	if err := g.Watch(s.sensors, ids, held.lose); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	if err := s.sensors.EnsureLive(ctx, ids); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	v := g.Viewer()
	userID, tabID := v.UserID.String(), req.TabID
	w, err := s.hub.Watch(hub.WatchSpec{
		SensorIDs: ids, AttributeIDs: req.AttributeIDs, Recent: req.Recent,
		Window: func(sensorID, attributeID string) time.Duration {
			return WatchWindow(s.tracker.WatcherLevel(userID, tabID, sensorID, attributeID), s.loadMultiplier())
		},
	})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	held.start(w, ids, g.Allows, func(ids []string) func() {
		// LOW attention here, and the other nodes' attention on the sensor for its
		// attention events (remoteattention.go).
		release, unfollow := s.tracker.AddWatcher(ids), s.followAttentions(ids, nil)
		return func() { release(); unfollow() }
	})
	// Data of these sensors ingested on other nodes comes here while the watch runs.
	defer s.remote.follow(ids)()
	if err := conn.Start(); err != nil {
		return fmt.Errorf("send watch headers: %w", err)
	}
	var events []SensorEvent
	for {
		d, err := w.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, hub.ErrWatcherClosed) {
				return nil
			}
			return fmt.Errorf("watch: %w", err)
		}
		// Data taken just before a sensor was dropped goes no further (Allows is an
		// atomic load while nothing was lost).
		d.Data = slices.DeleteFunc(d.Data, func(sd hub.SensorData) bool { return !g.Allows(sd.SensorID) })
		events = events[:0]
		for _, ev := range d.Events {
			events = append(events, s.resolve(ctx, g, ev))
		}
		if err := conn.Send(&d, events); err != nil {
			return fmt.Errorf("send watch batch: %w", err)
		}
	}
}

// resolve resolves a hub event for the session's viewer.
func (s *Service) resolve(ctx context.Context, g Guard, ev hub.Event) SensorEvent {
	out := SensorEvent{Kind: ev.Kind, SensorID: ev.SensorID}
	switch ev.Kind {
	case hub.EventRegistered, hub.EventUpdated:
		sn, err := s.sensors.Get(ctx, g.Viewer(), ev.SensorID)
		if err != nil {
			out.Kind = hub.EventRemoved // no longer visible
			return out
		}
		out.Sensor = sn
		return out
	case hub.EventRemoved:
		return out
	}
	out.Attention = s.clusterLevel(ev.SensorID)
	return out
}

// watchHeld is what a Watch holds per sensor (its hub subscription and its LOW
// attention), given up sensor by sensor as access to them ends.
type watchHeld struct {
	mu       sync.Mutex
	w        *hub.Watcher
	releases map[string]func()
	lost     []string // lost before start
}

// start takes the hub watcher and counts the stream as a watcher of every sensor
// still allowed; a sensor lost before start is dropped now.
func (wh *watchHeld) start(w *hub.Watcher, ids []string, allows func(string) bool, add func([]string) func()) {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	wh.w = w
	wh.releases = make(map[string]func(), len(ids))
	for _, id := range ids {
		if _, dup := wh.releases[id]; !dup && allows(id) {
			wh.releases[id] = add([]string{id})
		}
	}
	for _, id := range wh.lost {
		w.Drop(id)
	}
	wh.lost = nil
}

// lose gives up one sensor: called by the guard when access to it ended.
func (wh *watchHeld) lose(id string) {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	if wh.w == nil {
		wh.lost = append(wh.lost, id)
		return
	}
	wh.w.Drop(id)
	if release := wh.releases[id]; release != nil {
		release()
		delete(wh.releases, id)
	}
}

// release gives up everything still held.
func (wh *watchHeld) release() {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	for _, release := range wh.releases {
		release()
	}
	wh.releases = nil
}
