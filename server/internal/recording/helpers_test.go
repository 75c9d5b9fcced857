package recording

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock { return &fakeClock{now: now} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		keep = append(keep, w)
	}
	c.waiters = keep
}

// Waiters returns how many timers are pending.
func (c *fakeClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// baseTime is a fixed day for test data (2026-03-04 05:06:07 UTC).
var baseTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newRecorder(t testing.TB, db *database.DB, opts Options) *Recorder {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = newFakeClock(baseTime)
	}
	opts.Logger = dbtest.Logger(t)
	r, err := New(db, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// runRecorder starts r.Run and returns a stop func that cancels it and returns Run's
// error.
func runRecorder(t testing.TB, r *Recorder) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// allPoints reads every raw point of an attribute through raw paging.
func allPoints(t testing.TB, r *Recorder, req HistoryRequest) []Point {
	t.Helper()
	req.Raw = true
	var out []Point
	for i := 0; ; i++ {
		h, err := r.Query(t.Context(), req)
		if err != nil {
			t.Fatalf("Query page %d: %v", i, err)
		}
		out = append(out, h.Points...)
		if h.NextPageToken == "" {
			return out
		}
		if len(h.Points) == 0 {
			t.Fatalf("page %d empty but has a next token", i)
		}
		req.PageToken = h.NextPageToken
	}
}
