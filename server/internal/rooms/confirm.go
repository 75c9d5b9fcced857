package rooms

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// Confirming misses (cluster mode). The index follows other nodes' writes through the
// bus (cluster.go), a little late: a room created or joined on another node may not be
// in it yet when the caller, told by that node that the write is done, comes here. So
// a miss of the membership view (the room unknown, or the caller not a member of it)
// is confirmed against the database before it becomes NotFound or PermissionDenied;
// a hit is applied to the index at once. Confirmations of one room are coalesced (the
// callers that missed while one runs share the next), all of them are rate-limited
// (beyond the limit a miss stays a miss), and a confirmed miss is remembered for
// confirmTTL, so a flood of bad ids cannot hammer the database.

const (
	// confirmRate and confirmBurst bound the database reads of confirmations.
	confirmRate  = 50
	confirmBurst = 100
	// confirmTTL is how long a confirmed miss is answered without the database.
	confirmTTL = time.Second
	// maxConfirmMisses bounds the remembered misses (when full, they are all
	// forgotten).
	maxConfirmMisses = 4096
	// maxConfirmRooms bounds the rooms being confirmed at once.
	maxConfirmRooms = 256
)

// missKey is a confirmed miss: the room unknown (user uuid.Nil), or user no member.
type missKey struct{ room, user uuid.UUID }

// confirmer coalesces, limits and remembers confirmations (zero value unusable: see
// newConfirmer).
type confirmer struct {
	limit *rate.Limiter
	seq   atomic.Uint64 // tickets: a confirmation serves the callers older than it

	mu     sync.Mutex
	rooms  map[uuid.UUID]*confirmRoom
	misses map[missKey]time.Time // expiry
}

// confirmRoom serializes the confirmations of one room.
type confirmRoom struct {
	mu   sync.Mutex
	refs int // guarded by confirmer.mu
	// the last confirmation: its ticket (taken when it started) and result, guarded by mu
	ticket uint64
	row    *ent.Room
	err    error
}

func newConfirmer() *confirmer {
	return &confirmer{
		limit: rate.NewLimiter(confirmRate, confirmBurst),
		rooms: make(map[uuid.UUID]*confirmRoom), misses: make(map[missKey]time.Time),
	}
}

// missed reports whether k is a miss confirmed less than confirmTTL ago.
func (c *confirmer) missed(k missKey, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.missedLocked(k, now) || (k.user != uuid.Nil && c.missedLocked(missKey{room: k.room}, now))
}

func (c *confirmer) missedLocked(k missKey, now time.Time) bool {
	exp, ok := c.misses[k]
	if ok && now.After(exp) {
		delete(c.misses, k)
		return false
	}
	return ok
}

// remember records the confirmed miss k.
func (c *confirmer) remember(k missKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.misses) >= maxConfirmMisses {
		clear(c.misses)
	}
	c.misses[k] = now.Add(confirmTTL)
}

// forget drops the remembered misses of room id (it changed).
func (c *confirmer) forget(id uuid.UUID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.misses {
		if k.room == id {
			delete(c.misses, k)
		}
	}
}

// read returns the database's state of room id as read after the call began (nil: no
// such room), sharing one read among the callers that wait meanwhile. ok is false
// when the rate limit or the bound of rooms refused a read.
func (c *confirmer) read(ctx context.Context, id uuid.UUID, fetch func(context.Context, uuid.UUID) (*ent.Room, error)) (row *ent.Room, ok bool, err error) {
	ticket := c.seq.Add(1)
	c.mu.Lock()
	cr := c.rooms[id]
	if cr == nil {
		if len(c.rooms) >= maxConfirmRooms {
			c.mu.Unlock()
			return nil, false, nil
		}
		cr = &confirmRoom{}
		c.rooms[id] = cr
	}
	cr.refs++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if cr.refs--; cr.refs == 0 {
			delete(c.rooms, id)
		}
		c.mu.Unlock()
	}()
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.ticket > ticket { // a read that began after this call: its result serves
		return cr.row, cr.err == nil, cr.err
	}
	if !c.limit.Allow() {
		return nil, false, nil
	}
	start := c.seq.Add(1)
	row, err = fetch(ctx, id)
	cr.ticket, cr.row, cr.err = start, row, err
	return row, err == nil, err
}

// confirm confirms a miss of user (uuid.Nil: of the room) in room id against the
// database, applies what it read to the index, and reports whether the room exists
// and the user (if any) is a member or its owner. It is a miss, unread, on a single
// node (the index holds every write), when the miss was confirmed a moment ago, or
// beyond the rate limit. The caller does not hold the room's wmu.
func (s *Service) confirm(ctx context.Context, id, user uuid.UUID) bool {
	if s.cl.bus == nil {
		return false
	}
	k := missKey{room: id, user: user}
	if s.conf.missed(k, s.now()) {
		return false
	}
	start := s.seq.Add(1) // the read begins after it
	row, ok, err := s.conf.read(ctx, id, s.fetch)
	if err != nil {
		s.log.Warn().Err(err).Stringer("room_id", id).Msg("confirm a room unknown to this node")
	}
	if !ok {
		return false
	}
	if row == nil {
		s.conf.remember(missKey{room: id}, s.now())
		if err := s.apply(ctx, id, nil, start); err != nil {
			s.log.Warn().Err(err).Stringer("room_id", id).Msg("forget a deleted room")
		}
		return false
	}
	if err := s.apply(ctx, id, row, start); err != nil {
		s.log.Warn().Err(err).Stringer("room_id", id).Msg("apply a room read to confirm a miss")
	}
	if user == uuid.Nil || row.OwnerID == user {
		return true
	}
	for _, m := range row.Edges.Memberships {
		if m.UserID == user {
			return true
		}
	}
	s.conf.remember(k, s.now())
	return false
}

// confirmAsync is confirm for callers that may hold a room's wmu (the documents'
// access, asked from hooks): it reads the database but leaves the index to the
// reloader, and returns the role and features read.
func (s *Service) confirmAsync(ctx context.Context, id, user uuid.UUID) (authz.RoomRole, Features) {
	if s.cl.bus == nil {
		return authz.RoleNone, Features{}
	}
	k := missKey{room: id, user: user}
	if s.conf.missed(k, s.now()) {
		return authz.RoleNone, Features{}
	}
	row, ok, err := s.conf.read(ctx, id, s.fetch)
	if err != nil {
		s.log.Warn().Err(err).Stringer("room_id", id).Msg("confirm a room membership unknown to this node")
	}
	if !ok {
		return authz.RoleNone, Features{}
	}
	if row == nil {
		s.conf.remember(missKey{room: id}, s.now())
		return authz.RoleNone, Features{}
	}
	s.queueReload(id)
	if row.OwnerID == user {
		return authz.RoleOwner, row.Features
	}
	for _, m := range row.Edges.Memberships {
		if m.UserID == user {
			return authz.RoomRole(m.Role), row.Features
		}
	}
	s.conf.remember(k, s.now())
	return authz.RoleNone, Features{}
}

// waiting returns how many callers are confirming room id (tests).
func (c *confirmer) waiting(id uuid.UUID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cr := c.rooms[id]; cr != nil {
		return cr.refs
	}
	return 0
}
