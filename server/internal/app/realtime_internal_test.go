package app

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
