// Package bustest is the contract suite of bus.Bus: every implementation's tests call
// Run with a function that makes two connected nodes, and must pass it unchanged.
package bustest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// NewPair returns two nodes of one bus (distinct NodeIDs), closed by the test's
// cleanup. Messages may take time to travel: the suite waits with a deadline and never
// assumes synchronous delivery, except that a subscription receives nothing published
// before Subscribe returned and Interested is true.
type NewPair func(t *testing.T) (a, b bus.Bus)

// deadline bounds every wait of the suite.
const deadline = testkit.Deadline

// Run runs the contract suite.
func Run(t *testing.T, newPair NewPair) {
	t.Helper()
	cases := []struct {
		name string
		f    func(*testing.T, NewPair)
	}{
		{"Delivery", testDelivery},
		{"NoEcho", testNoEcho},
		{"KeysAndKinds", testKeysAndKinds},
		{"OrderPerKey", testOrderPerKey},
		{"DropsCounted", testDropsCounted},
		{"Unsubscribe", testUnsubscribe},
		{"Interest", testInterest},
		{"Close", testClose},
		{"Invalid", testInvalid},
		{"PayloadNotKept", testPayloadNotKept},
		{"Concurrent", testConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.f(t, newPair)
		})
	}
}

// subscribe subscribes on b and waits until a sees the interest.
func subscribe(t *testing.T, a, b bus.Bus, kind bus.Kind, key string, queue int) bus.Subscription {
	t.Helper()
	s, err := b.Subscribe(kind, key, queue)
	if err != nil {
		t.Fatalf("subscribe %s %q: %v", kind, key, err)
	}
	t.Cleanup(s.Close)
	probe := key
	if probe == "" {
		probe = "any-key"
	}
	testkit.WaitFor(t, fmt.Sprintf("interest in %s %q", kind, key), func() bool { return a.Interested(kind, probe) })
	return s
}

func publish(t *testing.T, b bus.Bus, kind bus.Kind, key, data string) {
	t.Helper()
	if err := b.Publish(bus.Message{Kind: kind, Key: key, Data: []byte(data)}); err != nil {
		t.Fatalf("publish %s %q: %v", kind, key, err)
	}
}

// receive waits for the next message.
func receive(t *testing.T, s bus.Subscription) bus.Message {
	t.Helper()
	select {
	case m, ok := <-s.C():
		if !ok {
			t.Fatal("subscription ended, want a message")
		}
		return m
	case <-time.After(deadline):
		t.Fatal("timed out waiting for a message")
	}
	return bus.Message{}
}

// drainUntilMarker publishes a marker from a on key and returns what s received before
// it: everything published before it on that key has arrived or was dropped.
func drainUntilMarker(t *testing.T, a bus.Bus, s bus.Subscription, kind bus.Kind, key string) []bus.Message {
	t.Helper()
	publish(t, a, kind, key, "marker")
	var got []bus.Message
	for {
		m := receive(t, s)
		if m.Key == key && string(m.Data) == "marker" {
			return got
		}
		got = append(got, m)
	}
}

func testDelivery(t *testing.T, newPair NewPair) {
	a, b := newPair(t)
	if a.NodeID() == "" || a.NodeID() == b.NodeID() {
		t.Fatalf("node ids %q and %q: want two distinct non-empty ids", a.NodeID(), b.NodeID())
	}
	s := subscribe(t, a, b, bus.KindSensorEvents, "sensor-1", 0)
	publish(t, a, bus.KindSensorEvents, "sensor-1", "connected")
	m := receive(t, s)
	want := bus.Message{Kind: bus.KindSensorEvents, Key: "sensor-1", Data: []byte("connected"), Origin: a.NodeID()}
	if m.Kind != want.Kind || m.Key != want.Key || !bytes.Equal(m.Data, want.Data) || m.Origin != want.Origin {
		t.Fatalf("received %+v, want %+v", m, want)
	}
	if s.Dropped() != 0 {
		t.Fatalf("dropped %d, want 0", s.Dropped())
	}
}

