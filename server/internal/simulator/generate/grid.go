package generate

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// grid is a generator's sample clock: sample k is at startUS + round(k·1e6/rate).
type grid struct {
	startUS int64
	rate    float64
	next    int64 // index of the next sample to produce
	endUS   int64 // no samples at or after it; 0 for none (duration 0 = continuous)
}

// limit caps untilUS at the grid's end.
func (g *grid) limit(untilUS int64) int64 {
	if g.endUS > 0 && untilUS > g.endUS {
		return g.endUS
	}
	return untilUS
}

func (g *grid) timeOf(k int64) int64 {
	return g.startUS + int64(math.Round(float64(k)*1e6/g.rate))
}

// due returns how many samples are due strictly before untilUS.
func (g *grid) due(untilUS int64) int64 {
	untilUS = g.limit(untilUS)
	if untilUS <= g.startUS {
		return 0
	}
	// first index whose time is >= untilUS
	k := int64(math.Ceil(float64(untilUS-g.startUS) * g.rate / 1e6))
	for k > 0 && g.timeOf(k-1) >= untilUS {
		k--
	}
	for g.timeOf(k) < untilUS {
		k++
	}
	if k <= g.next {
		return 0
	}
	return k - g.next
}

// dt is the sample period in seconds.
func (g *grid) dt() float64 { return 1 / g.rate }

// seconds is sample k's time in seconds since the generator's start.
func (g *grid) seconds(k int64) float64 { return float64(k) / g.rate }

// newRand returns the PCG source for one attribute of one sensor of a run.
func newRand(seed uint64, sensorID, attributeID string) *rand.Rand {
	return seeded(seed, hashIDs(sensorID, attributeID))
}

// seeded is the one place generators get randomness: simulated data must be
// reproducible from a seed, which crypto/rand cannot do.
func seeded(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream)) //nolint:gosec // G404: reproducible simulation, not security
}

func hashIDs(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// uniform returns a value in [lo, hi).
func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

func round(x float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(x*p) / p
}

// ou is an Ornstein–Uhlenbeck process with mean mu, stationary standard
// deviation sd and relaxation time tau seconds, stepped exactly for any dt.
type ou struct {
	x, mu, sd, tau float64
}

func (o *ou) step(r *rand.Rand, dt float64) float64 {
	a := math.Exp(-dt / o.tau)
	o.x = o.mu + (o.x-o.mu)*a + o.sd*math.Sqrt(1-a*a)*r.NormFloat64()
	return o.x
}

func smoothstep(x float64) float64 {
	x = clamp(x, 0, 1)
	return x * x * (3 - 2*x)
}

func orDefault(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}
