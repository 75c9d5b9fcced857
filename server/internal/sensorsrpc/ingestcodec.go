package sensorsrpc

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
)

// streamCodec is Connect's protobuf binary codec for the Stream route, with a fast
// path for StreamRequest: numbers and sample blocks are decoded straight into a
// request taken from requestPool, reusing the Measurements (and their number
// wrappers), SampleBlocks, sample slices and id strings of the requests decoded
// before. proto.Unmarshal allocates each Measurement and its oneof wrapper anew: at
// 100,000 values/s that was 60 % of all the server allocated, and each cycle of the
// garbage collector it set off slowed the live path (docs/performance.md, issue 18).
// Anything else in a request (text, vectors, structs, extras, unknown fields,
// invalid UTF-8) goes through proto.Unmarshal, so the result is always exactly what
// proto.Unmarshal gives (FuzzStreamCodec compares the two).
type streamCodec struct{}

func (streamCodec) Name() string { return "proto" }

func (streamCodec) IsBinary() bool { return true }

func (streamCodec) Marshal(m any) ([]byte, error) {
	pm, err := protoMessage(m)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(pm) //nolint:wrapcheck // as Connect's codec
}

func (streamCodec) MarshalAppend(dst []byte, m any) ([]byte, error) {
	pm, err := protoMessage(m)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, pm) //nolint:wrapcheck // as Connect's codec
}

func (streamCodec) MarshalStable(m any) ([]byte, error) {
	pm, err := protoMessage(m)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(pm) //nolint:wrapcheck // as Connect's codec
}

func (streamCodec) Unmarshal(data []byte, m any) error {
	if r, ok := m.(*sensoctov1.StreamRequest); ok && decodeStreamRequest(data, r) {
		return nil
	}
	pm, err := protoMessage(m)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(data, pm); err != nil {
		return fmt.Errorf("unmarshal into %T: %w", m, err)
	}
	return nil
}

func protoMessage(m any) (proto.Message, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return pm, nil
}

// requestPool holds decoded requests between sessions' batches: a session takes one
// when a batch has arrived and gives it back before it waits for the next, so idle
// sessions hold none.
var requestPool = sync.Pool{New: func() any { return new(sensoctov1.StreamRequest) }}

// maxPooledItems bounds what a pooled request keeps (a rare huge batch is let go).
const maxPooledItems = 1024

func getRequest() *sensoctov1.StreamRequest { return requestPool.Get().(*sensoctov1.StreamRequest) }

func putRequest(r *sensoctov1.StreamRequest) {
	if cap(r.Measurements) > maxPooledItems || cap(r.Blocks) > maxPooledItems {
		return
	}
	requestPool.Put(r)
}

// Field numbers of proto/sensocto/v1 (sensor.proto's StreamRequest, common.proto's
// Measurement and SampleBlock) the fast path decodes.
const (
	reqSensorID     = 1
	reqMeasurements = 2
	reqBlocks       = 3
	reqSequence     = 4

	mAttributeID  = 1
	mTimeUS       = 2
	mNumber       = 3
	mServerTimeUS = 9

	bAttributeID  = 1
	bStartTimeUS  = 2
	bSampleRateHz = 3
	bSamples      = 4
	bServerTimeUS = 5
)

// decodeStreamRequest decodes data into r, reusing r's memory, and reports whether
// it could; false leaves r to be decoded by proto.Unmarshal (which resets it).
func decodeStreamRequest(data []byte, r *sensoctov1.StreamRequest) bool {
	ms, bs := r.Measurements[:0], r.Blocks[:0]
	var id string
	var seq uint64
	w := wire{data: data, ok: true}
	for num, typ, more := w.next(); more; num, typ, more = w.next() {
		switch {
		case num == reqSensorID && typ == protowire.BytesType:
			id = w.str(r.SensorId)
		case num == reqSequence && typ == protowire.VarintType:
			seq = w.varint()
		case num == reqMeasurements && typ == protowire.BytesType:
			var m *sensoctov1.Measurement
			ms, m = nextItem(ms)
			if b := w.bytes(); !w.ok || !decodeMeasurement(b, m) {
				return false
			}
		case num == reqBlocks && typ == protowire.BytesType:
			var blk *sensoctov1.SampleBlock
			bs, blk = nextItem(bs)
			if b := w.bytes(); !w.ok || !decodeBlock(b, blk) {
				return false
			}
		default:
			return false // another field or wire type: proto.Unmarshal's to decode
		}
	}
	if !w.ok {
		return false
	}
	r.Reset() // ms and bs keep the backing arrays, with the elements beyond them
	r.SensorId, r.Sequence, r.Measurements, r.Blocks = id, seq, ms, bs
	return true
}

// wire reads a message's fields in order. A malformed value clears ok, and next then
// reports no more fields.
type wire struct {
	data []byte
	ok   bool
}

