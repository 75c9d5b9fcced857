package loadmon

import (
	"context"
	"math"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// cpuOnly is a sample whose score is exactly 0.45 × cpu.
func cpuOnly(cpu float64) Sample { return Sample{CPU: cpu} }

// scoreSample gives a sample with the given score: CPU, queues and goroutines
// up to 0.75, then memory (which stays below the protection threshold up to a
// score of 0.9625).
func scoreSample(score float64) Sample {
	x, mem := score/0.75, 0.0
	if score > 0.75 {
		x, mem = 1, (score-0.75)/WeightMemory
	}
	return Sample{CPU: x, QueuedValues: int64(math.Ceil(x * 1e9)), QueueCapacity: 1e9, Goroutines: int(math.Ceil(x * 100_000)),
		HeapBytes: uint64(math.Ceil(mem * 1e9)), MemoryLimitBytes: 1e9}
}

func TestLevelHysteresis(t *testing.T) {
	t.Parallel()
	steps := []struct {
		score float64
		want  Level
	}{
		{0.10, LevelNormal},
		{0.49, LevelNormal},
		{0.50, LevelElevated},
		{0.46, LevelElevated}, // within the margin
		{0.44, LevelNormal},
		{0.90, LevelCritical}, // straight up
		{0.81, LevelCritical},
		{0.79, LevelHigh},
		{0.66, LevelHigh},
		{0.64, LevelElevated},
		{0.70, LevelHigh},
		{0.10, LevelNormal}, // straight down
	}
	m := New(nil, Options{})
	now := time.Unix(0, 0)
	for i, st := range steps {
		snap := m.Observe(scoreSample(st.score), now)
		if snap.Level != st.want {
			t.Fatalf("step %d: score %.2f (computed %.4f) → %v, want %v", i, st.score, snap.Score, snap.Level, st.want)
		}
		if snap.Multiplier != st.want.Multiplier() {
			t.Fatalf("step %d: multiplier %v", i, snap.Multiplier)
		}
	}
}

func TestMemoryProtection(t *testing.T) {
	t.Parallel()
	const limit = 1000
	steps := []struct {
		heap uint64
		want bool
	}{
		{500, false}, {849, false}, {850, true}, {800, true}, {751, true}, {749, false}, {2000, true},
	}
	m := New(nil, Options{})
	for i, st := range steps {
		snap := m.Observe(Sample{HeapBytes: st.heap, MemoryLimitBytes: limit}, time.Time{})
		if snap.MemoryProtection != st.want {
			t.Fatalf("step %d: heap %d → protection %v, want %v", i, st.heap, snap.MemoryProtection, st.want)
		}
		wantMult := snap.Level.Multiplier()
		if st.want {
			wantMult *= 5
		}
		if snap.Multiplier != wantMult || snap.MemoryPressure != min(float64(st.heap)/limit, 1) {
			t.Fatalf("step %d: %+v", i, snap)
		}
	}
}

func TestScoreWeights(t *testing.T) {
	t.Parallel()
	m := New(nil, Options{GoroutineCeiling: 1000})
	snap := m.Observe(Sample{CPU: 1, HeapBytes: 1, MemoryLimitBytes: 1, QueuedValues: 5, QueueCapacity: 5, Goroutines: 1000}, time.Time{})
	if snap.Score < 0.999 || snap.Score > 1.001 || snap.Level != LevelCritical {
		t.Fatalf("full load: %+v", snap)
	}
	// Each signal alone at full and at half scale moves the score by exactly its
	// weight (written out, not taken from the constants, so swapped weights fail).
	cases := []struct {
		name      string
		full      Sample
		half      Sample
		weight    float64
		component Components
	}{
		{"cpu", Sample{CPU: 1}, Sample{CPU: 0.5}, 0.45, Components{CPU: 1}},
		{"memory", Sample{HeapBytes: 1000, MemoryLimitBytes: 1000}, Sample{HeapBytes: 500, MemoryLimitBytes: 1000}, 0.25, Components{Memory: 1}},
		{"queues", Sample{QueuedValues: 40, QueueCapacity: 40}, Sample{QueuedValues: 20, QueueCapacity: 40}, 0.20, Components{Queues: 1}},
		{"goroutines", Sample{Goroutines: 1000}, Sample{Goroutines: 500}, 0.10, Components{Goroutines: 1}},
	}
	for _, c := range cases {
		m := New(nil, Options{GoroutineCeiling: 1000})
		snap := m.Observe(c.full, time.Time{})
		if math.Abs(snap.Score-c.weight) > 1e-9 || snap.Components != c.component {
			t.Errorf("%s only: score %v components %+v, want %v and %+v", c.name, snap.Score, snap.Components, c.weight, c.component)
		}
		snap = m.Observe(c.half, time.Time{})
		if math.Abs(snap.Score-c.weight/2) > 1e-9 {
			t.Errorf("%s at half: score %v, want %v", c.name, snap.Score, c.weight/2)
		}
	}
	// The levels the weighted signals reach together (the score is in the comment).
	levels := []struct {
		s    Sample
		want Level
	}{
		{Sample{CPU: 1}, LevelNormal},                                                               // 0.45
		{Sample{CPU: 1, Goroutines: 1000}, LevelElevated},                                           // 0.55
		{Sample{QueuedValues: 1, QueueCapacity: 1, Goroutines: 1000}, LevelNormal},                  // 0.30
		{Sample{CPU: 1, HeapBytes: 1, MemoryLimitBytes: 1}, LevelHigh},                              // 0.70
		{Sample{HeapBytes: 1, MemoryLimitBytes: 1, QueuedValues: 1, QueueCapacity: 1}, LevelNormal}, // 0.45
	}
	for i, l := range levels {
		m := New(nil, Options{GoroutineCeiling: 1000})
		if snap := m.Observe(l.s, time.Time{}); snap.Level != l.want {
			t.Errorf("case %d: score %v → %v, want %v", i, snap.Score, snap.Level, l.want)
		}
	}
	// Out-of-range inputs are clamped.
	snap = m.Observe(Sample{CPU: -3, QueuedValues: 9, QueueCapacity: 0}, time.Time{})
	if snap.Score != 0 {
		t.Fatalf("clamped: %+v", snap)
	}
}

func TestSubscribersHearOnlyChanges(t *testing.T) {
	t.Parallel()
	m := New(nil, Options{})
	sub := m.Subscribe()
	defer sub.Close()
	if s := <-sub.C(); s.Level != LevelNormal {
		t.Fatalf("first = %+v", s)
	}
	m.Observe(cpuOnly(0.1), time.Time{})
	m.Observe(cpuOnly(0.2), time.Time{})
	select {
	case s := <-sub.C():
		t.Fatalf("no change announced: %+v", s)
	default:
	}
	m.Observe(scoreSample(0.75), time.Time{})
	m.Observe(scoreSample(0.90), time.Time{}) // overwrites the unread HIGH
	if s := <-sub.C(); s.Level != LevelCritical {
		t.Fatalf("latest = %+v", s)
	}
	m.Observe(Sample{HeapBytes: 9, MemoryLimitBytes: 10}, time.Time{})
	if s := <-sub.C(); !s.MemoryProtection {
		t.Fatalf("protection = %+v", s)
	}
}

func TestRunSamples(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	sampler := SamplerFunc(func(time.Time) Sample {
		calls.Add(1)
		return scoreSample(0.9)
	})
	m := New(sampler, Options{Interval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	sub := m.Subscribe()
	defer sub.Close()
	deadline := time.After(10 * time.Second)
	for m.Snapshot().Level != LevelCritical {
		select {
		case <-sub.C():
		case <-deadline:
			t.Fatal("Run did not sample")
		}
	}
	cancel()
	if err := <-done; err != nil || calls.Load() == 0 {
		t.Fatal(err, calls.Load())
	}
}

func TestRuntimeSampler(t *testing.T) {
	t.Parallel()
	r := NewRuntimeSampler(func() (int64, int64) { return 3, 10 }, 0)
	now := time.Now()
	r.Sample(now)
	s := r.Sample(now.Add(time.Second))
	if s.Goroutines <= 0 || s.HeapBytes == 0 || s.MemoryLimitBytes == 0 || s.QueuedValues != 3 || s.QueueCapacity != 10 || s.CPU < 0 {
		t.Fatalf("sample = %+v", s)
	}
}

// TestRuntimeSamplerMemoryLimit: the limit the memory signal is compared with is
// GOMEMLIMIT when set, else the configured limit, else the machine's memory. Not
// parallel: it sets the process's memory limit for a moment.
func TestRuntimeSamplerMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })

	debug.SetMemoryLimit(math.MaxInt64) // GOMEMLIMIT unset
	if s := NewRuntimeSampler(nil, 12345).Sample(time.Now()); s.MemoryLimitBytes != 12345 {
		t.Errorf("configured limit 12345: sampled %d", s.MemoryLimitBytes)
	}
	machine := systemMemory()
	if machine == 0 {
		t.Fatal("no /proc/meminfo or cgroup limit to read")
	}
	if s := NewRuntimeSampler(nil, 0).Sample(time.Now()); s.MemoryLimitBytes != machine {
		t.Errorf("no configured limit: sampled %d, want the machine's %d", s.MemoryLimitBytes, machine)
	}

	debug.SetMemoryLimit(3 << 30) // GOMEMLIMIT=3GiB wins over the configured limit
	if s := NewRuntimeSampler(nil, 12345).Sample(time.Now()); s.MemoryLimitBytes != 3<<30 {
		t.Errorf("GOMEMLIMIT 3GiB: sampled %d", s.MemoryLimitBytes)
	}
}

func TestPrometheus(t *testing.T) {
	t.Parallel()
	m := New(nil, Options{})
	m.Observe(scoreSample(0.75), time.Time{})
	reg := prometheus.NewPedanticRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	if got["sensocto_load_level"] != float64(LevelHigh) || got["sensocto_load_multiplier"] != 3 {
		t.Fatalf("metrics = %v", got)
	}
	if err := m.Register(reg); err == nil {
		t.Fatal("double registration accepted")
	}
}
