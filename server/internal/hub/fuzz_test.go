package hub

import (
	"math"
	"testing"

	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/apperr"
)

// FuzzBlockTimes: a sample block with any start, rate and length is either refused
// with InvalidArgument and nothing stored, or accepted with every sample stored at
// apirules.SampleTimeUS(start, i, rate), in order and inside the time window.
// apirules.SampleTimeUS itself never wraps: for a positive rate it never goes below start and never
// decreases with i. (A block of rate 1e-13 or starting near int64 max used to
// overflow its sample times: samples vanished and history broke, issue 11 item 7.)
func FuzzBlockTimes(f *testing.F) {
	f.Add(int64(0), 512.0, uint16(64))
	f.Add(t0, 0.001, uint16(87))
	f.Add(t0, 1e-13, uint16(2))
	f.Add(int64(math.MaxInt64-10), 100.0, uint16(3))
	f.Add(MinTimeUS, 100000.0, uint16(16384))
	f.Add(t0+MaxFutureUS, 250.0, uint16(2))
	f.Add(int64(-1), math.Inf(1), uint16(1))
	f.Fuzz(func(t *testing.T, start int64, rate float64, n uint16) {
		for _, i := range []int{0, 1, int(n), int(n) + 1, 1 << 20} {
			a, b := apirules.SampleTimeUS(start, i, rate), apirules.SampleTimeUS(start, i+1, rate)
			if rate > 0 && (a < start || b < a) {
				t.Fatalf("SampleTimeUS(%d, %d/%d, %v) = %d, %d: wrapped", start, i, i+1, rate, a, b)
			}
		}
		h, c := newTestHub(t)
		mustRegister(t, h, "s", AttributeSpec{ID: "w", Type: "ecg"})
		samples := make([]float32, int(n)%(MaxBlockSamples+2))
		for i := range samples {
			samples[i] = float32(i)
		}
		now := c.us.Load()
		accepted, err := h.Ingest("s", &Batch{Blocks: []SampleBlock{{AttributeID: "w", StartTimeUS: start, SampleRateHz: rate, Samples: samples}}})
		pts, _, herr := h.History("s", "w", 0, 0, 0)
		if herr != nil {
			t.Fatal(herr)
		}
		if err != nil {
			if apperr.KindOf(err) != apperr.KindInvalidArgument || accepted != 0 || len(pts) != 0 {
				t.Fatalf("refused with %v, %d accepted, %d stored", err, accepted, len(pts))
			}
			return
		}
		if accepted != len(samples) {
			t.Fatalf("%d of %d samples accepted", accepted, len(samples))
		}
		if start == 0 {
			start = now
		}
		kept := min(len(samples), len(pts))
		first := len(samples) - kept // the ring keeps the newest
		for k := range kept {
			want := apirules.SampleTimeUS(start, first+k, rate)
			p := pts[k]
			if p.TimeUS != want || p.Value.F[0] != float64(first+k) {
				t.Fatalf("sample %d at %d = %v, want at %d", first+k, p.TimeUS, p.Value.F[0], want)
			}
			if p.TimeUS < MinTimeUS || p.TimeUS > now+MaxFutureUS {
				t.Fatalf("sample %d at %d: outside the time window", first+k, p.TimeUS)
			}
		}
	})
}
