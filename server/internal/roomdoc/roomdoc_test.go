package roomdoc

import (
	"context"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/sensocto/sensocto/ent/schematype"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

func TestTwoPeersConvergeAfterConcurrentEdits(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect, allFeatures, Limits{})
			alice, bob := f.client(f.alice), f.client(f.bob)
			alice.mustSync()
			bob.mustSync()
			if notes(alice.doc) != "" || notes(bob.doc) != "" {
				t.Fatalf("notes should start empty")
			}
			// Both type at once, each without the other's change.
			alice.edit(func(root *automerge.Map) error {
				return alice.doc.Path(keyNotes).Text().Insert(0, "Hello from Alice. ")
			})
			bob.edit(func(root *automerge.Map) error { return bob.doc.Path(keyNotes).Text().Insert(0, "Bob was here.") })
			alice.mustSync()
			bob.mustSync()
			alice.mustSync()
			a, b := notes(alice.doc), notes(bob.doc)
			if a != b {
				t.Fatalf("peers diverged: alice %q, bob %q", a, b)
			}
			if !strings.Contains(a, "Hello from Alice. ") || !strings.Contains(a, "Bob was here.") {
				t.Fatalf("merged notes %q lost an edit", a)
			}
			if s := notes(f.serverDoc()); s != a {
				t.Fatalf("server notes %q, peers %q", s, a)
			}
		})
	}
}

func TestChangeReachesOtherPeersThroughTheirSubscription(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", allFeatures, Limits{})
	ctx := t.Context()
	alice, bob := f.client(f.alice), f.client(f.bob)
	sub, err := f.m.Attach(ctx, f.bob, f.room, bob.id)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	defer sub.Close()
	// The first message is due at once: bob gets the document from the stream alone.
	deliver := func() bool {
		select {
		case <-sub.Ready():
		case <-time.After(5 * time.Second):
			t.Fatalf("no sync message was signalled")
		}
		msg := sub.Next()
		if msg == nil {
			return false
		}
		if _, err := bob.ss.ReceiveMessage(msg); err != nil {
			t.Fatalf("bob receive: %v", err)
		}
		bob.mustSync() // bob answers through SyncRoomState
		return true
	}
	deliver()
	alice.mustSync()
	alice.edit(func(root *automerge.Map) error { return alice.doc.Path(keyNotes).Text().Insert(0, "live") })
	alice.mustSync()
	for i := 0; notes(bob.doc) != "live"; i++ {
		if i > 5 {
			t.Fatalf("bob's notes %q, want %q", notes(bob.doc), "live")
		}
		deliver()
	}
}

func TestRestartKeepsTheDocument(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect, allFeatures, Limits{})
			alice := f.client(f.alice)
			alice.mustSync()
			alice.edit(func(root *automerge.Map) error { return alice.doc.Path(keyNotes).Text().Insert(0, "first ") })
			alice.mustSync()
			alice.edit(func(root *automerge.Map) error { return alice.doc.Path(keyNotes).Text().Append("second") })
			alice.mustSync()
			if n := f.storedChanges(); n != 2 {
				t.Fatalf("stored increments = %d, want 2 (one per acknowledged sync)", n)
			}
			want := headsOf(alice.doc)

			// A new process (no compaction: as after a crash) loads the same document.
			f.m = f.newManager()
			if got := f.serverDoc(); headsOf(got) != want || notes(got) != "first second" {
				t.Fatalf("after restart: notes %q heads %s, want %q %s", notes(got), headsOf(got), "first second", want)
			}
			// Compaction (as on shutdown) folds the increments into the document.
			f.m.CompactAll(t.Context())
			if n := f.storedChanges(); n != 0 {
				t.Fatalf("stored increments after compaction = %d, want 0", n)
			}
			f.m = f.newManager()
			if got := f.serverDoc(); headsOf(got) != want {
				t.Fatalf("after compaction and restart: heads %s, want %s", headsOf(got), want)
			}
			// The old peer goes on syncing with the new process.
			alice.ss = automerge.NewSyncState(alice.doc)
			alice.edit(func(root *automerge.Map) error { return alice.doc.Path(keyNotes).Text().Append("!") })
			alice.mustSync()
			if got := notes(f.serverDoc()); got != "first second!" {
				t.Fatalf("notes %q after resync", got)
			}
		})
	}
}

func TestRunCompactsOnShutdown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", allFeatures, Limits{Tick: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.m.Run(ctx) }()
	alice := f.client(f.alice)
	alice.mustSync()
	alice.edit(func(root *automerge.Map) error { return alice.doc.Path(keyNotes).Text().Insert(0, "x") })
	alice.mustSync()
	if f.storedChanges() == 0 {
		t.Fatalf("no increment stored")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := f.storedChanges(); n != 0 {
		t.Fatalf("increments after shutdown = %d, want 0 (compacted)", n)
	}
}

func TestNonMembersGetNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", allFeatures, Limits{})
	out := f.client(f.outsider)
	wantKind(t, out.sync(), apperr.KindNotFound, "room not found")
	_, err := f.m.Attach(t.Context(), f.outsider, f.room, out.id)
	wantKind(t, err, apperr.KindNotFound, "")
}

// refused checks that a client's pending change is refused with kind and that neither
// the server's document nor the store changed.
func refused(t *testing.T, f *fixture, c *peerClient, kind apperr.Kind, contains string) {
	t.Helper()
	before, stored := headsOf(f.serverDoc()), f.storedChanges()
	wantKind(t, c.sync(), kind, contains)
	if got := headsOf(f.serverDoc()); got != before {
		t.Fatalf("server document changed by a refused change: heads %s, were %s", got, before)
	}
	if n := f.storedChanges(); n != stored {
		t.Fatalf("stored increments %d after a refused change, were %d", n, stored)
	}
}

func TestMalformedAndOversizedInputIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", allFeatures, Limits{MaxChangeBytes: 2048, MaxDocumentBytes: 16 << 10})
	ctx := t.Context()
	alice := f.client(f.alice)
	alice.mustSync()
	before := headsOf(f.serverDoc())
	for _, garbage := range [][]byte{{0x42}, []byte("hello, not automerge"), {0x42, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		_, err := f.m.Sync(ctx, f.alice, f.room, alice.id, garbage)
		wantKind(t, err, apperr.KindInvalidArgument, "sync_message")
	}
	if headsOf(f.serverDoc()) != before {
		t.Fatalf("malformed messages changed the document")
	}

	// One change over the per-change cap.
	big := f.client(f.alice)
	big.mustSync()
	big.edit(func(root *automerge.Map) error {
		return big.doc.Path(keyNotes).Text().Insert(0, strings.Repeat("0123456789abcdef", 400)) // 6.4 kB of random-ish text
	})
	refused(t, f, big, apperr.KindInvalidArgument, "cap of 2048 bytes per change")

	// Many small changes, together past the document's cap.
	many := f.client(f.bob)
	many.mustSync()
	for i := range 60 {
		many.edit(func(root *automerge.Map) error {
			return many.doc.Path(keyNotes).Text().Append(strings.Repeat(string(rune('a'+i%26)), 300))
		})
	}
	refused(t, f, many, apperr.KindInvalidArgument, "cap of 16384 bytes")
}

func TestWrongTypesAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", allFeatures, Limits{})
	cases := []struct {
		name     string
		edit     func(c *peerClient, root *automerge.Map) error
		contains string
	}{
		{"source as collaborative text", func(c *peerClient, root *automerge.Map) error {
			return section(root, keyMedia).Set("source", automerge.NewText("https://example.org/v.mp4"))
		}, "media.source: must be a plain (immutable) string"},
		{"notes as a scalar string", func(c *peerClient, root *automerge.Map) error {
			return root.Set(keyNotes, "flat")
		}, "notes: must be collaborative text"},
		{"unknown section", func(c *peerClient, root *automerge.Map) error { return root.Set("chat", "hi") }, "chat: unknown section"},
		{"rate out of range", func(c *peerClient, root *automerge.Map) error {
			m := section(root, keyMedia)
			if err := m.Set("controller", c.user.String()); err != nil {
				return err
			}
			return m.Set("rate", 100.0)
		}, "media.rate"},
		{"unknown model", func(c *peerClient, root *automerge.Map) error {
			m := section(root, keyViewer)
			if err := m.Set("controller", c.user.String()); err != nil {
				return err
			}
			return m.Set("model", "teapot")
		}, "viewer.model"},
		{"stroke without points", func(c *peerClient, root *automerge.Map) error {
			return c.doc.Path(keyWhiteboard, "strokes").List().Append(map[string]any{"id": "s1", "author": c.user.String(), "color": "#ff0000", "width": 2.0})
		}, "whiteboard.strokes[0].points: is required"},
		{"annotation ending before it starts", func(c *peerClient, root *automerge.Map) error {
			return c.doc.Path(keyAnnotations).List().Append(map[string]any{"id": "a1", "author": c.user.String(), "sensorId": "hr-1", "from": int64(2000), "to": int64(1000), "text": "spike"})
		}, "annotations[0].to"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := f.client(f.alice)
			c.mustSync()
			c.edit(func(root *automerge.Map) error { return tc.edit(c, root) })
			refused(t, f, c, apperr.KindInvalidArgument, tc.contains)
		})
	}
}

