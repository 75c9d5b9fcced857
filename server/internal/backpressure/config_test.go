package backpressure

import (
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/loadmon"
)

var (
	none   = attention.LevelNone
	low    = attention.LevelLow
	medium = attention.LevelMedium
	high   = attention.LevelHigh
)

// wantPaused is the pause rule of docs/architecture.md written out per attention level, load level
// (normal, elevated, high, critical) and memory protection (off, on): LOW and NONE
// attention pause under memory protection or critical load; HIGH and MEDIUM never.
var wantPaused = map[attention.Level][4][2]bool{
	high:   {{false, false}, {false, false}, {false, false}, {false, false}},
	medium: {{false, false}, {false, false}, {false, false}, {false, false}},
	low:    {{false, true}, {false, true}, {false, true}, {true, true}},
	none:   {{false, true}, {false, true}, {false, true}, {true, true}},
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestComputeWindowTable checks the window table (docs/architecture.md, "The back-pressure
// formula").
func TestComputeWindowTable(t *testing.T) {
	t.Parallel()
	want := map[attention.Level][4]uint32{
		high:   {100, 150, 300, 500},
		medium: {500, 750, 1500, 2500},
		low:    {2000, 3000, 6000, 10000},
		none:   {5000, 7500, 15000, 25000},
	}
	sizes := map[attention.Level]uint32{high: 1, medium: 5, low: 10, none: 20}
	mults := [4]float64{1, 1.5, 3, 5}
	for att, windows := range want {
		for load := loadmon.LevelNormal; load <= loadmon.LevelCritical; load++ {
			for _, mp := range []bool{false, true} {
				t.Run(att.String()+"/"+load.String(), func(t *testing.T) {
					t.Parallel()
					c := Compute(Input{Attention: att, Load: load, MemoryProtection: mp}, time.Unix(1, 0))
					w, m := windows[load], mults[load]
					if mp {
						w, m = w*5, m*5
					}
					paused := wantPaused[att][load][b2i(mp)]
					if c.RecommendedBatchWindowMS != w || c.RecommendedBatchSize != sizes[att] ||
						c.LoadMultiplier != m || c.Paused != paused || c.AttentionLevel != att ||
						c.SystemLoad != load || c.MemoryProtectionActive != mp || !c.Timestamp.Equal(time.Unix(1, 0)) {
						t.Errorf("mp=%v: got %+v, want window %d size %d mult %v paused %v", mp, c, w, sizes[att], m, paused)
					}
				})
			}
		}
	}
}

func TestComputeBattery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		b    Battery
		want uint32
	}{
		{"unknown", Battery{}, 500},
		{"full", Battery{Known: true, Level: 0.9}, 500},
		{"at low threshold", Battery{Known: true, Level: 0.20}, 500},
		{"just below low", Battery{Known: true, Level: 0.1999}, 1000},
		{"low", Battery{Known: true, Level: 0.19}, 1000},
		{"at critical threshold (still low)", Battery{Known: true, Level: 0.10}, 1000},
		{"just below critical", Battery{Known: true, Level: 0.0999}, 2000},
		{"critical", Battery{Known: true, Level: 0.05}, 2000},
		{"empty", Battery{Known: true, Level: 0}, 2000},
		{"critical but charging", Battery{Known: true, Level: 0.05, Charging: true}, 500},
		{"low but charging", Battery{Known: true, Level: 0.15, Charging: true}, 500},
		{"unknown level 0", Battery{Known: false, Level: 0}, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Compute(Input{Attention: medium, Battery: tc.b}, time.Time{})
			if c.RecommendedBatchWindowMS != tc.want || c.LoadMultiplier != 1 || c.RecommendedBatchSize != 5 || c.Paused {
				t.Errorf("got %+v, want window %d", c, tc.want)
			}
		})
	}
}

func TestComputeInvalidLevels(t *testing.T) {
	t.Parallel()
	c := Compute(Input{Attention: 9, Load: 9}, time.Time{})
	if c.AttentionLevel != none || c.SystemLoad != loadmon.LevelCritical || !c.Paused || c.RecommendedBatchWindowMS != 25000 {
		t.Errorf("got %+v", c)
	}
}
