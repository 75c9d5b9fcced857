package sensorsrpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// Watch streams live data of visible sensors. While it is open it counts as LOW
// attention on them. Data is delivered at the watcher window of this watcher's own
// attention on each attribute (its user's, in the request's tab when named;
// sensors.WatchWindow: immediate at HIGH), not of other viewers'.
//
// Access is followed by an authz.StreamGuard: a sensor the caller may no longer see
// (made private, deleted) is dropped at once (a REMOVED event, then nothing more of
// it) while the others go on; a revoked credential ends the stream.
func (h *Handler) Watch(ctx context.Context, req *sensoctov1.WatchRequest, stream *connect.ServerStream[sensoctov1.WatchResponse]) error {
	g, err := authz.GuardStream(ctx)
	if err != nil {
		return err
	}
	defer g.Close()
	ids := req.GetSensorIds()
	var held watchHeld
	defer held.release()
	if err := g.Watch(h.sensors, ids, held.lose); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	if err := h.sensors.EnsureLive(ctx, ids); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	v := g.Viewer()
	userID, tabID := v.UserID.String(), req.GetTabId()
	w, err := h.hub.Watch(hub.WatchSpec{
		SensorIDs: ids, AttributeIDs: req.GetAttributeIds(), Recent: !req.GetSkipRecent(),
		Window: func(sensorID, attributeID string) time.Duration {
			return sensors.WatchWindow(h.tracker.WatcherLevel(userID, tabID, sensorID, attributeID), h.load())
		},
	})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	held.start(w, ids, g.Allows, h.tracker.AddWatcher)

	// Send the response headers now: a client's Watch call returns once they arrive,
	// and with skip_recent the first delivery may be long in coming.
	if err := stream.Send(nil); err != nil {
		return fmt.Errorf("send watch headers: %w", err)
	}

	var enc watchEncoder
	for {
		d, err := w.Next(g.Context())
		if err != nil {
			if gerr := g.Err(); gerr != nil {
				return gerr // the credential is no longer valid
			}
			if ctx.Err() != nil || errors.Is(err, hub.ErrWatcherClosed) {
				return nil
			}
			return fmt.Errorf("watch: %w", err)
		}
		if !g.Valid() {
			return g.Err() // revoked while this delivery was taken
		}
		// Data taken just before a sensor was dropped goes no further (Allows is an
		// atomic load while nothing was lost).
		d.Data = slices.DeleteFunc(d.Data, func(sd hub.SensorData) bool { return !g.Allows(sd.SensorID) })
		res := enc.encode(&d)
		for _, ev := range d.Events {
			res.Events = append(res.Events, h.toEvent(ctx, v, ev))
		}
		if err := stream.Send(res); err != nil {
			return fmt.Errorf("send watch batch: %w", err)
		}
	}
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

func (h *Handler) toEvent(ctx context.Context, v authz.Viewer, ev hub.Event) *sensoctov1.SensorEvent {
	out := &sensoctov1.SensorEvent{Sensor: &sensoctov1.Sensor{SensorId: ev.SensorID}}
	switch ev.Kind {
	case hub.EventRegistered, hub.EventUpdated:
		out.Kind = sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_UPDATED
		if s, err := h.sensors.Get(ctx, v, ev.SensorID); err == nil {
			out.Sensor = h.toSensor(s)
		} else {
			out.Kind = sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_REMOVED // no longer visible
		}
		return out
	case hub.EventConnected:
		out.Kind = sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_CONNECTED
		out.Sensor.Connected = true
	case hub.EventDisconnected:
		out.Kind = sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_DISCONNECTED
	case hub.EventRemoved:
		out.Kind = sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_REMOVED
		return out
	case hub.EventAttention:
		out.Kind = sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_ATTENTION
	}
	out.Sensor.AttentionLevel = toLevel(h.tracker.Level(ev.SensorID))
	return out
}

// watchEncoder builds WatchResponses in reused memory: connect's Send marshals
// synchronously, so the messages of one delivery can be reset and reused for the
// next. Only values other than numbers allocate per item.
type watchEncoder struct {
	res    sensoctov1.WatchResponse
	data   []sensoctov1.SensorData
	dataP  []*sensoctov1.SensorData
	ms     []sensoctov1.Measurement
	nums   []sensoctov1.Measurement_Number
	blocks []sensoctov1.SampleBlock
}

func (e *watchEncoder) encode(d *hub.Delivery) *sensoctov1.WatchResponse {
	nm, nb := 0, 0
	for i := range d.Data {
		nm += len(d.Data[i].Measurements)
		nb += len(d.Data[i].Blocks)
	}
	// Grow the arenas before taking pointers into them.
	if cap(e.ms) < nm {
		e.ms = make([]sensoctov1.Measurement, nm)
		e.nums = make([]sensoctov1.Measurement_Number, nm)
	}
	if cap(e.blocks) < nb {
		e.blocks = make([]sensoctov1.SampleBlock, nb)
	}
	if cap(e.data) < len(d.Data) {
		e.data = make([]sensoctov1.SensorData, len(d.Data))
	}
	e.ms, e.nums, e.blocks, e.data = e.ms[:nm], e.nums[:nm], e.blocks[:nb], e.data[:len(d.Data)]
	e.res.Reset()
	e.dataP = e.dataP[:0]
	mi, bi := 0, 0
	for i := range d.Data {
		src := &d.Data[i]
		sd := &e.data[i]
		ms, bs := sd.Measurements[:0], sd.Blocks[:0]
		sd.Reset()
		sd.SensorId = src.SensorID
		for j := range src.Measurements {
			m := &src.Measurements[j]
			pm := &e.ms[mi]
			pm.Reset()
			pm.AttributeId, pm.TimeUs, pm.ServerTimeUs, pm.Extras = m.AttributeID, m.TimeUS, m.ServerUS, m.Extras
			if m.Value.Kind == hub.KindNumber {
				n := &e.nums[mi]
				n.Number = m.Value.F[0]
				pm.Value = n
			} else {
				setValue(pm, &m.Value)
			}
			ms = append(ms, pm)
			mi++
		}
		for j := range src.Blocks {
			b := &src.Blocks[j]
			pb := &e.blocks[bi]
			pb.Reset()
			pb.AttributeId, pb.StartTimeUs, pb.SampleRateHz, pb.Samples, pb.ServerTimeUs = b.AttributeID, b.StartTimeUS, b.SampleRateHz, b.Samples, b.ServerUS
			bs = append(bs, pb)
			bi++
		}
		sd.Measurements, sd.Blocks = ms, bs
		e.dataP = append(e.dataP, sd)
	}
	e.res.Data = e.dataP
	e.res.Dropped = d.Dropped
	e.res.Recent = d.Recent
	return &e.res
}
