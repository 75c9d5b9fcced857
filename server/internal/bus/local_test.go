package bus_test

import (
	"runtime"
	"testing"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/bus/bustest"
)

func TestLocalContract(t *testing.T) {
	t.Parallel()
	bustest.Run(t, func(t *testing.T) (bus.Bus, bus.Bus) {
		n := bus.NewNetwork()
		a, err := n.Join("node-a")
		if err != nil {
			t.Fatal(err)
		}
		b, err := n.Join("node-b")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		return a, b
	})
}

// TestSingleNodeIsNeverInterested: the bus of a single server (NewLocal) never reports
// interest, even in kinds it subscribes to itself, so its owners publish nothing.
func TestSingleNodeIsNeverInterested(t *testing.T) {
	t.Parallel()
	l, err := bus.NewLocal("only")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, k := range bus.Kinds() {
		s, err := l.Subscribe(k, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	for _, k := range bus.Kinds() {
		if l.Interested(k, "x") {
			t.Errorf("a single node is interested in %s", k)
		}
	}
	if err := l.Publish(bus.Message{Kind: bus.KindAttention, Key: "x"}); err != nil {
		t.Fatalf("publish with nobody else: %v", err)
	}
}

func TestSolo(t *testing.T) {
	t.Parallel()
	l, err := bus.NewLocal("only")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	j, err := bus.NewNetwork().Join("a")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if !bus.IsSolo(l) || bus.IsSolo(j) {
		t.Fatalf("IsSolo: NewLocal %v, a joined node %v; want true, false", bus.IsSolo(l), bus.IsSolo(j))
	}
}

func TestJoin(t *testing.T) {
	t.Parallel()
	n := bus.NewNetwork()
	a, err := n.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Join("a"); apperr.KindOf(err) != apperr.KindAlreadyExists {
		t.Fatalf("second node a: %v, want AlreadyExists", err)
	}
	if _, err := n.Join(""); apperr.KindOf(err) != apperr.KindInvalidArgument {
		t.Fatalf("empty id: %v, want InvalidArgument", err)
	}
	_ = a.Close()
	if _, err := n.Join("a"); err != nil {
		t.Fatalf("the id of a node that left: %v", err)
	}
}

// BenchmarkInterestedNobody is the cost an owner pays per message on a single node.
func BenchmarkInterestedNobody(b *testing.B) {
	l, _ := bus.NewLocal("only")
	defer l.Close()
	b.ReportAllocs()
	for b.Loop() {
		if l.Interested(bus.KindMeasurements, "sensor") {
			b.Fatal("interested")
		}
	}
}

// A single server's subscriptions (rooms, room documents) ask for MaxQueue messages; on a
// solo bus nothing can ever arrive, so the queue must not be allocated (4 MiB each).
func TestSoloSubscriptionAllocatesNoQueue(t *testing.T) {
	l, err := bus.NewLocal("only")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var subs []bus.Subscription
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 4 {
		s, err := l.Subscribe(bus.KindRoomEvents, "", bus.MaxQueue)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Fatalf("4 subscriptions of MaxQueue on a solo bus allocated %d bytes; want no queue (< 64 KiB)", got)
	}
	for _, s := range subs {
		s.Close()
		if _, open := <-s.C(); open {
			t.Fatal("a closed subscription's channel must be closed")
		}
	}
}
