package loadmon

import (
	"context"
	"math"
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
	snap = m.Observe(Sample{CPU: 1}, time.Time{})
	if snap.Score != WeightCPU || snap.Components != (Components{CPU: 1}) {
		t.Fatalf("cpu only: %+v", snap)
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
	r = NewRuntimeSampler(nil, 12345)
	if s := r.Sample(now); s.MemoryLimitBytes != 12345 && s.MemoryLimitBytes == 0 {
		t.Fatalf("configured limit: %+v", s)
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
