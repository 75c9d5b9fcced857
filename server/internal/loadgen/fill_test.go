package loadgen

import (
	"testing"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
)

// TestFillBlocksFollowOneAnother: the blocks a connector sends never overlap, within a
// message or across messages, paced or flat out, and jump forward over a pause.
func TestFillBlocksFollowOneAnother(t *testing.T) {
	t.Parallel()
	samples := make([]float32, 64)
	for _, cfg := range []Config{{Block: 64, RateHz: 256}, {Block: 64, Batch: 16}} {
		var clock, end int64
		var ms []*sensoctov1.Measurement
		var blocks []*sensoctov1.SampleBlock
		now := int64(1_000_000_000)
		for msg := range 50 {
			n := 64 * (1 + msg%3)
			if cfg.RateHz <= 0 {
				n = 64 * 16
			}
			now += 1000 // sent faster than real time
			if msg == 25 {
				now += 60_000_000 // a pause of a minute
			}
			ms, blocks = fill(cfg, n, now, &clock, ms, blocks, samples)
			got := 0
			for _, b := range blocks {
				if b.GetStartTimeUs() < end {
					t.Fatalf("%+v message %d: block starts at %d before the previous one ends at %d", cfg, msg, b.GetStartTimeUs(), end)
				}
				end = b.GetStartTimeUs() + int64(float64(len(b.GetSamples()))*1e6/b.GetSampleRateHz())
				got += len(b.GetSamples())
			}
			if got != n {
				t.Fatalf("%+v message %d: %d samples, want %d", cfg, msg, got, n)
			}
			if msg == 25 && blocks[0].GetStartTimeUs() < now-int64(float64(n)*1e6/blockRate(cfg)) {
				t.Fatalf("%+v: the clock did not jump over the pause: start %d, now %d", cfg, blocks[0].GetStartTimeUs(), now)
			}
		}
	}
}
