// Package ratelimit owns per-key rate limiting: a bounded set of token buckets (one per
// client IP, email address, …) that refuses with ResourceExhausted and a retry hint. It
// knows no transport and no domain; package accounts limits sign-in attempts with it.
package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// DefaultKeys bounds how many keys a Limiter remembers.
const DefaultKeys = 10_000

// Limiter is a set of token buckets, one per key (a client IP, an email address),
// holding at most a bounded number of keys: the least recently used key is forgotten
// first (which at worst gives that key a fresh, full bucket). Safe for concurrent use.
type Limiter struct {
	every   rate.Limit
	burst   int
	maxKeys int
	now     func() time.Time

	mu    sync.Mutex
	order *list.List // of *bucket, most recently used first
	byKey map[string]*list.Element
}

type bucket struct {
	key string
	lim *rate.Limiter
}

// New allows each key burst events at once and then one per interval. maxKeys <= 0
// means DefaultKeys; now nil means time.Now.
func New(burst int, interval time.Duration, maxKeys int, now func() time.Time) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultKeys
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		every:   rate.Every(interval),
		burst:   max(burst, 1),
		maxKeys: maxKeys,
		now:     now,
		order:   list.New(),
		byKey:   make(map[string]*list.Element),
	}
}

// Allow takes one token from key's bucket. When the bucket is empty it returns false and
// how long until a token is available.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if el, found := l.byKey[key]; found {
		l.order.MoveToFront(el)
		b = el.Value.(*bucket)
	} else {
		b = &bucket{key: key, lim: rate.NewLimiter(l.every, l.burst)}
		l.byKey[key] = l.order.PushFront(b)
		for l.order.Len() > l.maxKeys {
			oldest := l.order.Back()
			l.order.Remove(oldest)
			delete(l.byKey, oldest.Value.(*bucket).key)
		}
	}
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Peek reports whether key's bucket holds a token, without taking one, and when it does
// not, how long until it will. A caller that spends tokens on failures only (refused
// input) asks Peek before doing the work and Allow after it failed.
func (l *Limiter) Peek(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el, found := l.byKey[key]
	if !found {
		return true, 0
	}
	lim := el.Value.(*bucket).lim
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - tokens) / float64(l.every) * float64(time.Second))
}

// Check is Allow as an error: nil, or ResourceExhausted with a retry hint.
func (l *Limiter) Check(key, what string) error {
	if ok, after := l.Allow(key); !ok {
		return apperr.ResourceExhausted(after.Round(time.Second)+time.Second, "too many %s attempts; try again later", what)
	}
	return nil
}

// Len returns the number of keys remembered.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}
