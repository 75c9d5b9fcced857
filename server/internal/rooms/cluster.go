package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/room"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/bus"
)

// Rooms across nodes (cluster mode). Every node keeps the whole index; a node that
// writes a room announces it on the bus (KindRoomEvents, key the room id, no payload)
// after the database write, and every other node reloads that room from the database
// and tells its own watchers what changed, as it would for its own write. Presence is
// per node: each node publishes the presence of its own tabs in a room
// (KindRoomPresence, the node's full list for the room) whenever it changes and every
// PresenceRefresh; other nodes merge it with theirs and forget a node's list
// 3 × PresenceRefresh after its last message (a node that died).

// PresenceRefresh is how often a node repeats the presence of its tabs in the rooms
// they have open, so that other nodes keep it (and forget it when the node dies).
const PresenceRefresh = 5 * time.Second

// remoteLapse is how long another node's presence list lasts without a new message.
const remoteLapse = 3 * PresenceRefresh

// maxReloads bounds the rooms waiting to be reloaded after other nodes' writes;
// beyond it, the index is reloaded whole.
const maxReloads = 4096

// nodePresence is another node's presence in a room: user → views (sorted).
type nodePresence struct {
	users   map[uuid.UUID][]string
	expires time.Time
}

// presenceWire is the payload of a KindRoomPresence message.
type presenceWire struct {
	Users []presenceUser `json:"users"`
}

type presenceUser struct {
	ID    uuid.UUID `json:"id"`
	Views []string  `json:"views,omitempty"`
}

// cluster is the rooms' end of the bus (nil bus: a single node, nothing happens).
type cluster struct {
	bus bus.Bus
	// subscriptions, open from New (before the index is loaded: no change falls
	// between the load and the first message) until Run ends
	events, presence bus.Subscription

	mu        sync.Mutex
	reloads   map[uuid.UUID]struct{}
	reloadAll bool
	wake      chan struct{}

	// rooms with other nodes' presence (for its expiry), guarded by mu
	remote map[*roomState]struct{}
}

// subscribe opens the cluster's subscriptions (New, before the index is loaded).
func (s *Service) subscribe() error {
	b := s.cl.bus
	if b == nil {
		return nil
	}
	var err error
	if s.cl.events, err = b.Subscribe(bus.KindRoomEvents, "", bus.MaxQueue); err != nil {
		return fmt.Errorf("follow room changes of other nodes: %w", err)
	}
	if s.cl.presence, err = b.Subscribe(bus.KindRoomPresence, "", bus.MaxQueue); err != nil {
		s.cl.events.Close()
		return fmt.Errorf("follow room presence of other nodes: %w", err)
	}
	return nil
}

// announce tells the other nodes that room id changed in the database.
func (s *Service) announce(id uuid.UUID) {
	b := s.cl.bus
	if b == nil || !b.Interested(bus.KindRoomEvents, id.String()) {
		return
	}
	if err := b.Publish(bus.Message{Kind: bus.KindRoomEvents, Key: id.String()}); err != nil {
		s.log.Warn().Err(err).Stringer("room_id", id).Msg("announce a room change to other nodes")
	}
}

// publishPresence sends this node's presence in r to the other nodes.
func (s *Service) publishPresence(r *roomState) {
	b := s.cl.bus
	if b == nil || !b.Interested(bus.KindRoomPresence, r.id.String()) {
		return
	}
	now := s.now()
	var w presenceWire
	r.pmu.Lock()
	for u, tabs := range r.tabs {
		if p, views := presenceOf(tabs, now); p {
			w.Users = append(w.Users, presenceUser{ID: u, Views: views})
		}
	}
	r.pmu.Unlock()
	data, err := json.Marshal(w)
	if err == nil {
		err = b.Publish(bus.Message{Kind: bus.KindRoomPresence, Key: r.id.String(), Data: data})
	}
	if err != nil {
		s.log.Warn().Err(err).Stringer("room_id", r.id).Msg("publish room presence to other nodes")
	}
}

