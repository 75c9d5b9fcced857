package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/database"
)

// The ingest messages (PublishRequest, StreamRequest) are checked by the hub alone
// (server/internal/hub/validate.go), so every field rule of every value kind is tested
// here through the real handlers, with the bad item at index 2 of its list (after good
// ones, so a check of the first item only is caught), and at its accepted edges.

func geoM(attr string, g *sensoctov1.GeoPosition) *sensoctov1.Measurement {
	return &sensoctov1.Measurement{AttributeId: attr, TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_Geo{Geo: g}}
}

func f64(v float64) *float64 { return &v }

func numAt(v float64) *sensoctov1.Measurement { return num("hr", dataT0+3, v) }

func vec(x, y, z float64) *sensoctov1.Measurement {
	return &sensoctov1.Measurement{AttributeId: "acc", TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_Vector3{Vector3: &sensoctov1.Vector3{X: x, Y: y, Z: z}}}
}

func quat(w, x, y, z float64) *sensoctov1.Measurement {
	return &sensoctov1.Measurement{AttributeId: "rot", TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_Quaternion{Quaternion: &sensoctov1.Quaternion{W: w, X: x, Y: y, Z: z}}}
}

func text(s string) *sensoctov1.Measurement {
	return &sensoctov1.Measurement{AttributeId: "note", TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_Text{Text: s}}
}

func structOf(t *testing.T, bytes int) *sensoctov1.Measurement {
	t.Helper()
	st, err := structpb.NewStruct(map[string]any{"k": strings.Repeat("x", bytes)})
	if err != nil {
		t.Fatal(err)
	}
	return &sensoctov1.Measurement{AttributeId: "doc", TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_StructValue{StructValue: st}}
}

// structWith is a struct measurement of attribute "doc" (or attr).
func structWith(t *testing.T, fields map[string]any, attr ...string) *sensoctov1.Measurement {
	t.Helper()
	st, err := structpb.NewStruct(fields)
	if err != nil {
		t.Fatal(err)
	}
	id := "doc"
	if len(attr) > 0 {
		id = attr[0]
	}
	return &sensoctov1.Measurement{AttributeId: id, TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_StructValue{StructValue: st}}
}

// extrasOf is a heart rate with one extra: key rune repeated keyLen times, value
// "é" repeated valLen times.
func extrasOf(key string, keyLen, valLen int) *sensoctov1.Measurement {
	m := num("hr", dataT0+3, 60)
	m.Extras = map[string]string{strings.Repeat(key, keyLen): strings.Repeat("é", valLen)}
	return m
}

func extras(n, keyLen, valLen int) *sensoctov1.Measurement {
	m := num("hr", dataT0+3, 60)
	m.Extras = map[string]string{}
	for i := range n {
		k := fmt.Sprintf("%0*d", keyLen, i)
		if keyLen == 0 {
			k = ""
		}
		m.Extras[k] = strings.Repeat("v", valLen)
	}
	return m
}

func block(attr string, start int64, rate float64, samples []float32) *sensoctov1.SampleBlock {
	return &sensoctov1.SampleBlock{AttributeId: attr, StartTimeUs: start, SampleRateHz: rate, Samples: samples}
}

func samples(n int) []float32 { return make([]float32, n) }

type ingestCase struct {
	name  string
	item  *sensoctov1.Measurement // the third measurement, or
	blk   *sensoctov1.SampleBlock // the third block
	field string                  // "" when the item must be accepted
}

// hrItem is 1 when the case's item is an accepted heart-rate value.
func (c ingestCase) hrItem() uint64 {
	if c.field == "" && c.item.GetAttributeId() == "hr" {
		return 1
	}
	return 0
}