func testNoEcho(t *testing.T, newPair NewPair) {
	a, b := newPair(t)
	own, err := a.Subscribe(bus.KindAttention, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	if a.Interested(bus.KindAttention, "s") {
		t.Fatal("a node's own subscription counts as interest of another node")
	}
	s := subscribe(t, a, b, bus.KindAttention, "", 0)
	publish(t, a, bus.KindAttention, "s", "from a")
	if got := receive(t, s); string(got.Data) != "from a" {
		t.Fatalf("b received %q", got.Data)
	}
	// What a published is never delivered to a; b's message, published after b
	// received a's, is.
	testkit.WaitFor(t, "b to see a's interest", func() bool { return b.Interested(bus.KindAttention, "s") })
	publish(t, b, bus.KindAttention, "s", "from b")
	if got := receive(t, own); string(got.Data) != "from b" || got.Origin != b.NodeID() {
		t.Fatalf("a received %q from %q, want only b's message", got.Data, got.Origin)
	}
}

func testKeysAndKinds(t *testing.T, newPair NewPair) {
	a, b := newPair(t)
	one := subscribe(t, a, b, bus.KindRoomEvents, "room-1", 0)
	all := subscribe(t, a, b, bus.KindRoomEvents, "", 0)
	presence := subscribe(t, a, b, bus.KindRoomPresence, "room-1", 0)
	if a.Interested(bus.KindRoomPresence, "room-2") {
		t.Fatal("interest in room_presence of room-2, but only room-1 is followed")
	}
	publish(t, a, bus.KindRoomEvents, "room-2", "r2")
	publish(t, a, bus.KindRoomPresence, "room-2", "p2")
	publish(t, a, bus.KindRoomEvents, "room-1", "r1")
	publish(t, a, bus.KindRoomPresence, "room-1", "p1")
	if m := receive(t, one); string(m.Data) != "r1" {
		t.Fatalf("key subscription got %q, want only room-1's event", m.Data)
	}
	if m := receive(t, all); string(m.Data) != "r2" {
		t.Fatalf("every-key subscription got %q first, want r2", m.Data)
	}
	if m := receive(t, all); string(m.Data) != "r1" {
		t.Fatalf("every-key subscription got %q second, want r1", m.Data)
	}
	if m := receive(t, presence); string(m.Data) != "p1" || m.Kind != bus.KindRoomPresence {
		t.Fatalf("presence subscription got %s %q, want p1", m.Kind, m.Data)
	}
	// Nothing more: a marker on room-1 is the next message of each.
	for _, c := range []struct {
		name string
		s    bus.Subscription
		kind bus.Kind
	}{{"key", one, bus.KindRoomEvents}, {"all", all, bus.KindRoomEvents}, {"presence", presence, bus.KindRoomPresence}} {
		if got := drainUntilMarker(t, a, c.s, c.kind, "room-1"); len(got) != 0 {
			t.Fatalf("%s subscription got more: %v", c.name, got)
		}
	}
}

func testOrderPerKey(t *testing.T, newPair NewPair) {
	a, b := newPair(t)
	const perKey = 500
	keys := []string{"k1", "k2", "k3"}
	s := subscribe(t, a, b, bus.KindMeasurements, "", 4*perKey)
	for i := range perKey {
		for _, k := range keys {
			publish(t, a, bus.KindMeasurements, k, strconv.Itoa(i))
		}
	}
	next := map[string]int{}
	for n := 0; n < perKey*len(keys); n++ {
		m := receive(t, s)
		i, err := strconv.Atoi(string(m.Data))
		if err != nil || i != next[m.Key] {
			t.Fatalf("key %s: got %q, want %d (messages of a key arrive in publish order)", m.Key, m.Data, next[m.Key])
		}
		next[m.Key]++
	}
	if s.Dropped() != 0 {
		t.Fatalf("dropped %d with a queue large enough for all", s.Dropped())
	}
}

func testDropsCounted(t *testing.T, newPair NewPair) {
	a, b := newPair(t)
	const queue, published = 8, 100
	s := subscribe(t, a, b, bus.KindBackpressure, "", queue)
	for i := range published {
		publish(t, a, bus.KindBackpressure, "s", strconv.Itoa(i)) // never waits for the reader
	}
	// Nothing is read until the queue is full and the rest counted as dropped.
	testkit.WaitFor(t, "the overflow to be dropped", func() bool { return s.Dropped() >= published-queue })
	var got []int
	for len(got) < queue {
		m := receive(t, s)
		i, _ := strconv.Atoi(string(m.Data))
		got = append(got, i)
	}
	rest := drainUntilMarker(t, a, s, bus.KindBackpressure, "s")
	if len(rest) != 0 {
		t.Fatalf("received %d more than the queue holds: %v", len(rest), rest)
	}
	if d := s.Dropped(); uint64(len(got))+d != published {
		t.Fatalf("received %d + dropped %d, want %d published: every message is delivered or counted", len(got), d, published)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("received %v: duplicated or out of order", got)
		}
	}
}

