package hub

import (
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/apperr"
)

const shardCount = 64

// Options configure a Hub. The zero value is usable.
type Options struct {
	// Now is the clock for server receive times and watcher deadlines
	// (time.Now when nil).
	Now func() time.Time
	// OnBattery, when set, is called by Ingest with the newest measurement of
	// a batch for an attribute of type battery (a number 0..100 or a struct
	// with level and charging), so that the wiring can feed the sensor's own
	// battery into back-pressure. It runs with the sensor's lock held: it must
	// be quick and must not call the hub.
	OnBattery func(sensorID string, m Measurement)
	// OnAttributes, when set, is called by Ingest with the attributes a batch
	// registered (first seen in data, type inferred), so that the wiring can
	// persist them. It runs with the sensor's lock held: it must be quick
	// (e.g. queue them for a batched write) and must not call the hub.
	OnAttributes func(sensorID string, attrs []AttributeSpec)
	// OnEvent, when set, is called with every event sent to a sensor's watchers
	// (whether or not it has any), so that the wiring can forward events to other
	// nodes. It runs with the sensor's lock held: it must be quick and must not
	// call the hub. Events are rare: Ingest sends one only when a batch adds
	// attributes.
	OnEvent func(Event)
	// OnIngest, when set, is called by Ingest (never by IngestRemote) with every
	// batch accepted, after it was stored and fanned out, with the sensor's lock
	// held: calls for one sensor come in ingest order. It must be quick, must not
	// call the hub, and must not keep b (the wiring publishes it to other nodes
	// while one of them watches the sensor: an atomic load otherwise).
	OnIngest func(sensorID string, b *Batch)
}

// Hub holds the live sensors. All methods are safe for concurrent use.
type Hub struct {
	now       func() time.Time
	onBattery func(sensorID string, m Measurement)
	onAttrs   func(sensorID string, attrs []AttributeSpec)
	onEvent   func(Event)
	onIngest  func(sensorID string, b *Batch)
	seed      maphash.Seed
	shards    [shardCount]shard

	// factorMu guards factor, the ring capacity factor (1 at normal load).
	factorMu sync.Mutex
	factor   float64

	ingested atomic.Uint64 // values accepted
	dropped  atomic.Uint64 // values dropped from watcher queues
	queued   atomic.Int64  // values in all watcher queues
	capacity atomic.Int64  // sum of the watcher queues' capacities
	watchers atomic.Int64
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*sensor
	_  [40]byte // keep shards on separate cache lines
}

// New returns an empty Hub.
func New(opts Options) *Hub {
	h := &Hub{now: opts.Now, onBattery: opts.OnBattery, onAttrs: opts.OnAttributes, onEvent: opts.OnEvent, onIngest: opts.OnIngest, seed: maphash.MakeSeed(), factor: 1}
	if h.now == nil {
		h.now = time.Now
	}
	for i := range h.shards {
		h.shards[i].m = make(map[string]*sensor)
	}
	return h
}

func (h *Hub) shard(id string) *shard {
	return &h.shards[maphash.String(h.seed, id)&(shardCount-1)]
}

func (h *Hub) nowUS() int64 { return h.now().UnixMicro() }

func (h *Hub) loadFactor() float64 {
	h.factorMu.Lock()
	defer h.factorMu.Unlock()
	return h.factor
}

// get returns a live sensor or nil.
func (h *Hub) get(id string) *sensor {
	sh := h.shard(id)
	sh.mu.RLock()
	s := sh.m[id]
	sh.mu.RUnlock()
	return s
}

// ensure returns the live sensor, creating it.
func (h *Hub) ensure(id string) *sensor {
	if s := h.get(id); s != nil {
		return s
	}
	sh := h.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s := sh.m[id]; s != nil {
		return s
	}
	s := newSensor(id)
	sh.m[id] = s
	return s
}

func notFound(id string) error { return apperr.NotFound("sensor %q is not live", id) }

