package generate

import (
	"math/rand/v2"

	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

// Battery defaults (those of the original simulator), in % per minute.
const (
	DefaultDrainRate  = 0.8
	DefaultChargeRate = 1.0
)

// battery drains at drain_rate %/min (default 0.8 × 0.7–1.3) and charges at
// charge_rate %/min (default 1.0 × 0.8–1.2). The start level is start_level or
// uniform in min_value..max_value (default 20–90 %); charging is the charging
// parameter or true with probability 0.4. The state flips every 4–12 min and
// always at ≥ 99.5 % while charging or ≤ 0.5 % while draining. Output
// {level: 0–100 (1 dp, ±0.05 noise), charging: bool}.
type battery struct {
	r                 *rand.Rand
	level             float64
	charging          bool
	drain, charge     float64 // %/s
	nextFlip, elapsed float64
}

func newBattery(r *rand.Rand, p scenario.Params) *battery {
	lo, hi := 20.0, 90.0
	if p.MinValue != nil && p.MaxValue != nil {
		lo, hi = clamp(*p.MinValue, 0, 100), clamp(*p.MaxValue, 0, 100)
	}
	b := &battery{r: r}
	b.level = uniform(r, lo, hi)
	if p.StartLevel != nil {
		b.level = *p.StartLevel
	}
	b.charging = r.Float64() < 0.4
	if p.Charging != nil {
		b.charging = *p.Charging
	}
	b.drain = DefaultDrainRate * uniform(r, 0.7, 1.3) / 60
	if p.DrainRate != nil {
		b.drain = *p.DrainRate / 60
	}
	b.charge = DefaultChargeRate * uniform(r, 0.8, 1.2) / 60
	if p.ChargeRate != nil {
		b.charge = *p.ChargeRate / 60
	}
	b.nextFlip = uniform(r, 240, 720)
	return b
}

func (b *battery) sample(_, dt float64, s *Sample) {
	if b.elapsed > 0 { // the first sample is the start level
		// Integrate in steps of at most 10 s so flips happen close to their time.
		for rest := dt; rest > 0; {
			h := min(rest, 10)
			rest -= h
			if b.charging {
				b.level += b.charge * h
			} else {
				b.level -= b.drain * h
			}
			b.level = clamp(b.level, 0, 100)
			b.nextFlip -= h
			if b.nextFlip <= 0 || (b.charging && b.level >= 99.5) || (!b.charging && b.level <= 0.5) {
				b.charging = !b.charging
				b.nextFlip = uniform(b.r, 240, 720)
			}
		}
	}
	b.elapsed += dt
	s.Kind = KindStruct
	s.Struct = map[string]any{"level": clamp(round(b.level+uniform(b.r, -0.05, 0.05), 1), 0, 100), "charging": b.charging}
}
