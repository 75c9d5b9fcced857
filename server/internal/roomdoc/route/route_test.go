package route

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent/roommembership"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/lease"
	"github.com/sensocto/sensocto/server/internal/roomdoc"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// node is one node of the test cluster.
type node struct {
	id     string
	router *Router
	leases *lease.Store
	bus    *bus.Local
	stop   func()
}

// client is a document peer (a browser tab) syncing through some node.
type client struct {
	t    *testing.T
	user uuid.UUID
	room uuid.UUID
	peer string
	doc  *automerge.Doc
	ss   *automerge.SyncState
}

func newClient(t *testing.T, user, room uuid.UUID, peer string) *client {
	doc := automerge.New()
	return &client{t: t, user: user, room: room, peer: peer, doc: doc, ss: automerge.NewSyncState(doc)}
}

// sync exchanges messages through n until neither side has anything to say.
func (c *client) sync(n *node) error {
	for range 50 {
		var out []byte
		if m, ok := c.ss.GenerateMessage(); ok {
			out = m.Bytes()
		}
		in, err := n.router.Sync(c.t.Context(), c.user, c.room, c.peer, out)
		if err != nil {
			return err
		}
		if len(in) > 0 {
			if _, err := c.ss.ReceiveMessage(in); err != nil {
				return err
			}
		}
		if out == nil && len(in) == 0 {
			return nil
		}
	}
	return errors.New("sync did not settle")
}

func (c *client) notes() string {
	v, err := c.doc.Path("notes").Text().Get()
	if err != nil {
		return ""
	}
	return v
}

func (c *client) write(text string) {
	c.t.Helper()
	notes := c.doc.Path("notes").Text()
	if err := notes.Insert(notes.Len(), text); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.doc.Commit("type"); err != nil {
		c.t.Fatal(err)
	}
}

// follow reads a subscription's messages into the client, answering through n.
func (c *client) follow(n *node, sub Subscription) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-sub.Done():
				done <- sub.Err()
				return
			case <-sub.Ready():
				for msg := sub.Next(); msg != nil; msg = sub.Next() {
					if _, err := c.ss.ReceiveMessage(msg); err != nil {
						done <- err
						return
					}
				}
				if err := c.sync(n); err != nil && !errors.Is(err, apperr.KindUnavailable) {
					done <- err
					return
				}
			}
		}
	}()
	return done
}

// TestDocumentOwnerAcrossNodes: two nodes over one database, one bus network and one
// lease table. The first node to use the room's document owns it; a client of the
// other node syncs through it (calls forwarded, pushes relayed); edits from either side
// reach the other. The owner dies: the relayed stream ends with ErrMoved, the other
// node takes the lease, loads the document from the database with every acknowledged
// edit, and both clients sync again through it.
func TestDocumentOwnerAcrossNodes(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	ctx := t.Context()
	mk := func(name string) uuid.UUID { return db.Client.User.Create().SetDisplayName(name).SaveX(ctx).ID }
	owner, alice, bob := mk("Owner"), mk("Alice"), mk("Bob")
	room := db.Client.Room.Create().SetName("Across").SetOwnerID(owner).SaveX(ctx).ID
	for u, role := range map[uuid.UUID]roommembership.Role{owner: roommembership.RoleOwner, alice: roommembership.RoleMember, bob: roommembership.RoleMember} {
		db.Client.RoomMembership.Create().SetRoomID(room).SetUserID(u).SetRole(role).ExecX(ctx)
	}
	network := bus.NewNetwork()
	table := lease.NewMemory(time.Second)
	start := func(id string) *node {
		b, err := network.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := table.Store(id)
		if err != nil {
			t.Fatal(err)
		}
		docs := roomdoc.New(roomdoc.Options{Ent: db.Client, Logger: dbtest.Logger(t)})
		r, err := New(Options{Docs: docs, Bus: b, Leases: ls, Logger: dbtest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		nctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{}, 2)
		go func() { _ = docs.Run(nctx); done <- struct{}{} }()
		go func() { _ = r.Run(nctx); done <- struct{}{} }()
		n := &node{id: id, router: r, leases: ls, bus: b}
		var stopped bool
		n.stop = func() {
			if !stopped {
				stopped = true
				cancel()
				<-done
				<-done
				ls.Close()
				_ = b.Close()
			}
		}
		t.Cleanup(n.stop)
		return n
	}
	a, b := start("a"), start("b")

	// Alice, on a, uses the document first: a owns it.
	ca := newClient(t, alice, room, "alice-tab")
	if err := ca.sync(a); err != nil {
		t.Fatal(err)
	}
	if h, _ := a.leases.Holder(ctx, leaseName(room)); h != "a" {
		t.Fatalf("document held by %q, want a", h)
	}
	// Bob, on b, attaches his stream: relayed from a. His first sync is forwarded.
	cb := newClient(t, bob, room, "bob-tab")
	testkit.WaitFor(t, "a to be interested in b's room document messages", func() bool {
		return a.bus.Interested(bus.KindRoomDoc, nodeKey("b")) && b.bus.Interested(bus.KindRoomDoc, nodeKey("a"))
	})
	sub, err := b.router.Attach(ctx, bob, room, cb.peer)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sub.(*relay); !ok {
		t.Fatalf("b's stream is %T, want a relay from the owner", sub)
	}
	followed := cb.follow(b, sub)
	ca.write("alice on a. ")
	if err := ca.sync(a); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "alice's edit at bob's (relayed)", func() bool { return cb.notes() == "alice on a. " })
	cb.write("bob on b. ")
	if err := cb.sync(b); err != nil { // forwarded to a, acknowledged when stored
		t.Fatal(err)
	}
	testkit.WaitFor(t, "bob's edit at alice's", func() bool {
		_ = ca.sync(a)
		return ca.notes() == "alice on a. bob on b. "
	})

	// a dies: its lease runs out, b's relayed stream ends with ErrMoved.
	died := time.Now()
	a.leases.Abandon()
	a.stop()
	select {
	case err := <-followed:
		if !errors.Is(err, ErrMoved) {
			t.Fatalf("bob's relayed stream ended with %v, want ErrMoved", err)
		}
	case <-time.After(testkit.Deadline):
		t.Fatal("bob's relayed stream did not end after its owner died")
	}
	// Bob reconnects on b: b takes the document over from the database.
	var sub2 Subscription
	testkit.WaitFor(t, "bob to reattach on b", func() bool {
		sub2, err = b.router.Attach(ctx, bob, room, cb.peer)
		return err == nil
	})
	defer sub2.Close()
	t.Logf("room document taken over %s after its owner died (lease TTL %s)", time.Since(died).Round(10*time.Millisecond), time.Second)
	if _, ok := sub2.(*localSub); !ok {
		t.Fatalf("after the takeover b's stream is %T, want local", sub2)
	}
	if h, _ := b.leases.Holder(ctx, leaseName(room)); h != "b" {
		t.Fatalf("document held by %q, want b", h)
	}
	cb.ss = automerge.NewSyncState(cb.doc) // a new stream: the sync state starts afresh
	cb.follow(b, sub2)
	// A newcomer syncing on b gets both edits: nothing acknowledged was lost.
	fresh := newClient(t, owner, room, "owner-tab")
	if err := fresh.sync(b); err != nil {
		t.Fatal(err)
	}
	if got := fresh.notes(); got != "alice on a. bob on b. " {
		t.Fatalf("after the takeover the document holds %q", got)
	}
	cb.write("bob again.")
	if err := cb.sync(b); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "bob's new edit at the newcomer's", func() bool {
		_ = fresh.sync(b)
		return fresh.notes() == "alice on a. bob on b. bob again."
	})
}

