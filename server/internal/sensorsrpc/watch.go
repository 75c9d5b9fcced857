package sensorsrpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/auth"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// Watch streams live data of visible sensors. While it is open it counts as LOW
// attention on them. Data is delivered at the watcher window of this watcher's own
// attention on each attribute (its user's, in the request's tab when named;
// sensors.WatchWindow: immediate at HIGH), not of other viewers'.
func (h *Handler) Watch(ctx context.Context, req *sensoctov1.WatchRequest, stream *connect.ServerStream[sensoctov1.WatchResponse]) error {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return err
	}
	ids := req.GetSensorIds()
	for _, id := range ids {
		if err := h.sensors.CheckView(ctx, v, id); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
	}
	if err := h.sensors.EnsureLive(ctx, ids); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	userID, tabID := v.UserID.String(), req.GetTabId()
	release := h.tracker.AddWatcher(ids)
	defer release()
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

	// Send the response headers now: a client's Watch call returns once they arrive,
	// and with skip_recent the first delivery may be long in coming.
	if err := stream.Send(nil); err != nil {
		return fmt.Errorf("send watch headers: %w", err)
	}

	// Credentials are rechecked every revalidateEvery even while nothing is delivered:
	// a revoked token or expired guest ends the stream with that error.
	var wg sync.WaitGroup
	defer wg.Wait()
	nctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	wg.Go(func() {
		t := time.NewTicker(revalidateEvery)
		defer t.Stop()
		for {
			select {
			case <-nctx.Done():
				return
			case <-t.C:
				if err := auth.Revalidate(ctx); err != nil {
					stop(err)
					return
				}
			}
		}
	})

	var enc watchEncoder
	for {
		d, err := w.Next(nctx)
		if err != nil {
			if ctx.Err() == nil && nctx.Err() != nil {
				return context.Cause(nctx) // the credential is no longer valid
			}
			if ctx.Err() != nil || errors.Is(err, hub.ErrWatcherClosed) {
				return nil
			}
			return fmt.Errorf("watch: %w", err)
		}
		res := enc.encode(&d)
		for _, ev := range d.Events {
			res.Events = append(res.Events, h.toEvent(ctx, v, ev))
		}
		if err := stream.Send(res); err != nil {
			return fmt.Errorf("send watch batch: %w", err)
		}
	}
}

func (h *Handler) toEvent(ctx context.Context, v auth.Viewer, ev hub.Event) *sensoctov1.SensorEvent {
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