func ingestCases(t *testing.T) []ingestCase {
	t.Helper()
	nan, inf := math.NaN(), math.Inf(1)
	okGeo := func() *sensoctov1.GeoPosition { return &sensoctov1.GeoPosition{Latitude: 47.4, Longitude: 8.5} }
	geo := func(f func(g *sensoctov1.GeoPosition)) *sensoctov1.Measurement {
		g := okGeo()
		f(g)
		return geoM("pos", g)
	}
	m := "measurements[2]."
	b := "blocks[2]."
	nanAt3 := samples(8)
	nanAt3[3] = float32(math.NaN())
	infAt7 := samples(8)
	infAt7[7] = float32(math.Inf(-1))
	cases := []ingestCase{
		// Any measurement.
		{"negative time", &sensoctov1.Measurement{AttributeId: "hr", TimeUs: -1, Value: &sensoctov1.Measurement_Number{Number: 1}}, nil, m + "time_us"},
		{"no value", &sensoctov1.Measurement{AttributeId: "hr", TimeUs: dataT0 + 3}, nil, m + "value"},
		{"bad attribute id", num("-hr", dataT0+3, 1), nil, m + "attribute_id"},
		{"attribute id with a space", num("h r", dataT0+3, 1), nil, m + "attribute_id"},
		{"attribute id of 65 bytes", num(strings.Repeat("a", 65), dataT0+3, 1), nil, m + "attribute_id"},
		{"attribute id of 64 bytes", num(strings.Repeat("a", 64), dataT0+3, 1), nil, ""},
		{"9 extras", extras(9, 2, 1), nil, m + "extras"},
		{"8 extras", extras(8, 32, 128), nil, ""},
		{"empty extras key", extras(1, 0, 1), nil, m + "extras"},
		{"extras key of 33 bytes", extras(1, 33, 1), nil, m + "extras"},
		{"extras value of 129 bytes", extras(1, 2, 129), nil, m + "extras"},
		{"text into a waveform", &sensoctov1.Measurement{AttributeId: "ecg", TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_Text{Text: "x"}}, nil, m + "value"},
		// Number.
		{"number NaN", numAt(nan), nil, m + "number"},
		{"number +Inf", numAt(inf), nil, m + "number"},
		{"number -Inf", numAt(-inf), nil, m + "number"},
		{"number max", numAt(math.MaxFloat64), nil, ""},
		// Vector3.
		{"vector3 x NaN", vec(nan, 0, 0), nil, m + "vector3"},
		{"vector3 y Inf", vec(0, inf, 0), nil, m + "vector3"},
		{"vector3 z -Inf", vec(0, 0, -inf), nil, m + "vector3"},
		{"vector3 finite", vec(-1e9, 0, 1e9), nil, ""},
		// Quaternion.
		{"quaternion w NaN", quat(nan, 0, 0, 0), nil, m + "quaternion"},
		{"quaternion x Inf", quat(1, inf, 0, 0), nil, m + "quaternion"},
		{"quaternion y NaN", quat(1, 0, nan, 0), nil, m + "quaternion"},
		{"quaternion z -Inf", quat(1, 0, 0, -inf), nil, m + "quaternion"},
		{"quaternion finite", quat(1, 0, 0, 0), nil, ""},
		// Geo position.
		{"latitude above 90", geo(func(g *sensoctov1.GeoPosition) { g.Latitude = 90.000001 }), nil, m + "geo.latitude"},
		{"latitude below -90", geo(func(g *sensoctov1.GeoPosition) { g.Latitude = -90.000001 }), nil, m + "geo.latitude"},
		{"latitude NaN", geo(func(g *sensoctov1.GeoPosition) { g.Latitude = nan }), nil, m + "geo.latitude"},
		{"latitude 90", geo(func(g *sensoctov1.GeoPosition) { g.Latitude = 90 }), nil, ""},
		{"latitude -90", geo(func(g *sensoctov1.GeoPosition) { g.Latitude = -90 }), nil, ""},
		{"longitude above 180", geo(func(g *sensoctov1.GeoPosition) { g.Longitude = 180.000001 }), nil, m + "geo.longitude"},
		{"longitude below -180", geo(func(g *sensoctov1.GeoPosition) { g.Longitude = -180.000001 }), nil, m + "geo.longitude"},
		{"longitude NaN", geo(func(g *sensoctov1.GeoPosition) { g.Longitude = nan }), nil, m + "geo.longitude"},
		{"longitude Inf", geo(func(g *sensoctov1.GeoPosition) { g.Longitude = inf }), nil, m + "geo.longitude"},
		{"longitude 180", geo(func(g *sensoctov1.GeoPosition) { g.Longitude = 180 }), nil, ""},
		{"longitude -180", geo(func(g *sensoctov1.GeoPosition) { g.Longitude = -180 }), nil, ""},
		{"altitude NaN", geo(func(g *sensoctov1.GeoPosition) { g.AltitudeM = f64(nan) }), nil, m + "geo.altitude_m"},
		{"altitude Inf", geo(func(g *sensoctov1.GeoPosition) { g.AltitudeM = f64(inf) }), nil, m + "geo.altitude_m"},
		{"altitude below sea level", geo(func(g *sensoctov1.GeoPosition) { g.AltitudeM = f64(-400) }), nil, ""},
		{"accuracy negative", geo(func(g *sensoctov1.GeoPosition) { g.AccuracyM = f64(-0.1) }), nil, m + "geo.accuracy_m"},
		{"accuracy Inf", geo(func(g *sensoctov1.GeoPosition) { g.AccuracyM = f64(inf) }), nil, m + "geo.accuracy_m"},
		{"accuracy NaN", geo(func(g *sensoctov1.GeoPosition) { g.AccuracyM = f64(nan) }), nil, m + "geo.accuracy_m"},
		{"accuracy 0", geo(func(g *sensoctov1.GeoPosition) { g.AccuracyM = f64(0) }), nil, ""},
		{"speed negative", geo(func(g *sensoctov1.GeoPosition) { g.SpeedMps = f64(-0.1) }), nil, m + "geo.speed_mps"},
		{"speed Inf", geo(func(g *sensoctov1.GeoPosition) { g.SpeedMps = f64(inf) }), nil, m + "geo.speed_mps"},
		{"speed NaN", geo(func(g *sensoctov1.GeoPosition) { g.SpeedMps = f64(nan) }), nil, m + "geo.speed_mps"},
		{"speed 0", geo(func(g *sensoctov1.GeoPosition) { g.SpeedMps = f64(0) }), nil, ""},
		{"heading negative", geo(func(g *sensoctov1.GeoPosition) { g.HeadingDeg = f64(-0.1) }), nil, m + "geo.heading_deg"},
		{"heading above 360", geo(func(g *sensoctov1.GeoPosition) { g.HeadingDeg = f64(360.1) }), nil, m + "geo.heading_deg"},
		{"heading NaN", geo(func(g *sensoctov1.GeoPosition) { g.HeadingDeg = f64(nan) }), nil, m + "geo.heading_deg"},
		{"heading Inf", geo(func(g *sensoctov1.GeoPosition) { g.HeadingDeg = f64(inf) }), nil, m + "geo.heading_deg"},
		{"heading 0", geo(func(g *sensoctov1.GeoPosition) { g.HeadingDeg = f64(0) }), nil, ""},
		{"heading 360", geo(func(g *sensoctov1.GeoPosition) { g.HeadingDeg = f64(360) }), nil, ""},
		{"speed and heading", geo(func(g *sensoctov1.GeoPosition) { g.SpeedMps, g.HeadingDeg = f64(3), f64(90) }), nil, ""},
		// Text and structured values.
		{"text of 4097 bytes", text(strings.Repeat("x", 4097)), nil, m + "text"},
		{"text of 4096 bytes", text(strings.Repeat("x", 4096)), nil, ""},
		{"struct over 64 KiB", structOf(t, 64<<10), nil, m + "struct_value"},
		{"struct of 60 KiB", structOf(t, 60<<10), nil, ""},
		// Sample blocks.
		{"block negative start", nil, block("ecg", -1, 250, samples(4)), b + "start_time_us"},
		{"block rate 0", nil, block("ecg", dataT0+3, 0, samples(4)), b + "sample_rate_hz"},
		{"block rate negative", nil, block("ecg", dataT0+3, -250, samples(4)), b + "sample_rate_hz"},
		{"block rate NaN", nil, block("ecg", dataT0+3, nan, samples(4)), b + "sample_rate_hz"},
		{"block rate above 100 kHz", nil, block("ecg", dataT0+3, 100000.5, samples(4)), b + "sample_rate_hz"},
		{"block rate 100 kHz", nil, block("ecg", dataT0+3, 100000, samples(4)), ""},
		{"block without samples", nil, block("ecg", dataT0+3, 250, nil), b + "samples"},
		{"block of 16385 samples", nil, block("ecg", dataT0+3, 250, samples(16385)), b + "samples"},
		{"block of 16384 samples", nil, block("ecg", dataT0+3, 250, samples(16384)), ""},
		{"block sample NaN", nil, block("ecg", dataT0+3, 250, nanAt3), "blocks[2].samples[3]"},
		{"block sample -Inf", nil, block("ecg", dataT0+3, 250, infAt7), "blocks[2].samples[7]"},
		{"block bad attribute id", nil, block("_ecg", dataT0+3, 250, samples(4)), b + "attribute_id"},
		// Values that cannot be encoded as JSON (issue 11 item 6): named down to the element.
		{"struct with NaN inside", structWith(t, map[string]any{"a": map[string]any{"b": []any{1.0, math.NaN()}}}), nil, m + "struct_value.a.b[1]"},
		{"struct with Inf", structWith(t, map[string]any{"level": inf}), nil, m + "struct_value.level"},
		{"struct with null and nesting", structWith(t, map[string]any{"a": []any{nil, map[string]any{"b": -1.5}}}), nil, ""},
		// The time window and rates (item 7).
		{"time before 2000", num("hr", 946_684_799_999_999, 60), nil, m + "time_us"},
		{"time 2000-01-01", num("hr", 946_684_800_000_000, 60), nil, ""},
		{"time over a day ahead", num("hr", time.Now().Add(25*time.Hour).UnixMicro(), 60), nil, m + "time_us"},
		{"time at int64 max", num("hr", math.MaxInt64, 60), nil, m + "time_us"},
		{"block rate 1e-13", nil, block("ecg", dataT0+3, 1e-13, samples(4)), b + "sample_rate_hz"},
		{"block rate below 0.001", nil, block("ecg", dataT0+3, 0.000999, samples(4)), b + "sample_rate_hz"},
		{"block rate 0.001", nil, block("ecg", dataT0+3, 0.001, samples(4)), ""},
		{"block start near int64 max", nil, block("ecg", math.MaxInt64-10, 250, samples(4)), b + "start_time_us"},
		{"block start before 2000", nil, block("ecg", 5, 250, samples(4)), b + "start_time_us"},
		{"block ending over a day ahead", nil, block("ecg", 0, 0.001, samples(100)), b + "samples"},
		// Attribute types take their value kinds only (item 8).
		{"heartrate vector3", &sensoctov1.Measurement{AttributeId: "hr", TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_Vector3{Vector3: &sensoctov1.Vector3{X: 1}}}, nil, m + "vector3"},
		{"heartrate geo", &sensoctov1.Measurement{AttributeId: "hr", TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_Geo{Geo: okGeo()}}, nil, m + "geo"},
		{"heartrate text", &sensoctov1.Measurement{AttributeId: "hr", TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_Text{Text: "72"}}, nil, m + "text"},
		{"heartrate struct", structWith(t, map[string]any{"bpm": 72.0}, "hr"), nil, m + "struct_value"},
		{"extras key of 32 characters in 64 bytes", extrasOf("ü", 32, 1), nil, ""},
		{"extras key of 33 characters", extrasOf("ü", 33, 1), nil, m + "extras"},
		{"extras value of 128 characters in 256 bytes", extrasOf("k", 1, 128), nil, ""},
	}
	return cases
}

