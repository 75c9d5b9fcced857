// Package generate owns the simulator's signal generators: deterministic,
// pull-based producers of realistic sensor values (ECG with a PQRST shape,
// heart rate, HRV, respiration, SpO2 and other bounded scalars, IMU,
// quaternion, GPS tracks, battery, eye gaze/blink/aperture, skeleton, buttons)
// for one attribute of one simulated sensor.
//
// A Generator is driven by its caller's clock: Advance(until) appends every
// sample due before until that it has not produced yet, so sample times stay on
// one continuous grid (start + k/rate) whatever the caller's batch windows,
// pauses or tick jitter. Randomness comes from math/rand/v2 PCG seeded from
// (run seed, sensor id, attribute id), so a seed reproduces a run exactly.
package generate

// Kind says which field of a Sample holds the value.
type Kind uint8

// Sample kinds.
const (
	KindNumber Kind = iota + 1 // Number
	KindVec3                   // Vec[0]
	KindIMU                    // Vec[0] accelerometer m/s², Vec[1] gyroscope rad/s
	KindQuat                   // Quat
	KindGeo                    // Geo
	KindStruct                 // Struct
)

func (k Kind) String() string {
	switch k {
	case KindNumber:
		return "number"
	case KindVec3:
		return "vec3"
	case KindIMU:
		return "imu"
	case KindQuat:
		return "quat"
	case KindGeo:
		return "geo"
	case KindStruct:
		return "struct"
	default:
		return "unknown"
	}
}

// Vec3 is a three-axis value.
type Vec3 struct{ X, Y, Z float64 }

// Quat is a unit quaternion.
type Quat struct{ W, X, Y, Z float64 }

// Geo is a position fix: degrees, metres, m/s, degrees clockwise from north.
type Geo struct {
	Lat, Lng, Alt float64
	SpeedMPS      float64
	HeadingDeg    float64
	AccuracyM     float64
}

// Sample is one timestamped value of one attribute.
type Sample struct {
	AttributeID string
	TimeUS      int64 // Unix epoch microseconds
	Kind        Kind
	Number      float64
	Vec         [2]Vec3
	Quat        Quat
	Geo         Geo
	// Struct holds structured values (battery, hrv, gaze, aperture, skeleton);
	// each Sample gets its own map.
	Struct map[string]any
	// Event labels a discrete event, e.g. "press" / "release" for buttons
	// (the measurement's "event" extra).
	Event string
}

// Block is a run of uniformly sampled waveform values: sample i was measured
// at StartUS + i·1e6/RateHz.
type Block struct {
	AttributeID string
	StartUS     int64
	RateHz      float64
	Samples     []float32
}

// EndUS is the time the sample after the block's last would have.
func (b *Block) EndUS() int64 {
	return b.StartUS + int64(float64(len(b.Samples))*1e6/b.RateHz+0.5)
}

// Output collects what generators produce. Reset keeps the buffers, so a
// caller that reuses one Output allocates little; consumers must copy what
// they keep after the Output is reset.
type Output struct {
	Samples []Sample
	Blocks  []Block
}

// Reset empties o, keeping its buffers.
func (o *Output) Reset() {
	clear(o.Samples) // drop references to Struct maps
	o.Samples = o.Samples[:0]
	for i := range o.Blocks {
		o.Blocks[i].Samples = o.Blocks[i].Samples[:0]
	}
	o.Blocks = o.Blocks[:0]
}

// Len is the number of values held (samples plus block samples).
func (o *Output) Len() int {
	n := len(o.Samples)
	for i := range o.Blocks {
		n += len(o.Blocks[i].Samples)
	}
	return n
}

// wave returns the block that the attribute's samples starting at timeUS go
// into: an existing block of that attribute that they continue, or a new one
// (reusing a spare block's buffer). The caller appends to its Samples.
func (o *Output) wave(attr string, rate float64, timeUS int64) *Block {
	for i := len(o.Blocks) - 1; i >= 0; i-- {
		b := &o.Blocks[i]
		if b.AttributeID == attr && b.RateHz == rate && absI64(b.EndUS()-timeUS) <= 1 {
			return b
		}
	}
	if len(o.Blocks) < cap(o.Blocks) {
		o.Blocks = o.Blocks[:len(o.Blocks)+1]
	} else {
		o.Blocks = append(o.Blocks, Block{})
	}
	b := &o.Blocks[len(o.Blocks)-1]
	b.AttributeID, b.StartUS, b.RateHz = attr, timeUS, rate
	b.Samples = b.Samples[:0]
	return b
}

func absI64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
