package auth_test

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/auth"
	"github.com/sensocto/sensocto/server/internal/authz"
)

func TestStreamLimiter(t *testing.T) {
	t.Parallel()
	var protecting atomic.Bool
	l := auth.NewStreamLimiter(auth.StreamLimits{PerUser: 3, PerIP: 5, Protecting: protecting.Load})
	ipA, ipB := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	alice, bob := uuid.New(), uuid.New()
	as := func(user uuid.UUID, ip netip.Addr) context.Context {
		ctx := authz.WithRequest(context.Background(), authz.Request{ClientIP: ip})
		if user != uuid.Nil {
			ctx = authz.WithViewer(ctx, authz.Viewer{UserID: user})
		}
		return ctx
	}
	acquire := func(ctx context.Context) (func(), error) {
		t.Helper()
		release, err := l.Acquire(ctx)
		if err != nil {
			if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.KindResourceExhausted || ae.RetryAfter <= 0 {
				t.Fatalf("refusal %v, want resource_exhausted with a retry delay", err)
			}
		}
		return release, err
	}

	var aliceReleases []func()
	for i := range 3 {
		r, err := acquire(as(alice, ipA))
		if err != nil {
			t.Fatalf("alice's stream %d: %v", i, err)
		}
		aliceReleases = append(aliceReleases, r)
	}
	if _, err := acquire(as(alice, ipB)); err == nil {
		t.Fatal("alice's 4th stream (from another address) was allowed over the per-user limit of 3")
	}
	// Bob and anonymous callers share ipA's budget of 5: 3 are alice's.
	rb, err := acquire(as(bob, ipA))
	if err != nil {
		t.Fatalf("bob's stream: %v", err)
	}
	ranon, err := acquire(as(uuid.Nil, ipA))
	if err != nil {
		t.Fatalf("anonymous stream: %v", err)
	}
	if _, err := acquire(as(bob, ipA)); err == nil {
		t.Fatal("6th stream from one address was allowed over the per-IP limit of 5")
	}
	if _, err := acquire(as(bob, ipB)); err != nil {
		t.Fatalf("bob from another address: %v", err)
	}

	// Ending streams frees their places, once however often release is called.
	aliceReleases[0]()
	aliceReleases[0]()
	if u, ip := l.Open(alice, ipA); u != 2 || ip != 4 {
		t.Fatalf("after one release: alice %d, ipA %d open; want 2 and 4", u, ip)
	}
	r, err := acquire(as(alice, ipA))
	if err != nil {
		t.Fatalf("alice after a release: %v", err)
	}
	r()
	rb()
	ranon()

	// Under memory protection no new stream opens, whoever asks.
	protecting.Store(true)
	if _, err := acquire(as(bob, netip.MustParseAddr("198.51.100.9"))); err == nil {
		t.Fatal("a stream opened under memory protection")
	}
	protecting.Store(false)
	if _, err := acquire(as(bob, netip.MustParseAddr("198.51.100.9"))); err != nil {
		t.Fatalf("after memory protection: %v", err)
	}
}
