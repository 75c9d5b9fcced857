package loadmon

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/sensocto/sensocto/server/internal/latest"
)

// Weights of the load score. CPU dominates because it is what slows every
// stream; memory has its own protection switch, so a quarter is enough for it
// to move the level; watcher queues show consumers falling behind; goroutines
// are a weak proxy for connection count and leaks.
const (
	WeightCPU        = 0.45
	WeightMemory     = 0.25
	WeightQueues     = 0.20
	WeightGoroutines = 0.10
)

// Level thresholds: a level is entered when the score reaches its threshold
// and left when the score falls LeaveMargin below it.
var enter = [...]float64{LevelElevated: 0.50, LevelHigh: 0.70, LevelCritical: 0.85}

// LeaveMargin is the hysteresis of the levels.
const LeaveMargin = 0.05

// Memory protection switches on at this heap pressure and off below
// MemoryProtectionLeave.
const (
	MemoryProtectionEnter = 0.85
	MemoryProtectionLeave = 0.75
)

// MemoryProtectionFactor multiplies the reported multiplier under protection.
const MemoryProtectionFactor = 5

// RetentionFactor is the factor the in-memory history keeps at this level:
// 1 at normal and elevated load, 0.5 at high, 0.2 at critical.
func (l Level) RetentionFactor() float64 {
	switch l {
	case LevelNormal, LevelElevated:
		return 1
	case LevelHigh:
		return 0.5
	default:
		return 0.2
	}
}

// Sample is one reading of the raw signals.
type Sample struct {
	// CPU is process CPU utilisation 0..1 (of GOMAXPROCS cores).
	CPU float64
	// HeapBytes is the memory the Go runtime holds (what the memory limit
	// counts) and MemoryLimitBytes the limit it is compared with.
	HeapBytes, MemoryLimitBytes uint64
	Goroutines                  int
	// QueuedValues and QueueCapacity are the watcher queues' fill and total
	// capacity (0 capacity: no watchers).
	QueuedValues, QueueCapacity int64
}

// Components are the signals mapped to 0..1.
type Components struct {
	CPU, Memory, Queues, Goroutines float64
}

// Snapshot is the monitor's state.
type Snapshot struct {
	Level            Level
	Score            float64
	MemoryProtection bool
	// Multiplier is the level's multiplier × MemoryProtectionFactor under
	// memory protection.
	Multiplier float64
	// MemoryPressure is heap / limit.
	MemoryPressure float64
	Components     Components
	Sample         Sample
	SampledAt      time.Time
}

// Sampler reads the raw signals.
type Sampler interface {
	Sample(now time.Time) Sample
}

// SamplerFunc adapts a function to Sampler.
type SamplerFunc func(now time.Time) Sample

// Sample calls f.
func (f SamplerFunc) Sample(now time.Time) Sample { return f(now) }

// Options configure a Monitor.
type Options struct {
	// Interval between samples (1 s when zero).
	Interval time.Duration
	// GoroutineCeiling is the goroutine count that maps to 1.0 (100,000 when
	// zero).
	GoroutineCeiling int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Monitor turns samples into a load level. All methods are safe for
// concurrent use.
type Monitor struct {
	sampler  Sampler
	interval time.Duration
	ceiling  int
	now      func() time.Time

	mu   sync.Mutex
	snap Snapshot
	subs map[*Subscription]struct{}
}

// New returns a Monitor at normal load. Run drives it; tests call Observe.
func New(sampler Sampler, opts Options) *Monitor {
	m := &Monitor{sampler: sampler, interval: opts.Interval, ceiling: opts.GoroutineCeiling, now: opts.Now,
		subs: make(map[*Subscription]struct{})}
	if m.interval <= 0 {
		m.interval = time.Second
	}
	if m.ceiling <= 0 {
		m.ceiling = 100_000
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.snap.Multiplier = 1
	return m
}

// Run samples every interval until ctx ends. The caller owns the goroutine.
func (m *Monitor) Run(ctx context.Context) error {
	tick := time.NewTicker(m.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			now := m.now()
			m.Observe(m.sampler.Sample(now), now)
		}
	}
}

func clamp01(x float64) float64 {
	if math.IsNaN(x) || x < 0 {
		return 0
	}
	return min(x, 1)
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return clamp01(a / b)
}

// Observe applies one sample and returns the new state; subscribers hear of a
// change of level or memory protection.
func (m *Monitor) Observe(s Sample, now time.Time) Snapshot {
	c := Components{
		CPU:        clamp01(s.CPU),
		Memory:     ratio(float64(s.HeapBytes), float64(s.MemoryLimitBytes)),
		Queues:     ratio(float64(s.QueuedValues), float64(s.QueueCapacity)),
		Goroutines: ratio(float64(s.Goroutines), float64(m.ceiling)),
	}
	score := WeightCPU*c.CPU + WeightMemory*c.Memory + WeightQueues*c.Queues + WeightGoroutines*c.Goroutines

	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.snap
	level := prev.Level
	const eps = 1e-9 // a score computed as 0.49999999 for 0.5 is 0.5
	for level < LevelCritical && score+eps >= enter[level+1] {
		level++
	}
	for level > LevelNormal && score+eps < enter[level]-LeaveMargin {
		level--
	}
	prot := prev.MemoryProtection
	if c.Memory >= MemoryProtectionEnter {
		prot = true
	} else if c.Memory < MemoryProtectionLeave {
		prot = false
	}
	mult := level.Multiplier()
	if prot {
		mult *= MemoryProtectionFactor
	}
	m.snap = Snapshot{Level: level, Score: score, MemoryProtection: prot, Multiplier: mult,
		MemoryPressure: c.Memory, Components: c, Sample: s, SampledAt: now}
	if level != prev.Level || prot != prev.MemoryProtection {
		for sub := range m.subs {
			sub.put(m.snap)
		}
	}
	return m.snap
}

// Snapshot returns the current state.
func (m *Monitor) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snap
}

// Subscription receives the state when the level or memory protection
// changes, through a one-slot mailbox that keeps the latest.
type Subscription struct {
	m  *Monitor
	ch chan Snapshot
}

// Subscribe returns a Subscription whose mailbox already holds the current
// state. Close it when done.
func (m *Monitor) Subscribe() *Subscription {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &Subscription{m: m, ch: make(chan Snapshot, 1)}
	m.subs[s] = struct{}{}
	s.put(m.snap)
	return s
}

// C returns the mailbox.
func (s *Subscription) C() <-chan Snapshot { return s.ch }

// put overwrites the mailbox; m.mu is held, so the monitor is the only writer.
func (s *Subscription) put(snap Snapshot) { latest.Put(s.ch, snap) }

// Close ends the subscription.
func (s *Subscription) Close() {
	s.m.mu.Lock()
	delete(s.m.subs, s)
	s.m.mu.Unlock()
}
