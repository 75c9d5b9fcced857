package rooms

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// heldBus is a node's bus whose room events are held back until release: the other
// nodes' writes reach it only through its confirmations.
type heldBus struct {
	bus.Bus
	gate chan struct{}
}

type heldSub struct {
	bus.Subscription
	ch   chan bus.Message
	done chan struct{}
	once sync.Once
}

func (h *heldBus) Subscribe(kind bus.Kind, key string, queue int) (bus.Subscription, error) {
	sub, err := h.Bus.Subscribe(kind, key, queue)
	if err != nil || kind != bus.KindRoomEvents {
		return sub, err
	}
	hs := &heldSub{Subscription: sub, ch: make(chan bus.Message), done: make(chan struct{})}
	go func() { // owned by hs: ends with Close or the subscription
		defer close(hs.ch)
		select {
		case <-h.gate:
		case <-hs.done:
			return
		}
		for m := range sub.C() {
			select {
			case hs.ch <- m:
			case <-hs.done:
				return
			}
		}
	}()
	return hs, nil
}

func (s *heldSub) C() <-chan bus.Message { return s.ch }

func (s *heldSub) Close() {
	s.once.Do(func() { close(s.done) })
	s.Subscription.Close()
}

// TestJoinOnOtherNodeHonouredAtOnce: node b gets no room events from node a (held
// back), yet a room created on a and a join made on a hold on b as soon as the calls
// on a return: b's misses are confirmed against the database. A stranger and an
// unknown room are still refused, and the index catches up when the events come.
func TestJoinOnOtherNodeHonouredAtOnce(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	network := bus.NewNetwork()
	gate := make(chan struct{})
	node := func(id string, held bool) *Service {
		var nb bus.Bus
		lb, err := network.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = lb.Close() })
		nb = lb
		if held {
			nb = &heldBus{Bus: lb, gate: gate}
		}
		svc, err := New(ctx, Options{Ent: db.Client, Sensors: noSensors{}, Logger: dbtest.Logger(t), Window: 10 * time.Millisecond, Bus: nb})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _ = svc.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return svc
	}
	a, b := node("a", false), node("b", true)
	var reads atomic.Int64
	fetch := b.fetch
	b.fetch = func(ctx context.Context, id uuid.UUID) (*ent.Room, error) {
		reads.Add(1)
		return fetch(ctx, id)
	}
	mk := func(name string) authz.Viewer {
		u := db.Client.User.Create().SetDisplayName(name).SaveX(ctx)
		return authz.Viewer{UserID: u.ID, DisplayName: name, Scope: authz.ScopeFull}
	}
	vo, vg, vs := mk("Owner"), mk("Guest"), mk("Stranger")

	room, err := a.Create(ctx, vo, CreateInput{Name: "Held"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := b.Get(ctx, vo, room.ID); err != nil || r.MyRole != authz.RoleOwner {
		t.Fatalf("the owner's room made on a, read on b at once: %+v, %v", r, err)
	}
	if _, err := a.Join(ctx, vg, room.JoinCode, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	// The documents' access (the path of WatchRoom's STATE half) and WatchRoom itself.
	if role, _ := b.Membership(ctx, room.ID, vg.UserID); role != authz.RoleMember {
		t.Fatalf("the member's role on b right after the join on a: %q", role)
	}
	w, err := b.Watch(ctx, vg, room.ID, "tab-guest", "sensors")
	if err != nil {
		t.Fatalf("the member's WatchRoom on b right after the join on a: %v", err)
	}
	w.Close()
	if !b.inIndex(room.ID, vg.UserID) {
		t.Fatal("the confirmed join is not in b's index")
	}

	// A join on b with a code made on a (the code unknown to b's index).
	room2, err := a.Create(ctx, vo, CreateInput{Name: "Held 2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, vg, room2.JoinCode, uuid.Nil); err != nil {
		t.Fatalf("join on b with a code made on a a moment ago: %v", err)
	}
	if !a.inIndex(room2.ID, vg.UserID) && !b.inIndex(room2.ID, vg.UserID) {
		t.Fatal("the join on b is lost")
	}

	// Misses stay misses, and are remembered: a second ask reads nothing.
	if _, err := b.Watch(ctx, vs, room.ID, "tab-s", "sensors"); !IsClosed(err) {
		t.Fatalf("a stranger's WatchRoom: %v", err)
	}
	before := reads.Load()
	if _, err := b.Watch(ctx, vs, room.ID, "tab-s", "sensors"); !IsClosed(err) {
		t.Fatalf("a stranger's WatchRoom again: %v", err)
	}
	if role, _ := b.Membership(ctx, room.ID, vs.UserID); role != authz.RoleNone {
		t.Fatalf("a stranger's role: %q", role)
	}
	if n := reads.Load() - before; n != 0 {
		t.Fatalf("a remembered miss read the database %d times", n)
	}
	bogus := uuid.New()
	for range 3 {
		if _, err := b.Get(ctx, vo, bogus); !errors.Is(err, apperr.KindNotFound) {
			t.Fatalf("an unknown room: %v", err)
		}
	}
	if n := reads.Load() - before; n != 1 {
		t.Fatalf("three asks of one unknown room read the database %d times, want 1", n)
	}
	// A flood of unknown ids is bounded by the rate limit (here: its burst alone, no
	// refill, so that the count does not depend on the clock).
	b.conf.limit = rate.NewLimiter(0, confirmBurst)
	before = reads.Load()
	for range 3 * confirmBurst {
		if _, err := b.Get(ctx, vo, uuid.New()); !errors.Is(err, apperr.KindNotFound) {
			t.Fatalf("an unknown room in a flood: %v", err)
		}
	}
	if n := reads.Load() - before; n != confirmBurst {
		t.Fatalf("a flood of %d unknown ids read the database %d times, want %d (the burst)", 3*confirmBurst, n, confirmBurst)
	}

	close(gate) // the events come: nothing changes, b stays consistent
	if !b.inIndex(room.ID, vg.UserID) {
		t.Fatal("the member is gone from b after the events")
	}
}

// TestConfirmCoalesces: callers that miss one room while its read runs share the next
// read; none is served by a read that began before it asked.
func TestConfirmCoalesces(t *testing.T) {
	t.Parallel()
	c := newConfirmer()
	id := uuid.New()
	var reads atomic.Int64
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	fetch := func(context.Context, uuid.UUID) (*ent.Room, error) {
		if reads.Add(1) == 1 {
			started <- struct{}{}
			<-release
		}
		return &ent.Room{ID: id}, nil
	}
	first := make(chan struct{})
	go func() { defer close(first); _, _, _ = c.read(t.Context(), id, fetch) }()
	<-started
	var wg sync.WaitGroup
	const waiters = 20
	for range waiters {
		wg.Go(func() {
			if row, ok, err := c.read(t.Context(), id, fetch); !ok || err != nil || row == nil {
				t.Errorf("a waiter's read: %v %v %v", row, ok, err)
			}
		})
	}
	// The waiters queue behind the first read (they took their tickets before it ends).
	testkit.WaitFor(t, "the waiters to queue", func() bool { return c.waiting(id) == waiters+1 })
	close(release)
	wg.Wait()
	<-first
	if n := reads.Load(); n != 2 {
		t.Fatalf("%d reads for one read and %d waiters, want 2", n, waiters)
	}
	if c.waiting(id) != 0 {
		t.Fatal("the room's entry outlived its callers")
	}
}
