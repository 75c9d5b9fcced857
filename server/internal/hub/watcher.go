package hub

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/apperr"
)

// EventKind says what happened to a watched sensor.
type EventKind uint8

// Sensor events.
const (
	EventRegistered   EventKind = iota + 1 // the sensor became live
	EventUpdated                           // its attributes or metadata changed
	EventConnected                         // a connector started streaming (sent by the caller via Notify)
	EventDisconnected                      // the last connector stopped (via Notify)
	EventRemoved                           // the sensor was deleted: no more data will come
	EventAttention                         // its attention level changed (sent by the wiring via Notify)
)

// Event is a change to a watched sensor.
type Event struct {
	Kind     EventKind
	SensorID string
	AtUS     int64
}

// SensorData is data of one sensor in a delivery: per attribute in arrival
// order.
type SensorData struct {
	SensorID     string
	Measurements []Measurement
	Blocks       []SampleBlock
}

// Delivery is what Next returns.
type Delivery struct {
	Data   []SensorData
	Events []Event
	// Dropped counts values this watcher lost since the previous delivery
	// because its queue was full (the oldest go first).
	Dropped uint64
	// Recent marks the first delivery of a watcher created with
	// WatchSpec.Recent: the recent window the rings held at subscription.
	Recent bool
}

// WindowFunc returns how long queued data of an attribute may wait before
// delivery (the flush window of the watcher's attention level for it, e.g.
// sensors.WatchWindow). It is called by the watcher's goroutine in Next,
// never on the ingest path.
type WindowFunc func(sensorID, attributeID string) time.Duration

// Defaults and caps of watchers.
const (
	DefaultMaxQueuedValues = 64 << 10
	MaxWatchedSensors      = apirules.MaxWatchSensors
	maxQueuedEvents        = 256
)

// ErrWatcherClosed is returned by Next after Close.
var ErrWatcherClosed = errors.New("hub: watcher closed")

// WatchSpec says what a watcher wants.
type WatchSpec struct {
	SensorIDs []string
	// AttributeIDs filters the attributes (empty: all, including attributes
	// registered later).
	AttributeIDs []string
	// Recent makes the first delivery the recent window of the rings, taken
	// atomically with the subscription (no gap, no duplicate).
	Recent bool
	// Window gives the flush window per attribute; nil delivers at once.
	Window WindowFunc
	// MaxQueuedValues bounds the queue in values (one per measurement, one per
	// sample); DefaultMaxQueuedValues when ≤ 0.
	MaxQueuedValues int
}

// qent is one queued item: a measurement or a sample block.
type qent struct {
	a       *attribute
	block   bool
	m       Measurement // for a block: AttributeID, TimeUS = start, ServerUS
	samples []float32
	rate    float64
}

func (e *qent) values() int {
	if e.block {
		return len(e.samples)
	}
	return 1
}

// pendingRef marks an attribute of a subscription with undelivered data.
type pendingRef struct {
	sb       *sub
	idx      int
	sensorID string
	attrID   string
	since    int64 // server time of the oldest undelivered value
}

// sub is a watcher's subscription to one sensor. mask is guarded by the
// sensor's mu; pending by the watcher's mu.
type sub struct {
	w       *Watcher
	s       *sensor
	all     bool
	names   []string
	mask    [MaxAttributesPerSensor / 64]uint64
	pending []bool
}

func (sb *sub) attributeAdded(a *attribute) {
	if sb.all || contains(sb.names, a.id) {
		sb.mask[a.index>>6] |= 1 << (a.index & 63)
	}
}

func (sb *sub) wants(a *attribute) bool {
	return sb.all || sb.mask[a.index>>6]&(1<<(a.index&63)) != 0
}

// Watcher is one Watch stream's view of the hub: a bounded queue filled by
// ingest and drained by Next, which one goroutine (the stream's) calls.
type Watcher struct {
	h         *Hub
	window    WindowFunc
	maxValues int
	wake      chan struct{}
	timer     *time.Timer

	mu      sync.Mutex
	closed  bool
	subs    []*sub
	q       []qent
	spare   []qent // an empty queue buffer to swap in at the next delivery
	qhead   int
	qn      int
	queued  int // values in q
	dropped uint64
	total   uint64
	events  []Event
	dirty   []pendingRef
	recent  *Delivery
	// Next's goroutine only: a copy of dirty, and drain buffers reused by
	// every delivery.
	refs []pendingRef
	data []SensorData
	idx  map[*sensor]int
	// smallDrains counts consecutive small deliveries.
	smallDrains int
}

