package rooms

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// roomState is one room in the index. Its facts are guarded by index.mu; wmu
// serializes this process's writes of the room (held across the database write, so the
// index follows the database in the order of the writes); presence, watchers and
// pending changes are guarded by pmu. Lock order: wmu, then index.mu, then pmu.
type roomState struct {
	id        uuid.UUID
	createdAt time.Time

	// guarded by index.mu
	owner            uuid.UUID
	name             string
	description      string
	public           bool
	features         Features
	membersAddPublic bool
	code             string
	codeExpires      time.Time // zero: never
	updatedAt        time.Time
	members          map[uuid.UUID]*member
	sensors          map[string]placement
	deleted          bool

	wmu sync.Mutex
	// wrote is the Service's seq when this process last wrote the room (after the
	// database write); applied, guarded by wmu, is the seq taken before the newest
	// database read applied to it (cluster.go: apply).
	wrote   atomic.Uint64
	applied uint64

	pmu      sync.Mutex
	tabs     map[uuid.UUID]map[string]*tab // user → tab id → tab
	remote   map[string]*nodePresence      // other nodes' presence, by node id
	watchers map[*Watch]struct{}
	pending  changes
}

// member is a membership in the index.
type member struct {
	role     authz.RoomRole
	name     string
	guest    bool
	joinedAt time.Time
}

// placement is a sensor placed in a room.
type placement struct {
	owner uuid.UUID
	// byOwner: placed by its owner, so the room shares it whatever its visibility.
	byOwner bool
	addedAt time.Time
}

func stateOf(row *ent.Room) *roomState {
	r := &roomState{
		id: row.ID, createdAt: row.CreatedAt, owner: row.OwnerID, name: row.Name, description: row.Description,
		public: row.IsPublic, features: row.Features, membersAddPublic: row.MembersAddPublicSensors,
		updatedAt: row.UpdatedAt,
		members:   make(map[uuid.UUID]*member), sensors: make(map[string]placement),
		tabs: make(map[uuid.UUID]map[string]*tab), watchers: make(map[*Watch]struct{}),
	}
	if row.JoinCode != nil {
		r.code = *row.JoinCode
	}
	if row.JoinCodeExpiresAt != nil {
		r.codeExpires = *row.JoinCodeExpiresAt
	}
	return r
}

// index holds every room with its members and sensors, and the reverse maps the
// membership view needs.
type index struct {
	mu       sync.RWMutex
	rooms    map[uuid.UUID]*roomState
	byCode   map[string]*roomState
	bySensor map[string]map[*roomState]struct{}
	byUser   map[uuid.UUID]map[*roomState]struct{}
}

func (x *index) init() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.rooms = make(map[uuid.UUID]*roomState)
	x.byCode = make(map[string]*roomState)
	x.bySensor = make(map[string]map[*roomState]struct{})
	x.byUser = make(map[uuid.UUID]map[*roomState]struct{})
}

func addTo[K comparable](m map[K]map[*roomState]struct{}, k K, r *roomState) {
	set := m[k]
	if set == nil {
		set = make(map[*roomState]struct{})
		m[k] = set
	}
	set[r] = struct{}{}
}