// ingestBatch is a batch of two good measurements and two good blocks followed by the
// case's item.
func ingestBatch(c ingestCase) ([]*sensoctov1.Measurement, []*sensoctov1.SampleBlock) {
	ms := []*sensoctov1.Measurement{num("hr", dataT0+1, 60), num("hr", dataT0+2, 61)}
	blocks := []*sensoctov1.SampleBlock{block("ecg", dataT0+1, 250, samples(4)), block("ecg", dataT0+100, 250, samples(4))}
	if c.item != nil {
		ms = append(ms, c.item)
	}
	if c.blk != nil {
		blocks = append(blocks, c.blk)
	}
	return ms, blocks
}

// storedHR is how many heart-rate values the sensor holds.
func storedHR(t *testing.T, c sensoctov1connect.SensorServiceClient, id string) uint64 {
	t.Helper()
	h, err := c.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "hr"})
	if err != nil {
		t.Fatalf("GetHistory: %v", err)
	}
	return h.GetTotalCount()
}

func checkRefusal(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("refused: %v, want accepted", err)
		}
		return
	}
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), field+":") {
		t.Fatalf("%v, want invalid_argument naming %s", err, field)
	}
}

func TestIngestFieldRules(t *testing.T) {
	t.Parallel()
	srv := startServer(t, database.DialectSQLite, nil)
	c := rtProtocols(srv.url, signInGuest(t, srv.url))["connect"]
	newSensor := func(t *testing.T) string {
		id := newSensorID("rules")
		register(t, c.sensors, id,
			&sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"},
			&sensoctov1.Attribute{AttributeId: "ecg", AttributeType: "ecg"})
		return id
	}
	for _, tc := range ingestCases(t) {
		t.Run("publish/"+tc.name, func(t *testing.T) {
			t.Parallel()
			id := newSensor(t)
			ms, blocks := ingestBatch(tc)
			_, err := c.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: ms, Blocks: blocks})
			checkRefusal(t, err, tc.field)
			want := 2 + tc.hrItem()
			if tc.field != "" {
				want = 0 // refused whole
			}
			if got := storedHR(t, c.sensors, id); got != want {
				t.Errorf("%d heart-rate values stored, want %d", got, want)
			}
		})
		t.Run("stream/"+tc.name, func(t *testing.T) {
			t.Parallel()
			id := newSensor(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s, err := c.sensors.Stream(ctx)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			ms, blocks := ingestBatch(tc)
			for _, req := range []*sensoctov1.StreamRequest{
				{SensorId: id, Sequence: 1, Measurements: []*sensoctov1.Measurement{num("hr", 0, 59)}},
				{SensorId: id, Sequence: 2, Measurements: ms, Blocks: blocks},
			} {
				if s.Send(req) != nil {
					break // the server ended the stream; Receive has its error
				}
			}
			_ = s.CloseRequest()
			var streamErr error
			for {
				if _, err := s.Receive(); err != nil {
					if !errors.Is(err, io.EOF) {
						streamErr = err
					}
					break
				}
			}
			_ = s.CloseResponse()
			checkRefusal(t, streamErr, tc.field)
			want := 3 + tc.hrItem()
			if tc.field != "" {
				want = 1 // the first batch only
			}
			if got := storedHR(t, c.sensors, id); got != want {
				t.Errorf("%d heart-rate values stored, want %d", got, want)
			}
		})
	}
}