func points(xy ...float32) []byte {
	b := make([]byte, 4*len(xy))
	for i, v := range xy {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func stroke(id, author string) map[string]any {
	return map[string]any{"id": id, "author": author, "color": "#3366ff", "width": 3.0, "points": points(0.1, 0.1, 0.5, 0.5)}
}

func TestRightsAreEnforcedFromTheChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", allFeatures, Limits{})
	alice, bob, owner := f.client(f.alice), f.client(f.bob), f.client(f.owner)
	alice.mustSync()
	bob.mustSync()
	owner.mustSync()
	a, b := f.alice.String(), f.bob.String()

	// Alice takes free control of the media player and starts it.
	alice.edit(func(root *automerge.Map) error {
		m := section(root, keyMedia)
		for k, v := range map[string]any{"controller": a, "source": "https://media.example/v.mp4", "playing": true, "position": 12.5, "refTime": int64(1764590000000)} {
			if err := m.Set(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	alice.mustSync()
	bob.mustSync()

	// Bob, not the controller, may not seek; the refusal leaves everything as it was.
	bob.edit(func(root *automerge.Map) error { return section(root, keyMedia).Set("position", 99.0) })
	refused(t, f, bob, apperr.KindPermissionDenied, "media.position: only the controller changes it")
	// Nor take control from Alice.
	bob.reset() // a refused client starts over from the server's document
	bob.mustSync()
	bob.edit(func(root *automerge.Map) error { return section(root, keyMedia).Set("controller", b) })
	refused(t, f, bob, apperr.KindPermissionDenied, "media.controller")
	// Nor request control in Alice's name.
	bob.reset()
	bob.mustSync()
	bob.edit(func(root *automerge.Map) error { return section(root, keyMedia).Set("request", a) })
	refused(t, f, bob, apperr.KindPermissionDenied, "media.request")

	// A member may not change the settings; the owner may lock the notes.
	bob.reset()
	bob.mustSync()
	bob.edit(func(root *automerge.Map) error { return bob.doc.Path(keySettings, "locked").Map().Set(keyNotes, true) })
	refused(t, f, bob, apperr.KindPermissionDenied, "settings")
	owner.edit(func(root *automerge.Map) error {
		return owner.doc.Path(keySettings, "locked").Map().Set(keyNotes, true)
	})
	owner.mustSync()
	bob.reset()
	bob.mustSync()
	bob.edit(func(root *automerge.Map) error { return bob.doc.Path(keyNotes).Text().Insert(0, "x") })
	refused(t, f, bob, apperr.KindPermissionDenied, "notes are locked")
	owner.edit(func(root *automerge.Map) error { return owner.doc.Path(keyNotes).Text().Insert(0, "agenda") })
	owner.mustSync()

	// Strokes: in one's own name only, immutable once written, anyone may erase.
	bob.reset()
	bob.mustSync()
	bob.edit(func(root *automerge.Map) error {
		return bob.doc.Path(keyWhiteboard, "strokes").List().Append(stroke("forged", a))
	})
	refused(t, f, bob, apperr.KindPermissionDenied, "author must be the writer")
	bob.reset()
	bob.mustSync()
	bob.edit(func(root *automerge.Map) error {
		return bob.doc.Path(keyWhiteboard, "strokes").List().Append(stroke("s-bob", b))
	})
	bob.mustSync()
	alice.mustSync()
	alice.edit(func(root *automerge.Map) error {
		return alice.doc.Path(keyWhiteboard, "strokes", 0).Map().Set("color", "#000000")
	})
	refused(t, f, alice, apperr.KindPermissionDenied, "cannot be changed once written")
	alice.reset()
	alice.mustSync()
	alice.edit(func(root *automerge.Map) error {
		v, err := alice.doc.Path(keyWhiteboard, "strokes").Get()
		if err != nil {
			return err
		}
		return v.List().Delete(0) // a path's List resolves only for reads and appends
	})
	alice.mustSync() // clearing is allowed
	if n := f.serverDoc().Path(keyWhiteboard, "strokes").List().Len(); n != 0 {
		t.Fatalf("strokes after clear = %d", n)
	}
}

func TestFeatureOffMakesItsSectionReadOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", schematype.DefaultRoomFeatures(), Limits{}) // no whiteboard, no 3D
	alice := f.client(f.alice)
	alice.mustSync()
	alice.edit(func(root *automerge.Map) error {
		return alice.doc.Path(keyWhiteboard, "strokes").List().Append(stroke("s1", f.alice.String()))
	})
	refused(t, f, alice, apperr.KindPermissionDenied, "the whiteboard is off")
	alice.reset()
	alice.mustSync()
	alice.edit(func(root *automerge.Map) error { return section(root, keyViewer).Set("controller", f.alice.String()) })
	refused(t, f, alice, apperr.KindPermissionDenied, "3D viewer is off")
}

func TestControllerHandOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", allFeatures, Limits{ControlRequestTimeout: 10 * time.Second})
	ctx := t.Context()
	a, b := f.alice.String(), f.bob.String()
	alice, bob := f.client(f.alice), f.client(f.bob)
	aliceSub := alice.attach()
	alice.mustSync()
	bob.mustSync()
	take := func(c *peerClient, key string) {
		c.edit(func(root *automerge.Map) error { return section(root, key).Set("controller", c.user.String()) })
		c.mustSync()
	}
	take(alice, keyViewer)
	take(alice, keyMedia)

	// Bob requests the viewer; Alice grants it.
	bob.mustSync()
	bob.edit(func(root *automerge.Map) error { return section(root, keyViewer).Set("request", b) })
	bob.mustSync()
	alice.mustSync()
	alice.edit(func(root *automerge.Map) error {
		v := section(root, keyViewer)
		if err := v.Set("controller", b); err != nil {
			return err
		}
		return v.Set("request", "")
	})
	alice.mustSync()
	if got := str(f.serverDoc(), keyViewer, "controller"); got != b {
		t.Fatalf("viewer controller %q after grant, want bob", got)
	}
	// Bob now moves the camera; Alice no longer may.
	bob.mustSync()
	bob.edit(func(root *automerge.Map) error {
		return bob.doc.Path(keyViewer, "camera", "position").Set([]any{1.0, 2.0, 3.0})
	})
	bob.mustSync()
	alice.mustSync()
	alice.edit(func(root *automerge.Map) error {
		return alice.doc.Path(keyViewer, "camera", "target").Set([]any{1.0, 0.0, 0.0})
	})
	refused(t, f, alice, apperr.KindPermissionDenied, "viewer.camera")
	alice.reset()
	alice.mustSync()

	// Bob requests the media player; Alice does not answer: the request wins after the timeout.
	bob.mustSync()
	bob.edit(func(root *automerge.Map) error { return section(root, keyMedia).Set("request", b) })
	bob.mustSync()
	f.clock.Add(9 * time.Second)
	f.m.tick(ctx)
	if got := str(f.serverDoc(), keyMedia, "controller"); got != a {
		t.Fatalf("media controller %q before the timeout, want alice", got)
	}
	f.clock.Add(2 * time.Second)
	f.m.tick(ctx)
	sd := f.serverDoc()
	if got, req := str(sd, keyMedia, "controller"), str(sd, keyMedia, "request"); got != b || req != "" {
		t.Fatalf("media controller %q request %q after the timeout, want bob and none", got, req)
	}

	// Alice takes back the free viewer after Bob releases it... and leaves: control is
	// freed at once.
	bob.mustSync()
	bob.edit(func(root *automerge.Map) error { return section(root, keyViewer).Set("controller", "") })
	bob.mustSync()
	alice.mustSync()
	take(alice, keyViewer)
	aliceSub.Close()
	if got := str(f.serverDoc(), keyViewer, "controller"); got != "" {
		t.Fatalf("viewer controller %q after alice left, want free", got)
	}
	// The release reached Bob's document through sync.
	bob.mustSync()
	if got := str(bob.doc, keyViewer, "controller"); got != "" {
		t.Fatalf("bob sees viewer controller %q, want free", got)
	}
}

func TestRevokeEndsSubscriptionsAndFreesControl(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", allFeatures, Limits{})
	ctx := t.Context()
	alice := f.client(f.alice)
	sub := alice.attach()
	alice.mustSync()
	alice.edit(func(root *automerge.Map) error { return section(root, keyMedia).Set("controller", f.alice.String()) })
	alice.mustSync()
	f.m.Revoke(ctx, f.room, f.alice)
	select {
	case <-sub.Done():
	default:
		t.Fatalf("subscription not ended by Revoke")
	}
	if got := str(f.serverDoc(), keyMedia, "controller"); got != "" {
		t.Fatalf("media controller %q after revoke, want free", got)
	}
	// A peer id belongs to its user.
	if _, err := f.m.Sync(ctx, f.bob, f.room, alice.id, nil); err == nil {
		// alice's peer was dropped by Revoke, so bob may use the id now; take it and
		// check that alice then cannot.
		_, err := f.m.Sync(ctx, f.alice, f.room, alice.id, nil)
		wantKind(t, err, apperr.KindPermissionDenied, "peer_id")
	} else {
		t.Fatalf("sync: %v", err)
	}
}
