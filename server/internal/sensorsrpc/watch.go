package sensorsrpc

import (
	"context"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/live"
)

// Watch streams live data of visible sensors (live.Service.RunWatch): at the window of
// this watcher's own attention, sensors the caller may no longer see dropped at once
// (a REMOVED event), and its credential guarded by auth's interceptor.
func (h *Handler) Watch(ctx context.Context, req *sensoctov1.WatchRequest, stream *connect.ServerStream[sensoctov1.WatchResponse]) error {
	g, err := authz.StreamGuardFrom(ctx)
	if err != nil {
		return err
	}
	return h.live.RunWatch(ctx, g, live.WatchRequest{
		SensorIDs: req.GetSensorIds(), AttributeIDs: req.GetAttributeIds(), TabID: req.GetTabId(), Recent: !req.GetSkipRecent(),
	}, &watchConn{h: h, stream: stream})
}

// watchConn adapts a Watch stream to live.WatchConn.
type watchConn struct {
	h      *Handler
	stream *connect.ServerStream[sensoctov1.WatchResponse]
	enc    watchEncoder
}

// Start sends the response headers: a client's Watch call returns once they arrive.
func (c *watchConn) Start() error { return c.stream.Send(nil) }

func (c *watchConn) Send(d *hub.Delivery, events []live.SensorEvent) error {
	res := c.enc.encode(d)
	for i := range events {
		res.Events = append(res.Events, c.h.toEvent(&events[i]))
	}
	return c.stream.Send(res)
}

func (h *Handler) toEvent(ev *live.SensorEvent) *sensoctov1.SensorEvent {
	out := &sensoctov1.SensorEvent{Sensor: &sensoctov1.Sensor{SensorId: ev.SensorID}}
	switch ev.Kind {
	case hub.EventRegistered, hub.EventUpdated:
		out.Kind = sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_UPDATED
		out.Sensor = h.toSensor(ev.Sensor)
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
	out.Sensor.AttentionLevel = toLevel(ev.Attention)
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
