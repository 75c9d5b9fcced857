package hub

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

func TestWatcherGetsExactSamplesInOrder(t *testing.T) {
	t.Parallel()
	h, clk := newTestHub(t)
	mustRegister(t, h, "s1", AttributeSpec{ID: "ecg", Type: "ecg", SampleRateHz: 512})
	w, err := h.Watch(WatchSpec{SensorIDs: []string{"s1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	const nBlocks = 50
	var want []float32
	start := int64(1_700_000_000_000_000)
	for i := range nBlocks {
		samples := make([]float32, 64)
		for j := range samples {
			samples[j] = float32(i*64 + j)
		}
		want = append(want, samples...)
		mustIngest(t, h, "s1", &Batch{
			Blocks:       []SampleBlock{{AttributeID: "ecg", StartTimeUS: start + int64(i)*125_000, SampleRateHz: 512, Samples: samples}},
			Measurements: []Measurement{{AttributeID: "hr", TimeUS: start + int64(i), Value: Number(float64(60 + i))}, {AttributeID: "hr", Value: Number(1)}},
		})
		clk.advance(time.Millisecond)
	}
	got := collect(t, w, func(all []Delivery) bool { return len(blocks(all)) == nBlocks && len(measurements(all)) == 2*nBlocks })
	var samples []float32
	for i, b := range blocks(got) {
		if b.StartTimeUS != start+int64(i)*125_000 || b.SampleRateHz != 512 || b.AttributeID != "ecg" || b.ServerUS == 0 {
			t.Fatalf("block %d = start %d rate %v attr %q srv %d", i, b.StartTimeUS, b.SampleRateHz, b.AttributeID, b.ServerUS)
		}
		samples = append(samples, b.Samples...)
	}
	if len(samples) != len(want) {
		t.Fatalf("got %d samples, want %d", len(samples), len(want))
	}
	for i := range want {
		if samples[i] != want[i] {
			t.Fatalf("sample %d = %v, want %v", i, samples[i], want[i])
		}
	}
	ms := measurements(got)
	for i := range nBlocks {
		m, zero := ms[2*i], ms[2*i+1]
		if m.TimeUS != start+int64(i) || m.Value.F[0] != float64(60+i) || m.AttributeID != "hr" {
			t.Fatalf("measurement %d = %+v", i, m)
		}
		if zero.TimeUS != zero.ServerUS || zero.ServerUS != m.ServerUS {
			t.Fatalf("time 0 must become the server time: %+v (batch stamped %d)", zero, m.ServerUS)
		}
	}
	for _, d := range got {
		if d.Dropped != 0 {
			t.Fatalf("dropped %d", d.Dropped)
		}
	}
	// hr was registered by its first data with an inferred type.
	info, err := h.Get("s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Attributes) != 2 || info.Attributes[1].ID != "hr" || info.Attributes[1].Type != "heartrate" || !info.Attributes[1].Inferred {
		t.Fatalf("attributes = %+v", info.Attributes)
	}
	if st := h.Stats(); st.Ingested != nBlocks*66 || st.Watchers != 1 || st.Sensors != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestIngestRefusesBadBatchWhole(t *testing.T) {
	t.Parallel()
	good := Measurement{AttributeID: "temp", TimeUS: t0 + 10, Value: Number(20)}
	goodBlock := SampleBlock{AttributeID: "ecg", StartTimeUS: t0 + 10, SampleRateHz: 100, Samples: []float32{1, 2}}
	cases := []struct {
		name  string
		batch Batch
		field string
	}{
		{"negative time", Batch{Measurements: []Measurement{good, good, good, {AttributeID: "temp", TimeUS: -1, Value: Number(1)}}}, "measurements[3].time_us"},
		{"nan", Batch{Measurements: []Measurement{good, {AttributeID: "temp", Value: Number(math.NaN())}}}, "measurements[1].number"},
		{"inf vec3", Batch{Measurements: []Measurement{{AttributeID: "acc", Value: Vec3(0, math.Inf(1), 0)}}}, "measurements[0].vector3"},
		{"no value", Batch{Measurements: []Measurement{{AttributeID: "x"}}}, "measurements[0].value"},
		{"bad attribute id", Batch{Measurements: []Measurement{{AttributeID: "_x", Value: Number(1)}}}, "measurements[0].attribute_id"},
		{"latitude", Batch{Measurements: []Measurement{{AttributeID: "gps", Value: Geo(91, 0)}}}, "measurements[0].geo.latitude"},
		{"long text", Batch{Measurements: []Measurement{{AttributeID: "note", Value: Text(string(make([]byte, MaxTextBytes+1)))}}}, "measurements[0].text"},
		{"vector on waveform", Batch{Measurements: []Measurement{good, {AttributeID: "ecg", Value: Vec3(1, 2, 3)}}}, "measurements[1].value"},
		{"block time", Batch{Measurements: []Measurement{good}, Blocks: []SampleBlock{goodBlock, {AttributeID: "ecg", StartTimeUS: -5, SampleRateHz: 100, Samples: []float32{1}}}}, "blocks[1].start_time_us"},
		{"block rate", Batch{Blocks: []SampleBlock{{AttributeID: "ecg", SampleRateHz: 0, Samples: []float32{1}}}}, "blocks[0].sample_rate_hz"},
		{"block empty", Batch{Blocks: []SampleBlock{{AttributeID: "ecg", SampleRateHz: 10}}}, "blocks[0].samples"},
		{"block too large", Batch{Blocks: []SampleBlock{{AttributeID: "ecg", SampleRateHz: 10, Samples: make([]float32, MaxBlockSamples+1)}}}, "blocks[0].samples"},
		{"block nan sample", Batch{Blocks: []SampleBlock{goodBlock, {AttributeID: "ecg", SampleRateHz: 10, Samples: []float32{1, float32(math.NaN())}}}}, "blocks[1].samples[1]"},
		{"too many measurements", Batch{Measurements: make([]Measurement, MaxMeasurements+1)}, "measurements"},
		{"too many extras", Batch{Measurements: []Measurement{{AttributeID: "b", Value: Number(1), Extras: map[string]string{"a": "", "b": "", "c": "", "d": "", "e": "", "f": "", "g": "", "h": "", "i": ""}}}}, "measurements[0].extras"},
		// Values that cannot be encoded as JSON (issue 11, item 6).
		{"struct nan", Batch{Measurements: []Measurement{good, good, good, {AttributeID: "gaze", Value: structOf(t, map[string]any{"x": 1.0, "foo": map[string]any{"items": []any{1.0, math.NaN()}}})}}}, "measurements[3].struct_value.foo.items[1]"},
		{"struct inf", Batch{Measurements: []Measurement{good, {AttributeID: "battery", Value: structOf(t, map[string]any{"level": math.Inf(1), "charging": true})}}}, "measurements[1].struct_value.level"},
		{"struct odd key", Batch{Measurements: []Measurement{good, {AttributeID: "x", Value: structOf(t, map[string]any{"a b": []any{map[string]any{"c": math.Inf(-1)}}})}}}, `measurements[1].struct_value["a b"][0].c`},
		{"struct not encoded", Batch{Measurements: []Measurement{good, {AttributeID: "x", Value: StructValue(Struct{Encoded: []byte{0x0a, 0x05, 0x0a}})}}}, "measurements[1].struct_value"},
		{"text not utf-8", Batch{Measurements: []Measurement{good, {AttributeID: "note", Value: Text("ok\xff")}}}, "measurements[1].text"},
		// Times outside [2000-01-01, now + 1 day] (item 7).
		{"time before 2000", Batch{Measurements: []Measurement{good, {AttributeID: "temp", TimeUS: 1_000_000, Value: Number(1)}}}, "measurements[1].time_us"},
		{"time in the future", Batch{Measurements: []Measurement{good, good, {AttributeID: "temp", TimeUS: t0 + MaxFutureUS + 1, Value: Number(1)}}}, "measurements[2].time_us"},
		{"time at int64 max", Batch{Measurements: []Measurement{good, good, {AttributeID: "temp", TimeUS: math.MaxInt64, Value: Number(1)}}}, "measurements[2].time_us"},
		{"block tiny rate", Batch{Blocks: []SampleBlock{goodBlock, {AttributeID: "ecg", StartTimeUS: t0, SampleRateHz: 1e-13, Samples: []float32{1, 2}}}}, "blocks[1].sample_rate_hz"},
		{"block start near int64 max", Batch{Blocks: []SampleBlock{goodBlock, {AttributeID: "ecg", StartTimeUS: math.MaxInt64 - 10, SampleRateHz: 100, Samples: []float32{1, 2}}}}, "blocks[1].start_time_us"},
		{"block runs past the window", Batch{Blocks: []SampleBlock{goodBlock, {AttributeID: "ecg", StartTimeUS: t0, SampleRateHz: 0.001, Samples: make([]float32, 100)}}}, "blocks[1].samples"},
		{"block rate nan", Batch{Blocks: []SampleBlock{goodBlock, {AttributeID: "ecg", SampleRateHz: math.NaN(), Samples: []float32{1}}}}, "blocks[1].sample_rate_hz"},
		// Attribute types take their kinds only (item 8).
		{"heartrate vector3", Batch{Measurements: []Measurement{good, {AttributeID: "heartrate", Value: Vec3(1, 2, 3)}}}, "measurements[1].vector3"},
		{"heartrate geo", Batch{Measurements: []Measurement{good, good, {AttributeID: "hr", Value: Geo(1, 2)}}}, "measurements[2].geo"},
		{"heartrate text", Batch{Measurements: []Measurement{good, {AttributeID: "bpm", Value: Text("72")}}}, "measurements[1].text"},
		{"temperature struct", Batch{Measurements: []Measurement{good, {AttributeID: "temp", Value: structOf(t, map[string]any{"value": 1.0})}}}, "measurements[1].struct_value"},
		{"geolocation number", Batch{Measurements: []Measurement{good, {AttributeID: "gps", Value: Number(1)}}}, "measurements[1].number"},
		{"block on a geolocation", Batch{Measurements: []Measurement{good, {AttributeID: "gps", Value: Geo(1, 2)}}, Blocks: []SampleBlock{goodBlock, {AttributeID: "gps", SampleRateHz: 1, Samples: []float32{1}}}}, "blocks[1].attribute_id"},
		// extras count characters, as the wire contract says, and must be UTF-8.
		{"extras key of 33 characters", Batch{Measurements: []Measurement{good, {AttributeID: "b", Value: Number(1), Extras: map[string]string{strings.Repeat("é", 33): "x"}}}}, "measurements[1].extras"},
		{"extras value of 129 characters", Batch{Measurements: []Measurement{good, {AttributeID: "b", Value: Number(1), Extras: map[string]string{"k": strings.Repeat("é", 129)}}}}, "measurements[1].extras"},
		{"extras not utf-8", Batch{Measurements: []Measurement{good, {AttributeID: "b", Value: Number(1), Extras: map[string]string{"k": "\xff"}}}}, "measurements[1].extras"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := newTestHub(t)
			mustRegister(t, h, "s", AttributeSpec{ID: "temp"})
			w, err := h.Watch(WatchSpec{SensorIDs: []string{"s"}})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			n, err := h.Ingest("s", &tc.batch)
			if n != 0 || apperr.KindOf(err) != apperr.KindInvalidArgument {
				t.Fatalf("Ingest = %d, %v; want InvalidArgument", n, err)
			}
			e, _ := apperr.As(err)
			if len(e.Violations) != 1 || e.Violations[0].Field != tc.field {
				t.Fatalf("violations = %+v, want field %s", e.Violations, tc.field)
			}
			info, _ := h.Get("s")
			if len(info.Attributes) != 1 || info.Attributes[0].Stored != 0 {
				t.Fatalf("batch half applied: %+v", info.Attributes)
			}
			if st := w.Stats(); st.QueuedValues != 0 {
				t.Fatalf("watcher got %d values of a refused batch", st.QueuedValues)
			}
		})
	}
}

// structOf encodes a struct value as the handlers do (protobuf wire form).
func structOf(t *testing.T, fields map[string]any) Value {
	t.Helper()
	st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range fields {
		sv, err := structpb.NewValue(v)
		if err != nil {
			t.Fatal(err)
		}
		st.Fields[k] = sv
	}
	enc, err := proto.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	return StructValue(Struct{Keys: keys, Encoded: enc})
}

// What the limits allow is accepted: characters, not bytes, in extras; the
// edges of the time window; the slowest rate; the kinds of each type.
func TestIngestAcceptsTheEdges(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	mustRegister(t, h, "s", AttributeSpec{ID: "temp"})
	b := &Batch{
		Measurements: []Measurement{
			{AttributeID: "b", TimeUS: MinTimeUS, Value: Number(1), Extras: map[string]string{strings.Repeat("é", 32): strings.Repeat("ü", 128)}},
			{AttributeID: "temp", TimeUS: t0 + MaxFutureUS, Value: Number(1)},
			{AttributeID: "battery", Value: structOf(t, map[string]any{"level": 50.0, "charging": true, "cells": []any{1.0, map[string]any{"v": -3.5}, nil, "x"}})},
			{AttributeID: "battery", Value: Number(40)},
			{AttributeID: "gps", Value: Geo(1, 2)},
			{AttributeID: "imu", Value: Vec3(1, 2, 3)},
			{AttributeID: "quaternion", Value: Quat(1, 0, 0, 0)},
			{AttributeID: "pose", Value: Text(`{"landmarks":[]}`)},
			{AttributeID: "anything", Value: Vec3(1, 2, 3)},
			{AttributeID: "anything", Value: Text("a")},
		},
		Blocks: []SampleBlock{
			{AttributeID: "slow", StartTimeUS: t0, SampleRateHz: MinSampleRateHz, Samples: make([]float32, 87)}, // the last sample 86,000 s later
			{AttributeID: "ecg", StartTimeUS: MinTimeUS, SampleRateHz: MaxSampleRateHz, Samples: make([]float32, MaxBlockSamples)},
		},
	}
	mustIngest(t, h, "s", b)
	pts, _, err := h.History("s", "slow", 0, 0, 0)
	if err != nil || len(pts) != 87 || pts[86].TimeUS != t0+86_000_000_000 {
		t.Fatalf("slow block: %d points, err %v", len(pts), err)
	}
}

func TestIngestUnknownSensor(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	if _, err := h.Ingest("nope", &Batch{}); !apperr.IsNotFound(err) {
		t.Fatalf("err = %v, want NotFound", err)
	}
}

func TestAttributeCap(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	mustRegister(t, h, "s")
	b := &Batch{}
	for i := range MaxAttributesPerSensor - 1 {
		b.Measurements = append(b.Measurements, Measurement{AttributeID: fmt.Sprintf("a%d", i), Value: Number(1)})
	}
	mustIngest(t, h, "s", b)
	// One more fits; the next new one in the same batch does not, and neither is applied.
	_, err := h.Ingest("s", &Batch{Measurements: []Measurement{
		{AttributeID: "a0", Value: Number(2)}, {AttributeID: "last", Value: Number(1)}, {AttributeID: "last", Value: Number(1)}, {AttributeID: "over", Value: Number(1)},
	}})
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindInvalidArgument || e.Violations[0].Field != "measurements[3].attribute_id" {
		t.Fatalf("err = %v", err)
	}
	info, _ := h.Get("s")
	if len(info.Attributes) != MaxAttributesPerSensor-1 || info.Attributes[0].Stored != 1 {
		t.Fatalf("%d attributes, a0 stored %d", len(info.Attributes), info.Attributes[0].Stored)
	}
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "last", Value: Number(1)}}})
	if _, err := h.Register("s", []AttributeSpec{{ID: "over"}}); apperr.KindOf(err) != apperr.KindInvalidArgument {
		t.Fatalf("Register over the cap: %v", err)
	}
}

