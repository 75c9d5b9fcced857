package lease

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/testkit"
	"github.com/sensocto/sensocto/server/internal/testkit/natstest"
)

// ttl is short so that expiry tests are quick; the checks wait with testkit.WaitFor.
const ttl = time.Second

// backends returns, per backend, a function making the stores of n nodes sharing one
// lease table.
func backends(t *testing.T) map[string]func(t *testing.T, n int) []*Store {
	return map[string]func(t *testing.T, n int) []*Store{
		"memory": func(t *testing.T, n int) []*Store {
			m := NewMemory(ttl)
			out := make([]*Store, n)
			for i := range out {
				s, err := m.Store(string(rune('a' + i)))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(s.Close)
				out[i] = s
			}
			return out
		},
		"nats": func(t *testing.T, n int) []*Store {
			bucket := natstest.Name("lease_test_")
			out := make([]*Store, n)
			for i := range out {
				js, _ := natstest.JetStream(t) // a connection per node
				if i == 0 {
					natstest.DeleteBucket(t, js, bucket)
				}
				s, err := NewNATS(t.Context(), NATSOptions{JS: js, Bucket: bucket, Node: string(rune('a' + i)), TTL: ttl})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(s.Close)
				out[i] = s
			}
			return out
		},
	}
}

func TestLeases(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("OneWinner", func(t *testing.T) { testOneWinner(t, mk(t, 4)) })
			t.Run("ExpiryAfterHolderDies", func(t *testing.T) { testExpiry(t, mk(t, 2)) })
			t.Run("ReleaseHandsOver", func(t *testing.T) { testRelease(t, mk(t, 2)) })
			t.Run("RenewalKeepsLease", func(t *testing.T) { testRenewal(t, mk(t, 2)) })
			t.Run("Campaign", func(t *testing.T) { testCampaign(t, mk(t, 3)) })
		})
	}
}

// testOneWinner: contenders acquiring the same name at once; exactly one wins, the
// others get ErrHeld, and Holder names the winner.
func testOneWinner(t *testing.T, stores []*Store) {
	var wins atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := s.Acquire(t.Context(), "job.one")
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(s.NodeID())
				_ = l
			case !errors.Is(err, ErrHeld):
				t.Errorf("%s: Acquire: %v, want ErrHeld", s.NodeID(), err)
			}
		}()
	}
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Fatalf("%d winners, want 1", got)
	}
	h, err := stores[0].Holder(t.Context(), "job.one")
	if err != nil || h != winner.Load().(string) {
		t.Fatalf("Holder = %q, %v; want %q", h, err, winner.Load())
	}
	// A second Acquire by the winner itself is refused too: one lease per name.
	for _, s := range stores {
		if _, err := s.Acquire(t.Context(), "job.one"); !errors.Is(err, ErrHeld) {
			t.Fatalf("%s: second Acquire: %v, want ErrHeld", s.NodeID(), err)
		}
	}
}

// testExpiry: the holder's node dies (stops renewing without releasing); the name
// expires and the other node takes it.
func testExpiry(t *testing.T, stores []*Store) {
	a, b := stores[0], stores[1]
	la, err := a.Acquire(t.Context(), "job.expiry")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(t.Context(), "job.expiry"); !errors.Is(err, ErrHeld) {
		t.Fatalf("b took a held lease: %v", err)
	}
	died := time.Now()
	a.Abandon()
	var lb *Lease
	testkit.WaitFor(t, "b to take the expired lease", func() bool {
		lb, err = b.Acquire(t.Context(), "job.expiry")
		return err == nil
	})
	t.Logf("takeover %s after the holder stopped renewing (TTL %s)", time.Since(died).Round(time.Millisecond), ttl)
	if h, _ := b.Holder(t.Context(), "job.expiry"); h != b.NodeID() {
		t.Fatalf("holder %q, want %q", h, b.NodeID())
	}
	select {
	case <-lb.Lost():
		t.Fatal("the new lease is lost at once")
	default:
	}
	_ = la
}