// Register creates the sensor or updates it: declared attributes are added or
// their type, unit and rate replaced (an attribute whose storage kind changes,
// waveform or not, loses its history). Attributes not named are kept. Watchers
// of the sensor get EventRegistered or EventUpdated.
func (h *Hub) Register(sensorID string, attrs []AttributeSpec) (SensorInfo, error) {
	if err := CheckSensorID(sensorID); err != nil {
		return SensorInfo{}, err
	}
	for i, a := range attrs {
		if !apirules.ValidAttributeID(a.ID) {
			return SensorInfo{}, apperr.InvalidArgument(fmt.Sprintf("attributes[%d].attribute_id", i), "must match "+apirules.AttributeIDPattern)
		}
		if a.SampleRateHz < 0 || math.IsNaN(a.SampleRateHz) || math.IsInf(a.SampleRateHz, 0) {
			return SensorInfo{}, apperr.InvalidArgument(fmt.Sprintf("attributes[%d].sample_rate_hz", i), "must be a finite number ≥ 0")
		}
		for j := range i {
			if attrs[j].ID == a.ID {
				return SensorInfo{}, apperr.InvalidArgument(fmt.Sprintf("attributes[%d].attribute_id", i), "duplicate attribute id")
			}
		}
	}
	factor := h.loadFactor()
	for {
		s := h.ensure(sensorID)
		s.mu.Lock()
		if s.deleted {
			s.mu.Unlock()
			continue // deleted between ensure and lock: make a new one
		}
		fresh := 0
		for _, a := range attrs {
			if s.attrs[a.ID] == nil {
				fresh++
			}
		}
		if len(s.list)+fresh > MaxAttributesPerSensor {
			s.mu.Unlock()
			return SensorInfo{}, apperr.InvalidArgument("attributes", fmt.Sprintf("a sensor has at most %d attributes", MaxAttributesPerSensor))
		}
		for _, spec := range attrs {
			if spec.Type == "" {
				spec.Type = InferType(spec.ID, &Value{Kind: KindNumber})
			}
			old := s.attrs[spec.ID]
			if old == nil {
				s.add(newAttribute(s, spec, false, false, factor))
				continue
			}
			if isWaveformType(spec.Type) && !old.waveform {
				// Points become compact samples: the history is dropped (a declared
				// waveform that first arrived as measurements of another type).
				na := newAttribute(s, spec, false, true, factor)
				old.samples, old.points = na.samples, pointRing{}
				old.waveform, old.baseCap = true, na.baseCap
			}
			old.typ, old.unit, old.rateHz, old.inferred = spec.Type, spec.Unit, spec.SampleRateHz, false
			old.battery = spec.Type == "battery"
			old.kinds = kindsOf(spec.Type)
			if !old.waveform {
				old.baseCap = baseCapacity(spec.Type)
			}
			old.setFactor(factor)
		}
		kind := EventUpdated
		if !s.registered {
			kind = EventRegistered // also for a sensor Watch created before it was registered
			s.registered = true
		}
		h.eventLocked(s, kind)
		info := s.info()
		s.mu.Unlock()
		return info, nil
	}
}