func TestInferType(t *testing.T) {
	t.Parallel()
	st := func(keys ...string) Value { return StructValue(Struct{Keys: keys}) }
	cases := []struct {
		id   string
		v    Value
		want string
	}{
		{"battery_level", Number(1), "battery"},
		{"gps", Number(1), "geolocation"},
		{"buttons", Number(1), "button"},
		{"heartbeat", Number(1), "ecg"},
		{"bpm", Number(1), "heartrate"},
		{"gyroscope", Vec3(1, 2, 3), "imu"},
		{"breath", Number(1), "respiration"},
		{"heart_rate_variability", st("rmssd"), "hrv"},
		{"gaze", st("x", "y"), "eye_gaze"},
		{"temp", Number(1), "temperature"},
		{"humidity", Number(1), "humidity"},
		{"barometer", Number(1), "pressure"},
		{"now_playing", st("title"), "rich_presence"},
		{"pose", Text("{}"), "skeleton"},
		{"x1", st("level", "charging"), "battery"},
		{"x2", st("level"), "numeric"},
		{"x3", st("latitude", "longitude"), "geolocation"},
		{"x4", Geo(1, 2), "geolocation"},
		{"x5", st("artist"), "rich_presence"},
		{"x6", st("landmarks"), "skeleton"},
		{"x7", Text(`{"landmarks":[]}`), "numeric"},
		{"x8", Number(3), "numeric"},
	}
	for _, tc := range cases {
		if got := InferType(tc.id, &tc.v); got != tc.want {
			t.Errorf("InferType(%q, %v) = %q, want %q", tc.id, tc.v.Kind, got, tc.want)
		}
	}
}

