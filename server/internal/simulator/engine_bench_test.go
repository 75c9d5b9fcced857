package simulator

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/sensocto/sensocto/server/internal/simulator/generate"
)

// nopPub counts and drops everything.
type nopPub struct{ n atomic.Int64 }

func (*nopPub) Register(context.Context, SensorInfo) error { return nil }
func (*nopPub) Unregister(context.Context, string) error   { return nil }
func (p *nopPub) Publish(_ context.Context, _ string, out *generate.Output) error {
	p.n.Add(int64(out.Len()))
	return nil
}
func (*nopPub) Backpressure(string) (<-chan Config, func()) { return nil, func() {} }

// BenchmarkRun runs built-in scenarios on a manual clock, one simulated second
// per iteration, with the scenario's own batch windows: the engine's and
// generators' CPU cost without any ingest behind them.
func BenchmarkRun(b *testing.B) {
	lib, err := LoadLibrary("")
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"large_group", "breathing_study", "pupil_neon_small", "pose_tracking"} {
		b.Run(name, func(b *testing.B) {
			sc, _ := lib.Get(name)
			pub := &nopPub{}
			clk := NewManualClock(start)
			r, err := Start(context.Background(), sc, pub, Options{Seed: 1, Clock: clk})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				for range 20 {
					clk.Advance(DefaultTick)
				}
			}
			r.Stop()
			if err := r.Wait(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(pub.n.Load())/float64(b.N), "values/sim-s")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sim-s/s")
		})
	}
}
