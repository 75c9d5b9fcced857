package roomdoc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent/roommembership"
	"github.com/sensocto/sensocto/ent/schematype"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// clock is a settable clock for timeouts.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is a database with one room: owner, two members (alice, bob), and an
// outsider; and a Manager over it.
type fixture struct {
	t                           testing.TB
	db                          *database.DB
	clock                       *clock
	lim                         Limits
	m                           *Manager
	room                        uuid.UUID
	owner, alice, bob, outsider uuid.UUID
}

func newFixture(t testing.TB, dialect string, features schematype.RoomFeatures, lim Limits) *fixture {
	t.Helper()
	db := dbtest.Open(t, dialect)
	f := &fixture{t: t, db: db, clock: &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}, lim: lim}
	ctx := t.Context()
	mk := func(name string) uuid.UUID {
		u, err := db.Client.User.Create().SetDisplayName(name).Save(ctx)
		if err != nil {
			t.Fatalf("create user: %v", err)
		}
		return u.ID
	}
	f.owner, f.alice, f.bob, f.outsider = mk("Owner"), mk("Alice"), mk("Bob"), mk("Outsider")
	rm, err := db.Client.Room.Create().SetName("Study group").SetOwnerID(f.owner).SetFeatures(features).Save(ctx)
	if err != nil {
		t.Fatalf("create room: %v", err)
	}
	f.room = rm.ID
	for u, role := range map[uuid.UUID]roommembership.Role{f.owner: roommembership.RoleOwner, f.alice: roommembership.RoleMember, f.bob: roommembership.RoleMember} {
		if err := db.Client.RoomMembership.Create().SetRoomID(rm.ID).SetUserID(u).SetRole(role).Exec(ctx); err != nil {
			t.Fatalf("create membership: %v", err)
		}
	}
	f.m = f.newManager()
	return f
}

func (f *fixture) newManager() *Manager {
	return New(Options{Ent: f.db.Client, Limits: f.lim, Now: f.clock.Now, Logger: dbtest.Logger(f.t)})
}

var allFeatures = schematype.RoomFeatures{MediaPlayback: true, Object3D: true, Whiteboard: true}

// peerClient is a client tab: its own document and sync state with the server.
type peerClient struct {
	f    *fixture
	user uuid.UUID
	id   string
	doc  *automerge.Doc
	ss   *automerge.SyncState
	// sub is the peer's subscription (its WatchRoom stream) when attached: the server's
	// messages then come from it, not from Sync.
	sub *Subscription
}

// attach attaches the client's peer (a WatchRoom stream); sync then reads the server's
// messages from the subscription.
func (c *peerClient) attach() *Subscription {
	c.f.t.Helper()
	sub, err := c.f.m.Attach(c.f.t.Context(), c.user, c.f.room, c.id)
	if err != nil {
		c.f.t.Fatalf("attach: %v", err)
	}
	c.sub = sub
	return sub
}

func (f *fixture) client(user uuid.UUID) *peerClient {
	doc := automerge.New()
	return &peerClient{f: f, user: user, id: "tab-" + uuid.NewString()[:12], doc: doc, ss: automerge.NewSyncState(doc)}
}

// reset drops the client's document and sync state (as a client does after a refusal:
// it starts over from the server's document), keeping its peer id.
func (c *peerClient) reset() {
	c.doc = automerge.New()
	c.ss = automerge.NewSyncState(c.doc)
}

// sync exchanges messages through Manager.Sync (and the subscription, when attached)
// until both sides are in sync.
func (c *peerClient) sync() error {
	for range 50 {
		var out []byte
		if msg, ok := c.ss.GenerateMessage(); ok {
			out = msg.Bytes()
		}
		reply, err := c.f.m.Sync(c.f.t.Context(), c.user, c.f.room, c.id, out)
		if err != nil {
			return err
		}
		if c.sub != nil {
			if reply != nil {
				return errors.New("Sync replied to a peer with a subscription")
			}
			reply = c.sub.Next() // the stream's next message
		}
		if reply != nil {
			if _, err := c.ss.ReceiveMessage(reply); err != nil {
				return fmt.Errorf("client receive: %w", err)
			}
		}
		if out == nil && reply == nil {
			return nil
		}
	}
	return errors.New("sync did not settle in 50 rounds")
}

func (c *peerClient) mustSync() {
	c.f.t.Helper()
	if err := c.sync(); err != nil {
		c.f.t.Fatalf("sync: %v", err)
	}
}

// edit changes the client's document and commits.
func (c *peerClient) edit(fn func(root *automerge.Map) error) {
	c.f.t.Helper()
	if err := fn(c.doc.RootMap()); err != nil {
		c.f.t.Fatalf("edit: %v", err)
	}
	if _, err := c.doc.Commit("edit"); err != nil {
		c.f.t.Fatalf("commit: %v", err)
	}
}

func section(root *automerge.Map, key string) *automerge.Map {
	v, err := root.Get(key)
	if err != nil || v.Kind() != automerge.KindMap {
		panic(fmt.Sprintf("section %s: %v", key, err))
	}
	return v.Map()
}

func notes(doc *automerge.Doc) string {
	s, err := doc.Path(keyNotes).Text().Get()
	if err != nil {
		panic(err)
	}
	return s
}

func str(doc *automerge.Doc, path ...any) string {
	v, err := doc.Path(path...).Get()
	if err != nil || v.Kind() != automerge.KindStr {
		return ""
	}
	return v.Str()
}

// serverDoc returns a copy of the server's document of the fixture's room.
func (f *fixture) serverDoc() *automerge.Doc {
	f.t.Helper()
	r, err := f.m.lockRoom(context.Background(), f.room)
	if err != nil {
		f.t.Fatalf("lock room: %v", err)
	}
	defer r.mu.Unlock()
	d, err := r.doc.Fork()
	if err != nil {
		f.t.Fatalf("fork: %v", err)
	}
	return d
}

func (f *fixture) storedChanges() int {
	f.t.Helper()
	n, err := f.db.Client.RoomDocumentChange.Query().Count(context.Background())
	if err != nil {
		f.t.Fatalf("count changes: %v", err)
	}
	return n
}

func headsOf(d *automerge.Doc) string { return fmt.Sprint(d.Heads()) }

func wantKind(t testing.TB, err error, kind apperr.Kind, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", kind)
	}
	if got := apperr.KindOf(err); got != kind {
		t.Fatalf("got %v (%v), want %v", got, err, kind)
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not mention %q", err, contains)
	}
}
