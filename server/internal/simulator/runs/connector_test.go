package runs

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/simulator/generate"
)

func TestToBatchConvertsEveryKindAndCopiesSamples(t *testing.T) {
	t.Parallel()
	out := &generate.Output{
		Samples: []generate.Sample{
			{AttributeID: "hr", TimeUS: 1, Kind: generate.KindNumber, Number: 72},
			{AttributeID: "acc", TimeUS: 2, Kind: generate.KindVec3, Vec: [2]generate.Vec3{{X: 1, Y: 2, Z: 3}}},
			{AttributeID: "imu", TimeUS: 3, Kind: generate.KindIMU, Vec: [2]generate.Vec3{{X: 0, Y: 0, Z: 9.81}, {X: 0.1, Y: 0.2, Z: 0.3}}},
			{AttributeID: "quat", TimeUS: 4, Kind: generate.KindQuat, Quat: generate.Quat{W: 1}},
			{AttributeID: "geo", TimeUS: 5, Kind: generate.KindGeo, Geo: generate.Geo{Lat: 52.5, Lng: 13.4, Alt: 34, SpeedMPS: 1.4, HeadingDeg: 90, AccuracyM: 5}},
			{AttributeID: "battery", TimeUS: 6, Kind: generate.KindStruct, Struct: map[string]any{"level": 80.0, "charging": false}},
			{AttributeID: "button", TimeUS: 7, Kind: generate.KindNumber, Number: 1, Event: "press"},
		},
		Blocks: []generate.Block{{AttributeID: "ecg", StartUS: 10, RateHz: 100, Samples: []float32{0.1, 0.9, -0.2}}},
	}
	b := new(hub.Batch)
	if err := toBatch(b, out); err != nil {
		t.Fatal(err)
	}
	if len(b.Measurements) != 7 || len(b.Blocks) != 1 {
		t.Fatalf("batch has %d measurements and %d blocks", len(b.Measurements), len(b.Blocks))
	}
	kinds := []hub.Kind{hub.KindNumber, hub.KindVec3, hub.KindStruct, hub.KindQuat, hub.KindGeo, hub.KindStruct, hub.KindNumber}
	for i, m := range b.Measurements {
		if m.Value.Kind != kinds[i] || m.TimeUS != out.Samples[i].TimeUS || m.AttributeID != out.Samples[i].AttributeID {
			t.Errorf("measurement %d = %+v, want kind %s", i, m, kinds[i])
		}
	}
	imu := new(structpb.Struct)
	if err := proto.Unmarshal(b.Measurements[2].Value.Ext.Struct.Encoded, imu); err != nil {
		t.Fatal(err)
	}
	if z := imu.GetFields()["accelerometer"].GetStructValue().GetFields()["z"].GetNumberValue(); z != 9.81 {
		t.Errorf("imu accelerometer z = %v, want 9.81", z)
	}
	if g := b.Measurements[4].Value; g.F[0] != 52.5 || g.F[2] != 34 || g.Ext.Speed != 1.4 || g.Has&hub.HasHeading == 0 {
		t.Errorf("geo = %+v", g)
	}
	if b.Measurements[6].Extras["event"] != "press" {
		t.Errorf("button extras = %v, want event press", b.Measurements[6].Extras)
	}
	// The engine reuses its buffers: the hub's copy must not change with them.
	out.Blocks[0].Samples[0] = 42
	if b.Blocks[0].Samples[0] != 0.1 || b.Blocks[0].SampleRateHz != 100 || b.Blocks[0].StartTimeUS != 10 {
		t.Errorf("block = %+v: not a copy", b.Blocks[0])
	}
}
