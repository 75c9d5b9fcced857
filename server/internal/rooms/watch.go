package rooms

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// EventKind says what changed in a room.
type EventKind int

// The event kinds, as RoomEventKind.
const (
	EventSnapshot EventKind = iota + 1
	EventUpdated
	EventMembers
	EventSensors
	EventPresence
	EventClosed
)

// Event is one message of a WatchRoom stream. Room is the room as the watcher sees it
// (all kinds but EventClosed); Members, Sensors and the removed ids as the kind says.
type Event struct {
	Kind           EventKind
	Room           Room
	Members        []Member
	RemovedUsers   []uuid.UUID
	Sensors        []sensors.Sensor
	RemovedSensors []string
	// Tab is the stream's tab id (EventSnapshot).
	Tab string
}

// WatchQueue is how many batches of events one watcher may have waiting; a watcher
// that falls further behind gets a fresh snapshot instead of the backlog.
const WatchQueue = 16

// changes are a room's pending changes, gathered until the next flush. Each set is
// bounded by the room's members or sensors.
type changes struct {
	updated  bool
	deleted  bool
	members  map[uuid.UUID]bool // true: joined or changed; false: gone
	sensors  map[string]bool    // true: added; false: removed
	presents map[uuid.UUID]struct{}
}

func (c *changes) member(u uuid.UUID, in bool) {
	if c.members == nil {
		c.members = make(map[uuid.UUID]bool)
	}
	c.members[u] = in
}

func (c *changes) sensor(id string, in bool) {
	if c.sensors == nil {
		c.sensors = make(map[string]bool)
	}
	c.sensors[id] = in
}

func (c *changes) presence(u uuid.UUID) {
	if c.presents == nil {
		c.presents = make(map[uuid.UUID]struct{})
	}
	c.presents[u] = struct{}{}
}

func (c *changes) empty() bool {
	return !c.updated && !c.deleted && len(c.members) == 0 && len(c.sensors) == 0 && len(c.presents) == 0
}

// changed records a change this node wrote to r for its watchers (if any), and tells
// the other nodes.
func (s *Service) changed(r *roomState, f func(*changes)) {
	r.wrote.Store(s.seq.Add(1))
	s.announce(r.id)
	s.record(r, f)
}

// record records a change of r for its watchers (if any).
func (s *Service) record(r *roomState, f func(*changes)) {
	r.pmu.Lock()
	if len(r.watchers) == 0 { // nobody to tell: a new watcher starts with a snapshot
		r.pmu.Unlock()
		return
	}
	f(&r.pending)
	r.pmu.Unlock()
	s.markDirty(r)
}

func (s *Service) markDirty(r *roomState) {
	s.fanMu.Lock()
	s.dirty[r] = struct{}{}
	s.fanMu.Unlock()
}

// Watch is one open WatchRoom: it keeps its tab present and receives the room's changes.
type Watch struct {
	s    *Service
	r    *roomState
	v    authz.Viewer
	tab  string
	ch   chan []Event
	once sync.Once

	mu     sync.Mutex
	first  bool // the snapshot is still to be sent
	resync bool // the queue overflowed: send a snapshot instead of it
	end    error
	done   chan struct{}
}

