package hub

import (
	"testing"
	"time"
)

// The perf guard of the ingest path (go tool task test:perf runs it in CI):
//
//	go test -run '^$' -bench '^BenchmarkPerfGuard' -benchtime 1x ./server/internal/hub/
//
// It times Ingest against a plain slice copy of the same values in the same process,
// alternating them over several rounds and keeping each one's best round, and fails
// when Ingest costs more than guardMax times the copy: a ratio within one run, never
// an absolute time, so a slower or busier machine moves both sides. The limits are
// about three times the ratios measured on the development machine at a load average
// of 23 on its 2 cores (docs/performance.md), generous enough for a loaded CI machine,
// tight enough to catch a lock, an allocation or a copy per value creeping into the
// hot path.

// guardRounds short rounds: on a busy machine the best of many short rounds is one
// that ran without being preempted, for both sides.
const guardRounds = 41

// guardOps is the Ingest calls per round: about 2 ms of each kind on the development
// machine (a block takes ~5× a single measurement).
var guardOps = map[string]int{"single": 10_000, "single-watched": 10_000, "block64": 2_000}

var guardMax = map[string]float64{
	"single":         50,  // one measurement per Ingest, no watcher (measured 17×)
	"single-watched": 70,  // … with one watcher, drained as a Watch stream does (19–22×)
	"block64":        350, // one SampleBlock of 64 samples per Ingest (98–114×)
}

// guardSink keeps the baseline's copies alive, so the compiler cannot drop them.
var guardSink []Measurement

// best runs f guardRounds times, alternating with g, and returns each one's fastest.
func best(f, g func()) (time.Duration, time.Duration) {
	bf, bg := time.Duration(1<<62), time.Duration(1<<62)
	for range guardRounds {
		t0 := time.Now()
		f()
		t1 := time.Now()
		g()
		t2 := time.Now()
		bf, bg = min(bf, t1.Sub(t0)), min(bg, t2.Sub(t1))
	}
	return bf, bg
}

func BenchmarkPerfGuardIngest(b *testing.B) {
	for range b.N {
		for _, kind := range []string{"single", "single-watched", "block64"} {
			h := New(Options{})
			if _, err := h.Register("g", []AttributeSpec{{ID: "hr"}, {ID: "ecg", Type: "ecg", SampleRateHz: 512}}); err != nil {
				b.Fatal(err)
			}
			var w *Watcher
			if kind == "single-watched" {
				var err error
				if w, err = h.Watch(WatchSpec{SensorIDs: []string{"g"}}); err != nil {
					b.Fatal(err)
				}
			}
			samples := make([]float32, 64)
			batch := &Batch{Measurements: make([]Measurement, 1)}
			if kind == "block64" {
				batch = &Batch{Blocks: make([]SampleBlock, 1)}
			}
			// Times start a day back (the hub refuses more than a day ahead of its clock);
			// blocks follow one another (64 samples at 512 Hz last 125 ms).
			ts := time.Now().Add(-23 * time.Hour).UnixMicro()
			step := int64(1)
			if kind == "block64" {
				step = 125_000
			}
			ops := guardOps[kind]
			ingest := func() {
				for i := range ops {
					ts += step
					if kind == "block64" {
						batch.Blocks[0] = SampleBlock{AttributeID: "ecg", StartTimeUS: ts, SampleRateHz: 512, Samples: samples}
					} else {
						batch.Measurements[0] = Measurement{AttributeID: "hr", TimeUS: ts, Value: Number(float64(i & 127))}
					}
					if _, err := h.Ingest("g", batch); err != nil {
						b.Fatal(err)
					}
					if w != nil && i&4095 == 4095 {
						w.drain()
					}
				}
			}
			// The baseline: the same values copied into a ring of the same kind.
			ring := make([]Measurement, 4096)
			floats := make([]float32, 4096*64)
			guardSink = ring
			plain := func() {
				for i := range ops {
					if kind == "block64" {
						copy(floats[(i&4095)*64:], samples)
						continue
					}
					ring[i&4095] = Measurement{AttributeID: "hr", TimeUS: ts + int64(i), Value: Number(float64(i & 127))}
				}
			}
			ingest() // warm up: rings and queues at size
			hub, base := best(ingest, plain)
			if w != nil {
				w.Close()
			}
			ratio := float64(hub) / float64(base)
			b.ReportMetric(ratio, kind+"-x-copy")
			b.Logf("%s: Ingest %.1f ns, plain copy %.1f ns: %.1f× (limit %.0f×)", kind,
				float64(hub)/float64(ops), float64(base)/float64(ops), ratio, guardMax[kind])
			if ratio > guardMax[kind] {
				b.Errorf("%s: Ingest costs %.1f× a plain slice copy of the same values, over the limit of %.0f×", kind, ratio, guardMax[kind])
			}
		}
	}
}