func removeFrom[K comparable](m map[K]map[*roomState]struct{}, k K, r *roomState) {
	if set := m[k]; set != nil {
		delete(set, r)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// put adds a room with its members and sensors.
func (x *index) put(r *roomState) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.putLocked(r)
}

func (x *index) putLocked(r *roomState) {
	x.rooms[r.id] = r
	if r.code != "" {
		x.byCode[r.code] = r
	}
	for u := range r.members {
		addTo(x.byUser, u, r)
	}
	for id := range r.sensors {
		addTo(x.bySensor, id, r)
	}
}

// putIfAbsent adds r (as put) unless the index holds a room with r's id, which it
// returns (nil: r was added).
func (x *index) putIfAbsent(r *roomState) *roomState {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old := x.rooms[r.id]; old != nil {
		return old
	}
	x.putLocked(r)
	return nil
}

// get returns the room with id, or nil.
func (x *index) get(id uuid.UUID) *roomState {
	x.mu.RLock()
	defer x.mu.RUnlock()
	r := x.rooms[id]
	if r == nil || r.deleted {
		return nil
	}
	return r
}

// byJoinCode returns the room whose code is code, or nil.
func (x *index) byJoinCode(code string) *roomState {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.byCode[code]
}

// drop removes a room (deleted). Callers hold x.mu.
func (x *index) dropLocked(r *roomState) {
	r.deleted = true
	delete(x.rooms, r.id)
	if r.code != "" && x.byCode[r.code] == r {
		delete(x.byCode, r.code)
	}
	for u := range r.members {
		removeFrom(x.byUser, u, r)
	}
	for id := range r.sensors {
		removeFrom(x.bySensor, id, r)
	}
}

func (x *index) addMemberLocked(r *roomState, u uuid.UUID, m *member) {
	r.members[u] = m
	addTo(x.byUser, u, r)
}

func (x *index) removeMemberLocked(r *roomState, u uuid.UUID) {
	delete(r.members, u)
	removeFrom(x.byUser, u, r)
}

func (x *index) addSensorLocked(r *roomState, id string, p placement) {
	r.sensors[id] = p
	addTo(x.bySensor, id, r)
}

func (x *index) removeSensorLocked(r *roomState, id string) {
	delete(r.sensors, id)
	removeFrom(x.bySensor, id, r)
}

func (x *index) setCodeLocked(r *roomState, code string, expires time.Time) {
	if r.code != "" && x.byCode[r.code] == r {
		delete(x.byCode, r.code)
	}
	r.code, r.codeExpires = code, expires
	if code != "" {
		x.byCode[code] = r
	}
}

// roleOf returns u's role in r (RoleNone for a non-member). Callers hold x.mu.
func roleOf(r *roomState, u uuid.UUID) authz.RoomRole {
	if u == r.owner {
		return authz.RoleOwner
	}
	if m := r.members[u]; m != nil {
		return m.role
	}
	return authz.RoleNone
}

// factsLocked returns the policy's facts about r for user u. Callers hold x.mu.
func factsLocked(r *roomState, u uuid.UUID) authz.RoomFacts {
	return authz.RoomFacts{OwnerID: r.owner, IsPublic: r.public, ViewerRole: roleOf(r, u), MembersAddPublic: r.membersAddPublic}
}

// sensorIDsLocked returns the room's sensor ids, sorted. Callers hold x.mu.
func sensorIDsLocked(r *roomState) []string {
	ids := make([]string, 0, len(r.sensors))
	for id := range r.sensors {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// SharesSensor reports whether a room the user belongs to shares the sensor: holds it,
// placed there by its owner. It is the membership view of the sensors domain (a map
// lookup per room holding the sensor, no database).
func (s *Service) SharesSensor(userID uuid.UUID, sensorID string) bool {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	for r := range s.idx.bySensor[sensorID] {
		if p := r.sensors[sensorID]; p.byOwner && roleOf(r, userID) != authz.RoleNone {
			return true
		}
	}
	return false
}

// SensorsSharedWith returns the ids of the sensors rooms share with the user (see
// SharesSensor), sorted.
func (s *Service) SensorsSharedWith(userID uuid.UUID) []string {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	seen := make(map[string]bool)
	for r := range s.idx.byUser[userID] {
		for id, p := range r.sensors {
			if p.byOwner {
				seen[id] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// IsMember reports whether the user belongs to the room (any role); a miss is
// confirmed against the database (see Membership).
func (s *Service) IsMember(ctx context.Context, roomID, userID uuid.UUID) bool {
	role, _ := s.Membership(ctx, roomID, userID)
	return role != authz.RoleNone
}

// inIndex reports whether the index holds the user as a member of the room.
func (s *Service) inIndex(roomID, userID uuid.UUID) bool {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	r := s.idx.rooms[roomID]
	return r != nil && roleOf(r, userID) != authz.RoleNone
}

// Membership returns the user's role in the room (authz.RoleNone for a non-member or an
// unknown room) and the room's features, from memory; a miss is confirmed against the
// database (confirm.go: a join made on another node counts here as soon as it returns).
// It may be called with a room's wmu held (it does not write the index).
func (s *Service) Membership(ctx context.Context, roomID, userID uuid.UUID) (authz.RoomRole, Features) {
	s.idx.mu.RLock()
	r := s.idx.rooms[roomID]
	if r != nil {
		if role := roleOf(r, userID); role != authz.RoleNone {
			f := r.features
			s.idx.mu.RUnlock()
			return role, f
		}
	}
	s.idx.mu.RUnlock()
	return s.confirmAsync(ctx, roomID, userID)
}

// roleRank orders roles for member lists: owner, admins, members.
func roleRank(r authz.RoomRole) int {
	switch r {
	case authz.RoleOwner:
		return 0
	case authz.RoleAdmin:
		return 1
	}
	return 2
}

// compareMembers sorts members by role, then name, then id.
func compareMembers(a, b Member) int {
	if c := roleRank(a.Role) - roleRank(b.Role); c != 0 {
		return c
	}
	if c := strings.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName)); c != 0 {
		return c
	}
	return strings.Compare(a.UserID.String(), b.UserID.String())
}
