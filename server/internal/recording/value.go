package recording

import (
	"math"
)

// Kind is the caller's code for the kind of a value. The recorder stores it as is;
// only KindNumber has a meaning here: the value is Value.Number. Any other kind is
// stored as Value.Payload.
type Kind uint8

// KindNumber marks a numeric value (the same code as the hub's number kind).
const KindNumber Kind = 1

// Value is one measurement to record.
type Value struct {
	SensorID     string
	AttributeID  string
	TimeUS       int64 // sensor clock, µs since the Unix epoch
	ServerTimeUS int64 // server receive time, µs since the Unix epoch
	Kind         Kind
	Number       float64 // KindNumber
	Payload      []byte  // any other kind: the caller's encoding (JSON by convention)
}

// Block is a uniformly sampled waveform segment to record.
type Block struct {
	SensorID     string
	AttributeID  string
	StartUS      int64 // time of Samples[0], sensor clock, µs since the Unix epoch
	ServerTimeUS int64
	RateHz       float64
	Samples      []float32
}

// SampleTime returns the time of sample i of a block starting at startUS with the given
// rate: startUS + round(i·10⁶/rateHz).
func SampleTime(startUS int64, i int, rateHz float64) int64 {
	return startUS + int64(math.Round(float64(i)*1e6/rateHz))
}