func (w *wire) next() (protowire.Number, protowire.Type, bool) {
	if !w.ok || len(w.data) == 0 {
		return 0, 0, false
	}
	num, typ, n := protowire.ConsumeTag(w.data)
	return num, typ, w.advance(n)
}

// advance skips n bytes of a value just read (n < 0: it was malformed).
func (w *wire) advance(n int) bool {
	if n < 0 {
		w.ok = false
		return false
	}
	w.data = w.data[n:]
	return true
}

func (w *wire) bytes() []byte {
	b, n := protowire.ConsumeBytes(w.data)
	w.advance(n)
	return b
}

// str reads a string (valid UTF-8, as proto3 requires), reusing old when equal.
func (w *wire) str(old string) string {
	b := w.bytes()
	if !w.ok || !utf8.Valid(b) {
		w.ok = false
		return ""
	}
	return reuseString(old, b)
}

func (w *wire) varint() uint64 {
	v, n := protowire.ConsumeVarint(w.data)
	w.advance(n)
	return v
}

func (w *wire) int64() int64 { return int64(w.varint()) } //nolint:gosec // G115: int64's wire form

func (w *wire) double() float64 {
	v, n := protowire.ConsumeFixed64(w.data)
	w.advance(n)
	return math.Float64frombits(v)
}

func (w *wire) float() float32 {
	v, n := protowire.ConsumeFixed32(w.data)
	w.advance(n)
	return math.Float32frombits(v)
}

// nextItem appends an element to s, reusing the one its backing array holds there
// from an earlier request.
func nextItem[T any](s []*T) ([]*T, *T) {
	if len(s) < cap(s) {
		s = s[:len(s)+1]
		if x := s[len(s)-1]; x != nil {
			return s, x
		}
		x := new(T)
		s[len(s)-1] = x
		return s, x
	}
	x := new(T)
	return append(s, x), x
}

// decodeMeasurement decodes a measurement holding a number (or no value) into m,
// reusing its number wrapper; false for anything else.
func decodeMeasurement(data []byte, m *sensoctov1.Measurement) bool {
	var attr string
	var t, srv int64
	var v float64
	hasValue := false
	w := wire{data: data, ok: true}
	for num, typ, more := w.next(); more; num, typ, more = w.next() {
		switch {
		case num == mAttributeID && typ == protowire.BytesType:
			attr = w.str(m.AttributeId)
		case num == mTimeUS && typ == protowire.VarintType:
			t = w.int64()
		case num == mServerTimeUS && typ == protowire.VarintType:
			srv = w.int64()
		case num == mNumber && typ == protowire.Fixed64Type:
			v, hasValue = w.double(), true
		default:
			return false
		}
	}
	if !w.ok {
		return false
	}
	wrapper, _ := m.Value.(*sensoctov1.Measurement_Number)
	m.Reset()
	m.AttributeId, m.TimeUs, m.ServerTimeUs = attr, t, srv
	if hasValue {
		if wrapper == nil {
			wrapper = new(sensoctov1.Measurement_Number)
		}
		wrapper.Number = v
		m.Value = wrapper
	}
	return true
}

// decodeBlock decodes a sample block into b, reusing its samples' slice.
func decodeBlock(data []byte, b *sensoctov1.SampleBlock) bool {
	var attr string
	var start, srv int64
	var rate float64
	samples := b.Samples[:0]
	w := wire{data: data, ok: true}
	for num, typ, more := w.next(); more; num, typ, more = w.next() {
		switch {
		case num == bAttributeID && typ == protowire.BytesType:
			attr = w.str(b.AttributeId)
		case num == bStartTimeUS && typ == protowire.VarintType:
			start = w.int64()
		case num == bServerTimeUS && typ == protowire.VarintType:
			srv = w.int64()
		case num == bSampleRateHz && typ == protowire.Fixed64Type:
			rate = w.double()
		case num == bSamples && typ == protowire.BytesType: // packed
			p := wire{data: w.bytes(), ok: w.ok}
			if len(p.data)%4 != 0 {
				return false
			}
			samples = slices.Grow(samples, len(p.data)/4)
			for p.ok && len(p.data) > 0 {
				samples = append(samples, p.float())
			}
		case num == bSamples && typ == protowire.Fixed32Type: // one, unpacked
			samples = append(samples, w.float())
		default:
			return false
		}
	}
	if !w.ok {
		return false
	}
	b.Reset()
	b.AttributeId, b.StartTimeUs, b.SampleRateHz, b.ServerTimeUs = attr, start, rate, srv
	if len(samples) > 0 {
		b.Samples = samples
	} else if cap(samples) > 0 {
		b.Samples = samples[:0] // kept for reuse; empty either way
	}
	return true
}

// reuseString returns old when it holds b's bytes (no allocation), else b as a string.
func reuseString(old string, b []byte) string {
	if old == string(b) {
		return old
	}
	return string(b)
}
