package live

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/hub"
)

// OnBattery feeds a sensor's own battery attribute into its back-pressure (the wiring
// passes it as hub.Options.OnBattery: it runs on the ingest path with the sensor's
// lock held, and only for battery attributes).
func (s *Service) OnBattery(sensorID string, m hub.Measurement) {
	if b, ok := sensorBattery(&m.Value); ok {
		s.publisher.SetSensorBattery(sensorID, b)
	}
}

// sensorBattery reads a battery attribute's value: a number (percent, 0..100) or a
// struct {level, charging} as the original's connectors send (level in percent, or a
// fraction when ≤ 1).
func sensorBattery(v *hub.Value) (backpressure.Battery, bool) {
	switch v.Kind {
	case hub.KindNumber:
		return backpressure.Battery{Known: true, Level: v.F[0] / 100}, true
	case hub.KindStruct:
		var st structpb.Struct
		if v.Ext == nil || proto.Unmarshal(v.Ext.Struct.Encoded, &st) != nil {
			return backpressure.Battery{}, false
		}
		level, ok := st.GetFields()["level"].GetKind().(*structpb.Value_NumberValue)
		if !ok {
			return backpressure.Battery{}, false
		}
		l := level.NumberValue
		if l > 1 {
			l /= 100
		}
		return backpressure.Battery{Known: true, Level: l, Charging: st.GetFields()["charging"].GetBoolValue()}, true
	}
	return backpressure.Battery{}, false
}
