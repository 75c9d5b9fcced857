package live

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sensocto/sensocto/server/internal/bus"
)

// Connected sensors across nodes. Every node of a cluster announces the sensors
// connected to it (sensors.ConnectedIDs: an open Stream, or data within the connected
// window) every connectedAnnounce, in chunks of at most connectedChunk ids, as
// bus.KindConnectedSet; every node follows all announcements and counts the ids as
// connected for connectedTTL (sensors.SeenConnectedRemote), so ListSensors and
// GetSensor show a sensor connected on another node as connected here, whoever
// watches it, and a dead node's sensors lapse within connectedTTL. The cost is one
// message per chunk per node every connectedAnnounce, whatever the traffic.
const (
	connectedAnnounce = 2 * time.Second
	connectedTTL      = 3 * connectedAnnounce
	// connectedChunk bounds the ids of one message: sensor ids of at most 128 bytes,
	// escaped to JSON, stay under maxMessageBytes.
	connectedChunk = 2048
	// connectedQueue bounds the announcements waiting to be applied here.
	connectedQueue = 256
)

// announceConnected repeats this node's connected sensors to the other nodes and
// applies theirs, until ctx ends.
func (s *Service) announceConnected(ctx context.Context) error {
	r := &s.remote
	if r.solo {
		return nil // a single server: nobody to tell, nobody telling
	}
	sub, err := r.bus.Subscribe(bus.KindConnectedSet, "", connectedQueue)
	if err != nil {
		r.log.Error().Err(err).Msg("cannot follow the connected sensors of other nodes")
		return nil
	}
	defer sub.Close()
	key := "node:" + r.bus.NodeID()
	t := time.NewTicker(connectedAnnounce)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.sensors.ForgetConnectedRemote()
			if !r.bus.Interested(bus.KindConnectedSet, key) {
				continue
			}
			ids := s.sensors.ConnectedIDs()
			for len(ids) > 0 {
				n := min(len(ids), connectedChunk)
				r.publish(bus.KindConnectedSet, key, ids[:n])
				ids = ids[n:]
			}
		case m, ok := <-sub.C():
			if !ok {
				return nil
			}
			var ids []string
			if err := json.Unmarshal(m.Data, &ids); err != nil || len(ids) > connectedChunk {
				r.rejected.Add(1)
				continue
			}
			s.sensors.SeenConnectedRemote(ids, connectedTTL)
		}
	}
}