// Get returns a live sensor.
func (h *Hub) Get(sensorID string) (SensorInfo, error) {
	s := h.get(sensorID)
	if s == nil {
		return SensorInfo{}, notFound(sensorID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return SensorInfo{}, notFound(sensorID)
	}
	return s.info(), nil
}

// HasAttribute reports whether a live sensor has the attribute (declared or seen in
// data).
func (h *Hub) HasAttribute(sensorID, attrID string) bool {
	s := h.get(sensorID)
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.deleted && s.attrs[attrID] != nil
}

// Delete removes a live sensor and its history. Its watchers get EventRemoved
// and no more data of it; their other subscriptions go on. It reports whether
// the sensor was live.
func (h *Hub) Delete(sensorID string) bool {
	sh := h.shard(sensorID)
	sh.mu.Lock()
	s := sh.m[sensorID]
	delete(sh.m, sensorID)
	sh.mu.Unlock()
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = true
	h.eventLocked(s, EventRemoved)
	for _, sb := range s.subs {
		sb.w.detach(sb)
	}
	s.subs = nil
	s.attrs, s.list = nil, nil
	return true
}

// Notify sends an event (EventUpdated, EventConnected, EventDisconnected,
// EventAttention) to the sensor's watchers.
func (h *Hub) Notify(sensorID string, kind EventKind) error {
	s := h.get(sensorID)
	if s == nil {
		return notFound(sensorID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return notFound(sensorID)
	}
	h.eventLocked(s, kind)
	return nil
}

func (h *Hub) eventLocked(s *sensor, kind EventKind) { h.pushEventLocked(s, kind, true) }

// pushEventLocked sends an event to the sensor's watchers and, when local (not an
// event of another node), to OnEvent.
func (h *Hub) pushEventLocked(s *sensor, kind EventKind, local bool) {
	ev := Event{Kind: kind, SensorID: s.id, AtUS: h.nowUS()}
	for _, sb := range s.subs {
		sb.w.pushEvent(ev)
	}
	if local && h.onEvent != nil {
		h.onEvent(ev)
	}
}

// NotifyRemote sends an event another node announced for the sensor to this node's
// watchers, without OnEvent (it is not this node's to announce again).
func (h *Hub) NotifyRemote(sensorID string, kind EventKind) error {
	s := h.get(sensorID)
	if s == nil {
		return notFound(sensorID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return notFound(sensorID)
	}
	h.pushEventLocked(s, kind, false)
	return nil
}

// IngestRemote is Ingest for a batch another node ingested (and published to this
// node's watchers of the sensor): validated, stored in the rings and fanned out to
// this node's watchers like a local batch, but OnAttributes, OnBattery, OnEvent and
// OnIngest are not called (the ingesting node did that) and it does not count as
// ingested here.
func (h *Hub) IngestRemote(sensorID string, b *Batch) (int, error) {
	return h.ingest(sensorID, b, false)
}

// Ingest validates the whole batch and then stores it and fans it out to the
// sensor's watchers; on a validation error nothing is applied and the error
// (apperr KindInvalidArgument) names the item and field, e.g.
// "measurements[3].time_us". Unknown attributes are registered with an
// inferred type, within MaxAttributesPerSensor. Ingest stamps ServerUS on every
// item of b and replaces a zero time with it, so b is modified; see the package
// comment for ownership. It returns the number of values accepted (one per
// measurement plus one per sample) and never waits for a watcher.
func (h *Hub) Ingest(sensorID string, b *Batch) (int, error) {
	return h.ingest(sensorID, b, true)
}

func (h *Hub) ingest(sensorID string, b *Batch, local bool) (int, error) {
	s := h.get(sensorID)
	if s == nil {
		return 0, notFound(sensorID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return 0, notFound(sensorID)
	}
	now := h.nowUS()
	n, err := h.validate(s, b, now)
	if err != nil {
		return 0, err
	}
	for _, a := range s.pending {
		s.add(a)
	}
	if len(s.pending) > 0 {
		if local && h.onAttrs != nil {
			specs := make([]AttributeSpec, len(s.pending))
			for i, a := range s.pending {
				specs[i] = AttributeSpec{ID: a.id, Type: a.typ, Unit: a.unit, SampleRateHz: a.rateHz}
			}
			h.onAttrs(s.id, specs)
		}
		clear(s.pending)
		s.pending = s.pending[:0]
		h.pushEventLocked(s, EventUpdated, local)
	}
	attrs := s.scratch
	battery := -1
	for i := range b.Measurements {
		m := &b.Measurements[i]
		m.ServerUS = now
		if m.TimeUS == 0 {
			m.TimeUS = now
		}
		a := attrs[i]
		a.ingested++
		if a.battery && (battery < 0 || m.TimeUS >= b.Measurements[battery].TimeUS) {
			battery = i
		}
		if a.waveform {
			a.samples.insert(sample{t: m.TimeUS, srv: now, v: float32(m.Value.F[0])})
		} else {
			a.points.insert(Point{TimeUS: m.TimeUS, ServerUS: now, Value: m.Value})
		}
	}
	nm := len(b.Measurements)
	for i := range b.Blocks {
		blk := &b.Blocks[i]
		blk.ServerUS = now
		if blk.StartTimeUS == 0 {
			blk.StartTimeUS = now
		}
		a := attrs[nm+i]
		a.ingested += count(len(blk.Samples))
		// apirules.SampleTimeUS without its overflow guards: validation put every sample
		// time of the block in the time window.
		start, rate, vs := blk.StartTimeUS, blk.SampleRateHz, blk.Samples
		if a.waveform {
			a.samples.insertSorted(len(vs), func(j int) sample {
				return sample{t: start + int64(math.Round(float64(j)*1e6/rate)), srv: now, v: vs[j]}
			})
		} else {
			a.points.insertNumbers(len(vs), func(j int) numPoint {
				return numPoint{t: start + int64(math.Round(float64(j)*1e6/rate)), srv: now, v: float64(vs[j])}
			})
		}
	}
	for _, sb := range s.subs {
		sb.w.push(sb, b, attrs)
	}
	if !local {
		return n, nil
	}
	if battery >= 0 && h.onBattery != nil {
		h.onBattery(s.id, b.Measurements[battery])
	}
	if h.onIngest != nil {
		h.onIngest(s.id, b)
	}
	h.ingested.Add(count(n))
	return n, nil
}

// Recent returns what the rings hold for the named attributes (all when
// attrIDs is empty), oldest first per attribute. Waveform samples come as
// number measurements.
func (h *Hub) Recent(sensorID string, attrIDs []string) (SensorData, error) {
	s := h.get(sensorID)
	if s == nil {
		return SensorData{}, notFound(sensorID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return SensorData{}, notFound(sensorID)
	}
	return s.recent(attrIDs), nil
}

// recent builds the recent window. s.mu must be held.
func (s *sensor) recent(attrIDs []string) SensorData {
	sd := SensorData{SensorID: s.id}
	for _, a := range s.list {
		if len(attrIDs) > 0 && !contains(attrIDs, a.id) {
			continue
		}
		for _, p := range a.pointsIn(0, 0, 0) {
			sd.Measurements = append(sd.Measurements, Measurement{AttributeID: a.id, TimeUS: p.TimeUS, ServerUS: p.ServerUS, Value: p.Value})
		}
	}
	return sd
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// History returns the attribute's stored points with fromUS ≤ time < toUS
// (toUS ≤ 0: no upper bound), at most limit of the most recent (limit ≤ 0:
// all), oldest first, and the attribute's type.
func (h *Hub) History(sensorID, attrID string, fromUS, toUS int64, limit int) ([]Point, string, error) {
	s := h.get(sensorID)
	if s == nil {
		return nil, "", notFound(sensorID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.attrs[attrID]
	if s.deleted || a == nil {
		return nil, "", apperr.NotFound("sensor %q has no attribute %q", sensorID, attrID)
	}
	return a.pointsIn(fromUS, toUS, limit), a.typ, nil
}

// Span returns the times of the oldest and newest values of an attribute held in
// memory; ok is false when it holds none (or the sensor or attribute is not live).
func (h *Hub) Span(sensorID, attrID string) (firstUS, lastUS int64, ok bool) {
	s := h.get(sensorID)
	if s == nil {
		return 0, 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.attrs[attrID]
	switch {
	case s.deleted || a == nil:
		return 0, 0, false
	case a.waveform:
		if a.samples.n == 0 {
			return 0, 0, false
		}
		return a.samples.at(0).t, a.samples.last().t, true
	case a.points.len() == 0:
		return 0, 0, false
	}
	return a.points.timeAt(0), a.points.timeAt(a.points.len() - 1), true
}

// SetLoadFactor scales every ring's capacity by f (0 < f ≤ 1; 1 at normal
// load, e.g. 0.5 at high and 0.2 at critical load; see loadmon.Level's
// RetentionFactor), never below a floor (10 points for series, 5 for scalars).
// Shrinking drops the oldest points at once and returns memory.
func (h *Hub) SetLoadFactor(f float64) {
	if !(f > 0) || f > 1 {
		f = 1
	}
	h.factorMu.Lock()
	if h.factor == f {
		h.factorMu.Unlock()
		return
	}
	h.factor = f
	h.factorMu.Unlock()
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		list := make([]*sensor, 0, len(sh.m))
		for _, s := range sh.m {
			list = append(list, s)
		}
		sh.mu.RUnlock()
		for _, s := range list {
			s.mu.Lock()
			for _, a := range s.list {
				a.setFactor(f)
			}
			s.mu.Unlock()
		}
	}
}

// Stats are the hub's counters, for metrics.
type Stats struct {
	Sensors  int
	Watchers int64
	// Ingested counts values accepted since start.
	Ingested uint64
	// Dropped counts values dropped from watcher queues since start.
	Dropped uint64
	// QueuedValues is the number of values in all watcher queues now, and
	// QueueCapacity the sum of their capacities.
	QueuedValues, QueueCapacity int64
	// LoadFactor is the current ring capacity factor.
	LoadFactor float64
}

// Stats returns the current counters.
func (h *Hub) Stats() Stats {
	st := Stats{
		Watchers: h.watchers.Load(), Ingested: h.ingested.Load(), Dropped: h.dropped.Load(),
		QueuedValues: h.queued.Load(), QueueCapacity: h.capacity.Load(), LoadFactor: h.loadFactor(),
	}
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		st.Sensors += len(sh.m)
		sh.mu.RUnlock()
	}
	return st
}

// count converts a length (never negative) to a counter increment.
func count(n int) uint64 {
	return uint64(n) //nolint:gosec // G115: n is a length or a sum of lengths, never negative
}

// QueueFill returns the values in all watcher queues and their total capacity
// (for loadmon.RuntimeSampler.Queues).
func (h *Hub) QueueFill() (queued, capacity int64) {
	return h.queued.Load(), h.capacity.Load()
}
