package hub

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/apperr"
)

// Limits of one batch: those the wire contract states are defined in package apirules.
const (
	MaxMeasurements    = apirules.MaxMeasurements
	MaxBlocks          = apirules.MaxBlocks
	MaxBlockSamples    = apirules.MaxBlockSamples
	MaxBatchValues     = 1 << 20
	MaxTextBytes       = apirules.MaxTextBytes
	MaxStructBytes     = 64 << 10
	MaxExtras          = 8
	MaxExtraKeyChars   = 32
	MaxExtraValueChars = 128
	MinSampleRateHz    = 0.001
	MaxSampleRateHz    = apirules.MaxSampleRateHz
)

// The time window of data: a measurement's time and every sample time of a
// block must lie in [MinTimeUS, now + MaxFutureUS] by the server's clock (0
// means "now" and is always fine). The window keeps every time the hub,
// history and recording compute far from int64 overflow, refuses a clock that
// was never set (a sensor counting from boot or from 1970), and refuses
// data that would sit in the future of every query.
const (
	// MinTimeUS is 2000-01-01T00:00:00Z in microseconds since the Unix epoch.
	MinTimeUS int64 = 946_684_800_000_000
	// MaxFutureUS is how far ahead of the server's clock a time may be: one day
	// (sensor clocks drift and time zones get confused, not more).
	MaxFutureUS int64 = 24 * 60 * 60 * 1_000_000
)

// timeDesc describes the time window in errors.
const timeDesc = "must be 0 (now) or between 2000-01-01T00:00:00Z and one day after the server's clock, in µs since the Unix epoch"

// inWindow reports whether t (≠ 0) is in the time window at now.
func inWindow(t, now int64) bool { return t >= MinTimeUS && t <= now+MaxFutureUS }

