package sensorsrpc_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"buf.build/go/protovalidate"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/hub"
)

// The ingest messages skip protovalidate; the handlers check sensor_id with
// hub.CheckSensorID instead. It must accept exactly what the proto's rule accepts.
func TestCheckSensorIDMatchesTheProtoRule(t *testing.T) {
	t.Parallel()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{
		"", "a", "A", "0", "_", ".", ":", "-", "sensor-1", "ecg_12:3.x", "a b", "a/b", "é", "a\n",
		"x\x00", strings.Repeat("a", 127), strings.Repeat("a", 128), strings.Repeat("a", 129),
		"ok" + string(rune(0x2013)), "UPPER.lower:09-_",
	}
	for c := range 128 {
		ids = append(ids, "s"+string(rune(c)))
	}
	for _, id := range ids {
		protoErr := v.Validate(&sensoctov1.PublishRequest{SensorId: id})
		hubErr := hub.CheckSensorID(id)
		if (protoErr == nil) != (hubErr == nil) {
			t.Errorf("sensor_id %q: proto rule says %v, hub.CheckSensorID says %v", id, protoErr, hubErr)
		}
	}
}

// The time window and rate bounds of the proto's rules (for clients that validate with
// protovalidate) must be the hub's, which the server applies.
func TestTimeAndRateRulesMatchTheHub(t *testing.T) {
	t.Parallel()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Options{})
	if _, err := h.Register("s", nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMicro()
	minute := time.Minute.Microseconds()
	for _, tm := range []int64{0, 1, -1, hub.MinTimeUS - 1, hub.MinTimeUS, now, now + hub.MaxFutureUS - minute, now + hub.MaxFutureUS + minute, math.MaxInt64} {
		m := &sensoctov1.Measurement{AttributeId: "x", TimeUs: tm, Value: &sensoctov1.Measurement_Number{Number: 1}}
		protoErr := v.Validate(m)
		_, hubErr := h.Ingest("s", &hub.Batch{Measurements: []hub.Measurement{{AttributeID: "x", TimeUS: tm, Value: hub.Number(1)}}})
		if (protoErr == nil) != (hubErr == nil) {
			t.Errorf("time_us %d: proto rule says %v, hub says %v", tm, protoErr, hubErr)
		}
		blk := &sensoctov1.SampleBlock{AttributeId: "w", StartTimeUs: tm, SampleRateHz: 100, Samples: []float32{1}}
		protoErr = v.Validate(blk)
		_, hubErr = h.Ingest("s", &hub.Batch{Blocks: []hub.SampleBlock{{AttributeID: "w", StartTimeUS: tm, SampleRateHz: 100, Samples: []float32{1}}}})
		if (protoErr == nil) != (hubErr == nil) {
			t.Errorf("start_time_us %d: proto rule says %v, hub says %v", tm, protoErr, hubErr)
		}
	}
	for _, rate := range []float64{0, 1e-13, 0.000999, 0.001, 1, 100000, 100000.5, math.NaN(), math.Inf(1)} {
		blk := &sensoctov1.SampleBlock{AttributeId: "w", SampleRateHz: rate, Samples: []float32{1}}
		protoErr := v.Validate(blk)
		_, hubErr := h.Ingest("s", &hub.Batch{Blocks: []hub.SampleBlock{{AttributeID: "w", SampleRateHz: rate, Samples: []float32{1}}}})
		if (protoErr == nil) != (hubErr == nil) {
			t.Errorf("sample_rate_hz %v: proto rule says %v, hub says %v", rate, protoErr, hubErr)
		}
	}
}
