package sensors

import (
	"encoding/json"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sensocto/sensocto/server/internal/hub"
)

// TestPayloadRoundTrip: every non-number kind is recorded as JSON and read back as
// the same hub value (structs as JSON only: history carries no struct content).
func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	geoFull := hub.Geo(52.52, 13.405)
	geoFull.Has = hub.HasAltitude | hub.HasAccuracy | hub.HasSpeed | hub.HasHeading
	geoFull.F[2], geoFull.F[3] = 34.5, 3
	geoFull.Ext = &hub.Ext{Speed: 1.25, Heading: 270}
	for name, v := range map[string]hub.Value{
		"vector3":    hub.Vec3(0.1, -2, 9.81),
		"quaternion": hub.Quat(1, 0, -0.5, 0.25),
		"geo":        hub.Geo(-33.9, 151.2),
		"geo full":   geoFull,
		"text":       hub.Text(`say "hi", then, a new line` + "\n"),
	} {
		p := appendPayload(nil, &v)
		if !json.Valid(p) {
			t.Fatalf("%s: payload %s is not JSON", name, p)
		}
		if got := decodePayload(v.Kind, p); !reflect.DeepEqual(got, v) {
			t.Errorf("%s: %s read back as %+v, want %+v", name, p, got, v)
		}
	}
	st, err := structpb.NewStruct(map[string]any{"level": 0.5, "charging": true})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := proto.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	v := hub.StructValue(hub.Struct{Keys: []string{"charging", "level"}, Encoded: enc})
	var got map[string]any
	if err := json.Unmarshal(appendPayload(nil, &v), &got); err != nil || got["level"] != 0.5 || got["charging"] != true {
		t.Fatalf("struct payload = %v, %v", got, err)
	}
}
