package app_test

import (
	"sync"
	"testing"
	"time"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/lease"
	"github.com/sensocto/sensocto/server/internal/simulator"
)

// publishLog records which node published each simulated batch, in order.
type publishLog struct {
	mu    sync.Mutex
	nodes []string
}

func (l *publishLog) hook(node string) func(string, int) {
	return func(string, int) {
		l.mu.Lock()
		l.nodes = append(l.nodes, node)
		l.mu.Unlock()
	}
}

func (l *publishLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.nodes...)
}

// TestSimulatorRunMovesToAnotherNode: two nodes on one database, one bus network and
// one lease table, both configured with the demo scenario. Exactly one runs it; when
// that node dies (stops renewing its leases without releasing them, then stops), the
// other takes the same run over within the lease TTL plus the claim interval, and at
// no time do both publish.
func TestSimulatorRunMovesToAnotherNode(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dbURL := dbtest.URL(t, dialect)
			network := bus.NewNetwork()
			table := lease.NewMemory(time.Second)
			var log publishLog
			env := map[string]string{"SENSOCTO_DEMO_SCENARIO": "single_person"}
			// One simulated clock for both nodes, run fast (the demo sensor nobody
			// watches publishes every 5 s of its time).
			clock := simulator.NewManualClock(time.Now())
			ticking := make(chan struct{})
			tickDone := make(chan struct{})
			go func() {
				defer close(tickDone)
				for {
					select {
					case <-ticking:
						return
					default:
					}
					clock.Advance(simTick)
					time.Sleep(2 * time.Millisecond)
				}
			}()
			type node struct {
				srv    *server
				stop   func()
				leases *lease.Store
			}
			nodes := map[string]*node{}
			for _, id := range []string{"a", "b"} {
				b, err := network.Join(id)
				if err != nil {
					t.Fatal(err)
				}
				ls, err := table.Store(id)
				if err != nil {
					t.Fatal(err)
				}
				srv, stop := startStoppableServer(t, dbURL, env, app.WithCluster(b, ls), app.WithSimulatorPublishHook(log.hook(id)),
					app.WithSimulatorClock(clock, simTick))
				nodes[id] = &node{srv: srv, stop: stop, leases: ls}
			}
			t.Cleanup(func() { close(ticking); <-tickDone }) // before the servers stop
			holder := func() string {
				h, _ := nodes["a"].leases.Holder(t.Context(), "sim."+accounts.SystemUserID.String()+".single_person")
				return h
			}
			simWaitFor(t, "one node to run the demo", func() bool { return holder() != "" && len(log.snapshot()) >= 5 })
			first := holder()
			other := map[string]string{"a": "b", "b": "a"}[first]
			for i, n := range log.snapshot() {
				if n != first {
					t.Fatalf("batch %d published by %s while %s holds the run", i, n, first)
				}
			}
			token := signInGuest(t, nodes[other].srv.url)
			runsBefore, err := simClient(nodes[other].srv.url, token).ListRuns(t.Context(), &sensoctov1.ListRunsRequest{RunningOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			demo := findRun(runsBefore.GetRuns(), "single_person")
			if demo == nil {
				t.Fatalf("the other node does not list the demo run: %v", runsBefore.GetRuns())
			}

			// The holder dies: no release, its leases run out.
			died := time.Now()
			nodes[first].leases.Abandon()
			nodes[first].stop()
			simWaitFor(t, "the other node to take the demo over", func() bool {
				s := log.snapshot()
				return len(s) > 0 && s[len(s)-1] == other
			})
			t.Logf("simulator run taken over %s after its node died (lease TTL %s, claim interval %s)",
				time.Since(died).Round(10*time.Millisecond), time.Second, time.Second)
			// Every batch of the dead node came before every batch of the new one.
			s := log.snapshot()
			seen := false
			for i, n := range s {
				if n == other {
					seen = true
				} else if seen {
					t.Fatalf("batch %d by %s after %s took over: two nodes ran the run", i, n, other)
				}
			}
			if holder() != other {
				t.Fatalf("lease held by %q, want %q", holder(), other)
			}
			runsAfter, err := simClient(nodes[other].srv.url, token).ListRuns(t.Context(), &sensoctov1.ListRunsRequest{RunningOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			var demos []*sensoctov1.Run
			for _, r := range runsAfter.GetRuns() {
				if r.GetScenarioName() == "single_person" {
					demos = append(demos, r)
				}
			}
			if len(demos) != 1 || demos[0].GetRunId() != demo.GetRunId() {
				t.Fatalf("after the takeover the running demo runs are %v, want the one run %s", demos, demo.GetRunId())
			}
		})
	}
}
