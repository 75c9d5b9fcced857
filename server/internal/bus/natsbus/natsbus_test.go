package natsbus_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/bus/bustest"
	"github.com/sensocto/sensocto/server/internal/bus/natsbus"
	"github.com/sensocto/sensocto/server/internal/testkit"
	"github.com/sensocto/sensocto/server/internal/testkit/natstest"
)

func connect(t *testing.T, url string, o natsbus.Options) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.Connect(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestContract(t *testing.T) {
	t.Parallel()
	url := natstest.URL(t)
	bustest.Run(t, func(t *testing.T) (bus.Bus, bus.Bus) {
		prefix := natstest.Name("test-")
		return connect(t, url, natsbus.Options{NodeID: "node-a", Prefix: prefix}),
			connect(t, url, natsbus.Options{NodeID: "node-b", Prefix: prefix})
	})
}

// TestKeysAreEscaped: ids holding the characters NATS gives a meaning ('.', '*', '>',
// spaces) travel as they are and match only themselves.
func TestKeysAreEscaped(t *testing.T) {
	t.Parallel()
	url, prefix := natstest.URL(t), natstest.Name("test-")
	a := connect(t, url, natsbus.Options{Prefix: prefix})
	b := connect(t, url, natsbus.Options{Prefix: prefix})
	keys := []string{"a.b", "*", ">", "a b", "x.>", "ü/€", "-_"}
	subs := map[string]bus.Subscription{}
	for _, k := range keys {
		s, err := b.Subscribe(bus.KindSensorEvents, k, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs[k] = s
	}
	for _, k := range keys {
		testkit.WaitFor(t, "interest in "+k, func() bool { return a.Interested(bus.KindSensorEvents, k) })
	}
	if a.Interested(bus.KindSensorEvents, "a") {
		t.Fatal("interest in a key nobody follows")
	}
	for _, k := range keys {
		if err := a.Publish(bus.Message{Kind: bus.KindSensorEvents, Key: k, Data: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys {
		select {
		case m := <-subs[k].C():
			if m.Key != k || string(m.Data) != k || m.Origin != a.NodeID() {
				t.Fatalf("subscription of %q got key %q data %q from %q", k, m.Key, m.Data, m.Origin)
			}
		case <-time.After(testkit.Deadline):
			t.Fatalf("nothing for %q", k)
		}
	}
	for _, k := range keys {
		select {
		case m := <-subs[k].C():
			t.Fatalf("subscription of %q also got %q", k, m.Key)
		default:
		}
	}
}

// TestDeadNodeInterestLapses: a node that stops without leaving (killed) is forgotten
// after the interest TTL, and with it its interest; a node that joins late learns the
// interest of the nodes already there.
func TestDeadNodeInterestLapses(t *testing.T) {
	t.Parallel()
	url, prefix := natstest.URL(t), natstest.Name("test-")
	opts := natsbus.Options{Prefix: prefix, Heartbeat: 50 * time.Millisecond, InterestTTL: 500 * time.Millisecond}
	a := connect(t, url, opts)
	// The ghost speaks the protocol by hand, as a node that dies right after.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	delta, _ := json.Marshal(map[string]any{"node": "ghost", "v": 1, "add": []map[string]any{{"k": bus.KindMeasurements, "key": "s1"}}})
	if err := nc.Publish(prefix+".interest.delta", delta); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the ghost's interest", func() bool { return a.Interested(bus.KindMeasurements, "s1") })
	testkit.WaitFor(t, "the ghost's interest to lapse", func() bool { return !a.Interested(bus.KindMeasurements, "s1") })
	if a.Stats().Peers != 0 {
		t.Fatalf("peers %d after the ghost lapsed", a.Stats().Peers)
	}

	// Interest before a node joins reaches it (it asks everyone for their lists).
	s, err := a.Subscribe(bus.KindAttention, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	late := connect(t, url, opts)
	testkit.WaitFor(t, "the late node to learn a's interest", func() bool { return late.Interested(bus.KindAttention, "any") })
	// A closed node leaves at once (well within the TTL's polling here).
	_ = a.Close()
	testkit.WaitFor(t, "a's interest to end with a", func() bool { return !late.Interested(bus.KindAttention, "any") })
}

// TestMissedDeltaRecovers: a node that heard a delta out of order (one was lost) asks
// for the full list and ends with the right state.
func TestMissedDeltaRecovers(t *testing.T) {
	t.Parallel()
	url, prefix := natstest.URL(t), natstest.Name("test-")
	a := connect(t, url, natsbus.Options{Prefix: prefix, Heartbeat: 50 * time.Millisecond, InterestTTL: 5 * time.Second})
	b := connect(t, url, natsbus.Options{Prefix: prefix, Heartbeat: 50 * time.Millisecond, InterestTTL: 5 * time.Second})
	s, err := b.Subscribe(bus.KindBackpressure, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testkit.WaitFor(t, "interest", func() bool { return a.Interested(bus.KindBackpressure, "k") })
	// A forged delta from b with a version gap: a must not apply it, and must
	// recover b's real list (still "k", not "forged").
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	delta, _ := json.Marshal(map[string]any{"node": b.NodeID(), "v": 99, "add": []map[string]any{{"k": bus.KindBackpressure, "key": "forged"}}})
	if err := nc.Publish(prefix+".interest.delta", delta); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	if a.Interested(bus.KindBackpressure, "forged") {
		t.Fatal("a delta out of order was applied")
	}
	// A real change after the gap is recovered through the full list.
	s2, err := b.Subscribe(bus.KindBackpressure, "k2", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	testkit.WaitFor(t, "a to recover b's list", func() bool {
		return a.Interested(bus.KindBackpressure, "k2") && a.Interested(bus.KindBackpressure, "k") && !a.Interested(bus.KindBackpressure, "forged")
	})
}

func TestOptions(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		o     natsbus.Options
		field string
	}{
		"prefix with a wildcard": {natsbus.Options{Prefix: "a.*"}, "prefix"},
		"prefix with a space":    {natsbus.Options{Prefix: "a b"}, "prefix"},
		"long node id":           {natsbus.Options{NodeID: string(make([]byte, bus.MaxNodeIDBytes+1))}, "node_id"},
		"ttl under two beats":    {natsbus.Options{Heartbeat: time.Second, InterestTTL: time.Second}, "interest_ttl"},
	} {
		_, err := natsbus.Connect("nats://127.0.0.1:1", tc.o)
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.KindInvalidArgument || len(e.Violations) == 0 || e.Violations[0].Field != tc.field {
			t.Errorf("%s: %v, want InvalidArgument naming %s", name, err, tc.field)
		}
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	url, prefix := natstest.URL(t), natstest.Name("test-")
	a := connect(t, url, natsbus.Options{Prefix: prefix})
	b := connect(t, url, natsbus.Options{Prefix: prefix})
	s, err := b.Subscribe(bus.KindAttention, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testkit.WaitFor(t, "interest", func() bool { return a.Interested(bus.KindAttention, "x") })
	for range 10 {
		if err := a.Publish(bus.Message{Kind: bus.KindAttention, Key: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "the counters", func() bool {
		st := b.Stats()
		return st.Received == 2 && st.Dropped == 8
	})
	if st := a.Stats(); st.Published != 10 || st.Peers != 1 {
		t.Fatalf("a's stats %+v, want 10 published, 1 peer", st)
	}
}

// TestPeers: every node sees the others with their Info; a closed node drops out.
func TestPeers(t *testing.T) {
	t.Parallel()
	url, prefix := natstest.URL(t), natstest.Name("test-")
	opts := func(id string) natsbus.Options {
		return natsbus.Options{NodeID: id, Prefix: prefix, Heartbeat: 50 * time.Millisecond, InterestTTL: time.Second,
			Info: func() []byte { return []byte(`{"load":"` + id + `"}`) }}
	}
	a := connect(t, url, opts("a"))
	b := connect(t, url, opts("b"))
	seen := func(n *natsbus.Bus, id string) bool {
		for _, p := range n.Peers() {
			if p.NodeID == id && string(p.Info) == `{"load":"`+id+`"}` {
				return true
			}
		}
		return false
	}
	testkit.WaitFor(t, "a and b to see each other", func() bool { return seen(a, "b") && seen(b, "a") && len(a.Peers()) == 1 })
	_ = b.Close()
	testkit.WaitFor(t, "b to leave a's peers", func() bool { return len(a.Peers()) == 0 })
}
