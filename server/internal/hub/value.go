package hub

import "github.com/sensocto/sensocto/server/apirules"

// Kind says which field of a Value is set, like the oneof of the wire message.
type Kind uint8

// Value kinds.
const (
	KindNone   Kind = iota // unset; refused by Ingest
	KindNumber             // F[0]
	KindVec3               // F[0..2] = x, y, z
	KindQuat               // F[0..3] = w, x, y, z
	KindGeo                // F[0..3] = latitude, longitude, altitude, accuracy; Ext.Speed, Ext.Heading
	KindText               // Ext.Text
	KindStruct             // Ext.Struct
)

var kindNames = [...]string{"none", "number", "vector3", "quaternion", "geo", "text", "struct"}

// String returns the kind's name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// field returns the name of the wire field of the kind (Measurement's oneof).
func (k Kind) field() string {
	switch k {
	case KindNone:
		return "value"
	case KindStruct:
		return "struct_value"
	}
	return k.String()
}

// Geo presence flags for the optional fields of a geo position (Value.Has).
const (
	HasAltitude uint8 = 1 << iota
	HasAccuracy
	HasSpeed
	HasHeading
)

// Value is a measurement's value. Numbers, vectors, quaternions and the first
// four geo fields live inline, so the common values never allocate; text,
// structs and a geo position's speed and heading live behind Ext.
type Value struct {
	Kind Kind
	// Has holds geo presence flags (HasAltitude ...).
	Has uint8
	F   [4]float64
	Ext *Ext
}

// Ext holds the rare, larger parts of a Value.
type Ext struct {
	Text    string
	Struct  Struct
	Speed   float64 // m/s (geo)
	Heading float64 // degrees (geo)
}

// Struct is a structured payload the hub does not interpret. Encoded is the
// caller's encoding of it (the handlers use the protobuf wire form of
// google.protobuf.Struct); Keys lists its top-level keys, which type inference
// reads (e.g. level+charging means battery).
type Struct struct {
	Keys    []string
	Encoded []byte
}

// Number returns a number value.
func Number(v float64) Value { return Value{Kind: KindNumber, F: [4]float64{v}} }

// Vec3 returns a 3-vector value.
func Vec3(x, y, z float64) Value { return Value{Kind: KindVec3, F: [4]float64{x, y, z}} }

// Quat returns a quaternion value.
func Quat(w, x, y, z float64) Value { return Value{Kind: KindQuat, F: [4]float64{w, x, y, z}} }

// Text returns a text value.
func Text(s string) Value { return Value{Kind: KindText, Ext: &Ext{Text: s}} }

// StructValue returns a struct value.
func StructValue(s Struct) Value { return Value{Kind: KindStruct, Ext: &Ext{Struct: s}} }

// Geo returns a geo position with latitude and longitude only; set the
// optional fields with the Has flags.
func Geo(lat, lon float64) Value { return Value{Kind: KindGeo, F: [4]float64{lat, lon}} }

// Measurement is one value of one attribute at one time.
type Measurement struct {
	AttributeID string
	// TimeUS is the sensor's clock, Unix epoch microseconds; 0 means "now" (the
	// hub then uses ServerUS).
	TimeUS int64
	// ServerUS is the server's receive time, stamped by Ingest.
	ServerUS int64
	Value    Value
	// Extras are small string pairs carried to watchers (e.g. a button's
	// event "press"/"release"); not kept in history.
	Extras map[string]string
}

// SampleBlock is a uniformly sampled run of a waveform.
type SampleBlock struct {
	AttributeID  string
	StartTimeUS  int64 // time of Samples[0]; 0 means "now"
	SampleRateHz float64
	// Samples may alias the wire message's slice; see the package comment for
	// ownership.
	Samples []float32
	// ServerUS is the server's receive time, stamped by Ingest.
	ServerUS int64
}

// SampleTimeUS returns the time of sample i: start + round(i·10⁶/rate), in
// microseconds (apirules.SampleTimeUS).
func (b *SampleBlock) SampleTimeUS(i int) int64 {
	return apirules.SampleTimeUS(b.StartTimeUS, i, b.SampleRateHz)
}

// Batch is what a connector sends at once.
type Batch struct {
	Measurements []Measurement
	Blocks       []SampleBlock
}

// Values returns the number of values in the batch: one per measurement plus
// one per sample.
func (b *Batch) Values() int {
	n := len(b.Measurements)
	for i := range b.Blocks {
		n += len(b.Blocks[i].Samples)
	}
	return n
}

// Point is one stored value of an attribute's history.
type Point struct {
	TimeUS   int64
	ServerUS int64
	Value    Value
}
