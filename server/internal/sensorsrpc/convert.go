package sensorsrpc

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// toBatch converts wire items into b. Numbers, vectors, quaternions and geo positions
// are stored inline; sample slices and extras maps are aliased, not copied (the request
// is not used after this). Only text, structs and a geo speed/heading allocate.
func toBatch(b *hub.Batch, ms []*sensoctov1.Measurement, blocks []*sensoctov1.SampleBlock) error {
	for i, m := range ms {
		hm := hub.Measurement{AttributeID: m.GetAttributeId(), TimeUS: m.GetTimeUs(), Extras: m.GetExtras()}
		switch v := m.GetValue().(type) {
		case *sensoctov1.Measurement_Number:
			hm.Value = hub.Number(v.Number)
		case *sensoctov1.Measurement_Vector3:
			hm.Value = hub.Vec3(v.Vector3.GetX(), v.Vector3.GetY(), v.Vector3.GetZ())
		case *sensoctov1.Measurement_Quaternion:
			q := v.Quaternion
			hm.Value = hub.Quat(q.GetW(), q.GetX(), q.GetY(), q.GetZ())
		case *sensoctov1.Measurement_Geo:
			hm.Value = geoValue(v.Geo)
		case *sensoctov1.Measurement_Text:
			hm.Value = hub.Text(v.Text)
		case *sensoctov1.Measurement_StructValue:
			st, err := structValue(v.StructValue)
			if err != nil {
				return apperr.InvalidArgument("measurements["+itoa(i)+"].struct_value", "cannot be encoded")
			}
			hm.Value = st
		}
		b.Measurements = append(b.Measurements, hm)
	}
	for _, blk := range blocks {
		b.Blocks = append(b.Blocks, hub.SampleBlock{
			AttributeID: blk.GetAttributeId(), StartTimeUS: blk.GetStartTimeUs(),
			SampleRateHz: blk.GetSampleRateHz(), Samples: blk.GetSamples(),
		})
	}
	return nil
}

func itoa(i int) string {
	var buf [20]byte
	n := len(buf)
	for {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(buf[n:])
		}
	}
}

func geoValue(g *sensoctov1.GeoPosition) hub.Value {
	v := hub.Geo(g.GetLatitude(), g.GetLongitude())
	if g.AltitudeM != nil {
		v.Has |= hub.HasAltitude
		v.F[2] = g.GetAltitudeM()
	}
	if g.AccuracyM != nil {
		v.Has |= hub.HasAccuracy
		v.F[3] = g.GetAccuracyM()
	}
	if g.SpeedMps != nil || g.HeadingDeg != nil {
		v.Ext = &hub.Ext{Speed: g.GetSpeedMps(), Heading: g.GetHeadingDeg()}
		if g.SpeedMps != nil {
			v.Has |= hub.HasSpeed
		}
		if g.HeadingDeg != nil {
			v.Has |= hub.HasHeading
		}
	}
	return v
}

func structValue(s *structpb.Struct) (hub.Value, error) {
	enc, err := proto.Marshal(s)
	if err != nil {
		return hub.Value{}, err //nolint:wrapcheck // converted to InvalidArgument by the caller
	}
	keys := make([]string, 0, len(s.GetFields()))
	for k := range s.GetFields() {
		keys = append(keys, k)
	}
	return hub.StructValue(hub.Struct{Keys: keys, Encoded: enc}), nil
}

// setValue sets m's value from a hub value.
func setValue(m *sensoctov1.Measurement, v *hub.Value) {
	switch v.Kind {
	case hub.KindNumber:
		m.Value = &sensoctov1.Measurement_Number{Number: v.F[0]}
	case hub.KindVec3:
		m.Value = &sensoctov1.Measurement_Vector3{Vector3: &sensoctov1.Vector3{X: v.F[0], Y: v.F[1], Z: v.F[2]}}
	case hub.KindQuat:
		m.Value = &sensoctov1.Measurement_Quaternion{Quaternion: &sensoctov1.Quaternion{W: v.F[0], X: v.F[1], Y: v.F[2], Z: v.F[3]}}
	case hub.KindGeo:
		m.Value = &sensoctov1.Measurement_Geo{Geo: toGeo(v)}
	case hub.KindText:
		m.Value = &sensoctov1.Measurement_Text{Text: v.Ext.Text}
	case hub.KindStruct:
		if st := decodeStruct(v); st != nil {
			m.Value = &sensoctov1.Measurement_StructValue{StructValue: st}
		}
	}
}