// testRelease: a released name is free at once, without waiting for the TTL.
func testRelease(t *testing.T, stores []*Store) {
	a, b := stores[0], stores[1]
	la, err := a.Acquire(t.Context(), "job.release")
	if err != nil {
		t.Fatal(err)
	}
	if err := la.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-la.Lost():
	default:
		t.Fatal("Lost not closed after Release")
	}
	if _, err := b.Acquire(t.Context(), "job.release"); err != nil {
		t.Fatalf("b after release: %v", err)
	}
	if err := la.Release(t.Context()); err != nil {
		t.Fatalf("second Release: %v", err)
	}
}

// testRenewal: a lease held for several TTLs stays with its holder.
func testRenewal(t *testing.T, stores []*Store) {
	a, b := stores[0], stores[1]
	la, err := a.Acquire(t.Context(), "job.renew")
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the lease has been renewed past its first TTL (revision moved on
	// several times), then check that nobody else got it.
	testkit.WaitFor(t, "three renewals", func() bool {
		la.mu.Lock()
		defer la.mu.Unlock()
		return la.renewed.Sub(la.acquired) > 2*ttl
	})
	if _, err := b.Acquire(t.Context(), "job.renew"); !errors.Is(err, ErrHeld) {
		t.Fatalf("b took a renewed lease: %v", err)
	}
	select {
	case <-la.Lost():
		t.Fatal("a renewed lease was lost")
	default:
	}
}

// testCampaign: three nodes campaign for one job; one runs it at a time; when its node
// dies another runs it (never two at once); a finished job (fn returns nil) ends the
// holder's campaign, and the others, taking the name, find it finished too.
func testCampaign(t *testing.T, stores []*Store) {
	var running atomic.Int32
	var maxRunning atomic.Int32
	var runs sync.Map // node → count
	finish := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errs := make(chan error, len(stores))
	for _, s := range stores {
		go func() {
			errs <- s.Campaign(ctx, "job.campaign", func(jctx context.Context) error {
				n := running.Add(1)
				defer running.Add(-1)
				for {
					m := maxRunning.Load()
					if n <= m || maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				c, _ := runs.LoadOrStore(s.NodeID(), new(atomic.Int32))
				c.(*atomic.Int32).Add(1)
				select {
				case <-jctx.Done():
					return jctx.Err()
				case <-finish:
					return nil
				}
			})
		}()
	}
	holder := func() string {
		h, _ := stores[0].Holder(t.Context(), "job.campaign")
		return h
	}
	testkit.WaitFor(t, "a node to run the job", func() bool { return running.Load() == 1 && holder() != "" })
	first := holder()
	var dead *Store
	for _, s := range stores {
		if s.NodeID() == first {
			dead = s
		}
	}
	// The holder dies: its job must be stopped by the loss (its own node would see the
	// lease lost) and another node runs it.
	dead.Abandon()
	testkit.WaitFor(t, "another node to run the job", func() bool {
		h := holder()
		return h != "" && h != first
	})
	if m := maxRunning.Load(); m != 1 {
		t.Fatalf("%d runs at once", m)
	}
	close(finish)
	for range stores {
		if err := <-errs; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
			t.Fatalf("Campaign: %v", err)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, bad := range []string{"", ".a", "a.", "a..b", "a b", "a*", "a>", string(make([]byte, MaxNameBytes+1))} {
		if err := CheckName(bad); !errors.Is(err, apperr.KindInvalidArgument) {
			t.Errorf("CheckName(%q) = %v, want InvalidArgument", bad, err)
		}
	}
	for _, good := range []string{"a", "sim.run.0f3c", "room_doc.A-b=c"} {
		if err := CheckName(good); err != nil {
			t.Errorf("CheckName(%q) = %v", good, err)
		}
	}
	m := NewMemory(0)
	if _, err := newStore(memBackend{m}, "n", 10*time.Millisecond); !errors.Is(err, apperr.KindInvalidArgument) {
		t.Errorf("a 10 ms TTL: %v", err)
	}
	if _, err := m.Store(""); !errors.Is(err, apperr.KindInvalidArgument) {
		t.Errorf("no node id: %v", err)
	}
}
