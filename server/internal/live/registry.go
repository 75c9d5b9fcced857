package live

import (
	"context"
	"encoding/json"

	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// Sensor registry changes across nodes (sensors/remote.go): a change made on this node
// goes to every other node as bus.KindSensorRegistry, and every node follows all of
// them while it runs, so a sensor made private or deleted on one node ends the
// streams of the viewers who lost it on every node, at once.

// registryQueue bounds the registry changes waiting to be applied here (they are an
// owner's actions: rare).
const registryQueue = 1024

// RegistryMessage is the payload of bus.KindSensorRegistry.
type RegistryMessage struct {
	Kind      string `json:"kind"`
	Recording bool   `json:"recording,omitempty"`
}

// registryChanged publishes a change made on this node (sensors.OnRegistryChange).
func (r *remote) registryChanged(c sensors.RegistryChange) {
	if !r.bus.Interested(bus.KindSensorRegistry, c.SensorID) {
		return // no other node (every node follows all changes while it runs)
	}
	r.publish(bus.KindSensorRegistry, c.SensorID, RegistryMessage{Kind: string(c.Kind), Recording: c.Recording})
}

// followRegistry applies the registry changes other nodes make until ctx ends.
func (s *Service) followRegistry(ctx context.Context) error {
	r := &s.remote
	if r.solo {
		return nil // a single server: no other node changes anything
	}
	sub, err := r.bus.Subscribe(bus.KindSensorRegistry, "", registryQueue)
	if err != nil {
		r.log.Error().Err(err).Msg("cannot follow the sensor registry changes of other nodes")
		return nil
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-sub.C():
			if !ok {
				return nil
			}
			var msg RegistryMessage
			if err := json.Unmarshal(m.Data, &msg); err != nil {
				msg.Kind = "" // rejected below
			}
			switch kind := sensors.RegistryChangeKind(msg.Kind); kind {
			case sensors.RegistryUpdated, sensors.RegistryRecording, sensors.RegistryDeleted:
				s.sensors.ApplyRemoteChange(ctx, sensors.RegistryChange{SensorID: m.Key, Kind: kind, Recording: msg.Recording})
			default:
				r.rejected.Add(1)
			}
		}
	}
}
