package live

import (
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/loadmon"
)

// TestAckEvery checks the ack coalescing of a session by the config it was sent: four
// batch windows, at least 250 ms and at most 10 s, 10 s while paused.
func TestAckEvery(t *testing.T) {
	t.Parallel()
	at := func(l attention.Level, load loadmon.Level, memProt bool) backpressure.Config {
		return backpressure.Compute(backpressure.Input{Attention: l, Load: load, MemoryProtection: memProt}, time.Time{})
	}
	for _, tc := range []struct {
		name string
		cfg  backpressure.Config
		want time.Duration
	}{
		{"HIGH: 4 × 100 ms", at(attention.LevelHigh, loadmon.LevelNormal, false), 400 * time.Millisecond},
		{"MEDIUM: 4 × 500 ms", at(attention.LevelMedium, loadmon.LevelNormal, false), 2 * time.Second},
		{"LOW: 4 × 2 s", at(attention.LevelLow, loadmon.LevelNormal, false), 8 * time.Second},
		{"NONE: capped", at(attention.LevelNone, loadmon.LevelNormal, false), maxAckInterval},
		{"paused", at(attention.LevelNone, loadmon.LevelNormal, true), maxAckInterval},
		{"a tiny window: the floor", backpressure.Config{RecommendedBatchWindowMS: 10}, ackInterval},
	} {
		if got := ackEvery(tc.cfg); got != tc.want {
			t.Errorf("%s: ackEvery(window %d ms, paused %v) = %v, want %v", tc.name, tc.cfg.RecommendedBatchWindowMS, tc.cfg.Paused, got, tc.want)
		}
	}
}
