package live

import (
	"reflect"
	"testing"

	"github.com/sensocto/sensocto/server/internal/hub"
)

func wireBatch() *hub.Batch {
	geo := hub.Geo(52.5, 13.4)
	geo.Has = hub.HasAltitude | hub.HasSpeed
	geo.F[2] = 34
	geo.Ext = &hub.Ext{Speed: 1.5, Heading: 90}
	return &hub.Batch{
		Measurements: []hub.Measurement{
			{AttributeID: "hr", TimeUS: 1_700_000_000_000_001, Value: hub.Number(72.5), Extras: map[string]string{"event": "press"}},
			{AttributeID: "acc", TimeUS: -5, Value: hub.Vec3(1, 2, 3)},
			{AttributeID: "rot", TimeUS: 7, Value: hub.Quat(1, 0, 0.5, 0)},
			{AttributeID: "gps", TimeUS: 8, Value: geo},
			{AttributeID: "note", TimeUS: 9, Value: hub.Text("hällo")},
			{AttributeID: "bat", TimeUS: 10, Value: hub.StructValue(hub.Struct{Keys: []string{"level", "charging"}, Encoded: []byte{1, 2, 3}})},
		},
		Blocks: []hub.SampleBlock{
			{AttributeID: "ecg", StartTimeUS: 1_700_000_000_000_000, SampleRateHz: 250, Samples: []float32{0.1, -0.2, 3e7}},
			{AttributeID: "eeg", StartTimeUS: 11, SampleRateHz: 0.5, Samples: []float32{}},
		},
	}
}

// TestWireRoundTrip: every kind of value, extras and blocks survive the encoding.
func TestWireRoundTrip(t *testing.T) {
	t.Parallel()
	in := wireBatch()
	var got []*hub.Batch
	encodeBatch(nil, nil, in, maxMessageBytes, func(data []byte) {
		b, err := decodeBatch(data)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		got = append(got, b)
	})
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	in.Blocks[1].Samples = []float32{} // decoded as an empty, non-nil slice
	if !reflect.DeepEqual(got[0], in) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got[0], in)
	}
}

// TestWireSplits: a batch larger than the limit goes in several messages, in order,
// none far over the limit, together the whole batch.
func TestWireSplits(t *testing.T) {
	t.Parallel()
	in := &hub.Batch{}
	for i := range 3000 {
		in.Measurements = append(in.Measurements, hub.Measurement{AttributeID: "hr", TimeUS: int64(i + 1), Value: hub.Number(float64(i))})
	}
	for i := range 20 {
		in.Blocks = append(in.Blocks, hub.SampleBlock{AttributeID: "ecg", StartTimeUS: int64(i + 1), SampleRateHz: 100, Samples: make([]float32, 1000)})
	}
	const limit = 8 << 10
	out := &hub.Batch{}
	messages := 0
	encodeBatch(nil, nil, in, limit, func(data []byte) {
		messages++
		if len(data) > limit+4100 {
			t.Fatalf("message of %d bytes over a limit of %d", len(data), limit)
		}
		b, err := decodeBatch(data)
		if err != nil {
			t.Fatal(err)
		}
		out.Measurements = append(out.Measurements, b.Measurements...)
		out.Blocks = append(out.Blocks, b.Blocks...)
	})
	if messages < 5 || !reflect.DeepEqual(out, in) {
		t.Fatalf("%d messages; reassembled equal: %v", messages, reflect.DeepEqual(out, in))
	}
}

// TestWireRefusesMalformed: truncations and garbage are errors, never a panic.
func TestWireRefusesMalformed(t *testing.T) {
	t.Parallel()
	var whole []byte
	encodeBatch(nil, nil, wireBatch(), maxMessageBytes, func(data []byte) { whole = append([]byte(nil), data...) })
	for n := range len(whole) {
		if _, err := decodeBatch(whole[:n]); err == nil {
			t.Fatalf("a message cut at %d of %d bytes decoded", n, len(whole))
		}
	}
	for _, bad := range [][]byte{nil, {2}, {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, append(append([]byte(nil), whole...), 0)} {
		if _, err := decodeBatch(bad); err == nil {
			t.Fatalf("%v decoded", bad)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	encodeBatch(nil, nil, wireBatch(), maxMessageBytes, func(data []byte) { f.Add(append([]byte(nil), data...)) })
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBatch(data)
		if err != nil {
			return
		}
		var again []byte
		encodeBatch(nil, nil, b, maxMessageBytes, func(d []byte) { again = append(again, d...) })
		if _, err := decodeBatch(again); err != nil {
			t.Fatalf("re-encoding a decoded batch: %v", err)
		}
	})
}
