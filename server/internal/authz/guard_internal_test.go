package authz

import (
	"testing"
	"time"
)

// TestRecheckDelaySpreads: the periodic checks of guards opened together spread over
// ±25 % of RecheckEvery instead of falling in one instant.
func TestRecheckDelaySpreads(t *testing.T) {
	lo, hi := RecheckEvery*3/4, RecheckEvery*5/4
	seen := make(map[time.Duration]bool)
	var below, above bool
	for range 1000 {
		d := recheckDelay()
		if d < lo || d >= hi {
			t.Fatalf("delay %v outside [%v, %v)", d, lo, hi)
		}
		seen[d] = true
		below = below || d < RecheckEvery
		above = above || d > RecheckEvery
	}
	if len(seen) < 900 || !below || !above {
		t.Fatalf("%d distinct delays of 1000 (below average: %v, above: %v): not spread", len(seen), below, above)
	}
}
