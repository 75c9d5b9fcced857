package live_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/live/livetest"
	"github.com/sensocto/sensocto/server/internal/sensors"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// Budgets of an idle connector session of the live domain (what RunConnector keeps
// beside its transport): no goroutine but the caller's, and a few hundred bytes of
// state (the session, its back-pressure subscription, its ack timer). Measured: 1.7 KB
// (with the fake transport's record of what it sent).
// The whole idle Stream over HTTP/2 is measured by `sensocto loadgen --idle`
// (docs/performance.md, "Memory per idle sensor").
const (
	idleSessions           = 500
	idleGoroutinesBudget   = 1.1 // per session; the caller's own is the 1
	idleSessionBytesBudget = 2 << 10
)

// TestIdleSessionCost opens many idle sessions (one batch each, then nothing) and
// checks, in goroutines and bytes of live heap (never time), what each one costs.
// Not parallel: it reads the process's goroutine count and heap.
func TestIdleSessionCost(t *testing.T) {
	env := livetest.New(t, database.DialectSQLite, livetest.Options{})
	owner := env.User(t, "owner")
	ids := make([]string, idleSessions)
	for i := range ids {
		ids[i] = fmt.Sprintf("idle-%d", i)
		if _, _, err := env.Live.Register(t.Context(), owner, sensors.RegisterInput{ID: ids[i]}); err != nil {
			t.Fatal(err)
		}
	}
	conns := make([]*fakeConn, idleSessions)
	for i := range conns {
		conns[i] = newFakeConn()
		conns[i].in <- batch{ids[i], 1, 0} // as loadgen --idle: the data of a sensor is not the session's
	}
	goroutines0, heap0 := settled()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, idleSessions)
	for _, c := range conns {
		wg.Go(func() { errs <- env.Live.RunConnector(ctx, &owner, c) })
	}
	testkit.WaitFor(t, "every session to ack its batch", func() bool {
		for _, c := range conns {
			if _, n := c.lastAck(); n == 0 {
				return false
			}
		}
		return true
	})
	goroutines1, heap1 := settled()
	perG := float64(goroutines1-goroutines0) / idleSessions
	perB := (float64(heap1) - float64(heap0)) / idleSessions
	t.Logf("per idle session: %.2f goroutines, %.0f bytes of heap (beside its fake transport)", perG, perB)
	if perG > idleGoroutinesBudget {
		t.Errorf("%.2f goroutines per idle session, budget %.1f: a session waits on its caller's goroutine only", perG, idleGoroutinesBudget)
	}
	if perB > idleSessionBytesBudget {
		t.Errorf("%.0f bytes of heap per idle session, budget %d", perB, idleSessionBytesBudget)
	}

	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("session: %v", err)
		}
	}
}

// settled returns the goroutine count and live heap after two collections.
func settled() (int, uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapAlloc
}
