package authz_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// node is one server's revocations, relayed over its node of a bus.
type node struct {
	rev *authz.Revocations
	bus bus.Bus
}

func relayed(t *testing.T, b bus.Bus) node {
	t.Helper()
	n := node{rev: authz.NewRevocations(), bus: b}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := n.rev.Relay(ctx, b); err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait(); _ = b.Close() })
	return n
}

// guard opens a guarded stream of v on the node.
func (n node) guard(t *testing.T, v authz.Viewer) *authz.StreamGuard {
	t.Helper()
	ctx := authz.WithRequest(authz.WithViewer(t.Context(), v), authz.Request{Revocations: n.rev})
	g, err := authz.GuardStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

func viewer() authz.Viewer { return authz.Viewer{UserID: uuid.New(), TokenID: uuid.New()} }

// TestRevocationsCrossNodes: a token revoked or a user deleted on one node ends the
// streams opened with it on every node; the others go on.
func TestRevocationsCrossNodes(t *testing.T) {
	t.Parallel()
	network := bus.NewNetwork()
	ba, _ := network.Join("a")
	bb, _ := network.Join("b")
	a, b := relayed(t, ba), relayed(t, bb)
	testkit.WaitFor(t, "both nodes to follow revocations", func() bool {
		return ba.Interested(bus.KindRevocations, "x") && bb.Interested(bus.KindRevocations, "x")
	})

	revoked, deleted, other := viewer(), viewer(), viewer()
	onA, onB := a.guard(t, revoked), b.guard(t, revoked)
	delA, delB := a.guard(t, deleted), b.guard(t, deleted)
	otherB := b.guard(t, other)

	a.rev.TokensRevoked(revoked.TokenID)
	if onA.Valid() {
		t.Fatal("the stream on the revoking node outlived TokensRevoked")
	}
	testkit.WaitFor(t, "the stream on the other node to end", func() bool { return !onB.Valid() })

	b.rev.UsersDeleted(deleted.UserID)
	testkit.WaitFor(t, "the deleted user's stream on node a to end", func() bool { return !delA.Valid() })
	if delB.Valid() || otherB.Err() != nil {
		t.Fatalf("node b: deleted user's stream valid %v, other stream ended with %v", delB.Valid(), otherB.Err())
	}
	if err := onB.Err(); err == nil || onB.Context().Err() == nil {
		t.Fatalf("the revoked stream on node b: err %v, context %v", err, onB.Context().Err())
	}
}

// countingBus counts what Revocations asks of its bus.
type countingBus struct {
	bus.Bus
	subscribed, asked, published atomic.Int64
}

func (c *countingBus) Subscribe(k bus.Kind, key string, queue int) (bus.Subscription, error) {
	c.subscribed.Add(1)
	return c.Bus.Subscribe(k, key, queue)
}

func (c *countingBus) Interested(k bus.Kind, key string) bool {
	c.asked.Add(1)
	return c.Bus.Interested(k, key)
}

func (c *countingBus) Publish(m bus.Message) error {
	c.published.Add(1)
	return c.Bus.Publish(m)
}

// TestSingleNodeRevocationsStayLocal: with no other node nothing is published, and the
// node's own streams still end at once.
func TestSingleNodeRevocationsStayLocal(t *testing.T) {
	t.Parallel()
	only, _ := bus.NewLocal("only")
	c := &countingBus{Bus: only}
	n := relayed(t, c)
	testkit.WaitFor(t, "the relay to subscribe", func() bool { return c.subscribed.Load() == 1 })
	v := viewer()
	g := n.guard(t, v)
	n.rev.TokensRevoked(v.TokenID)
	n.rev.UsersDeleted(v.UserID)
	n.rev.UsersChanged(v.UserID)
	if g.Valid() {
		t.Fatal("the stream outlived TokensRevoked")
	}
	if a, p := c.asked.Load(), c.published.Load(); a != 3 || p != 0 {
		t.Fatalf("asked the bus %d times and published %d revocations, want 3 and none on a single node", a, p)
	}
}