// Watch subscribes to sensors. Sensors that are not live yet are created
// empty (the caller has authorized the ids), so data and events reach the
// watcher once they are registered and stream. Close the watcher when done.
func (h *Hub) Watch(spec WatchSpec) (*Watcher, error) {
	if len(spec.SensorIDs) == 0 || len(spec.SensorIDs) > MaxWatchedSensors {
		return nil, apperr.InvalidArgument("sensor_ids", fmt.Sprintf("name 1 to %d sensors", MaxWatchedSensors))
	}
	for i, id := range spec.SensorIDs {
		if !apirules.ValidSensorID(id) {
			return nil, apperr.InvalidArgument(fmt.Sprintf("sensor_ids[%d]", i), "must match "+apirules.SensorIDPattern)
		}
	}
	for i, id := range spec.AttributeIDs {
		if !apirules.ValidAttributeID(id) {
			return nil, apperr.InvalidArgument(fmt.Sprintf("attribute_ids[%d]", i), "must match "+apirules.AttributeIDPattern)
		}
	}
	w := &Watcher{
		h: h, window: spec.Window, maxValues: spec.MaxQueuedValues,
		wake: make(chan struct{}, 1), timer: time.NewTimer(time.Hour),
	}
	w.timer.Stop()
	if w.maxValues <= 0 {
		w.maxValues = DefaultMaxQueuedValues
	}
	names := append([]string(nil), spec.AttributeIDs...)
	recent := Delivery{Recent: true}
	for i, id := range spec.SensorIDs {
		if contains(spec.SensorIDs[:i], id) {
			continue
		}
		for {
			s := h.ensure(id)
			s.mu.Lock()
			if s.deleted {
				s.mu.Unlock()
				continue
			}
			sb := &sub{w: w, s: s, all: len(names) == 0, names: names}
			for _, a := range s.list {
				sb.attributeAdded(a)
			}
			s.subs = append(s.subs, sb)
			w.mu.Lock()
			w.subs = append(w.subs, sb)
			w.mu.Unlock()
			if spec.Recent {
				if sd := s.recent(names); len(sd.Measurements) > 0 {
					recent.Data = append(recent.Data, sd)
				}
			}
			s.mu.Unlock()
			break
		}
	}
	if spec.Recent {
		w.recent = &recent
	}
	h.watchers.Add(1)
	h.capacity.Add(int64(w.maxValues))
	return w, nil
}

// push queues the items of a batch that sb wants. Called by Ingest with the
// sensor's mu held; attrs holds the attribute of each item.
func (w *Watcher) push(sb *sub, b *Batch, attrs []*attribute) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	before, dropped := w.queued, w.total
	wake := false
	for i := range b.Measurements {
		a := attrs[i]
		if !sb.wants(a) {
			continue
		}
		m := &b.Measurements[i]
		e := w.reserve(1) // a zeroed slot: set only what a measurement uses
		e.a, e.m = a, *m
		wake = w.markPending(sb, a, m.ServerUS) || wake
	}
	nm := len(b.Measurements)
	for i := range b.Blocks {
		a := attrs[nm+i]
		if !sb.wants(a) {
			continue
		}
		blk := &b.Blocks[i]
		e := w.reserve(len(blk.Samples))
		e.a, e.block, e.samples, e.rate = a, true, blk.Samples, blk.SampleRateHz
		e.m.AttributeID, e.m.TimeUS, e.m.ServerUS = blk.AttributeID, blk.StartTimeUS, blk.ServerUS
		wake = w.markPending(sb, a, blk.ServerUS) || wake
	}
	if before < w.maxValues/2 && w.queued >= w.maxValues/2 {
		wake = true // half full: deliver early rather than drop
	}
	w.h.queued.Add(int64(w.queued - before))
	if d := w.total - dropped; d > 0 {
		w.h.dropped.Add(d)
	}
	w.mu.Unlock()
	if wake {
		w.signal()
	}
}

func (w *Watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// reserve makes room for an entry of v values, dropping the oldest entries
// while the queue would exceed maxValues, and returns the new, zeroed slot.
// w.mu must be held.
func (w *Watcher) reserve(v int) *qent {
	for w.qn > 0 && w.queued+v > w.maxValues {
		f := &w.q[w.qhead]
		fv := f.values()
		w.queued -= fv
		w.dropped += count(fv)
		w.total += count(fv)
		*f = qent{}
		w.qhead++
		if w.qhead == len(w.q) {
			w.qhead = 0
		}
		w.qn--
	}
	if w.qn == len(w.q) {
		nq := make([]qent, max(64, 2*len(w.q)))
		for k := 0; k < w.qn; k++ {
			nq[k] = w.q[(w.qhead+k)%len(w.q)]
		}
		w.q, w.qhead = nq, 0
	}
	j := w.qhead + w.qn
	if j >= len(w.q) {
		j -= len(w.q)
	}
	w.qn++
	w.queued += v
	return &w.q[j]
}

// markPending records that the subscription's attribute has undelivered data
// since the server time since, and reports whether it just became pending (a
// new, possibly earlier deadline). w.mu must be held.
func (w *Watcher) markPending(sb *sub, a *attribute, since int64) bool {
	if a.index >= len(sb.pending) {
		sb.pending = append(sb.pending, make([]bool, a.index+1-len(sb.pending))...)
	}
	if sb.pending[a.index] {
		return false
	}
	sb.pending[a.index] = true
	w.dirty = append(w.dirty, pendingRef{sb: sb, idx: a.index, sensorID: sb.s.id, attrID: a.id, since: since})
	return true
}

// pushEvent queues an event (the oldest go when maxQueuedEvents are queued).
// The sensor's mu is held by the caller.
func (w *Watcher) pushEvent(ev Event) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	if len(w.events) >= maxQueuedEvents {
		copy(w.events, w.events[1:])
		w.events = w.events[:len(w.events)-1]
		w.dropped++
		w.total++
	}
	w.events = append(w.events, ev)
	w.mu.Unlock()
	w.signal()
}

