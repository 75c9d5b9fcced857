package roomdoc

import (
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// FuzzSync feeds arbitrary bytes to Manager.Sync as a peer's sync message: it must
// never crash (Automerge's core runs in-process), anything refused must be
// InvalidArgument or PermissionDenied and leave the document as it was, and whatever
// is accepted must still match the schema. Inputs over maxFuzzSyncInput are skipped so
// that one input costs milliseconds (go tool task test:fuzz runs 20,000 of them); the
// refusal rate limit is lifted so every input is read.
func FuzzSync(f *testing.F) {
	const maxFuzzSyncInput = 4 << 10
	fx := newFixture(f, "sqlite", allFeatures, Limits{RefusalBurst: 1 << 30})
	c := fx.client(fx.alice)
	c.mustSync()
	// Seeds: a real message carrying a change, an empty-ish one, garbage.
	c.edit(func(root *automerge.Map) error { return c.doc.Path(keyNotes).Text().Insert(0, "seed") })
	if msg, ok := c.ss.GenerateMessage(); ok {
		f.Add(msg.Bytes())
	}
	fresh := automerge.NewSyncState(automerge.New())
	if msg, ok := fresh.GenerateMessage(); ok {
		f.Add(msg.Bytes())
	}
	f.Add([]byte{0x42, 0x01, 0x00})
	f.Add([]byte("not a sync message"))
	peer := c.id
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > maxFuzzSyncInput {
			t.Skip("input over the cost cap")
		}
		fx.t = t // the helpers report to the running input
		heads := func() string {
			r, err := fx.m.lockRoom(t.Context(), fx.room)
			if err != nil {
				t.Fatal(err)
			}
			defer r.mu.Unlock()
			return headsOf(r.doc)
		}
		before := heads()
		_, err := fx.m.Sync(t.Context(), fx.alice, fx.room, peer, msg)
		if err != nil {
			if k := apperr.KindOf(err); k != apperr.KindInvalidArgument && k != apperr.KindPermissionDenied {
				t.Fatalf("refusal of kind %v: %v", k, err)
			}
			if got := heads(); got != before {
				t.Fatalf("refused message changed the document")
			}
			return
		}
		r, lerr := fx.m.lockRoom(t.Context(), fx.room)
		if lerr != nil {
			t.Fatal(lerr)
		}
		_, ierr := inspect(r.doc, fx.m.lim)
		r.mu.Unlock()
		if ierr != nil {
			t.Fatalf("accepted message left a document off the schema: %v", ierr)
		}
	})
}
