package roomdoc

import (
	"bytes"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/sensocto/sensocto/ent/roomdocument"
	"github.com/sensocto/sensocto/server/internal/apperr"
)

// TestRefusalRollsBackInMemory: a refused change leaves the document's heads and saved
// bytes exactly as they were, and the store is not read to get there: the stored
// document is deleted underneath first, so a reload would have made a fresh skeleton
// (other heads, no notes).
func TestRefusalRollsBackInMemory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", allFeatures, Limits{})
	ctx := t.Context()
	alice, bob := f.client(f.alice), f.client(f.bob)
	alice.mustSync()
	for _, s := range []string{"kept ", "before ", "the refusal"} {
		alice.edit(func(root *automerge.Map) error {
			return alice.doc.Path(keyNotes).Text().Append(s)
		})
		alice.mustSync()
	}
	bob.mustSync()
	before := f.serverDoc()
	heads, saved := headsOf(before), before.Save()
	if _, err := f.db.Client.RoomDocument.Delete().Where(roomdocument.RoomID(f.room)).Exec(ctx); err != nil {
		t.Fatalf("delete stored document: %v", err)
	}

	// Bob's change is two edits in one message: a good one and one of the wrong type.
	bob.edit(func(root *automerge.Map) error {
		if err := bob.doc.Path(keyNotes).Text().Append(" and bob"); err != nil {
			return err
		}
		return section(root, keyMedia).Set("source", automerge.NewText("https://example.org/v.mp4"))
	})
	wantKind(t, bob.sync(), apperr.KindInvalidArgument, "media.source")

	after := f.serverDoc()
	if got := headsOf(after); got != heads {
		t.Fatalf("heads after the refusal %s, were %s", got, heads)
	}
	if !bytes.Equal(after.Save(), saved) {
		t.Fatalf("saved document after the refusal differs from before (%d vs %d bytes)", len(after.Save()), len(saved))
	}
	if got := notes(after); got != "kept before the refusal" {
		t.Fatalf("notes after the refusal %q", got)
	}
	// The rolled-back document goes on: Alice's next change is accepted, stored as an
	// increment only (nothing but the changes since the rollback), and reaches Bob.
	stored := f.storedChanges()
	alice.edit(func(root *automerge.Map) error { return alice.doc.Path(keyNotes).Text().Append(".") })
	alice.mustSync()
	if n := f.storedChanges(); n != stored+1 {
		t.Fatalf("stored increments %d after one accepted message, want %d", n, stored+1)
	}
	bob.reset()
	bob.mustSync()
	if got := notes(bob.doc); got != "kept before the refusal." {
		t.Fatalf("bob's notes after resyncing %q", got)
	}
}

// TestRefusalsAreRateLimited: a user whose messages keep being refused gets
// ResourceExhausted, unread, once the burst is spent, for good messages too, until the
// interval passed; other users are not affected.
func TestRefusalsAreRateLimited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", allFeatures, Limits{RefusalBurst: 3, RefusalInterval: time.Minute})
	ctx := t.Context()
	alice, bob := f.client(f.alice), f.client(f.bob)
	alice.mustSync()
	bob.mustSync()
	heads := headsOf(f.serverDoc())
	for i := range 3 {
		_, err := f.m.Sync(ctx, f.alice, f.room, alice.id, []byte("garbage"))
		if apperr.KindOf(err) != apperr.KindInvalidArgument {
			t.Fatalf("bad message %d: got %v, want invalid_argument", i, err)
		}
	}
	for i := range 50 {
		_, err := f.m.Sync(ctx, f.alice, f.room, alice.id, []byte("garbage"))
		if apperr.KindOf(err) != apperr.KindResourceExhausted {
			t.Fatalf("bad message %d after the burst: got %v, want resource_exhausted", 3+i, err)
		}
	}
	// A good message from another tab of the same user is not read either.
	other := f.client(f.alice)
	if _, err := f.m.Sync(ctx, f.alice, f.room, other.id, syncMessage(t, other)); apperr.KindOf(err) != apperr.KindResourceExhausted {
		t.Fatalf("good message while limited: got %v, want resource_exhausted", err)
	}
	if e, ok := apperr.As(mustErr(f.m.Sync(ctx, f.alice, f.room, alice.id, []byte("garbage")))); !ok || e.RetryAfter <= 0 {
		t.Fatalf("resource_exhausted without a retry hint: %v", e)
	}
	if got := headsOf(f.serverDoc()); got != heads {
		t.Fatalf("document changed by refused messages")
	}
	// Bob is not limited.
	bob.edit(func(root *automerge.Map) error { return bob.doc.Path(keyNotes).Text().Append("bob") })
	bob.mustSync()
	// After the interval, Alice's next message is read again.
	f.clock.Add(time.Minute)
	alice.edit(func(root *automerge.Map) error { return alice.doc.Path(keyNotes).Text().Append("alice ") })
	alice.mustSync()
	if got := notes(f.serverDoc()); got != "alice bob" && got != "bobalice " {
		t.Fatalf("notes %q, want both edits", got)
	}
}

func syncMessage(t *testing.T, c *peerClient) []byte {
	t.Helper()
	m, ok := c.ss.GenerateMessage()
	if !ok {
		t.Fatal("no sync message to send")
	}
	return m.Bytes()
}

func mustErr(_ []byte, err error) error { return err }