// TestIngestBatchCaps: a batch over the item caps is refused whole through Publish.
func TestIngestBatchCaps(t *testing.T) {
	t.Parallel()
	srv := startServer(t, database.DialectSQLite, nil)
	c := rtProtocols(srv.url, signInGuest(t, srv.url))["connect"]
	id := newSensorID("caps")
	register(t, c.sensors, id, &sensoctov1.Attribute{AttributeId: "hr"}, &sensoctov1.Attribute{AttributeId: "ecg", AttributeType: "ecg"})
	many := func(n int) []*sensoctov1.Measurement {
		ms := make([]*sensoctov1.Measurement, n)
		for i := range ms {
			ms[i] = num("hr", dataT0+int64(i), 60)
		}
		return ms
	}
	blocks := func(n int) []*sensoctov1.SampleBlock {
		bs := make([]*sensoctov1.SampleBlock, n)
		for i := range bs {
			bs[i] = block("ecg", dataT0+int64(i)*1000, 1000, samples(1))
		}
		return bs
	}
	_, err := c.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: many(10001)})
	checkRefusal(t, err, "measurements")
	_, err = c.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: many(1), Blocks: blocks(1001)})
	checkRefusal(t, err, "blocks")
	if got := storedHR(t, c.sensors, id); got != 0 {
		t.Errorf("%d values stored after refused batches, want 0", got)
	}
	_, err = c.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: many(10000), Blocks: blocks(1000)})
	checkRefusal(t, err, "")
}