// presenceOfUser merges u's presence on this node (tabs) with other nodes'. Callers
// hold r.pmu.
func presenceOfUser(r *roomState, u uuid.UUID, now time.Time) (bool, []string) {
	present, views := presenceOf(r.tabs[u], now)
	for _, np := range r.remote { // expired lists stay until expireRemote announces their end
		if vs, ok := np.users[u]; ok {
			present = true
			for _, v := range vs {
				if v != "" && !slices.Contains(views, v) {
					views = append(views, v)
				}
			}
		}
	}
	slices.Sort(views)
	return present, views
}

// mergedKey is u's cluster-wide presence as others see it. Callers hold r.pmu.
func mergedKey(r *roomState, u uuid.UUID, now time.Time) presenceKey {
	p, views := presenceOfUser(r, u, now)
	k := presenceKey{present: p}
	for _, v := range views {
		k.views += v + "\x00"
	}
	return k
}

// runCluster follows the other nodes' room changes and presence until ctx ends.
func (s *Service) runCluster(ctx context.Context) error {
	if s.cl.bus == nil {
		<-ctx.Done()
		return nil
	}
	events, presence := s.cl.events, s.cl.presence
	defer events.Close()
	defer presence.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.reloader(ctx) })
	refresh := time.NewTicker(PresenceRefresh)
	defer refresh.Stop()
	var lost uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-events.C():
			if !ok {
				return nil
			}
			id, err := uuid.Parse(m.Key)
			if err != nil {
				continue
			}
			s.queueReload(id)
		case m, ok := <-presence.C():
			if !ok {
				return nil
			}
			s.applyPresence(m)
		case <-refresh.C:
			s.refreshPresence()
		}
		if d := events.Dropped(); d != lost {
			lost = d // some announcements were lost: reload everything
			s.log.Warn().Uint64("dropped", d).Msg("room changes of other nodes were dropped; reloading every room")
			s.cl.mu.Lock()
			s.cl.reloadAll = true
			s.cl.mu.Unlock()
			s.wakeReloader()
		}
	}
}

func (s *Service) queueReload(id uuid.UUID) {
	s.cl.mu.Lock()
	if len(s.cl.reloads) >= maxReloads {
		s.cl.reloadAll = true
	} else {
		s.cl.reloads[id] = struct{}{}
	}
	s.cl.mu.Unlock()
	s.wakeReloader()
}

func (s *Service) wakeReloader() {
	select {
	case s.cl.wake <- struct{}{}:
	default:
	}
}

// reloader reloads the rooms other nodes changed, one at a time, until ctx ends.
func (s *Service) reloader(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.cl.wake:
		}
		s.cl.mu.Lock()
		ids := make([]uuid.UUID, 0, len(s.cl.reloads))
		for id := range s.cl.reloads {
			ids = append(ids, id)
		}
		clear(s.cl.reloads)
		all := s.cl.reloadAll
		s.cl.reloadAll = false
		s.cl.mu.Unlock()
		if all {
			rows, err := s.db.Room.Query().Select(room.FieldID).IDs(ctx)
			if err != nil {
				s.log.Error().Err(err).Msg("reload rooms")
				continue
			}
			s.idx.mu.RLock()
			for id := range s.idx.rooms {
				rows = append(rows, id)
			}
			s.idx.mu.RUnlock()
			ids = rows
		}
		for _, id := range ids {
			if err := s.reload(ctx, id); err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Stringer("room_id", id).Msg("reload a room another node changed")
			}
		}
	}
}

// reload applies the database's state of room id to the index and tells the room's
// watchers what changed (another node wrote it).
func (s *Service) reload(ctx context.Context, id uuid.UUID) error {
	s.conf.forget(id)
	start := s.seq.Add(1)
	row, err := s.fetchRoom(ctx, id)
	if err != nil {
		return err
	}
	return s.apply(ctx, id, row, start)
}

// fetchRoom reads room id with its memberships and sensors (nil, nil: no such room).
func (s *Service) fetchRoom(ctx context.Context, id uuid.UUID) (*ent.Room, error) {
	row, err := s.db.Room.Query().Where(room.ID(id)).
		WithMemberships(func(q *ent.RoomMembershipQuery) { q.WithUser() }).
		WithRoomSensors(func(q *ent.RoomSensorQuery) { q.WithSensor() }).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read room %s: %w", id, err)
	}
	return row, nil
}

