package sensors

import (
	"context"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/sensor"
	"github.com/sensocto/sensocto/server/internal/hub"
)

// Registry changes across nodes. Every node of a cluster caches what it knows of a
// sensor (owner and visibility, for access decisions) and follows its recording flag;
// a change made through one node's Service is announced to the others (the live
// domain carries it on the bus, live/registry.go) whether or not they watch the
// sensor, and each applies it with ApplyRemoteChange: a sensor made private ends the
// streams there of viewers who may no longer see it, a deleted one leaves every
// stream and cache. Changes are rare (an owner's action), so they go to every node.

// RegistryChangeKind is what changed of a sensor.
type RegistryChangeKind string

// The registry changes.
const (
	// RegistryUpdated: name or visibility (UpdateSensor, or a private RegisterSensor).
	RegistryUpdated RegistryChangeKind = "updated"
	// RegistryRecording: recording turned on or off (Recording says which).
	RegistryRecording RegistryChangeKind = "recording"
	// RegistryDeleted: the sensor is gone.
	RegistryDeleted RegistryChangeKind = "deleted"
)

// RegistryChange is a change of a sensor another node must apply.
type RegistryChange struct {
	SensorID  string
	Kind      RegistryChangeKind
	Recording bool
}

// OnRegistryChange sets the function told of every registry change made through
// this Service (once, at wiring; the live domain publishes them to other nodes). It
// runs after the change is stored and applied here.
func (s *Service) OnRegistryChange(fn func(RegistryChange)) { s.onChange.Store(&fn) }

func (s *Service) changed(c RegistryChange) {
	if fn := s.onChange.Load(); fn != nil {
		(*fn)(c)
	}
}

// ApplyRemoteChange applies a registry change another node made. Nothing is done for
// a sensor this node neither caches nor streams (it reads the database when it
// needs it); otherwise an update re-reads the owner and visibility and re-checks the
// streams following the sensor (before it returns, as a local change does), a
// recording change switches this node's ingest path, and a deletion ends the live
// state here. Watchers here are told (EventUpdated, EventRemoved) without announcing
// it again.
func (s *Service) ApplyRemoteChange(ctx context.Context, c RegistryChange) {
	ctx = context.WithoutCancel(ctx)
	id := c.SensorID
	if c.Kind == RegistryRecording && s.rec != nil {
		s.setRecordingFlag(id, c.Recording) // an ingesting node records it from now
	}
	s.mu.RLock()
	e := s.cache[id]
	s.mu.RUnlock()
	if e == nil && len(s.access.of(id)) == 0 {
		return
	}
	switch c.Kind {
	case RegistryDeleted:
		s.dropRemote(ctx, id)
		return
	case RegistryUpdated:
		row, err := s.db.Sensor.Query().Where(sensor.ID(id)).Select(sensor.FieldOwnerID, sensor.FieldVisibility).Only(ctx)
		if ent.IsNotFound(err) {
			s.dropRemote(ctx, id)
			return
		}
		if err != nil {
			// Fail closed: forget what this node knew, and re-check the streams (which
			// lose the sensor if it cannot be read).
			s.log.Warn().Err(err).Str("sensor_id", id).Msg("re-read a sensor another node changed")
			s.forgetKeepingLive(id)
		} else {
			s.remember(id, row.OwnerID, row.Visibility == sensor.VisibilityPublic)
		}
		s.accessChanged(ctx, id, false)
	}
	_ = s.hub.NotifyRemote(id, hub.EventUpdated) // not live here: nobody to tell
}

// dropRemote ends the live state of a sensor another node deleted.
func (s *Service) dropRemote(ctx context.Context, id string) {
	if s.rec != nil {
		s.setRecordingFlag(id, false)
	}
	s.dropLive(ctx, id)
}

// forgetKeepingLive makes the next access decision about a sensor read the database:
// it drops the cached entry, unless an open Stream holds it (the entry keeps its
// counters; its visibility stays as last read).
func (s *Service) forgetKeepingLive(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.cache[id]; e != nil && e.streams.Load() == 0 {
		delete(s.cache, id)
	}
}