// Watch opens a WatchRoom for a member in tab tabID ("" makes one) showing view. Close
// it when the stream ends.
func (s *Service) Watch(ctx context.Context, v authz.Viewer, id uuid.UUID, tabID, view string) (*Watch, error) {
	r, err := s.room(ctx, v, id, authz.RoomParticipate)
	if err != nil {
		return nil, err
	}
	if tabID == "" {
		tabID = NewTabID()
	}
	s.renameMember(r, v)
	w := &Watch{s: s, r: r, v: v, tab: tabID, ch: make(chan []Event, WatchQueue), first: true, done: make(chan struct{})}
	r.pmu.Lock()
	r.watchers[w] = struct{}{}
	r.pmu.Unlock()
	s.fanMu.Lock()
	s.active[r] = struct{}{}
	s.fanMu.Unlock()
	deadline := s.now().Add(s.lapse)
	s.touchTab(r, v.UserID, func(tabs map[string]*tab) bool {
		t := tabs[tabID]
		if t == nil {
			t = &tab{}
			tabs[tabID] = t
		}
		t.streams++
		t.view, t.deadline, t.lapsed = view, deadline, false
		return true
	})
	// A removal racing with the open: the watcher was added before this check, so
	// either the check sees it or the removal's flush ends the watch.
	if _, err := s.roomCached(v, id, authz.RoomParticipate); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// Tab returns the watch's tab id.
func (w *Watch) Tab() string { return w.tab }

// Next returns the next events: the full state first, then batches of changes. It
// returns the closing event and the error that ends the stream (NotFound: the room was
// deleted; PermissionDenied: the viewer is no longer a member), or ctx's error.
func (w *Watch) Next(ctx context.Context) ([]Event, error) {
	for {
		w.mu.Lock()
		end, snap := w.end, w.first || w.resync
		w.first, w.resync = false, false
		w.mu.Unlock()
		if end != nil {
			return []Event{{Kind: EventClosed}}, end
		}
		if snap {
			w.drain()
			ev, err := w.s.snapshot(ctx, w.r, w.v)
			if err != nil {
				return nil, err
			}
			ev.Tab = w.tab
			return []Event{ev}, nil
		}
		select {
		case evs := <-w.ch:
			if evs != nil { // nil: a wake-up for a snapshot
				return evs, nil
			}
		case <-w.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (w *Watch) drain() {
	for {
		select {
		case <-w.ch:
		default:
			return
		}
	}
}

// deliver queues a batch; a full queue turns into a snapshot at the next Next.
func (w *Watch) deliver(evs []Event) {
	select {
	case w.ch <- evs:
	default:
		w.resnapshot()
	}
}

// resnapshot drops the queued batches: Next sends the full state instead.
func (w *Watch) resnapshot() {
	w.mu.Lock()
	w.resync = true
	w.mu.Unlock()
	w.drain()
	select {
	case w.ch <- nil: // wakes Next
	default:
	}
}

// finish ends the watch with err (once).
func (w *Watch) finish(err error) {
	w.mu.Lock()
	if w.end == nil {
		w.end = err
		close(w.done)
	}
	w.mu.Unlock()
}

// Close ends the watch: its tab is no longer present through it.
func (w *Watch) Close() {
	w.once.Do(func() {
		w.finish(context.Canceled)
		r, s := w.r, w.s
		r.pmu.Lock()
		delete(r.watchers, w)
		last := len(r.watchers) == 0
		r.pmu.Unlock()
		s.touchTab(r, w.v.UserID, func(tabs map[string]*tab) bool {
			if t := tabs[w.tab]; t != nil {
				if t.streams--; t.streams <= 0 {
					delete(tabs, w.tab)
				}
			}
			return true
		})
		if last {
			s.fanMu.Lock()
			r.pmu.Lock()
			if len(r.watchers) == 0 {
				delete(s.active, r)
			}
			r.pmu.Unlock()
			s.fanMu.Unlock()
		}
	})
}

// snapshot returns the full state of r for v.
func (s *Service) snapshot(ctx context.Context, r *roomState, v authz.Viewer) (Event, error) {
	s.idx.mu.RLock()
	if r.deleted {
		s.idx.mu.RUnlock()
		return Event{}, apperr.NotFound("room not found")
	}
	users := make([]uuid.UUID, 0, len(r.members))
	for u := range r.members {
		users = append(users, u)
	}
	ev := Event{Kind: EventSnapshot, Room: s.viewLocked(r, v), Members: s.membersLocked(r, users)}
	s.idx.mu.RUnlock()
	sns, err := s.describe(ctx, r, ev.Room.SensorIDs)
	if err != nil {
		return Event{}, err
	}
	ev.Sensors = sns
	return ev, nil
}

// describe returns the room's sensors among ids that its members may see through it
// (placed by their owners, or public), sorted by id.
func (s *Service) describe(ctx context.Context, r *roomState, ids []string) ([]sensors.Sensor, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	sns, err := s.sensors.Describe(ctx, ids)
	if err != nil {
		return nil, err
	}
	s.idx.mu.RLock()
	out := sns[:0]
	for _, sn := range sns {
		if p, ok := r.sensors[sn.ID]; ok && (p.byOwner || sn.Visibility == authz.VisibilityPublic) {
			out = append(out, sn)
		}
	}
	s.idx.mu.RUnlock()
	slices.SortFunc(out, func(a, b sensors.Sensor) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// Run sends the rooms' gathered changes to their watchers every window and expires
// lapsed presence every second, until ctx ends. With a bus it also follows the other
// nodes' room changes and presence (cluster.go).
func (s *Service) Run(ctx context.Context) error {
	clusterDone := make(chan error, 1)
	go func() { clusterDone <- s.runCluster(ctx) }()
	defer func() {
		if err := <-clusterDone; err != nil {
			s.log.Error().Err(err).Msg("rooms no longer follow other nodes")
		}
	}()
	tick := time.NewTicker(s.window)
	defer tick.Stop()
	lastSweep := s.now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		s.flush(ctx)
		if now := s.now(); now.Sub(lastSweep) >= time.Second || now.Before(lastSweep) {
			lastSweep = now
			s.sweep()
		}
	}
}

// flush sends every dirty room's changes to its watchers.
func (s *Service) flush(ctx context.Context) {
	s.fanMu.Lock()
	if len(s.dirty) == 0 {
		s.fanMu.Unlock()
		return
	}
	rooms := make([]*roomState, 0, len(s.dirty))
	for r := range s.dirty {
		rooms = append(rooms, r)
	}
	clear(s.dirty)
	s.fanMu.Unlock()
	for _, r := range rooms {
		s.flushRoom(ctx, r)
	}
}

// flushRoom builds the events of r's pending changes once, and hands each watcher its
// view of them.
func (s *Service) flushRoom(ctx context.Context, r *roomState) {
	r.pmu.Lock()
	c := r.pending
	r.pending = changes{}
	watchers := make([]*Watch, 0, len(r.watchers))
	for w := range r.watchers {
		watchers = append(watchers, w)
	}
	r.pmu.Unlock()
	if c.empty() || len(watchers) == 0 {
		return
	}
	if c.deleted {
		for _, w := range watchers {
			w.finish(apperr.NotFound("room deleted"))
		}
		return
	}
	var joined, gone, present []uuid.UUID
	for u, in := range c.members {
		if in {
			joined = append(joined, u)
		} else {
			gone = append(gone, u)
		}
	}
	for u := range c.presents {
		if _, listed := c.members[u]; !listed {
			present = append(present, u)
		}
	}
	var added, removed []string
	for id, in := range c.sensors {
		if in {
			added = append(added, id)
		} else {
			removed = append(removed, id)
		}
	}
	slices.Sort(removed)
	slices.SortFunc(gone, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	var addedSensors []sensors.Sensor
	if len(added) > 0 {
		var err error
		if addedSensors, err = s.describe(ctx, r, added); err != nil {
			s.log.Warn().Err(err).Str("room_id", r.id.String()).Msg("describe added room sensors; watchers get a snapshot")
			for _, w := range watchers {
				w.resnapshot()
			}
			return
		}
	}
	s.idx.mu.RLock()
	joinedM := s.membersLocked(r, joined)
	presentM := s.membersLocked(r, present)
	removedSet := make(map[uuid.UUID]bool, len(gone))
	for _, u := range gone {
		if roleOf(r, u) == authz.RoleNone {
			removedSet[u] = true
		}
	}
	for _, w := range watchers {
		if removedSet[w.v.UserID] {
			w.finish(apperr.PermissionDenied("you are no longer a member of this room"))
			continue
		}
		room := s.viewLocked(r, w.v)
		var evs []Event
		if c.updated {
			evs = append(evs, Event{Kind: EventUpdated, Room: room})
		}
		if len(joinedM) > 0 || len(gone) > 0 {
			evs = append(evs, Event{Kind: EventMembers, Room: room, Members: joinedM, RemovedUsers: gone})
		}
		if len(addedSensors) > 0 || len(removed) > 0 {
			evs = append(evs, Event{Kind: EventSensors, Room: room, Sensors: addedSensors, RemovedSensors: removed})
		}
		if len(presentM) > 0 {
			evs = append(evs, Event{Kind: EventPresence, Room: room, Members: presentM})
		}
		if len(evs) > 0 {
			w.deliver(evs)
		}
	}
	s.idx.mu.RUnlock()
}

// IsClosed reports whether err ended a watch because the room or the membership ended.
func IsClosed(err error) bool {
	return errors.Is(err, apperr.KindNotFound) || errors.Is(err, apperr.KindPermissionDenied)
}
