package roomdoc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/ratelimit"
)

// Options configure a Manager.
type Options struct {
	// Ent is the relational store.
	Ent *ent.Client
	// Members answers who may use a room's document; nil: the memberships in Ent.
	Members Members
	// Limits; zero fields take DefaultLimits.
	Limits Limits
	// Now is the clock (tests); nil: time.Now.
	Now    func() time.Time
	Logger zerolog.Logger
}

// Manager owns the active rooms' documents. Its methods are safe for concurrent use;
// Run must be running for timeouts, compaction and unloading.
type Manager struct {
	store   *store
	members Members
	lim     Limits
	now     func() time.Time
	log     zerolog.Logger
	// refusals counts refused sync messages per room and user: once its bucket is
	// empty, the user's messages are refused unread (ResourceExhausted) until it refills.
	refusals *ratelimit.Limiter

	mu    sync.Mutex
	rooms map[uuid.UUID]*room
}

// New returns a Manager.
func New(o Options) *Manager {
	m := &Manager{
		store:   &store{client: o.Ent},
		members: o.Members,
		lim:     o.Limits.withDefaults(),
		now:     o.Now,
		log:     o.Logger,
		rooms:   map[uuid.UUID]*room{},
	}
	if m.members == nil {
		m.members = EntMembers{Client: o.Ent}
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.refusals = ratelimit.New(m.lim.RefusalBurst, m.lim.RefusalInterval, 0, m.now)
	return m
}

// Limits returns the limits in force.
func (m *Manager) Limits() Limits { return m.lim }

// room is one room's document and its peers. Everything but id is guarded by mu, which
// is held while the Automerge document is read or written.
type room struct {
	id uuid.UUID
	mu sync.Mutex

	loaded bool
	// gone: dropped from the manager (unloaded, deleted); callers holding it retry.
	gone bool

	doc          *automerge.Doc
	st           *state
	version      int64
	compactedSeq int64
	seq          int64
	bytes        int
	sinceCompact int
	lastChange   time.Time
	lastUsed     time.Time

	peers map[string]*peer
	// requested is when the pending control request of media (0) and viewer (1) was
	// first seen by the server, for the timeout (the clients' clocks are not trusted).
	requested [2]time.Time
}

// peer is one client tab syncing a room.
type peer struct {
	id       string
	user     uuid.UUID
	ss       *automerge.SyncState
	sub      *Subscription
	lastSeen time.Time
}

// access returns the caller's access; NotFound for non-members.
func (m *Manager) access(ctx context.Context, roomID, user uuid.UUID) (Access, error) {
	acc, err := m.members.Access(ctx, roomID, user)
	if err != nil {
		return Access{}, fmt.Errorf("room access: %w", err)
	}
	if acc.Role == RoleNone {
		return Access{}, apperr.NotFound("room not found")
	}
	return acc, nil
}

// lockRoom returns the room, loaded and locked; the caller unlocks r.mu.
func (m *Manager) lockRoom(ctx context.Context, id uuid.UUID) (*room, error) {
	for {
		m.mu.Lock()
		r := m.rooms[id]
		if r == nil {
			r = &room{id: id, peers: map[string]*peer{}}
			m.rooms[id] = r
		}
		m.mu.Unlock()
		r.mu.Lock()
		if r.gone {
			r.mu.Unlock()
			continue
		}
		if !r.loaded {
			if err := m.load(ctx, r); err != nil {
				r.mu.Unlock()
				return nil, err
			}
		}
		r.lastUsed = m.now()
		return r, nil
	}
}

// load reads the room's document from the store, creating it on first use.
func (m *Manager) load(ctx context.Context, r *room) error {
	for attempt := 0; ; attempt++ {
		st, err := m.store.load(ctx, r.id)
		if errors.Is(err, errNoDocument) {
			doc, err := newSkeleton()
			if err != nil {
				return err
			}
			snap := doc.Save()
			err = m.store.create(ctx, r.id, snap)
			if errors.Is(err, errConcurrentCompaction) && attempt == 0 {
				continue // another node created it: load theirs
			}
			if err != nil {
				return err
			}
			st = &stored{snapshot: snap, version: 1, bytes: len(snap)}
		} else if err != nil {
			return err
		}
		doc, err := automerge.Load(st.snapshot)
		if err != nil {
			return fmt.Errorf("load room document %s: %w", r.id, err)
		}
		for _, inc := range st.increments {
			if err := doc.LoadIncremental(inc); err != nil {
				return fmt.Errorf("load room document %s increment: %w", r.id, err)
			}
		}
		_ = doc.SaveIncremental() // the baseline: later increments hold only new changes
		s, err := inspect(doc, m.lim)
		if err != nil {
			return fmt.Errorf("stored room document %s does not match the schema: %w", r.id, err)
		}
		r.doc, r.st, r.loaded = doc, s, true
		r.version, r.compactedSeq, r.seq = st.version, st.compactedSeq, st.lastSeq
		r.bytes, r.sinceCompact = st.bytes, len(st.increments)
		r.lastChange = m.now()
		for _, p := range r.peers {
			p.ss.Doc = doc
		}
		return nil
	}
}

// restore reloads the room's document from the store: when another node compacted it
// meanwhile, or when a rollback failed. When that fails too the room is dropped (its
// peers reattach).
func (m *Manager) restore(ctx context.Context, r *room) {
	r.loaded = false
	if err := m.load(context.WithoutCancel(ctx), r); err != nil {
		m.log.Error().Err(err).Str("room", r.id.String()).Msg("room document could not be reloaded; dropping it from memory")
		m.drop(r)
	}
}

// drop removes the room from memory and ends its subscriptions; r.mu is held.
func (m *Manager) drop(r *room) {
	r.gone = true
	for _, p := range r.peers {
		if p.sub != nil {
			p.sub.end()
		}
	}
	r.peers = map[string]*peer{}
	m.mu.Lock()
	if m.rooms[r.id] == r {
		delete(m.rooms, r.id)
	}
	m.mu.Unlock()
}

// peer returns (creating) the peer; r.mu is held.
func (m *Manager) peer(r *room, id string, user uuid.UUID) (*peer, error) {
	p := r.peers[id]
	if p == nil {
		if len(r.peers) >= m.lim.MaxPeersPerRoom {
			return nil, apperr.ResourceExhausted(10*time.Second, "room has %d peers syncing, the most allowed", len(r.peers))
		}
		p = &peer{id: id, user: user, ss: automerge.NewSyncState(r.doc)}
		r.peers[id] = p
	} else if p.user != user {
		return nil, apperr.PermissionDenied("peer_id: in use by another user")
	}
	p.lastSeen = m.now()
	return p, nil
}

// Sync receives a peer's sync message (which may be empty) and returns the server's
// reply (nil when in sync). Changes in the message are checked whole and stored before
// Sync returns; a refused message leaves the document as it was.
//
// The server's messages for a peer take one channel, in the order they were generated,
// as the Automerge sync protocol needs: the peer's Subscription (its WatchRoom stream)
// while one is attached — then Sync returns nil and the reply follows on the stream —
// else Sync's return value. Two channels would let a client read a reply before an
// older push still queued on its stream; the server, having marked the changes in that
// push as sent, would not send them again, and the two would exchange messages without
// converging until the client read the push.
func (m *Manager) Sync(ctx context.Context, user, roomID uuid.UUID, peerID string, msg []byte) ([]byte, error) {
	acc, err := m.access(ctx, roomID, user)
	if err != nil {
		return nil, err
	}
	r, err := m.lockRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	p, err := m.peer(r, peerID, user)
	if err != nil {
		return nil, err
	}
	if len(msg) > 0 {
		if err := m.receive(ctx, r, p, acc, msg); err != nil {
			return nil, err
		}
	}
	if p.sub != nil {
		p.sub.poke()
		return nil, nil
	}
	out, ok := p.ss.GenerateMessage()
	if !ok {
		return nil, nil
	}
	return out.Bytes(), nil
}

// receive applies a peer's sync message and keeps it only when it passes every check;
// r.mu is held. The message is applied first (automerge-go decodes it only while applying
// it) and the caps, the schema and the peer's rights are checked on the result: anything
// wrong rolls the document back in memory to the heads it had (rollback), the peer's
// sync state starts afresh, and the refusal is counted against the user: a user whose
// refusals exhausted Limits.RefusalBurst gets ResourceExhausted for every message, unread,
// until a refusal's worth of Limits.RefusalInterval passed.
func (m *Manager) receive(ctx context.Context, r *room, p *peer, acc Access, msg []byte) error {
	key := r.id.String() + "/" + p.user.String()
	if ok, after := m.refusals.Peek(key); !ok {
		return apperr.ResourceExhausted(after.Round(time.Second)+time.Second, "too many refused sync messages from this user in this room; try again later")
	}
	refuse := func(e error, heads []automerge.ChangeHash) error {
		m.refusals.Allow(key)
		if heads != nil {
			if err := m.rollback(r, heads); err != nil {
				m.log.Error().Err(err).Str("room", r.id.String()).Msg("room document could not be rolled back; reloading it")
				m.restore(ctx, r)
			}
		}
		if !r.gone {
			p.ss = automerge.NewSyncState(r.doc)
		}
		return e
	}
	heads := r.doc.Heads()
	sm, err := p.ss.ReceiveMessage(msg)
	if sm == nil { // not decodable: nothing was applied
		return refuse(apperr.InvalidArgument("sync_message", "not an Automerge sync message"), nil)
	}
	changes := sm.Changes()
	if err != nil {
		return refuse(apperr.InvalidArgument("sync_message", "the sync message could not be applied"), heads)
	}
	if len(changes) == 0 {
		return nil
	}
	for i, c := range changes {
		if n := len(c.Save()); n > m.lim.MaxChangeBytes {
			return refuse(apperr.InvalidArgument("sync_message", fmt.Sprintf("change %d is %d bytes, over the cap of %d bytes per change", i, n, m.lim.MaxChangeBytes)), heads)
		}
	}
	inc := r.doc.SaveIncremental()
	if len(inc) == 0 {
		return nil // nothing new
	}
	if r.bytes+len(inc) > m.lim.MaxDocumentBytes {
		return refuse(apperr.InvalidArgument("sync_message", fmt.Sprintf("the room's document would grow past its cap of %d bytes", m.lim.MaxDocumentBytes)), heads)
	}
	after, err := inspect(r.doc, m.lim)
	if err == nil {
		err = checkRights(r.st, after, p.user.String(), acc)
	}
	if err == nil {
		err = m.commit(ctx, r, inc, after, p)
	}
	if err != nil {
		return refuse(err, heads)
	}
	return nil
}

// rollback puts the document back at heads, in memory, after changes were applied that
// are not kept (refused, or not stored); r.mu is held. Automerge cannot remove a
// change, so the document is rebuilt from its own history up to heads (Doc.Fork as of
// heads: no store access, and the cost of a replay, which the refusal rate limit bounds).
// The rebuilt document keeps the server's actor and starts its incremental saves at
// heads, and every peer's sync state moves to it.
func (m *Manager) rollback(r *room, heads []automerge.ChangeHash) error {
	if sameHeads(r.doc.Heads(), heads) {
		return nil
	}
	doc, err := r.doc.Fork(heads...)
	if err != nil {
		return fmt.Errorf("roll back room document: %w", err)
	}
	if err := doc.SetActorID(r.doc.ActorID()); err != nil {
		return fmt.Errorf("roll back room document: %w", err)
	}
	_ = doc.SaveIncremental() // the baseline: later increments hold only new changes
	r.doc = doc
	for _, p := range r.peers {
		p.ss.Doc = doc
	}
	return nil
}

// sameHeads reports whether two head sets are equal (Heads returns them sorted).
func sameHeads(a, b []automerge.ChangeHash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// commit stores an increment whose state was checked and tells the other peers; r.mu
// is held. On error the caller restores the document.
func (m *Manager) commit(ctx context.Context, r *room, inc []byte, after *state, from *peer) error {
	seq := r.seq + 1
	if err := m.store.appendIncrement(ctx, r.id, seq, inc); err != nil {
		return err
	}
	r.seq = seq
	r.bytes += len(inc)
	r.sinceCompact++
	now := m.now()
	r.lastChange = now
	for i, c := range [2][2]control{{r.st.media, after.media}, {r.st.viewer, after.viewer}} {
		switch {
		case c[1].request == "":
			r.requested[i] = time.Time{}
		case c[1].request != c[0].request || r.requested[i].IsZero():
			r.requested[i] = now
		}
	}
	r.st = after
	for _, p := range r.peers {
		if p != from && p.sub != nil {
			p.sub.poke()
		}
	}
	return nil
}

// write makes a change as the server (controller hand-off) and stores it; r.mu is held.
func (m *Manager) write(ctx context.Context, r *room, why string, fn func(root *automerge.Map) error) error {
	heads := r.doc.Heads()
	undo := func(err error) error {
		if rerr := m.rollback(r, heads); rerr != nil {
			m.log.Error().Err(rerr).Str("room", r.id.String()).Msg("room document could not be rolled back; reloading it")
			m.restore(ctx, r)
		}
		return fmt.Errorf("%s: %w", why, err)
	}
	if err := fn(r.doc.RootMap()); err != nil {
		return undo(err)
	}
	if _, err := r.doc.Commit(why); err != nil {
		return undo(err)
	}
	inc := r.doc.SaveIncremental()
	after, err := inspect(r.doc, m.lim)
	if err == nil {
		err = m.commit(ctx, r, inc, after, nil)
	}
	if err != nil {
		return undo(err)
	}
	return nil
}

// setControl sets a controlled section's controller and request.
func setControl(section, controller, request string) func(root *automerge.Map) error {
	return func(root *automerge.Map) error {
		v, err := root.Get(section)
		if err != nil {
			return fmt.Errorf("read %s: %w", section, err)
		}
		sec := v.Map()
		if err := sec.Set("controller", controller); err != nil {
			return fmt.Errorf("set %s.controller: %w", section, err)
		}
		if err := sec.Set("request", request); err != nil {
			return fmt.Errorf("set %s.request: %w", section, err)
		}
		return nil
	}
}

// userLeft frees control held or requested by a user who has no peer left in the room;
// r.mu is held.
func (m *Manager) userLeft(ctx context.Context, r *room, user uuid.UUID) {
	if !r.loaded {
		return
	}
	for _, p := range r.peers {
		if p.user == user {
			return
		}
	}
	u := user.String()
	for _, s := range []struct {
		key string
		c   control
	}{{keyMedia, r.st.media}, {keyViewer, r.st.viewer}} {
		controller, request := s.c.controller, s.c.request
		switch {
		case controller == u:
			controller, request = request, "" // a pending request wins at once
		case request == u:
			request = ""
		default:
			continue
		}
		if err := m.write(ctx, r, "free control of "+s.key+": "+u+" left", setControl(s.key, controller, request)); err != nil {
			m.log.Error().Err(err).Str("room", r.id.String()).Msg("freeing control failed")
			return
		}
	}
}

// Revoke ends a user's peers in a room at once (removed from the room, left it) and
// frees the control they held.
func (m *Manager) Revoke(ctx context.Context, roomID, user uuid.UUID) {
	m.mu.Lock()
	r := m.rooms[roomID]
	m.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return
	}
	for id, p := range r.peers {
		if p.user == user {
			if p.sub != nil {
				p.sub.end()
			}
			delete(r.peers, id)
		}
	}
	m.userLeft(ctx, r, user)
}

// Forget drops a deleted room's document from memory (the store deletes its rows with
// the room) and ends its subscriptions.
func (m *Manager) Forget(roomID uuid.UUID) {
	m.mu.Lock()
	r := m.rooms[roomID]
	m.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.gone {
		m.drop(r)
	}
}

// Run checks control request timeouts, idle peers, compaction and idle rooms every
// Limits.Tick until ctx ends, then compacts every document with increments.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.lim.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			m.CompactAll(sctx)
			return nil
		case <-t.C:
			m.tick(ctx)
		}
	}
}