func testUnsubscribe(t *testing.T, newPair NewPair) {
	a, b := newPair(t)
	s := subscribe(t, a, b, bus.KindSensorEvents, "s", 0)
	keep := subscribe(t, a, b, bus.KindSensorEvents, "s", 0)
	publish(t, a, bus.KindSensorEvents, "s", "before")
	if m := receive(t, s); string(m.Data) != "before" {
		t.Fatalf("got %q", m.Data)
	}
	s.Close()
	s.Close() // idempotent
	publish(t, a, bus.KindSensorEvents, "s", "after")
	for m := range s.C() {
		t.Fatalf("a closed subscription received %q", m.Data)
	}
	if m := receive(t, keep); string(m.Data) != "before" {
		t.Fatalf("the other subscription got %q", m.Data)
	}
	if m := receive(t, keep); string(m.Data) != "after" {
		t.Fatalf("the other subscription got %q, want it unaffected", m.Data)
	}
	keep.Close()
	testkit.WaitFor(t, "interest to end with the last subscription", func() bool { return !a.Interested(bus.KindSensorEvents, "s") })
}

func testInterest(t *testing.T, newPair NewPair) {
	a, b := newPair(t)
	for _, k := range bus.Kinds() {
		if a.Interested(k, "x") || b.Interested(k, "x") {
			t.Fatalf("interest in %s before any subscription", k)
		}
	}
	if a.Interested(0, "x") || a.Interested(bus.Kind(200), "x") {
		t.Fatal("interest in an undefined kind")
	}
	s := subscribe(t, a, b, bus.KindMeasurements, "x", 0)
	if b.Interested(bus.KindMeasurements, "x") {
		t.Fatal("b's own subscription makes b interested")
	}
	if a.Interested(bus.KindMeasurements, "y") || a.Interested(bus.KindAttention, "x") {
		t.Fatal("interest leaks to another key or kind")
	}
	s.Close()
	testkit.WaitFor(t, "interest to end", func() bool { return !a.Interested(bus.KindMeasurements, "x") })
}