// CheckSensorID checks a sensor id against apirules.SensorIDPattern without a regular
// expression, for the ingest path, whose messages the RPC layer leaves to the domain.
// The error is an InvalidArgument naming sensor_id.
func CheckSensorID(id string) error {
	if !apirules.ValidSensorID(id) {
		return apperr.InvalidArgument("sensor_id", "must match "+apirules.SensorIDPattern)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func invalid(list string, i int, field, desc string) error {
	return apperr.InvalidArgument(fmt.Sprintf("%s[%d].%s", list, i, field), desc)
}

// validate checks the whole batch, resolves every item's attribute into
// s.scratch (measurements first, then blocks) and collects the attributes the
// batch would create in s.pending. It returns the number of values. s.mu must
// be held; on error s.pending is cleared.
func (h *Hub) validate(s *sensor, b *Batch, now int64) (int, error) {
	n, err := h.validateItems(s, b, now)
	if err != nil {
		clear(s.pending)
		s.pending = s.pending[:0]
		clear(s.scratch)
		return 0, err
	}
	return n, nil
}

func (h *Hub) validateItems(s *sensor, b *Batch, now int64) (int, error) {
	if len(b.Measurements) > MaxMeasurements {
		return 0, apperr.InvalidArgument("measurements", fmt.Sprintf("at most %d per batch", MaxMeasurements))
	}
	if len(b.Blocks) > MaxBlocks {
		return 0, apperr.InvalidArgument("blocks", fmt.Sprintf("at most %d per batch", MaxBlocks))
	}
	items := len(b.Measurements) + len(b.Blocks)
	if cap(s.scratch) < items {
		s.scratch = make([]*attribute, items, max(items, 2*cap(s.scratch)))
	}
	s.scratch = s.scratch[:items]
	values := len(b.Measurements)
	var prev *attribute
	for i := range b.Measurements {
		m := &b.Measurements[i]
		if m.TimeUS != 0 && !inWindow(m.TimeUS, now) {
			return 0, invalid("measurements", i, "time_us", timeDesc)
		}
		if err := validValue(i, &m.Value); err != nil {
			return 0, err
		}
		// Only measurements with extras enter validExtras: its map iterator gives it a
		// large frame, and entering it was where a fresh handler goroutine's stack grew
		// (and was copied) on every Publish in CPU profiles (docs/performance.md).
		if len(m.Extras) > 0 {
			if err := validExtras(i, m.Extras); err != nil {
				return 0, err
			}
		}
		// Consecutive items usually share an attribute: skip the map then.
		a := prev
		if a == nil || a.id != m.AttributeID {
			a = s.lookup(m.AttributeID)
		}
		if a == nil {
			if !apirules.ValidAttributeID(m.AttributeID) {
				return 0, invalid("measurements", i, "attribute_id", "must match "+apirules.AttributeIDPattern)
			}
			var err error
			if a, err = h.create(s, "measurements", i, m.AttributeID, InferType(m.AttributeID, &m.Value), false); err != nil {
				return 0, err
			}
		}
		if a.waveform && m.Value.Kind != KindNumber {
			return 0, invalid("measurements", i, "value", fmt.Sprintf("attribute %q holds waveform samples: the value must be a number", a.id))
		}
		if !a.kinds.has(m.Value.Kind) {
			return 0, invalid("measurements", i, m.Value.Kind.field(), fmt.Sprintf("attribute %q of type %q takes %s values, not %s", a.id, a.typ, a.kinds, m.Value.Kind))
		}
		s.scratch[i] = a
		prev = a
	}
	for i := range b.Blocks {
		blk := &b.Blocks[i]
		start := blk.StartTimeUS
		if start == 0 {
			start = now
		}
		if !inWindow(start, now) {
			return 0, invalid("blocks", i, "start_time_us", timeDesc)
		}
		if !(blk.SampleRateHz >= MinSampleRateHz && blk.SampleRateHz <= MaxSampleRateHz) {
			return 0, invalid("blocks", i, "sample_rate_hz", "must be between 0.001 and 100000")
		}
		if len(blk.Samples) == 0 || len(blk.Samples) > MaxBlockSamples {
			return 0, invalid("blocks", i, "samples", fmt.Sprintf("must hold 1 to %d samples", MaxBlockSamples))
		}
		// start is in the window and the block spans less than 2⁴⁴ µs
		// (16384 samples at 0.001 Hz), so this cannot overflow.
		if end := apirules.SampleTimeUS(start, len(blk.Samples)-1, blk.SampleRateHz); !inWindow(end, now) {
			return 0, invalid("blocks", i, "samples", "the last sample (start_time_us + (count-1)·10⁶/sample_rate_hz) must not be more than one day after the server's clock")
		}
		for j, v := range blk.Samples {
			if !finite(float64(v)) {
				return 0, apperr.InvalidArgument(fmt.Sprintf("blocks[%d].samples[%d]", i, j), "must be finite")
			}
		}
		values += len(blk.Samples)
		if values > MaxBatchValues {
			return 0, invalid("blocks", i, "samples", fmt.Sprintf("a batch holds at most %d values", MaxBatchValues))
		}
		a := s.lookup(blk.AttributeID)
		if a == nil {
			if !apirules.ValidAttributeID(blk.AttributeID) {
				return 0, invalid("blocks", i, "attribute_id", "must match "+apirules.AttributeIDPattern)
			}
			var err error
			if a, err = h.create(s, "blocks", i, blk.AttributeID, InferType(blk.AttributeID, &Value{Kind: KindNumber}), true); err != nil {
				return 0, err
			}
		}
		if !a.kinds.has(KindNumber) {
			return 0, invalid("blocks", i, "attribute_id", fmt.Sprintf("attribute %q of type %q takes %s values, not sample blocks of numbers", a.id, a.typ, a.kinds))
		}
		s.scratch[len(b.Measurements)+i] = a
	}
	return values, nil
}

// create makes an inferred attribute for the batch being validated.
func (h *Hub) create(s *sensor, list string, i int, id, typ string, fromBlock bool) (*attribute, error) {
	if len(s.list)+len(s.pending) >= MaxAttributesPerSensor {
		return nil, invalid(list, i, "attribute_id", fmt.Sprintf("unknown attribute %q: the sensor already has the maximum of %d attributes", id, MaxAttributesPerSensor))
	}
	// A numeric attribute first seen as a sample block is stored as a waveform.
	a := newAttribute(s, AttributeSpec{ID: id, Type: typ}, true, fromBlock && typ == TypeNumeric, h.loadFactor())
	s.pending = append(s.pending, a)
	return a, nil
}

func validValue(i int, v *Value) error {
	switch v.Kind {
	case KindNumber:
		if !finite(v.F[0]) {
			return invalid("measurements", i, "number", "must be finite")
		}
	case KindVec3:
		if !finite(v.F[0]) || !finite(v.F[1]) || !finite(v.F[2]) {
			return invalid("measurements", i, "vector3", "components must be finite")
		}
	case KindQuat:
		if !finite(v.F[0]) || !finite(v.F[1]) || !finite(v.F[2]) || !finite(v.F[3]) {
			return invalid("measurements", i, "quaternion", "components must be finite")
		}
	case KindGeo:
		return validGeo(i, v)
	case KindText:
		if v.Ext == nil || len(v.Ext.Text) > MaxTextBytes {
			return invalid("measurements", i, "text", fmt.Sprintf("at most %d bytes", MaxTextBytes))
		}
		if !utf8.ValidString(v.Ext.Text) {
			return invalid("measurements", i, "text", "must be valid UTF-8")
		}
	case KindStruct:
		if v.Ext == nil || len(v.Ext.Struct.Encoded) > MaxStructBytes {
			return invalid("measurements", i, "struct_value", fmt.Sprintf("at most %d bytes encoded", MaxStructBytes))
		}
		if path, desc, ok := CheckStruct(v.Ext.Struct.Encoded); !ok {
			return invalid("measurements", i, "struct_value"+path, desc)
		}
	default:
		return invalid("measurements", i, "value", "is required")
	}
	return nil
}

// validExtras checks a measurement's extras: at most MaxExtras pairs, keys of 1
// to 32 characters and values of at most 128 (characters, as the wire contract
// counts them, not bytes), all valid UTF-8.
func validExtras(i int, extras map[string]string) error {
	if len(extras) > MaxExtras {
		return invalid("measurements", i, "extras", fmt.Sprintf("at most %d pairs", MaxExtras))
	}
	for k, v := range extras {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return invalid("measurements", i, "extras", "keys and values must be valid UTF-8")
		}
		if n := utf8.RuneCountInString(k); n == 0 || n > MaxExtraKeyChars {
			return invalid("measurements", i, "extras", "keys must be 1 to 32 characters")
		}
		if utf8.RuneCountInString(v) > MaxExtraValueChars {
			return invalid("measurements", i, "extras", "values must be at most 128 characters")
		}
	}
	return nil
}

func validGeo(i int, v *Value) error {
	lat, lon := v.F[0], v.F[1]
	if !(lat >= -90 && lat <= 90) {
		return invalid("measurements", i, "geo.latitude", "must be in [-90, 90]")
	}
	if !(lon >= -180 && lon <= 180) {
		return invalid("measurements", i, "geo.longitude", "must be in [-180, 180]")
	}
	if v.Has&HasAltitude != 0 && !finite(v.F[2]) {
		return invalid("measurements", i, "geo.altitude_m", "must be finite")
	}
	if v.Has&HasAccuracy != 0 && !(v.F[3] >= 0 && finite(v.F[3])) {
		return invalid("measurements", i, "geo.accuracy_m", "must be finite and ≥ 0")
	}
	if v.Has&(HasSpeed|HasHeading) != 0 && v.Ext == nil {
		return invalid("measurements", i, "geo", "speed or heading flagged but missing")
	}
	if v.Has&HasSpeed != 0 && !(v.Ext.Speed >= 0 && finite(v.Ext.Speed)) {
		return invalid("measurements", i, "geo.speed_mps", "must be finite and ≥ 0")
	}
	if v.Has&HasHeading != 0 && !(v.Ext.Heading >= 0 && v.Ext.Heading <= 360) {
		return invalid("measurements", i, "geo.heading_deg", "must be in [0, 360]")
	}
	return nil
}
