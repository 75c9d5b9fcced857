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

// TestFillSpacesPacedValues: paced single measurements are one sample period apart,
// the newest at the send time, and never at or before the previous message's.
func TestFillSpacesPacedValues(t *testing.T) {
	t.Parallel()
	cfg := Config{RateHz: 10}
	var clock int64
	var ms []*sensoctov1.Measurement
	now := int64(1_000_000_000)
	ms, _ = fill(cfg, 5, now, &clock, ms, nil, nil)
	for i, m := range ms {
		if want := now - int64(4-i)*100_000; m.GetTimeUs() != want {
			t.Fatalf("value %d at %d, want %d", i, m.GetTimeUs(), want)
		}
	}
	// Sent again 50 ms later with 2 values: they cannot go back before the last one.
	ms, _ = fill(cfg, 2, now+50_000, &clock, ms, nil, nil)
	if ms[0].GetTimeUs() != now+1 || ms[1].GetTimeUs() != now+50_000 {
		t.Fatalf("times %d, %d after %d", ms[0].GetTimeUs(), ms[1].GetTimeUs(), now)
	}
	// Flat out, every value carries the send time.
	ms, _ = fill(Config{Batch: 3}, 3, now, new(int64), ms, nil, nil)
	for _, m := range ms {
		if m.GetTimeUs() != now {
			t.Fatalf("flat out: time %d, want %d", m.GetTimeUs(), now)
		}
	}
}