// decodeStruct returns the fields of a struct value, nil when they cannot be decoded.
func decodeStruct(v *hub.Value) *structpb.Struct {
	st := new(structpb.Struct)
	if proto.Unmarshal(v.Ext.Struct.Encoded, st) != nil {
		return nil
	}
	return st
}

func toGeo(v *hub.Value) *sensoctov1.GeoPosition {
	g := &sensoctov1.GeoPosition{Latitude: v.F[0], Longitude: v.F[1]}
	if v.Has&hub.HasAltitude != 0 {
		g.AltitudeM = proto.Float64(v.F[2])
	}
	if v.Has&hub.HasAccuracy != 0 {
		g.AccuracyM = proto.Float64(v.F[3])
	}
	if v.Ext != nil && v.Has&hub.HasSpeed != 0 {
		g.SpeedMps = proto.Float64(v.Ext.Speed)
	}
	if v.Ext != nil && v.Has&hub.HasHeading != 0 {
		g.HeadingDeg = proto.Float64(v.Ext.Heading)
	}
	return g
}

func toLevel(l attention.Level) sensoctov1.AttentionLevel {
	return sensoctov1.AttentionLevel(l + 1)
}

func toConfig(c backpressure.Config) *sensoctov1.BackpressureConfig {
	return &sensoctov1.BackpressureConfig{
		AttentionLevel:           toLevel(c.AttentionLevel),
		SystemLoad:               sensoctov1.SystemLoadLevel(c.SystemLoad + 1),
		MemoryProtectionActive:   c.MemoryProtectionActive,
		Paused:                   c.Paused,
		RecommendedBatchWindowMs: c.RecommendedBatchWindowMS,
		RecommendedBatchSize:     c.RecommendedBatchSize,
		LoadMultiplier:           c.LoadMultiplier,
		TimestampUs:              c.Timestamp.UnixMicro(),
	}
}

func toVisibility(v authz.Visibility) sensoctov1.Visibility {
	if v == authz.VisibilityPublic {
		return sensoctov1.Visibility_VISIBILITY_PUBLIC
	}
	return sensoctov1.Visibility_VISIBILITY_PRIVATE
}

func fromVisibility(v sensoctov1.Visibility) authz.Visibility {
	switch v {
	case sensoctov1.Visibility_VISIBILITY_PUBLIC:
		return authz.VisibilityPublic
	case sensoctov1.Visibility_VISIBILITY_PRIVATE:
		return authz.VisibilityPrivate
	}
	return ""
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// SensorMessage converts a sensor as SensorService shows it (for RoomService, which
// shows a room's sensors the same way).
func (h *Handler) SensorMessage(s sensors.Sensor) *sensoctov1.Sensor { return h.toSensor(s) }

func (h *Handler) toSensor(s sensors.Sensor) *sensoctov1.Sensor {
	out := &sensoctov1.Sensor{
		SensorId: s.ID, Name: s.Name, SensorType: s.SensorType, OwnerId: s.OwnerID.String(),
		OwnerName: s.OwnerName, Visibility: toVisibility(s.Visibility), Connected: s.Connected,
		Recording: s.Recording, CreatedAt: ts(s.CreatedAt), UpdatedAt: ts(s.UpdatedAt),
		LastSeenAt: ts(s.LastSeenAt), AttentionLevel: toLevel(h.live.AttentionLevel(s.ID)),
	}
	if s.RecordingRetention > 0 {
		out.RecordingRetention = durationpb.New(s.RecordingRetention)
	}
	out.Source = toSource(s.Source)
	out.Attributes = make([]*sensoctov1.Attribute, len(s.Attributes))
	for i, a := range s.Attributes {
		out.Attributes[i] = &sensoctov1.Attribute{AttributeId: a.ID, AttributeType: a.Type, Unit: a.Unit, SampleRateHz: a.SampleRateHz}
	}
	return out
}

func toSource(s sensors.Source) *sensoctov1.SensorSource {
	out := &sensoctov1.SensorSource{Scenario: s.Scenario, ScenarioTitle: s.ScenarioTitle, RunId: s.RunID, Demo: s.Demo}
	switch s.Kind {
	case sensors.SourceSimulator:
		out.Kind = sensoctov1.SensorSourceKind_SENSOR_SOURCE_KIND_SIMULATOR
	case sensors.SourceBrowser:
		out.Kind = sensoctov1.SensorSourceKind_SENSOR_SOURCE_KIND_BROWSER
	case sensors.SourceAPI:
		out.Kind = sensoctov1.SensorSourceKind_SENSOR_SOURCE_KIND_API
	}
	return out
}