func (m *Manager) snapshotRooms() []*room {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := make([]*room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rs = append(rs, r)
	}
	return rs
}

// tick does one round of Run's work.
func (m *Manager) tick(ctx context.Context) {
	now := m.now()
	for _, r := range m.snapshotRooms() {
		r.mu.Lock()
		m.tickRoom(ctx, r, now)
		r.mu.Unlock()
	}
}

func (m *Manager) tickRoom(ctx context.Context, r *room, now time.Time) {
	if r.gone {
		return
	}
	if !r.loaded {
		if len(r.peers) == 0 {
			m.drop(r)
		}
		return
	}
	for id, p := range r.peers {
		if p.sub == nil && now.Sub(p.lastSeen) >= m.lim.PeerIdle {
			delete(r.peers, id)
			m.userLeft(ctx, r, p.user)
		}
	}
	for i, s := range []struct {
		key string
		c   *control
	}{{keyMedia, &r.st.media}, {keyViewer, &r.st.viewer}} {
		req := s.c.request
		if req == "" || r.requested[i].IsZero() || now.Sub(r.requested[i]) < m.lim.ControlRequestTimeout {
			continue
		}
		if err := m.write(ctx, r, "control of "+s.key+" to "+req+" after the request timed out", setControl(s.key, req, "")); err != nil {
			m.log.Error().Err(err).Str("room", r.id.String()).Msg("control hand-off failed")
			return
		}
	}
	if r.sinceCompact >= m.lim.CompactAfter || r.sinceCompact > 0 && now.Sub(r.lastChange) >= m.lim.CompactIdle {
		if err := m.compact(ctx, r); err != nil {
			m.log.Warn().Err(err).Str("room", r.id.String()).Msg("room document compaction failed; retrying later")
		}
	}
	if len(r.peers) == 0 && r.sinceCompact == 0 && now.Sub(r.lastUsed) >= m.lim.UnloadIdle {
		m.drop(r)
	}
}

