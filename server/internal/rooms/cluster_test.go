package rooms

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// watchEvents reads a Watch into a channel until it ends.
func watchEvents(t *testing.T, w *Watch) <-chan []Event {
	ch := make(chan []Event, 256)
	go func() {
		defer close(ch)
		for {
			evs, err := w.Next(t.Context())
			if evs != nil {
				ch <- evs
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// awaitEvent reads ch until an event satisfies ok.
func awaitEvent(t *testing.T, ch <-chan []Event, what string, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(testkit.Deadline)
	for {
		select {
		case evs, open := <-ch:
			if !open {
				t.Fatalf("the watch ended waiting for %s", what)
			}
			for _, ev := range evs {
				if ok(ev) {
					return ev
				}
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func presentIn(ev Event, u uuid.UUID, view string) bool {
	for _, m := range ev.Members {
		if m.UserID == u && m.Present && (view == "" || slices.Contains(m.Views, view)) {
			return true
		}
	}
	return false
}

// TestRoomsAcrossNodes: two nodes of the rooms domain over one database and one bus
// network. A room created on one is known to the other; a member who joins on the
// other is a member on the first; each node's watchers see the presence of members
// watching on the other node, room changes written on either node, and a removal on
// one node ends the removed member's watch on the other.
func TestRoomsAcrossNodes(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	network := bus.NewNetwork()
	node := func(id string) *Service {
		b, err := network.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		svc, err := New(ctx, Options{Ent: db.Client, Sensors: noSensors{}, Logger: dbtest.Logger(t), Window: 10 * time.Millisecond, Bus: b})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _ = svc.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return svc
	}
	a, b := node("a"), node("b")
	owner := db.Client.User.Create().SetDisplayName("Owner").SaveX(ctx)
	guest := db.Client.User.Create().SetDisplayName("Guest").SaveX(ctx)
	vo := authz.Viewer{UserID: owner.ID, DisplayName: "Owner", Scope: authz.ScopeFull}
	vg := authz.Viewer{UserID: guest.ID, DisplayName: "Guest", Scope: authz.ScopeFull}

	room, err := a.Create(ctx, vo, CreateInput{Name: "Across"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "node b to know the room", func() bool {
		r, err := b.Get(ctx, vo, room.ID)
		return err == nil && r.Name == "Across" && r.MyRole == authz.RoleOwner
	})
	if _, err := b.Join(ctx, vg, room.JoinCode, uuid.Nil); err != nil {
		t.Fatalf("join on b with the code made on a: %v", err)
	}
	testkit.WaitFor(t, "node a to see the new member", func() bool { return a.inIndex(room.ID, guest.ID) })

	// The owner watches on a, the guest on b: each sees the other present.
	wo, err := a.Watch(ctx, vo, room.ID, "tab-owner", "sensors")
	if err != nil {
		t.Fatal(err)
	}
	defer wo.Close()
	owEvents := watchEvents(t, wo)
	wg, err := b.Watch(ctx, vg, room.ID, "tab-guest", "notes")
	if err != nil {
		t.Fatal(err)
	}
	defer wg.Close()
	gEvents := watchEvents(t, wg)
	awaitEvent(t, owEvents, "the guest's presence (on b) at the owner's watch (on a)", func(ev Event) bool {
		return (ev.Kind == EventPresence || ev.Kind == EventSnapshot || ev.Kind == EventMembers) && presentIn(ev, guest.ID, "notes")
	})
	awaitEvent(t, gEvents, "the owner's presence (on a) at the guest's watch (on b)", func(ev Event) bool {
		return (ev.Kind == EventPresence || ev.Kind == EventSnapshot || ev.Kind == EventMembers) && presentIn(ev, owner.ID, "sensors")
	})
	testkit.WaitFor(t, "the present count on a to include b's tab", func() bool {
		r, err := a.Get(ctx, vo, room.ID)
		return err == nil && r.PresentCount == 2
	})

	// A change written on b reaches the watcher on a.
	name := "Renamed on b"
	if _, err := b.Update(ctx, vo, room.ID, UpdateInput{Name: &name}); err != nil {
		t.Fatal(err)
	}
	awaitEvent(t, owEvents, "the rename at a", func(ev Event) bool { return ev.Kind == EventUpdated && ev.Room.Name == name })

	// The guest's tab closes on b: a sees the guest absent.
	wg.Close()
	awaitEvent(t, owEvents, "the guest gone at a", func(ev Event) bool {
		if ev.Kind != EventPresence {
			return false
		}
		for _, m := range ev.Members {
			if m.UserID == guest.ID && !m.Present {
				return true
			}
		}
		return false
	})

	// The guest watches again on b, the owner removes them on a: b ends their watch.
	wg2, err := b.Watch(ctx, vg, room.ID, "tab-guest-2", "")
	if err != nil {
		t.Fatal(err)
	}
	defer wg2.Close()
	g2Events := watchEvents(t, wg2)
	awaitEvent(t, g2Events, "the guest's snapshot", func(ev Event) bool { return ev.Kind == EventSnapshot })
	if err := a.RemoveMember(ctx, vo, room.ID, guest.ID); err != nil {
		t.Fatal(err)
	}
	awaitEvent(t, g2Events, "the removal on a closing the guest's watch on b", func(ev Event) bool { return ev.Kind == EventClosed })
	if b.inIndex(room.ID, guest.ID) {
		t.Fatal("b still counts the removed guest as a member")
	}

	// Deleted on b: a forgets the room and ends the owner's watch.
	if err := b.Delete(ctx, vo, room.ID); err != nil {
		t.Fatal(err)
	}
	awaitEvent(t, owEvents, "the deletion on b closing the owner's watch on a", func(ev Event) bool { return ev.Kind == EventClosed })
	if _, err := a.Get(ctx, vo, room.ID); err == nil {
		t.Fatal("a still has the room deleted on b")
	}
}

// TestRoomsSingleNodePublishesNothing: a node alone on its bus announces nothing
// (nobody is interested) and behaves as before.
func TestRoomsSingleNodePublishesNothing(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	ctx := t.Context()
	b, err := bus.NewLocal("alone")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(ctx, Options{Ent: db.Client, Sensors: noSensors{}, Logger: dbtest.Logger(t), Bus: b})
	if err != nil {
		t.Fatal(err)
	}
	u := db.Client.User.Create().SetDisplayName("Solo").SaveX(ctx)
	v := authz.Viewer{UserID: u.ID, DisplayName: "Solo", Scope: authz.ScopeFull}
	if _, err := svc.Create(ctx, v, CreateInput{Name: "Solo"}); err != nil {
		t.Fatal(err)
	}
	if b.Interested(bus.KindRoomEvents, "x") || b.Interested(bus.KindRoomPresence, "x") {
		t.Fatal("a single node is interested in its own room messages")
	}
}

// TestRemotePresenceLapses: the presence of a node that stops repeating its list (it
// died) is dropped remoteLapse after its last message, and watchers are told.
func TestRemotePresenceLapses(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	ctx := t.Context()
	network := bus.NewNetwork()
	now := time.Now()
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	ba, err := network.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, Options{Ent: db.Client, Sensors: noSensors{}, Logger: dbtest.Logger(t), Bus: ba, Now: clock, Window: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(actx) }()
	defer func() { cancel(); <-done }()
	owner := db.Client.User.Create().SetDisplayName("Owner").SaveX(ctx)
	other := db.Client.User.Create().SetDisplayName("Other").SaveX(ctx)
	vo := authz.Viewer{UserID: owner.ID, DisplayName: "Owner", Scope: authz.ScopeFull}
	room, err := a.Create(ctx, vo, CreateInput{Name: "Lapse"})
	if err != nil {
		t.Fatal(err)
	}
	vx := authz.Viewer{UserID: other.ID, DisplayName: "Other", Scope: authz.ScopeFull}
	if _, err := a.Join(ctx, vx, room.JoinCode, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	w, err := a.Watch(ctx, vo, room.ID, "tab-owner", "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	evs := watchEvents(t, w)
	awaitEvent(t, evs, "the snapshot", func(ev Event) bool { return ev.Kind == EventSnapshot })
	// Node b reports the other user present, once, then dies.
	r := a.idx.get(room.ID)
	a.applyPresence(bus.Message{Kind: bus.KindRoomPresence, Key: room.ID.String(), Origin: "b",
		Data: []byte(`{"users":[{"id":"` + other.ID.String() + `","views":["notes"]}]}`)})
	if n := a.presentCount(r); n != 2 {
		t.Fatalf("present %d, want 2 (the owner here, the other on b)", n)
	}
	awaitEvent(t, evs, "the other user present (on b) at the owner's watch", func(ev Event) bool {
		return ev.Kind == EventPresence && presentIn(ev, other.ID, "notes")
	})
	a.expireRemote() // not yet: b's list is fresh
	if n := a.presentCount(r); n != 2 {
		t.Fatalf("present %d after an early expiry pass, want 2", n)
	}
	clockMu.Lock()
	now = now.Add(remoteLapse + time.Second)
	clockMu.Unlock()
	a.expireRemote()
	if n := a.presentCount(r); n != 1 {
		t.Fatalf("present %d after b's list lapsed, want 1 (the owner, whose heartbeat lasts %s)", n, DefaultLapse)
	}
	awaitEvent(t, evs, "the other user gone at the owner's watch", func(ev Event) bool {
		if ev.Kind != EventPresence {
			return false
		}
		for _, m := range ev.Members {
			if m.UserID == other.ID && !m.Present {
				return true
			}
		}
		return false
	})
}

// TestStaleReadDoesNotUndoAWrite: a reload whose database read began before this
// node's own write of the room (a join) does not take the member out again (the
// race behind a guest's watch ending at once in TestRoomsAcrossNodes), and a read
// older than one already applied is not applied over it.
func TestStaleReadDoesNotUndoAWrite(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	ctx := t.Context()
	network := bus.NewNetwork()
	bb, err := network.Join("b")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, Options{Ent: db.Client, Sensors: noSensors{}, Logger: dbtest.Logger(t), Bus: bb})
	if err != nil {
		t.Fatal(err)
	}
	owner := db.Client.User.Create().SetDisplayName("Owner").SaveX(ctx)
	guest := db.Client.User.Create().SetDisplayName("Guest").SaveX(ctx)
	other := db.Client.User.Create().SetDisplayName("Other").SaveX(ctx)
	vo := authz.Viewer{UserID: owner.ID, DisplayName: "Owner", Scope: authz.ScopeFull}
	vg := authz.Viewer{UserID: guest.ID, DisplayName: "Guest", Scope: authz.ScopeFull}
	room, err := b.Create(ctx, vo, CreateInput{Name: "Stale"})
	if err != nil {
		t.Fatal(err)
	}

	// A reload reads the room (no guest yet), the guest joins here, then the reload applies.
	start := b.seq.Add(1)
	before, err := b.fetchRoom(ctx, room.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, vg, room.JoinCode, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	w, err := b.Watch(ctx, vg, room.ID, "tab-guest", "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := b.apply(ctx, room.ID, before, start); err != nil {
		t.Fatal(err)
	}
	if !b.inIndex(room.ID, guest.ID) {
		t.Fatal("a read older than the join took the guest out of the index")
	}
	w.mu.Lock()
	end := w.end
	w.mu.Unlock()
	if end != nil {
		t.Fatalf("the guest's watch ended: %v", end)
	}

	// Another node adds a member: an older read applied after a newer one changes nothing.
	older := b.seq.Add(1)
	oldRow, err := b.fetchRoom(ctx, room.ID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	db.Client.RoomMembership.Create().SetRoomID(room.ID).SetUserID(other.ID).SetRole("member").SetCreatedAt(now).SetUpdatedAt(now).SaveX(ctx)
	if err := b.reload(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	if !b.inIndex(room.ID, other.ID) {
		t.Fatal("the reload did not bring the member added on another node")
	}
	if err := b.apply(ctx, room.ID, oldRow, older); err != nil {
		t.Fatal(err)
	}
	if !b.inIndex(room.ID, other.ID) || !b.inIndex(room.ID, guest.ID) {
		t.Fatal("a read older than the one applied was applied over it")
	}
}