// detach removes a subscription whose sensor was deleted. The sensor's mu is
// held by the caller.
func (w *Watcher) detach(sb *sub) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.subs {
		if x == sb {
			w.subs = append(w.subs[:i], w.subs[i+1:]...)
			break
		}
	}
}

// Drop ends the watcher's subscription to one sensor at once, for a viewer who lost
// access to it: what of that sensor is queued (data and events) is discarded, nothing
// of it is queued afterwards, and an EventRemoved is queued in its place to tell the
// stream. The other subscriptions go on. It reports whether the watcher followed the
// sensor (false after the sensor was deleted: Delete already detached it).
func (w *Watcher) Drop(sensorID string) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	var sb *sub
	for i, x := range w.subs {
		if x.s.id == sensorID {
			sb = x
			w.subs = append(w.subs[:i], w.subs[i+1:]...)
			break
		}
	}
	w.mu.Unlock()
	if sb == nil {
		return false
	}
	s := sb.s
	s.mu.Lock() // after this no Ingest of the sensor reaches the watcher
	for i, x := range s.subs {
		if x == sb {
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	w.mu.Lock()
	if !w.closed {
		w.purgeLocked(s, sb)
		w.events = append(w.events, Event{Kind: EventRemoved, SensorID: sensorID, AtUS: w.h.nowUS()})
	}
	w.mu.Unlock()
	w.signal()
	return true
}

// purgeLocked removes everything queued of sensor s (subscription sb), keeping the
// order of the rest. w.mu must be held.
func (w *Watcher) purgeLocked(s *sensor, sb *sub) {
	kept, removed := 0, 0
	for k := 0; k < w.qn; k++ {
		e := w.q[(w.qhead+k)%len(w.q)]
		if e.a.sensor == s {
			removed += e.values()
			continue
		}
		w.q[(w.qhead+kept)%len(w.q)] = e
		kept++
	}
	for k := kept; k < w.qn; k++ {
		w.q[(w.qhead+k)%len(w.q)] = qent{}
	}
	w.qn = kept
	w.queued -= removed
	w.h.queued.Add(-int64(removed))
	dirty := w.dirty[:0]
	for _, r := range w.dirty {
		if r.sb != sb {
			dirty = append(dirty, r)
		}
	}
	clear(w.dirty[len(dirty):])
	w.dirty = dirty
	events := w.events[:0]
	for _, ev := range w.events {
		if ev.SensorID != s.id {
			events = append(events, ev)
		}
	}
	w.events = events
	if w.recent != nil {
		data := w.recent.Data[:0]
		for _, sd := range w.recent.Data {
			if sd.SensorID != s.id {
				data = append(data, sd)
			}
		}
		w.recent.Data = data
	}
}

// WatcherStats are a watcher's counters.
type WatcherStats struct {
	QueuedValues int
	Dropped      uint64 // since the watcher started
	Sensors      int
}

// Stats returns the watcher's counters.
func (w *Watcher) Stats() WatcherStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WatcherStats{QueuedValues: w.queued, Dropped: w.total, Sensors: len(w.subs)}
}

// Close ends the watcher: it is unsubscribed from every sensor and a pending
// or later Next returns ErrWatcherClosed. It is safe to call more than once.
func (w *Watcher) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	subs := w.subs
	w.subs = nil
	w.h.queued.Add(-int64(w.queued))
	w.q, w.spare, w.qhead, w.qn, w.queued, w.events, w.dirty = nil, nil, 0, 0, 0, nil, nil
	w.mu.Unlock()
	for _, sb := range subs {
		s := sb.s
		s.mu.Lock()
		for i, x := range s.subs {
			if x == sb {
				s.subs = append(s.subs[:i], s.subs[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
	}
	w.h.watchers.Add(-1)
	w.h.capacity.Add(-int64(w.maxValues))
	w.signal()
}
