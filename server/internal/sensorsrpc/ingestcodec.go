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
	old, id, seq := r.SensorId, "", uint64(0) // old: to reuse its string
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return false
		}
		data = data[n:]
		switch {
		case num == reqSensorID && typ == protowire.BytesType:
			b, n := protowire.ConsumeBytes(data)
			if n < 0 || !utf8.Valid(b) {
				return false
			}
			id = reuseString(old, b)
			data = data[n:]
		case num == reqSequence && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return false
			}
			seq = v
			data = data[n:]
		case num == reqMeasurements && typ == protowire.BytesType:
			b, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return false
			}
			var m *sensoctov1.Measurement
			ms, m = nextMeasurement(ms)
			if !decodeMeasurement(b, m) {
				return false
			}
			data = data[n:]
		case num == reqBlocks && typ == protowire.BytesType:
			b, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return false
			}
			var blk *sensoctov1.SampleBlock
			bs, blk = nextBlock(bs)
			if !decodeBlock(b, blk) {
				return false
			}
			data = data[n:]
		default:
			return false // another field or wire type: proto.Unmarshal's to decode
		}
	}
	r.Reset() // ms and bs keep the backing arrays, with the elements beyond them
	r.SensorId, r.Sequence, r.Measurements, r.Blocks = id, seq, ms, bs
	return true
}

// nextMeasurement appends a measurement to ms, reusing the one its backing array
// holds there from an earlier request.
func nextMeasurement(ms []*sensoctov1.Measurement) ([]*sensoctov1.Measurement, *sensoctov1.Measurement) {
	if len(ms) < cap(ms) {
		ms = ms[:len(ms)+1]
		if m := ms[len(ms)-1]; m != nil {
			return ms, m
		}
		m := new(sensoctov1.Measurement)
		ms[len(ms)-1] = m
		return ms, m
	}
	m := new(sensoctov1.Measurement)
	return append(ms, m), m
}

// nextBlock is nextMeasurement for sample blocks.
func nextBlock(bs []*sensoctov1.SampleBlock) ([]*sensoctov1.SampleBlock, *sensoctov1.SampleBlock) {
	if len(bs) < cap(bs) {
		bs = bs[:len(bs)+1]
		if b := bs[len(bs)-1]; b != nil {
			return bs, b
		}
		b := new(sensoctov1.SampleBlock)
		bs[len(bs)-1] = b
		return bs, b
	}
	b := new(sensoctov1.SampleBlock)
	return append(bs, b), b
}

// decodeMeasurement decodes a measurement holding a number (or no value) into m,
// reusing its number wrapper; false for anything else.
func decodeMeasurement(data []byte, m *sensoctov1.Measurement) bool {
	w, _ := m.Value.(*sensoctov1.Measurement_Number)
	old, attr := m.AttributeId, ""
	var t, srv int64
	var v float64
	hasValue := false
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return false
		}
		data = data[n:]
		switch {
		case num == mAttributeID && typ == protowire.BytesType:
			b, n := protowire.ConsumeBytes(data)
			if n < 0 || !utf8.Valid(b) {
				return false
			}
			attr = reuseString(old, b)
			data = data[n:]
		case (num == mTimeUS || num == mServerTimeUS) && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return false
			}
			if num == mTimeUS {
				t = int64(x) //nolint:gosec // G115: int64's wire form
			} else {
				srv = int64(x) //nolint:gosec // G115: as above
			}
			data = data[n:]
		case num == mNumber && typ == protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(data)
			if n < 0 {
				return false
			}
			v, hasValue = math.Float64frombits(x), true
			data = data[n:]
		default:
			return false
		}
	}
	m.Reset()
	m.AttributeId, m.TimeUs, m.ServerTimeUs = attr, t, srv
	if hasValue {
		if w == nil {
			w = new(sensoctov1.Measurement_Number)
		}
		w.Number = v
		m.Value = w
	}
	return true
}

// decodeBlock decodes a sample block into b, reusing its samples' slice.
func decodeBlock(data []byte, b *sensoctov1.SampleBlock) bool {
	old, attr, samples := b.AttributeId, "", b.Samples[:0]
	var start, srv int64
	var rate float64
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return false
		}
		data = data[n:]
		switch {
		case num == bAttributeID && typ == protowire.BytesType:
			s, n := protowire.ConsumeBytes(data)
			if n < 0 || !utf8.Valid(s) {
				return false
			}
			attr = reuseString(old, s)
			data = data[n:]
		case (num == bStartTimeUS || num == bServerTimeUS) && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return false
			}
			if num == bStartTimeUS {
				start = int64(x) //nolint:gosec // G115: int64's wire form
			} else {
				srv = int64(x) //nolint:gosec // G115: as above
			}
			data = data[n:]
		case num == bSampleRateHz && typ == protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(data)
			if n < 0 {
				return false
			}
			rate = math.Float64frombits(x)
			data = data[n:]
		case num == bSamples && typ == protowire.BytesType: // packed
			p, n := protowire.ConsumeBytes(data)
			if n < 0 || len(p)%4 != 0 {
				return false
			}
			samples = slices.Grow(samples, len(p)/4)
			for ; len(p) > 0; p = p[4:] {
				x, _ := protowire.ConsumeFixed32(p)
				samples = append(samples, math.Float32frombits(x))
			}
			data = data[n:]
		case num == bSamples && typ == protowire.Fixed32Type: // one, unpacked
			x, n := protowire.ConsumeFixed32(data)
			if n < 0 {
				return false
			}
			samples = append(samples, math.Float32frombits(x))
			data = data[n:]
		default:
			return false
		}
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
