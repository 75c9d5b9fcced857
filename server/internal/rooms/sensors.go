package rooms

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/roomsensor"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// AddSensor places a sensor in a room (see authz.CheckAddRoomSensor). Placed by its
// owner, the room shares it with every member whatever its visibility; another user's
// public sensor stays visible only while it is public. Adding it again is a no-op.
func (s *Service) AddSensor(ctx context.Context, v authz.Viewer, id uuid.UUID, sensorID string) (Room, error) {
	r, err := s.lockRoom(ctx, v, id, authz.RoomView)
	if err != nil {
		return Room{}, err
	}
	defer r.wmu.Unlock()
	s.idx.mu.RLock()
	facts := factsLocked(r, v.UserID)
	_, placed := r.sensors[sensorID]
	count := len(r.sensors)
	s.idx.mu.RUnlock()
	if err := authz.CheckRoom(v, facts, authz.RoomParticipate); err != nil {
		return Room{}, err
	}
	sn, err := s.sensors.Get(ctx, v, sensorID)
	if err != nil {
		return Room{}, fmt.Errorf("add room sensor: %w", err)
	}
	// v sees it: as its owner, because it is public, or else through a room.
	sf := authz.SensorFacts{OwnerID: sn.OwnerID, Visibility: sn.Visibility,
		InViewersRoom: sn.OwnerID != v.UserID && sn.Visibility != authz.VisibilityPublic}
	if err := authz.CheckAddRoomSensor(v, facts, sf); err != nil {
		return Room{}, err
	}
	if placed {
		return s.view(r, v), nil
	}
	if count >= MaxSensors {
		return Room{}, apperr.ResourceExhausted(0, "this room has %d sensors, the most allowed", MaxSensors)
	}
	now := s.now().UTC()
	err = s.db.RoomSensor.Create().SetRoomID(r.id).SetSensorID(sensorID).SetAddedBy(v.UserID).
		SetCreatedAt(now).SetUpdatedAt(now).Exec(ctx)
	switch {
	case ent.IsConstraintError(err): // the sensor was deleted meanwhile (or placed by another node)
		return Room{}, apperr.NotFound("sensor not found")
	case err != nil:
		return Room{}, fmt.Errorf("add room sensor: %w", err)
	}
	s.idx.mu.Lock()
	s.idx.addSensorLocked(r, sensorID, placement{owner: sn.OwnerID, byOwner: sn.OwnerID == v.UserID, addedAt: now})
	s.idx.mu.Unlock()
	s.changed(r, func(c *changes) { c.sensor(sensorID, true) })
	return s.view(r, v), nil
}

// RemoveSensor takes a sensor out of a room (owner or admin, or the sensor's owner).
// Members who saw it only through this room stop receiving it at once.
func (s *Service) RemoveSensor(ctx context.Context, v authz.Viewer, id uuid.UUID, sensorID string) (Room, error) {
	r, err := s.lockRoom(ctx, v, id, authz.RoomView)
	if err != nil {
		return Room{}, err
	}
	defer r.wmu.Unlock()
	s.idx.mu.RLock()
	facts := factsLocked(r, v.UserID)
	p, placed := r.sensors[sensorID]
	s.idx.mu.RUnlock()
	if !placed {
		if err := authz.CheckRoom(v, facts, authz.RoomParticipate); err != nil {
			return Room{}, err
		}
		return Room{}, apperr.NotFound("the room has no sensor %s", sensorID)
	}
	if err := authz.CheckRemoveRoomSensor(v, facts, p.owner); err != nil {
		return Room{}, err
	}
	if _, err := s.db.RoomSensor.Delete().Where(roomsensor.RoomID(r.id), roomsensor.SensorID(sensorID)).Exec(ctx); err != nil {
		return Room{}, fmt.Errorf("remove room sensor: %w", err)
	}
	s.idx.mu.Lock()
	s.idx.removeSensorLocked(r, sensorID)
	s.idx.mu.Unlock()
	s.changed(r, func(c *changes) { c.sensor(sensorID, false) })
	s.sensors.AccessChanged(context.WithoutCancel(ctx), sensorID)
	return s.view(r, v), nil
}

// SensorDeleted forgets a deleted sensor's placements (the database deleted them with
// it) and tells the rooms' watchers.
func (s *Service) SensorDeleted(sensorID string) {
	s.idx.mu.Lock()
	var rooms []*roomState
	for r := range s.idx.bySensor[sensorID] {
		rooms = append(rooms, r)
	}
	for _, r := range rooms {
		s.idx.removeSensorLocked(r, sensorID)
	}
	s.idx.mu.Unlock()
	for _, r := range rooms {
		s.changed(r, func(c *changes) { c.sensor(sensorID, false) })
	}
}

// UsersDeleted forgets deleted users (the database deleted their rooms, memberships
// and sensors with them): their rooms close, their memberships end, their sensors
// leave every room.
func (s *Service) UsersDeleted(ctx context.Context, ids []uuid.UUID) {
	gone := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	type left struct {
		r           *roomState
		user        uuid.UUID
		theirs, all []string
	}
	var owned []*roomState
	var leaving []left
	s.idx.mu.RLock()
	for _, u := range ids {
		for r := range s.idx.byUser[u] {
			if gone[r.owner] {
				owned = append(owned, r)
				continue
			}
			l := left{r: r, user: u, all: sensorIDsLocked(r)}
			for id, p := range r.sensors {
				if p.owner == u {
					l.theirs = append(l.theirs, id)
				}
			}
			leaving = append(leaving, l)
		}
	}
	s.idx.mu.RUnlock()
	seen := make(map[*roomState]bool)
	for _, r := range owned {
		if !seen[r] {
			seen[r] = true
			s.forgetRoom(ctx, r)
		}
	}
	for _, l := range leaving {
		s.dropMember(ctx, l.r, l.user, l.theirs, l.all)
	}
}
