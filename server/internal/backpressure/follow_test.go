package backpressure_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/loadmon"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestWiring runs the chain the app wires: attention tracker → publisher →
// connector subscription, and load monitor → publisher. The connector's config
// goes through the levels and back, including a lease expiry.
func TestWiring(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tracker := attention.New(attention.Options{Now: clk.now})
	pub := backpressure.NewPublisher(clk.now)
	mon := loadmon.New(nil, loadmon.Options{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	attSub := tracker.Subscribe()
	defer attSub.Close()
	loadSub := mon.Subscribe()
	defer loadSub.Close()
	var factor sync.Map
	done := make(chan struct{}, 2)
	go func() { // attention changes into the publisher, as the app's bridge feeds them
		defer func() { done <- struct{}{} }()
		for {
			changes, err := attSub.Next(ctx)
			if err != nil {
				return
			}
			for _, c := range changes {
				pub.SetAttention(c.SensorID, c.Level)
			}
		}
	}()
	go func() {
		_ = pub.FollowLoad(ctx, loadSub, func(s loadmon.Snapshot) { factor.Store("f", s.Level.RetentionFactor()) })
		done <- struct{}{}
	}()

	conn := pub.Subscribe("sensor-1") // a connector's Stream session
	defer conn.Close()
	expect := func(step string, att attention.Level, window uint32, paused bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case c := <-conn.C():
				if c.AttentionLevel == att && c.RecommendedBatchWindowMS == window && c.Paused == paused {
					return
				}
			case <-deadline:
				t.Fatalf("%s: no config with %v/%d ms/paused=%v (current %+v)", step, att, window, paused, pub.Current("sensor-1"))
			}
		}
	}
	viewer := attention.Viewer{UserID: "u1", TabID: "tab-1"}
	report := func(events ...attention.Event) {
		t.Helper()
		if err := tracker.Report(viewer, events); err != nil {
			t.Fatal(err)
		}
	}
	expect("first config", attention.LevelNone, 5000, false)
	release := tracker.AddWatcher([]string{"sensor-1"})
	expect("a Watch stream", attention.LevelLow, 2000, false)
	report(attention.Event{Kind: attention.ViewEnter, SensorID: "sensor-1"})
	expect("in view", attention.LevelMedium, 500, false)
	report(attention.Event{Kind: attention.Focus, SensorID: "sensor-1", AttributeID: "ecg"})
	expect("focus", attention.LevelHigh, 100, false)
	mon.Observe(loadmon.Sample{CPU: 1, QueuedValues: 1, QueueCapacity: 1, Goroutines: 100_000, HeapBytes: 90, MemoryLimitBytes: 100}, clk.now())
	expect("critical load, memory protection", attention.LevelHigh, 100*5*5, false)
	mon.Observe(loadmon.Sample{}, clk.now())
	expect("load back to normal", attention.LevelHigh, 100, false)
	release()
	clk.advance(attention.DefaultLease)
	tracker.Sweep()
	expect("lease expired", attention.LevelNone, 5000, false)

	if f, _ := factor.Load("f"); f != 1.0 {
		t.Fatalf("retention factor after recovery = %v", f)
	}
	cancel()
	<-done
	<-done
}
