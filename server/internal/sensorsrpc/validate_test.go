package sensorsrpc_test

import (
	"strings"
	"testing"

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
