package sensorsrpc

import (
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
)

// streamSeeds are encoded requests the fast path takes and ones it leaves to
// proto.Unmarshal.
func streamSeeds(t testing.TB) [][]byte {
	t.Helper()
	num := func(attr string, ts int64, v float64) *sensoctov1.Measurement {
		return &sensoctov1.Measurement{AttributeId: attr, TimeUs: ts, Value: &sensoctov1.Measurement_Number{Number: v}}
	}
	reqs := []*sensoctov1.StreamRequest{
		{SensorId: "s1"},
		{SensorId: "s1", Sequence: 7, Measurements: []*sensoctov1.Measurement{num("hr", 1_700_000_000_000_000, 72), num("hr", 0, math.Inf(1)), {AttributeId: "x", ServerTimeUs: -5}}},
		{SensorId: "s2", Sequence: 1 << 40, Blocks: []*sensoctov1.SampleBlock{{AttributeId: "ecg", StartTimeUs: 9, SampleRateHz: 512, Samples: []float32{1, -2, 3.5}}, {AttributeId: "ecg"}}},
		{SensorId: "s3", Measurements: []*sensoctov1.Measurement{num("a", 1, 1), {AttributeId: "t", Value: &sensoctov1.Measurement_Text{Text: "hi"}}}},
		{SensorId: "s4", Measurements: []*sensoctov1.Measurement{{AttributeId: "st", Value: &sensoctov1.Measurement_StructValue{StructValue: &structpb.Struct{}}}, {AttributeId: "e", Extras: map[string]string{"k": "v"}}}},
	}
	var out [][]byte
	for _, r := range reqs {
		b, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	// Samples unpacked, a field twice (the last wins), invalid UTF-8, an unknown field.
	var b []byte
	b = protowire.AppendTag(b, reqBlocks, protowire.BytesType)
	var blk []byte
	blk = protowire.AppendTag(blk, bSamples, protowire.Fixed32Type)
	blk = protowire.AppendFixed32(blk, math.Float32bits(4))
	blk = protowire.AppendTag(blk, bSamples, protowire.Fixed32Type)
	blk = protowire.AppendFixed32(blk, math.Float32bits(5))
	b = protowire.AppendBytes(b, blk)
	b = protowire.AppendTag(b, reqSensorID, protowire.BytesType)
	b = protowire.AppendString(b, "first")
	b = protowire.AppendTag(b, reqSensorID, protowire.BytesType)
	b = protowire.AppendString(b, "second")
	out = append(out, b)
	out = append(out, protowire.AppendString(protowire.AppendTag(nil, reqSensorID, protowire.BytesType), "\xff"))
	out = append(out, protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	return out
}

// FuzzStreamCodec: the Stream route's codec decodes every input exactly as
// proto.Unmarshal does (the same error or none, proto.Equal results), also into
// requests reused from earlier inputs, as the pool hands them out.
func FuzzStreamCodec(f *testing.F) {
	for _, s := range streamSeeds(f) {
		f.Add(s)
	}
	reused := new(sensoctov1.StreamRequest)
	f.Fuzz(func(t *testing.T, data []byte) {
		want := new(sensoctov1.StreamRequest)
		wantErr := proto.Unmarshal(data, want)
		for _, into := range []*sensoctov1.StreamRequest{new(sensoctov1.StreamRequest), reused} {
			err := streamCodec{}.Unmarshal(data, into)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, proto.Unmarshal's %v", err, wantErr)
			}
			if err == nil && !proto.Equal(into, want) {
				t.Fatalf("decoded %v\nproto.Unmarshal %v", into, want)
			}
		}
	})
}

// TestStreamCodecReuses: decoding into a request decoded before reuses its
// measurements, number wrappers, blocks and samples (what the codec is for), and
// takes numbers and blocks without proto.Unmarshal.
func TestStreamCodecReuses(t *testing.T) { //nolint:paralleltest // AllocsPerRun
	seeds := streamSeeds(t)
	r := new(sensoctov1.StreamRequest)
	if err := (streamCodec{}).Unmarshal(seeds[1], r); err != nil {
		t.Fatal(err)
	}
	m0, w0 := r.Measurements[0], r.Measurements[0].Value
	if !decodeStreamRequest(seeds[1], r) {
		t.Fatal("a request of numbers was left to proto.Unmarshal")
	}
	if r.Measurements[0] != m0 || r.Measurements[0].Value != w0 {
		t.Fatal("the measurement and its number wrapper were not reused")
	}
	if err := (streamCodec{}).Unmarshal(seeds[2], r); err != nil {
		t.Fatal(err)
	}
	s0 := &r.Blocks[0].Samples[0]
	if !decodeStreamRequest(seeds[2], r) || &r.Blocks[0].Samples[0] != s0 {
		t.Fatal("the block's samples were not decoded into the same slice")
	}
	if cap(r.Measurements) == 0 {
		t.Fatal("the measurements' backing array was dropped by a request without measurements")
	}
	for _, i := range []int{3, 4} {
		if decodeStreamRequest(seeds[i], new(sensoctov1.StreamRequest)) {
			t.Fatalf("seed %d (text, struct or extras) was taken by the fast path", i)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := (streamCodec{}).Unmarshal(seeds[1], r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("decoding into a reused request allocates %v times, want 0", allocs)
	}
}