func TestHistoryOrderAndCapacity(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	mustRegister(t, h, "s", AttributeSpec{ID: "temp", Type: "temperature"}, AttributeSpec{ID: "ecg", Type: "ecg"})
	// Out of order, with a tie: the ring keeps time order, ties by arrival.
	times := []int64{50, 10, 30, 30, 20, 60}
	for i, tm := range times {
		mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "temp", TimeUS: t0 + tm, Value: Number(float64(i))}}})
	}
	pts, typ, err := h.History("s", "temp", 0, 0, 0)
	if err != nil || typ != "temperature" {
		t.Fatal(err, typ)
	}
	wantT := []int64{10, 20, 30, 30, 50, 60}
	wantV := []float64{1, 4, 2, 3, 0, 5}
	for i := range wantT {
		if pts[i].TimeUS != t0+wantT[i] || pts[i].Value.F[0] != wantV[i] {
			t.Fatalf("history = %+v", pts)
		}
	}
	pts, _, _ = h.History("s", "temp", t0+20, t0+50, 2)
	if len(pts) != 2 || pts[0].TimeUS != t0+30 || pts[1].TimeUS != t0+30 {
		t.Fatalf("range [20,50) limit 2 = %+v", pts)
	}
	// Capacity: 64 for temperature; the oldest go first, and data older than a
	// full ring is refused.
	for i := range 100 {
		mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "temp", TimeUS: t0 + int64(1000+i), Value: Number(float64(i))}}})
	}
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "temp", TimeUS: t0 + 5, Value: Number(-1)}}})
	pts, _, _ = h.History("s", "temp", 0, 0, 0)
	if len(pts) != 64 || pts[0].TimeUS != t0+1036 || pts[63].TimeUS != t0+1099 {
		t.Fatalf("capacity: %d points, first %d last %d", len(pts), pts[0].TimeUS, pts[len(pts)-1].TimeUS)
	}
	// Waveform: 2000 samples kept, times from start + i/rate.
	mustIngest(t, h, "s", &Batch{Blocks: []SampleBlock{{AttributeID: "ecg", StartTimeUS: t0 + 1_000_000, SampleRateHz: 512, Samples: make([]float32, 3000)}}})
	pts, _, _ = h.History("s", "ecg", 0, 0, 0)
	if len(pts) != 2000 || pts[0].TimeUS != t0+1_000_000+sampleOffset(1000, 512) || pts[1999].TimeUS != t0+1_000_000+sampleOffset(2999, 512) {
		t.Fatalf("ecg: %d points %d..%d", len(pts), pts[0].TimeUS, pts[len(pts)-1].TimeUS)
	}
	if _, _, err := h.History("s", "nope", 0, 0, 0); !apperr.IsNotFound(err) {
		t.Fatalf("unknown attribute: %v", err)
	}
}