// TestSingleNodeOwnsEverything: without a bus the router calls the Manager directly.
func TestSingleNodeOwnsEverything(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	ctx := t.Context()
	u := db.Client.User.Create().SetDisplayName("Solo").SaveX(ctx).ID
	room := db.Client.Room.Create().SetName("Solo").SetOwnerID(u).SaveX(ctx).ID
	db.Client.RoomMembership.Create().SetRoomID(room).SetUserID(u).SetRole(roommembership.RoleOwner).ExecX(ctx)
	r, err := New(Options{Docs: roomdoc.New(roomdoc.Options{Ent: db.Client, Logger: dbtest.Logger(t)}), Logger: dbtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, u, room, "solo")
	c.write("x")
	if err := c.sync(&node{router: r}); err != nil {
		t.Fatal(err)
	}
	sub, err := r.Attach(ctx, u, room, "solo")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, ok := sub.(*localSub); !ok {
		t.Fatalf("a single node's stream is %T", sub)
	}
	if _, err := r.Sync(ctx, uuid.New(), room, "intruder", nil); !errors.Is(err, apperr.KindNotFound) {
		t.Fatalf("a non-member's sync: %v, want NotFound", err)
	}
}

// TestOwnerBusy: an owner serving MaxServing forwarded syncs answers the next one
// Unavailable at once instead of queueing it.
func TestOwnerBusy(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	ctx := t.Context()
	u := db.Client.User.Create().SetDisplayName("Busy").SaveX(ctx).ID
	room := db.Client.Room.Create().SetName("Busy").SetOwnerID(u).SaveX(ctx).ID
	db.Client.RoomMembership.Create().SetRoomID(room).SetUserID(u).SetRole(roommembership.RoleOwner).ExecX(ctx)
	network := bus.NewNetwork()
	table := lease.NewMemory(time.Second)
	var routers []*Router
	for _, id := range []string{"a", "b"} {
		b, err := network.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := table.Store(id)
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(Options{Docs: roomdoc.New(roomdoc.Options{Ent: db.Client, Logger: dbtest.Logger(t)}), Bus: b, Leases: ls, Logger: dbtest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = r.Run(rctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done; ls.Close(); _ = b.Close() })
		routers = append(routers, r)
	}
	a, b := routers[0], routers[1]
	if _, err := a.Sync(ctx, u, room, "owner-peer", nil); err != nil { // a owns the document
		t.Fatal(err)
	}
	for range MaxServing {
		a.serve <- struct{}{}
	}
	defer func() {
		for range MaxServing {
			<-a.serve
		}
	}()
	testkit.WaitFor(t, "a to hear b", func() bool { return b.bus.Interested(bus.KindRoomDoc, nodeKey("a")) })
	_, err := b.Sync(ctx, u, room, "busy-peer", nil)
	if !errors.Is(err, apperr.KindUnavailable) || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("a forwarded sync to a busy owner: %v, want Unavailable (busy)", err)
	}
}