// apply makes the index hold row, the database's state of room id read after start
// (taken from s.seq; nil row: the room is gone), and tells the room's watchers what
// changed. A read that began before this process's last write of the room may miss
// that write: the room is read again under wmu (which the writes hold). A read that
// began before one already applied is dropped (whatever it holds that the applied one
// lacks was written later, and its announcement brings another reload). The caller
// does not hold the room's wmu.
func (s *Service) apply(ctx context.Context, id uuid.UUID, row *ent.Room, start uint64) error {
	if row == nil {
		if r := s.idx.get(id); r != nil {
			r.wmu.Lock()
			s.forgetRoomQuiet(ctx, r)
			r.wmu.Unlock()
		}
		return nil
	}
	fresh := freshState(row)
	fresh.applied = start
	r := s.idx.putIfAbsent(fresh)
	if r == nil {
		return nil
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if start < r.applied {
		return nil
	}
	if r.wrote.Load() > start {
		start = s.seq.Add(1)
		row, err := s.fetchRoom(ctx, id)
		if err != nil {
			return err
		}
		if row == nil {
			s.forgetRoomQuiet(ctx, r)
			return nil
		}
		fresh = freshState(row)
	}
	r.applied = start
	return s.applyLocked(ctx, r, fresh)
}

// freshState is row with its members and sensors as a roomState.
func freshState(row *ent.Room) *roomState {
	fresh := stateOf(row)
	for _, m := range row.Edges.Memberships {
		mem := &member{role: authz.RoomRole(m.Role), joinedAt: m.CreatedAt}
		if u := m.Edges.User; u != nil {
			mem.name, mem.guest = u.DisplayName, u.IsGuest
		}
		fresh.members[m.UserID] = mem
	}
	for _, rs := range row.Edges.RoomSensors {
		p := placement{addedAt: rs.CreatedAt}
		if sn := rs.Edges.Sensor; sn != nil {
			p.owner = sn.OwnerID
			p.byOwner = rs.AddedBy != nil && *rs.AddedBy == sn.OwnerID
		}
		fresh.sensors[rs.SensorID] = p
	}
	return fresh
}

// applyLocked makes r, held under its wmu, hold fresh's facts and tells its watchers
// what changed.
func (s *Service) applyLocked(ctx context.Context, r *roomState, fresh *roomState) error {
	id := r.id
	var c changes
	var gone []uuid.UUID
	var lostSensors []string
	s.idx.mu.Lock()
	if r.owner != fresh.owner || r.name != fresh.name || r.description != fresh.description || r.public != fresh.public ||
		r.features != fresh.features || r.membersAddPublic != fresh.membersAddPublic || r.code != fresh.code ||
		!r.codeExpires.Equal(fresh.codeExpires) || !r.updatedAt.Equal(fresh.updatedAt) {
		c.updated = true
		if r.owner != fresh.owner {
			// Roles are relative to the owner: every member's line may change.
			for u := range fresh.members {
				c.member(u, true)
			}
			c.member(r.owner, true)
			c.member(fresh.owner, true)
		}
	}
	r.owner, r.name, r.description, r.public = fresh.owner, fresh.name, fresh.description, fresh.public
	r.features, r.membersAddPublic, r.updatedAt = fresh.features, fresh.membersAddPublic, fresh.updatedAt
	s.idx.setCodeLocked(r, fresh.code, fresh.codeExpires)
	for u, m := range fresh.members {
		old := r.members[u]
		if old == nil || old.role != m.role || old.name != m.name || old.guest != m.guest {
			s.idx.addMemberLocked(r, u, m)
			c.member(u, true)
		}
	}
	for u := range r.members {
		if _, ok := fresh.members[u]; !ok {
			s.idx.removeMemberLocked(r, u)
			c.member(u, false)
			gone = append(gone, u)
		}
	}
	for id, p := range fresh.sensors {
		old, ok := r.sensors[id]
		if !ok || old != p {
			s.idx.addSensorLocked(r, id, p)
			c.sensor(id, true)
			if ok && old.byOwner && !p.byOwner {
				lostSensors = append(lostSensors, id)
			}
		}
	}
	for id := range r.sensors {
		if _, ok := fresh.sensors[id]; !ok {
			s.idx.removeSensorLocked(r, id)
			c.sensor(id, false)
			lostSensors = append(lostSensors, id)
		}
	}
	all := sensorIDsLocked(r)
	s.idx.mu.Unlock()
	if c.empty() {
		return nil
	}
	s.record(r, func(p *changes) {
		p.updated = p.updated || c.updated
		for u, in := range c.members {
			p.member(u, in)
		}
		for id, in := range c.sensors {
			p.sensor(id, in)
		}
	})
	if len(gone) > 0 {
		lostSensors = all // a member gone may see none of the room's sensors now
	}
	if len(lostSensors) > 0 {
		s.sensors.AccessChanged(ctx, lostSensors...)
	}
	for _, u := range gone {
		s.memberGone(ctx, id, u)
	}
	return nil
}

// forgetRoomQuiet is forgetRoom for a room another node deleted (nothing to announce).
func (s *Service) forgetRoomQuiet(ctx context.Context, r *roomState) {
	s.idx.mu.Lock()
	ids := sensorIDsLocked(r)
	s.idx.dropLocked(r)
	s.idx.mu.Unlock()
	s.record(r, func(c *changes) { c.deleted = true })
	s.sensors.AccessChanged(ctx, ids...)
	s.roomGone(r.id)
}

// applyPresence merges another node's presence list for a room.
func (s *Service) applyPresence(m bus.Message) {
	id, err := uuid.Parse(m.Key)
	if err != nil {
		return
	}
	r := s.idx.get(id)
	if r == nil {
		return
	}
	var w presenceWire
	if err := json.Unmarshal(m.Data, &w); err != nil || len(w.Users) > MaxMembers {
		s.log.Warn().Err(err).Str("node", m.Origin).Msg("a room presence message that does not decode")
		return
	}
	now := s.now()
	np := &nodePresence{users: make(map[uuid.UUID][]string, len(w.Users)), expires: now.Add(remoteLapse)}
	for _, u := range w.Users {
		np.users[u.ID] = u.Views
	}
	s.setRemote(r, m.Origin, np, now)
}

// setRemote replaces a node's presence in r (nil: the node is gone) and records the
// presence changes members show.
func (s *Service) setRemote(r *roomState, node string, np *nodePresence, now time.Time) {
	r.pmu.Lock()
	old := r.remote[node]
	users := make(map[uuid.UUID]struct{})
	if old != nil {
		for u := range old.users {
			users[u] = struct{}{}
		}
	}
	if np != nil {
		for u := range np.users {
			users[u] = struct{}{}
		}
	}
	before := make(map[uuid.UUID]presenceKey, len(users))
	for u := range users {
		before[u] = mergedKey(r, u, now)
	}
	if r.remote == nil {
		r.remote = make(map[string]*nodePresence)
	}
	if np == nil || len(np.users) == 0 {
		delete(r.remote, node)
	} else {
		r.remote[node] = np
	}
	dirty := false
	for u := range users {
		if mergedKey(r, u, now) != before[u] {
			r.pending.presence(u)
			dirty = true
		}
	}
	has := len(r.remote) > 0
	r.pmu.Unlock()
	s.cl.mu.Lock()
	if has {
		s.cl.remote[r] = struct{}{}
	} else {
		delete(s.cl.remote, r)
	}
	s.cl.mu.Unlock()
	if dirty {
		s.markDirty(r)
	}
}

// refreshPresence repeats this node's presence in the rooms it has watchers of, and
// forgets other nodes' lists that were not repeated (their node died).
func (s *Service) refreshPresence() {
	s.fanMu.Lock()
	rooms := make([]*roomState, 0, len(s.active))
	for r := range s.active {
		rooms = append(rooms, r)
	}
	s.fanMu.Unlock()
	for _, r := range rooms {
		s.publishPresence(r)
	}
	s.expireRemote()
}

// expireRemote drops other nodes' presence lists whose time ran out.
func (s *Service) expireRemote() {
	now := s.now()
	s.cl.mu.Lock()
	rooms := make([]*roomState, 0, len(s.cl.remote))
	for r := range s.cl.remote {
		rooms = append(rooms, r)
	}
	s.cl.mu.Unlock()
	for _, r := range rooms {
		r.pmu.Lock()
		var expired []string
		for node, np := range r.remote {
			if !now.Before(np.expires) {
				expired = append(expired, node)
			}
		}
		r.pmu.Unlock()
		for _, node := range expired {
			s.setRemote(r, node, nil, now)
		}
	}
}
