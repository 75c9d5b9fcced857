package live

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/sensocto/sensocto/server/internal/hub"
)

// The payload of bus.KindMeasurements is a batch in a compact binary form (these
// messages are the data path, unlike the JSON of the rare state changes in remote.go):
//
//	version byte (1)
//	uvarint n, n × measurement: attribute (string), time_us (varint), kind, has (bytes),
//	    the kind's floats (float64 bits, little endian) or text / struct, an ext flag
//	    byte (geo: 1 and speed, heading), uvarint extras and their key/value strings
//	uvarint n, n × block: attribute (string), start_time_us (varint), rate (float64),
//	    uvarint samples, the samples (float32 bits)
//
// A string is a uvarint length and its bytes. The receiving hub validates the batch
// again (hub.IngestRemote), so decoding checks only the shape.
const wireVersion = 1

var errWire = errors.New("malformed measurements message")

// floatsOf is how many of Value.F a kind carries.
func floatsOf(k hub.Kind) int {
	switch k {
	case hub.KindNumber:
		return 1
	case hub.KindVec3:
		return 3
	case hub.KindQuat, hub.KindGeo:
		return 4
	}
	return 0
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendF64(buf []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(buf, math.Float64bits(f))
}

// appendMeasurement appends one measurement (the count is written by the caller).
func appendMeasurement(buf []byte, m *hub.Measurement) []byte {
	buf = appendString(buf, m.AttributeID)
	buf = binary.AppendVarint(buf, m.TimeUS)
	buf = append(buf, byte(m.Value.Kind), m.Value.Has)
	for _, f := range m.Value.F[:floatsOf(m.Value.Kind)] {
		buf = appendF64(buf, f)
	}
	ext := m.Value.Ext
	switch m.Value.Kind {
	case hub.KindText:
		if ext != nil {
			buf = appendString(buf, ext.Text)
		} else {
			buf = appendString(buf, "")
		}
	case hub.KindStruct:
		var st hub.Struct
		if ext != nil {
			st = ext.Struct
		}
		buf = binary.AppendUvarint(buf, uint64(len(st.Keys)))
		for _, k := range st.Keys {
			buf = appendString(buf, k)
		}
		buf = appendString(buf, string(st.Encoded))
	}
	if m.Value.Kind == hub.KindGeo && ext != nil {
		buf = append(buf, 1)
		buf = appendF64(buf, ext.Speed)
		buf = appendF64(buf, ext.Heading)
	} else {
		buf = append(buf, 0)
	}
	buf = binary.AppendUvarint(buf, uint64(len(m.Extras)))
	for k, v := range m.Extras {
		buf = appendString(buf, k)
		buf = appendString(buf, v)
	}
	return buf
}

func appendBlock(buf []byte, b *hub.SampleBlock) []byte {
	buf = appendString(buf, b.AttributeID)
	buf = binary.AppendVarint(buf, b.StartTimeUS)
	buf = appendF64(buf, b.SampleRateHz)
	buf = binary.AppendUvarint(buf, uint64(len(b.Samples)))
	for _, v := range b.Samples {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	return buf
}

// encodeBatch encodes b as one or more messages of about limit bytes at most (an item
// is never split; the largest, a struct or a full block, is far below bus.MaxDataBytes),
// calling emit with each; emit must not keep the slice. buf and scratch are reused
// and returned.
func encodeBatch(buf, scratch []byte, b *hub.Batch, limit int, emit func([]byte)) ([]byte, []byte) {
	mi, bi := 0, 0
	for {
		body := scratch[:0]
		nm := 0
		for mi < len(b.Measurements) && len(body) < limit {
			body = appendMeasurement(body, &b.Measurements[mi])
			mi++
			nm++
		}
		mark, nb := len(body), 0
		for bi < len(b.Blocks) && len(body) < limit {
			body = appendBlock(body, &b.Blocks[bi])
			bi++
			nb++
		}
		scratch = body
		buf = append(buf[:0], wireVersion)
		buf = binary.AppendUvarint(buf, uint64(nm))
		buf = append(buf, body[:mark]...)
		buf = binary.AppendUvarint(buf, uint64(nb))
		buf = append(buf, body[mark:]...)
		emit(buf)
		if mi == len(b.Measurements) && bi == len(b.Blocks) {
			return buf, scratch
		}
	}
}

// wireReader reads the encoding, remembering the first error.
type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) fail() { r.err, r.b = errWire, nil }

func (r *wireReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *wireReader) f64() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// count reads a count of items of at least min bytes each, refusing more than the
// rest could hold.
func (r *wireReader) count(minBytes int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/minBytes) { //nolint:gosec // G115: a length is never negative
		r.fail()
		return 0
	}
	return int(n) //nolint:gosec // G115: at most len(r.b)
}

func (r *wireReader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// decodeBatch decodes a message of encodeBatch.
func decodeBatch(data []byte) (*hub.Batch, error) {
	r := &wireReader{b: data}
	if r.byte() != wireVersion {
		return nil, errWire
	}
	b := &hub.Batch{}
	if n := r.count(5); n > 0 {
		b.Measurements = make([]hub.Measurement, n)
	}
	for i := range b.Measurements {
		m := &b.Measurements[i]
		m.AttributeID = r.str()
		m.TimeUS = r.varint()
		m.Value.Kind = hub.Kind(r.byte())
		m.Value.Has = r.byte()
		for j := range floatsOf(m.Value.Kind) {
			m.Value.F[j] = r.f64()
		}
		switch m.Value.Kind {
		case hub.KindText:
			m.Value.Ext = &hub.Ext{Text: r.str()}
		case hub.KindStruct:
			st := hub.Struct{}
			if n := r.count(1); n > 0 {
				st.Keys = make([]string, n)
			}
			for k := range st.Keys {
				st.Keys[k] = r.str()
			}
			st.Encoded = []byte(r.str())
			m.Value.Ext = &hub.Ext{Struct: st}
		}
		if r.byte() == 1 {
			if m.Value.Ext == nil {
				m.Value.Ext = &hub.Ext{}
			}
			m.Value.Ext.Speed, m.Value.Ext.Heading = r.f64(), r.f64()
		}
		if n := r.count(2); n > 0 {
			m.Extras = make(map[string]string, n)
			for range n {
				k := r.str()
				m.Extras[k] = r.str()
			}
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if n := r.count(11); n > 0 {
		b.Blocks = make([]hub.SampleBlock, n)
	}
	for i := range b.Blocks {
		blk := &b.Blocks[i]
		blk.AttributeID = r.str()
		blk.StartTimeUS = r.varint()
		blk.SampleRateHz = r.f64()
		n := r.count(4)
		if r.err != nil {
			return nil, r.err
		}
		blk.Samples = make([]float32, n)
		for j := range blk.Samples {
			blk.Samples[j] = math.Float32frombits(binary.LittleEndian.Uint32(r.b[4*j:]))
		}
		r.b = r.b[4*n:]
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errWire
	}
	return b, nil
}