func TestSetLoadFactorShrinks(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	mustRegister(t, h, "s", AttributeSpec{ID: "ecg", Type: "ecg"}, AttributeSpec{ID: "pose", Type: "skeleton"}, AttributeSpec{ID: "temp", Type: "temperature"})
	mustIngest(t, h, "s", &Batch{
		Blocks:       []SampleBlock{{AttributeID: "ecg", StartTimeUS: t0 + 1, SampleRateHz: 100, Samples: make([]float32, 2000)}},
		Measurements: []Measurement{{AttributeID: "pose", Value: Text("{}")}},
	})
	cases := []struct {
		factor            float64
		ecg, pose, tempCp int
	}{
		{0.5, 1000, 1, 32},
		{0.2, 400, 1, 12},
		{0.001, 10, 1, 5},
		{1, 2000, 1, 64},
	}
	for _, tc := range cases {
		h.SetLoadFactor(tc.factor)
		info, _ := h.Get("s")
		a := info.Attributes
		if a[0].Capacity != tc.ecg || a[1].Capacity != tc.pose || a[2].Capacity != tc.tempCp || a[0].Stored > tc.ecg {
			t.Fatalf("factor %v: %+v", tc.factor, a)
		}
	}
	if h.Stats().LoadFactor != 1 {
		t.Fatal("load factor not reported")
	}
}