// compact stores the whole document in place of its increments; r.mu is held.
func (m *Manager) compact(ctx context.Context, r *room) error {
	snap := r.doc.Save()
	if err := m.store.compact(ctx, r.id, snap, r.seq, r.version); err != nil {
		if errors.Is(err, errConcurrentCompaction) {
			m.restore(ctx, r)
		}
		return err
	}
	r.version++
	r.compactedSeq = r.seq
	r.bytes = len(snap)
	r.sinceCompact = 0
	return nil
}

// CompactAll compacts every loaded document with increments (on shutdown).
func (m *Manager) CompactAll(ctx context.Context) {
	for _, r := range m.snapshotRooms() {
		r.mu.Lock()
		if r.loaded && !r.gone && r.sinceCompact > 0 {
			if err := m.compact(ctx, r); err != nil {
				m.log.Warn().Err(err).Str("room", r.id.String()).Msg("room document compaction on shutdown failed; its increments stay stored")
			}
		}
		r.mu.Unlock()
	}
}

// Stats describe the documents in memory (metrics, figures).
type Stats struct {
	Rooms, Peers int
	// Bytes is the stored size of the documents in memory (compacted + increments).
	Bytes int
}

// Stats returns the current Stats.
func (m *Manager) Stats() Stats {
	var s Stats
	for _, r := range m.snapshotRooms() {
		r.mu.Lock()
		if r.loaded && !r.gone {
			s.Rooms++
			s.Peers += len(r.peers)
			s.Bytes += r.bytes
		}
		r.mu.Unlock()
	}
	return s
}