func testClose(t *testing.T, newPair NewPair) {
	a, b := newPair(t)
	s := subscribe(t, a, b, bus.KindRevocations, "", 0)
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	select {
	case _, ok := <-s.C():
		if ok {
			t.Fatal("a message after the bus closed")
		}
	case <-time.After(deadline):
		t.Fatal("the subscription's channel stays open after its bus closed")
	}
	s.Close() // still safe
	if err := b.Publish(bus.Message{Kind: bus.KindRevocations, Key: "u"}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("publish after close: %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe(bus.KindRevocations, "", 0); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("subscribe after close: %v, want ErrClosed", err)
	}
	testkit.WaitFor(t, "a closed node's interest to end", func() bool { return !a.Interested(bus.KindRevocations, "u") })
	publish(t, a, bus.KindRevocations, "u", "nobody listens") // the other node goes on
}

func testInvalid(t *testing.T, newPair NewPair) {
	a, _ := newPair(t)
	long := string(bytes.Repeat([]byte("k"), bus.MaxKeyBytes+1))
	for name, tc := range map[string]struct {
		m     bus.Message
		field string
	}{
		"no kind":      {bus.Message{Key: "k"}, "kind"},
		"unknown kind": {bus.Message{Kind: 99, Key: "k"}, "kind"},
		"no key":       {bus.Message{Kind: bus.KindAttention}, "key"},
		"long key":     {bus.Message{Kind: bus.KindAttention, Key: long}, "key"},
		"bad utf-8":    {bus.Message{Kind: bus.KindAttention, Key: "\xff"}, "key"},
		"large data":   {bus.Message{Kind: bus.KindAttention, Key: "k", Data: make([]byte, bus.MaxDataBytes+1)}, "data"},
	} {
		checkField(t, "publish "+name, a.Publish(tc.m), tc.field)
	}
	for name, tc := range map[string]struct {
		kind  bus.Kind
		key   string
		queue int
		field string
	}{
		"unknown kind":   {0, "", 0, "kind"},
		"long key":       {bus.KindAttention, long, 0, "key"},
		"negative queue": {bus.KindAttention, "", -1, "queue"},
		"huge queue":     {bus.KindAttention, "", bus.MaxQueue + 1, "queue"},
	} {
		s, err := a.Subscribe(tc.kind, tc.key, tc.queue)
		if s != nil {
			s.Close()
		}
		checkField(t, "subscribe "+name, err, tc.field)
	}
}

func checkField(t *testing.T, what string, err error, field string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindInvalidArgument {
		t.Errorf("%s: %v, want InvalidArgument", what, err)
		return
	}
	for _, v := range e.Violations {
		if v.Field == field {
			return
		}
	}
	t.Errorf("%s: %v does not name field %s", what, err, field)
}

func testPayloadNotKept(t *testing.T, newPair NewPair) {
	a, b := newPair(t)
	s := subscribe(t, a, b, bus.KindAttention, "s", 0)
	buf := []byte("first")
	if err := a.Publish(bus.Message{Kind: bus.KindAttention, Key: "s", Data: buf}); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX") // the publisher reuses its buffer
	if m := receive(t, s); string(m.Data) != "first" {
		t.Fatalf("received %q: the bus kept the publisher's buffer", m.Data)
	}
}

// testConcurrent publishes from several goroutines on both nodes while subscriptions
// come and go and one node closes; run it with -race.
func testConcurrent(t *testing.T, newPair NewPair) {
	a, b := newPair(t)
	s := subscribe(t, a, b, bus.KindMeasurements, "", 64)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for p := range 4 {
		wg.Go(func() {
			node := a
			if p%2 == 1 {
				node = b
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := node.Publish(bus.Message{Kind: bus.KindMeasurements, Key: "k" + strconv.Itoa(p), Data: []byte{byte(i)}})
				if err != nil && !errors.Is(err, bus.ErrClosed) {
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			sub, err := a.Subscribe(bus.KindMeasurements, "k1", 4)
			if err != nil {
				t.Errorf("subscribe: %v", err)
				return
			}
			_ = a.Interested(bus.KindMeasurements, "k0")
			sub.Close()
		}
	})
	received := 0
	testkit.WaitFor(t, "messages while publishers race", func() bool {
		for {
			select {
			case <-s.C():
				received++
				continue
			default:
			}
			return received >= 100
		}
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	for range s.C() { // closed with b
	}
}