func TestStalledWatcherDropsOldestAndDoesNotSlowOthers(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	mustRegister(t, h, "s", AttributeSpec{ID: "ecg", Type: "ecg"})
	stalled, _ := h.Watch(WatchSpec{SensorIDs: []string{"s"}, MaxQueuedValues: 1000})
	defer stalled.Close()
	live, _ := h.Watch(WatchSpec{SensorIDs: []string{"s"}})
	defer live.Close()

	const n = 100 // blocks of 64: 6400 samples against a 1000-value queue
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int, 1)
	go func() {
		total := 0
		for total < n*64 {
			d, err := live.Next(ctx)
			if err != nil {
				break
			}
			for _, b := range blocks([]Delivery{d}) {
				total += len(b.Samples)
			}
		}
		got <- total
	}()
	for i := range n {
		samples := make([]float32, 64)
		samples[0] = float32(i)
		mustIngest(t, h, "s", &Batch{Blocks: []SampleBlock{{AttributeID: "ecg", StartTimeUS: t0 + int64(1+i*640_000), SampleRateHz: 100, Samples: samples}}})
	}
	if total := <-got; total != n*64 {
		t.Fatalf("live watcher got %d samples, want %d", total, n*64)
	}
	// The stalled watcher kept the newest 960 values (15 blocks) and reports the rest.
	d := next(t, stalled)
	bs := blocks([]Delivery{d})
	if d.Dropped != uint64(n*64-len(bs)*64) || len(bs) != 15 || bs[0].Samples[0] != float32(n-15) {
		t.Fatalf("stalled: dropped %d, %d blocks, first %v", d.Dropped, len(bs), bs[0].Samples[0])
	}
	if st := h.Stats(); st.Dropped != d.Dropped || st.QueuedValues != 0 {
		t.Fatalf("hub stats = %+v", st)
	}
}

func TestWindowHoldsData(t *testing.T) {
	t.Parallel()
	h, clk := newTestHub(t)
	mustRegister(t, h, "s", AttributeSpec{ID: "slow"}, AttributeSpec{ID: "fast"})
	windows := map[string]time.Duration{"slow": time.Hour, "fast": time.Second}
	w, _ := h.Watch(WatchSpec{SensorIDs: []string{"s"}, Window: func(_, attr string) time.Duration { return windows[attr] }})
	defer w.Close()
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "slow", Value: Number(1)}}})

	// Within its window the data is held: Next gives up with the context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next within the window: %v", err)
	}
	// Data of an attribute with a shorter window arrives; once its window has
	// passed, everything queued is delivered.
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "fast", Value: Number(2)}}})
	clk.advance(time.Second)
	d := next(t, w)
	if ms := measurements([]Delivery{d}); len(ms) != 2 || ms[0].AttributeID != "slow" || ms[1].AttributeID != "fast" {
		t.Fatalf("delivery = %+v", ms)
	}
}

