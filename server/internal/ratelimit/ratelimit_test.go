package ratelimit_test

import (
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/ratelimit"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := ratelimit.New(2, 30*time.Second, 3, func() time.Time { return now })
	for i := range 2 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("attempt %d refused within the burst", i)
		}
	}
	ok, after := l.Allow("a")
	if ok || after <= 0 || after > 30*time.Second {
		t.Fatalf("third attempt = %v, retry after %v; want refused with 0 < retry <= 30s", ok, after)
	}
	err := l.Check("a", "sign-in")
	if e, isApp := apperr.As(err); !isApp || e.Kind != apperr.KindResourceExhausted || e.RetryAfter <= 0 {
		t.Fatalf("Check = %v, want ResourceExhausted with RetryAfter", err)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key is limited too")
	}
	now = now.Add(30 * time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refill after the interval did not happen")
	}
	for _, k := range []string{"c", "d", "e"} {
		l.Allow(k)
	}
	if n := l.Len(); n != 3 {
		t.Errorf("limiter remembers %d keys, want at most 3", n)
	}
}

func TestPeekDoesNotSpend(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := ratelimit.New(1, 10*time.Second, 0, func() time.Time { return now })
	for range 3 {
		if ok, _ := l.Peek("a"); !ok {
			t.Fatal("an unknown key has a token")
		}
	}
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("the one token was spent by Peek")
	}
	ok, after := l.Peek("a")
	if ok || after <= 0 || after > 10*time.Second {
		t.Fatalf("Peek after the burst = %v, retry after %v; want empty with 0 < retry <= 10s", ok, after)
	}
	now = now.Add(10 * time.Second)
	if ok, _ := l.Peek("a"); !ok {
		t.Fatal("Peek after the refill reports an empty bucket")
	}
}
