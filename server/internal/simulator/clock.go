package simulator

import (
	"sync"
	"time"
)

// Clock is the run's time source. Sample times come from it, so a manual clock
// makes runs reproducible.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks like time.Ticker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// SystemClock is the wall clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTicker(d time.Duration) Ticker { return sysTicker{time.NewTicker(d)} }

type sysTicker struct{ t *time.Ticker }

func (t sysTicker) C() <-chan time.Time { return t.t.C }
func (t sysTicker) Stop()               { t.t.Stop() }

// ManualClock is a Clock that moves only when Advance is called, for tests.
// Its tickers' channels are unbuffered and Advance hands every due tick to its
// receiver before returning, so when Advance returns each ticking goroutine has
// finished every earlier tick and received the last one.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*manualTicker
}

// NewManualClock returns a ManualClock at start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTicker returns a ticker firing every d of manual time.
func (c *ManualClock) NewTicker(d time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTicker{ch: make(chan time.Time), stop: make(chan struct{}), period: d, next: c.now.Add(d)}
	c.tickers = append(c.tickers, t)
	return t
}

// Advance moves the clock forward by d, firing due ticks in time order.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	tickers := append([]*manualTicker(nil), c.tickers...)
	c.mu.Unlock()
	for {
		// the earliest due tick of any ticker
		var first *manualTicker
		for _, t := range tickers {
			if !t.stopped() && !t.next.After(end) && (first == nil || t.next.Before(first.next)) {
				first = t
			}
		}
		if first == nil {
			break
		}
		at := first.next
		first.next = at.Add(first.period)
		c.mu.Lock()
		c.now = at
		c.mu.Unlock()
		select {
		case first.ch <- at:
		case <-first.stop:
		}
	}
	c.mu.Lock()
	c.now = end
	c.mu.Unlock()
}

type manualTicker struct {
	ch     chan time.Time
	stop   chan struct{}
	once   sync.Once
	period time.Duration
	next   time.Time // touched only by Advance
}

func (t *manualTicker) C() <-chan time.Time { return t.ch }
func (t *manualTicker) Stop()               { t.once.Do(func() { close(t.stop) }) }

func (t *manualTicker) stopped() bool {
	select {
	case <-t.stop:
		return true
	default:
		return false
	}
}