func TestDeleteEndsSubscriptionCleanly(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	mustRegister(t, h, "a")
	mustRegister(t, h, "b")
	w, _ := h.Watch(WatchSpec{SensorIDs: []string{"a", "b"}, AttributeIDs: []string{"x"}})
	defer w.Close()
	mustIngest(t, h, "a", &Batch{Measurements: []Measurement{{AttributeID: "x", Value: Number(1)}, {AttributeID: "y", Value: Number(1)}}})
	if !h.Delete("a") || h.Delete("a") {
		t.Fatal("Delete result")
	}
	d := next(t, w)
	if len(d.Events) != 2 || d.Events[0].Kind != EventUpdated || d.Events[1].Kind != EventRemoved || d.Events[1].SensorID != "a" {
		t.Fatalf("events = %+v", d.Events)
	}
	if ms := measurements([]Delivery{d}); len(ms) != 1 || ms[0].AttributeID != "x" {
		t.Fatalf("data before delete = %+v", ms)
	}
	if _, err := h.Ingest("a", &Batch{}); !apperr.IsNotFound(err) {
		t.Fatalf("ingest after delete: %v", err)
	}
	if w.Stats().Sensors != 1 {
		t.Fatal("subscription to the deleted sensor kept")
	}
	mustIngest(t, h, "b", &Batch{Measurements: []Measurement{{AttributeID: "x", Value: Number(2)}}})
	if ms := measurements([]Delivery{next(t, w)}); len(ms) != 1 || ms[0].Value.F[0] != 2 {
		t.Fatalf("other sensor = %+v", ms)
	}
	w.Close()
	if _, err := w.Next(context.Background()); !errors.Is(err, ErrWatcherClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if st := h.Stats(); st.Watchers != 0 || st.QueuedValues != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestRecentAndEvents(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	w0, _ := h.Watch(WatchSpec{SensorIDs: []string{"s"}}) // before the sensor is registered
	defer w0.Close()
	mustRegister(t, h, "s", AttributeSpec{ID: "temp", Type: "temperature"})
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "temp", TimeUS: t0 + 5, Value: Number(1)}, {AttributeID: "hum", TimeUS: t0 + 6, Value: Number(2)}}})
	if err := h.Notify("s", EventConnected); err != nil {
		t.Fatal(err)
	}
	all := collect(t, w0, func(all []Delivery) bool { return len(measurements(all)) == 2 && len(events(all)) == 3 })
	ev := events(all)
	if ev[0].Kind != EventRegistered || ev[1].Kind != EventUpdated || ev[2].Kind != EventConnected {
		t.Fatalf("events = %+v", ev) // registered; hum added by data; connected
	}

	w, _ := h.Watch(WatchSpec{SensorIDs: []string{"s"}, AttributeIDs: []string{"temp"}, Recent: true})
	defer w.Close()
	d := next(t, w)
	if !d.Recent || len(d.Data) != 1 || len(d.Data[0].Measurements) != 1 || d.Data[0].Measurements[0].TimeUS != t0+5 {
		t.Fatalf("recent = %+v", d)
	}
	sd, err := h.Recent("s", nil)
	if err != nil || len(sd.Measurements) != 2 {
		t.Fatalf("Recent = %+v, %v", sd, err)
	}
	if err := h.Notify("missing", EventUpdated); !apperr.IsNotFound(err) {
		t.Fatalf("Notify(missing) = %v", err)
	}
}

func events(ds []Delivery) []Event {
	var out []Event
	for _, d := range ds {
		out = append(out, d.Events...)
	}
	return out
}

func sampleOffset(i int, rate float64) int64 { return int64(math.Round(float64(i) * 1e6 / rate)) }

func TestOnBatteryAndQueueFill(t *testing.T) {
	t.Parallel()
	var got []Measurement
	h := New(Options{OnBattery: func(id string, m Measurement) {
		if id == "s" {
			got = append(got, m)
		}
	}})
	mustRegister(t, h, "s")
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{
		{AttributeID: "battery", TimeUS: t0 + 20, Value: Number(15)},
		{AttributeID: "battery", TimeUS: t0 + 10, Value: Number(90)},
		{AttributeID: "temp", TimeUS: t0 + 30, Value: Number(20)},
	}})
	if len(got) != 1 || got[0].Value.F[0] != 15 {
		t.Fatalf("OnBattery got %+v, want the newest battery value once", got)
	}
	w, _ := h.Watch(WatchSpec{SensorIDs: []string{"s"}, MaxQueuedValues: 100})
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "temp", Value: Number(1)}}})
	if q, c := h.QueueFill(); q != 1 || c != 100 {
		t.Fatalf("QueueFill = %d, %d", q, c)
	}
	w.Close()
	if q, c := h.QueueFill(); q != 0 || c != 0 {
		t.Fatalf("QueueFill after Close = %d, %d", q, c)
	}
}

// TestOnEvent: every event sent to a sensor's watchers reaches OnEvent too, watched or
// not; ingest sends one only when a batch adds attributes.
func TestOnEvent(t *testing.T) {
	t.Parallel()
	var got []EventKind
	h := New(Options{OnEvent: func(ev Event) {
		if ev.SensorID == "s" && ev.AtUS > 0 {
			got = append(got, ev.Kind)
		}
	}})
	mustRegister(t, h, "s", AttributeSpec{ID: "temp", Type: "temperature"})
	mustRegister(t, h, "s")
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "temp", Value: Number(20)}}})
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "new", Value: Number(1)}}})
	for _, k := range []EventKind{EventConnected, EventAttention, EventDisconnected} {
		if err := h.Notify("s", k); err != nil {
			t.Fatal(err)
		}
	}
	h.Delete("s")
	want := []EventKind{EventRegistered, EventUpdated, EventUpdated, EventConnected, EventAttention, EventDisconnected, EventRemoved}
	if len(got) != len(want) {
		t.Fatalf("OnEvent got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("OnEvent got %v, want %v", got, want)
		}
	}
}

