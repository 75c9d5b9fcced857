package live

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/hub"
)

func TestSensorBattery(t *testing.T) {
	t.Parallel()
	st, _ := structpb.NewStruct(map[string]any{"level": 15.0, "charging": true})
	enc, _ := proto.Marshal(st)
	frac, _ := structpb.NewStruct(map[string]any{"level": 0.5})
	encFrac, _ := proto.Marshal(frac)
	for name, tc := range map[string]struct {
		v    hub.Value
		want backpressure.Battery
		ok   bool
	}{
		"percent":         {hub.Number(8), backpressure.Battery{Known: true, Level: 0.08}, true},
		"struct":          {hub.StructValue(hub.Struct{Keys: []string{"level", "charging"}, Encoded: enc}), backpressure.Battery{Known: true, Level: 0.15, Charging: true}, true},
		"struct fraction": {hub.StructValue(hub.Struct{Keys: []string{"level"}, Encoded: encFrac}), backpressure.Battery{Known: true, Level: 0.5}, true},
		"text":            {hub.Text("full"), backpressure.Battery{}, false},
	} {
		got, ok := sensorBattery(&tc.v)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v %v", name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestSensorBatteryCriticalBoundary: a battery attribute reporting exactly 10 % (as a
// percent number or a struct) is low, not critical (window ×2); just below is
// critical (×4); exactly 20 % is normal.
func TestSensorBatteryCriticalBoundary(t *testing.T) {
	t.Parallel()
	structLevel := func(l float64) hub.Value {
		st, _ := structpb.NewStruct(map[string]any{"level": l})
		enc, _ := proto.Marshal(st)
		return hub.StructValue(hub.Struct{Keys: []string{"level"}, Encoded: enc})
	}
	for name, tc := range map[string]struct {
		v    hub.Value
		want uint32
	}{
		"10 %":          {hub.Number(10), 2},
		"9.99 %":        {hub.Number(9.99), 4},
		"20 %":          {hub.Number(20), 1},
		"19.9 %":        {hub.Number(19.9), 2},
		"struct 10":     {structLevel(10), 2},
		"struct 0.1":    {structLevel(0.1), 2},
		"struct 0.0999": {structLevel(0.0999), 4},
		"struct 9.5":    {structLevel(9.5), 4},
	} {
		b, ok := sensorBattery(&tc.v)
		if !ok || b.Factor() != tc.want {
			t.Errorf("%s: %+v (ok %v) → factor %d, want %d", name, b, ok, b.Factor(), tc.want)
		}
	}
}
