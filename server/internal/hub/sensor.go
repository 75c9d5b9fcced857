package hub

import (
	"sync"

	"github.com/sensocto/sensocto/server/apirules"
)

// MaxAttributesPerSensor caps a sensor's attributes (declared plus inferred).
const MaxAttributesPerSensor = apirules.MaxAttributes

// AttributeSpec declares an attribute.
type AttributeSpec struct {
	ID           string
	Type         string // "" means inferred from the id
	Unit         string
	SampleRateHz float64
}

// AttributeInfo describes a live attribute.
type AttributeInfo struct {
	ID           string
	Type         string
	Unit         string
	SampleRateHz float64
	// Inferred is true when the attribute was registered by its first data.
	Inferred bool
	// Waveform is true when its history keeps compact samples and every value
	// is delivered to watchers.
	Waveform bool
	// Stored and Capacity are the points in its ring and the ring's current size.
	Stored, Capacity int
	// Ingested counts values received.
	Ingested uint64
	// LastTimeUS is the newest point's time (0 when empty).
	LastTimeUS int64
}

// SensorInfo describes a live sensor.
type SensorInfo struct {
	ID         string
	Attributes []AttributeInfo
}

// attribute is one attribute of a sensor with its ring. Guarded by its
// sensor's mu.
type attribute struct {
	sensor   *sensor
	id       string
	typ      string
	unit     string
	rateHz   float64
	index    int
	inferred bool
	// waveform attributes keep samples; the others keep points.
	waveform bool
	battery  bool    // type battery: Ingest reports its newest value
	kinds    kindSet // the value kinds its type accepts
	baseCap  int
	samples  ring[sample]
	points   pointRing
	ingested uint64
}

func newAttribute(s *sensor, spec AttributeSpec, inferred, waveform bool, factor float64) *attribute {
	a := &attribute{
		sensor: s, id: spec.ID, typ: spec.Type, unit: spec.Unit, rateHz: spec.SampleRateHz,
		inferred: inferred, waveform: waveform || isWaveformType(spec.Type),
		baseCap: baseCapacity(spec.Type),
	}
	a.battery = spec.Type == "battery"
	a.kinds = kindsOf(spec.Type)
	if a.waveform && a.baseCap < baseCapacity(TypeECG) && a.baseCap == DefaultCapacity {
		a.baseCap = baseCapacity(TypeECG) // an unknown waveform (e.g. ecg_lead2) keeps as much as ecg
	}
	limit := scaledCapacity(a.baseCap, factor)
	if a.waveform {
		a.samples = newRing[sample](limit)
	} else {
		a.points = newPointRing(limit)
	}
	return a
}

func scaledCapacity(base int, factor float64) int {
	c := int(float64(base) * factor)
	return max(c, minCapacity(base))
}

func (a *attribute) setFactor(f float64) {
	limit := scaledCapacity(a.baseCap, f)
	if a.waveform {
		a.samples.setLimit(limit)
	} else {
		a.points.setLimit(limit)
	}
}

func (a *attribute) info() AttributeInfo {
	ai := AttributeInfo{
		ID: a.id, Type: a.typ, Unit: a.unit, SampleRateHz: a.rateHz,
		Inferred: a.inferred, Waveform: a.waveform, Ingested: a.ingested,
	}
	if a.waveform {
		ai.Stored, ai.Capacity = a.samples.n, a.samples.limit
		if a.samples.n > 0 {
			ai.LastTimeUS = a.samples.last().t
		}
	} else {
		ai.Stored, ai.Capacity = a.points.len(), a.points.limit()
		if n := a.points.len(); n > 0 {
			ai.LastTimeUS = a.points.timeAt(n - 1)
		}
	}
	return ai
}

// pointsIn returns the stored points with from ≤ time < to (to ≤ 0: no bound),
// at most limit of the most recent (limit ≤ 0: all).
func (a *attribute) pointsIn(from, to int64, limit int) []Point {
	var i, j int
	if a.waveform {
		i, j = a.samples.span(from, to)
	} else {
		i, j = a.points.span(from, to)
	}
	if limit > 0 && j-i > limit {
		i = j - limit
	}
	out := make([]Point, 0, j-i)
	for k := i; k < j; k++ {
		if a.waveform {
			s := a.samples.at(k)
			out = append(out, Point{TimeUS: s.t, ServerUS: s.srv, Value: Number(float64(s.v))})
		} else {
			out = append(out, a.points.at(k))
		}
	}
	return out
}

// sensor is a live sensor.
type sensor struct {
	id string

	mu         sync.Mutex
	deleted    bool
	registered bool // by Register (Watch and Ingest do not register)
	attrs      map[string]*attribute
	list       []*attribute
	subs       []*sub
	// scratch holds the attribute of each batch item during Ingest (reused).
	scratch []*attribute
	// pending holds attributes created by the batch being validated.
	pending []*attribute
}

func newSensor(id string) *sensor {
	return &sensor{id: id, attrs: make(map[string]*attribute)}
}

// lookup finds an attribute, also among those the current batch creates.
// s.mu must be held.
func (s *sensor) lookup(id string) *attribute {
	if a, ok := s.attrs[id]; ok {
		return a
	}
	for _, a := range s.pending {
		if a.id == id {
			return a
		}
	}
	return nil
}

// add registers a new attribute and tells the subscriptions that name it.
// s.mu must be held.
func (s *sensor) add(a *attribute) {
	a.index = len(s.list)
	s.attrs[a.id] = a
	s.list = append(s.list, a)
	for _, sb := range s.subs {
		sb.attributeAdded(a)
	}
}

func (s *sensor) info() SensorInfo {
	si := SensorInfo{ID: s.id, Attributes: make([]AttributeInfo, len(s.list))}
	for i, a := range s.list {
		si.Attributes[i] = a.info()
	}
	return si
}