// TestConcurrentUse runs ingesters, watchers that come and go, and a sensor deleted and
// registered again at once (under -race in CI), then checks the outcome: every batch
// was accepted whole or refused only because its sensor was deleted, the ingested
// counter is exactly the sum of what was accepted, every watcher's read ended with
// data or its deadline, and nothing is left queued.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	ids := []string{"a", "b", "c"}
	for _, id := range ids {
		mustRegister(t, h, id, AttributeSpec{ID: "ecg", Type: "ecg"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		wg              sync.WaitGroup
		accepted        atomic.Uint64
		refusedC, reads atomic.Int64
		deliveries      atomic.Int64
	)
	for i := range 3 {
		wg.Go(func() { // ingesters
			for j := range 300 {
				id := ids[(i+j)%3]
				n, err := h.Ingest(id, &Batch{
					Blocks:       []SampleBlock{{AttributeID: "ecg", StartTimeUS: t0 + int64(j+1), SampleRateHz: 100, Samples: []float32{1, 2, 3}}},
					Measurements: []Measurement{{AttributeID: fmt.Sprintf("m%d", j%5), Value: Number(1)}},
				})
				switch {
				case err == nil && n == 4:
					accepted.Add(uint64(n))
				case err != nil && id == "c" && apperr.KindOf(err) == apperr.KindNotFound:
					refusedC.Add(1) // between Delete("c") and its new Register
				default:
					t.Errorf("Ingest %s batch %d: %d, %v; want 4 values accepted", id, j, n, err)
				}
			}
		})
		wg.Go(func() { // watchers that come and go
			for range 20 {
				w, err := h.Watch(WatchSpec{SensorIDs: ids, Recent: true, MaxQueuedValues: 50})
				if err != nil {
					t.Error(err)
					return
				}
				nctx, ncancel := context.WithTimeout(ctx, time.Millisecond)
				d, err := w.Next(nctx)
				ncancel()
				reads.Add(1)
				switch {
				case err == nil:
					if len(d.Data) == 0 && len(d.Events) == 0 && d.Dropped == 0 && !d.Recent {
						t.Errorf("Next delivered nothing (and not the recent window) without an error: %+v", d)
					}
					deliveries.Add(1)
				case !errors.Is(err, context.DeadlineExceeded):
					t.Errorf("Next: %v, want data or the deadline", err)
				}
				w.Close()
			}
		})
	}
	wg.Go(func() {
		for j := range 50 {
			h.SetLoadFactor([]float64{1, 0.5, 0.2}[j%3])
			if _, _, err := h.History("a", "ecg", 0, 0, 10); err != nil {
				t.Errorf("History of a: %v", err)
			}
			_ = h.Stats()
		}
		h.Delete("c")
		mustRegister(t, h, "c")
	})
	wg.Wait()
	st := h.Stats()
	if st.Watchers != 0 || st.QueuedValues != 0 || st.QueueCapacity != 0 {
		t.Fatalf("stats after all watchers closed: %+v", st)
	}
	if st.Ingested != accepted.Load() {
		t.Errorf("hub counted %d values ingested, the ingesters had %d accepted", st.Ingested, accepted.Load())
	}
	if want := uint64(900-refusedC.Load()) * 4; accepted.Load() != want {
		t.Errorf("%d values accepted, want %d (900 batches of 4, %d refused for the deleted c)", accepted.Load(), want, refusedC.Load())
	}
	if reads.Load() != 60 {
		t.Errorf("%d watcher reads, want 60", reads.Load())
	}
	t.Logf("%d of 60 reads got data; %d batches to c refused while it was deleted", deliveries.Load(), refusedC.Load())
	// The re-registered sensor works.
	mustIngest(t, h, "c", &Batch{Measurements: []Measurement{{AttributeID: "after", TimeUS: t0 + 1, Value: Number(2)}}})
	if pts, _, err := h.History("c", "after", 0, 0, 10); err != nil || len(pts) != 1 {
		t.Errorf("History of c after re-registering: %v, %v", pts, err)
	}
}

func TestRegisterRedeclares(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	mustRegister(t, h, "s")
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "t1", TimeUS: t0 + 1, Value: Number(1)}, {AttributeID: "lead2", TimeUS: t0 + 1, Value: Number(1)}}})
	info, err := h.Register("s", []AttributeSpec{{ID: "t1", Type: "temperature", Unit: "°C"}, {ID: "lead2", Type: "ecg", SampleRateHz: 256}})
	if err != nil {
		t.Fatal(err)
	}
	a := info.Attributes
	if a[0].Type != "temperature" || a[0].Capacity != 64 || a[0].Stored != 1 || a[0].Inferred || a[0].Unit != "°C" {
		t.Fatalf("t1 = %+v", a[0])
	}
	if a[1].Type != "ecg" || !a[1].Waveform || a[1].Capacity != 2000 || a[1].Stored != 0 || a[1].SampleRateHz != 256 {
		t.Fatalf("lead2 = %+v", a[1])
	}
	cases := []struct {
		attrs []AttributeSpec
		field string
	}{
		{[]AttributeSpec{{ID: "ok"}, {ID: "-bad"}}, "attributes[1].attribute_id"},
		{[]AttributeSpec{{ID: "x"}, {ID: "x"}}, "attributes[1].attribute_id"},
		{[]AttributeSpec{{ID: "x", SampleRateHz: math.Inf(1)}}, "attributes[0].sample_rate_hz"},
	}
	for _, tc := range cases {
		_, err := h.Register("s", tc.attrs)
		if e, ok := apperr.As(err); !ok || e.Violations[0].Field != tc.field {
			t.Errorf("Register(%+v) = %v, want field %s", tc.attrs, err, tc.field)
		}
	}
	if _, err := h.Register("bad id!", nil); apperr.KindOf(err) != apperr.KindInvalidArgument {
		t.Errorf("bad sensor id: %v", err)
	}
}

func TestTinyQueue(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	mustRegister(t, h, "s", AttributeSpec{ID: "x"})
	w, _ := h.Watch(WatchSpec{SensorIDs: []string{"s"}, MaxQueuedValues: 1, Window: func(string, string) time.Duration { return time.Hour }})
	defer w.Close()
	// An empty queue must wait, not spin out empty deliveries.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if d, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty queue = %+v, %v", d, err)
	}
	mustIngest(t, h, "s", &Batch{Measurements: []Measurement{{AttributeID: "x", Value: Number(1)}, {AttributeID: "x", Value: Number(2)}}})
	d := next(t, w) // full (half of 1): delivered despite the hour-long window
	if ms := measurements([]Delivery{d}); len(ms) != 1 || ms[0].Value.F[0] != 2 || d.Dropped != 1 {
		t.Fatalf("delivery = %+v", d)
	}
}

func TestDropEndsOneSubscriptionAtOnce(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	mustRegister(t, h, "a", AttributeSpec{ID: "ecg", Type: "ecg"})
	mustRegister(t, h, "b")
	// Held for an hour: everything stays queued until drained.
	w, _ := h.Watch(WatchSpec{SensorIDs: []string{"a", "b"}, Recent: true, Window: func(string, string) time.Duration { return time.Hour }})
	defer w.Close()
	ingest := func(v float64) {
		mustIngest(t, h, "a", &Batch{
			Measurements: []Measurement{{AttributeID: "x", Value: Number(v)}},
			Blocks:       []SampleBlock{{AttributeID: "ecg", SampleRateHz: 100, Samples: []float32{1, 2, 3}}},
		})
		mustIngest(t, h, "b", &Batch{Measurements: []Measurement{{AttributeID: "x", Value: Number(v)}}})
	}
	ingest(1)
	if err := h.Notify("a", EventConnected); err != nil {
		t.Fatal(err)
	}
	if !w.Drop("a") || w.Drop("a") || w.Drop("unknown") {
		t.Fatal("Drop result")
	}
	ingest(2)
	if st := w.Stats(); st.Sensors != 1 || st.QueuedValues != 2 {
		t.Fatalf("after Drop: %+v, want 1 sensor and b's 2 values queued", st)
	}
	if _, q := h.QueueFill(); q == 0 {
		t.Fatal("queue capacity lost")
	}
	if queued, _ := h.QueueFill(); queued != 2 {
		t.Fatalf("hub queued values = %d, want 2", queued)
	}
	var all []Delivery
	all = append(all, clone(next(t, w))) // the recent window, without a
	all = append(all, clone(next(t, w))) // the REMOVED event (due at once) and b's data
	var events []Event
	for _, d := range all {
		for _, sd := range d.Data {
			if sd.SensorID == "a" {
				t.Fatalf("data of the dropped sensor delivered: %+v", sd)
			}
		}
		for _, ev := range d.Events {
			if ev.SensorID == "a" {
				events = append(events, ev)
			}
		}
	}
	if len(events) != 1 || events[0].Kind != EventRemoved {
		t.Fatalf("events = %+v, want only a's REMOVED", events)
	}
	if ms := measurements(all[1:]); len(ms) != 2 || ms[0].Value.F[0] != 1 || ms[1].Value.F[0] != 2 {
		t.Fatalf("b's data = %+v", ms)
	}
	// Deleting the dropped sensor reaches the watcher no more.
	h.Delete("a")
	mustIngest(t, h, "b", &Batch{Measurements: []Measurement{{AttributeID: "x", Value: Number(3)}}})
	d := w.drain()
	if len(d.Data) != 1 || d.Data[0].SensorID != "b" || len(d.Events) != 0 {
		t.Fatalf("after deleting the dropped sensor: %+v", d)
	}
}
