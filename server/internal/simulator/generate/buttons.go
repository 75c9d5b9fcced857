package generate

import (
	"math"
	"math/rand/v2"

	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

// buttons emits press/release events: presses arrive press_rate times per
// minute on average (default 6, exponential gaps of at least 0.2 s), on a
// uniformly chosen button 1..button_count (default 4), held 80–500 ms. Each
// event is a Sample with Number = button id and Event "press" or "release".
// Events are not on the sampling grid; sampling_rate is only nominal.
type buttons struct {
	base
	r        *rand.Rand
	count    int
	meanGap  float64 // s
	nextUS   int64
	releaseU int64 // time of the pending release, 0 if none
	pressed  int
}

func newButtons(b base, r *rand.Rand, p scenario.Params) *buttons {
	rate := orDefault(p.PressRate, 6)
	g := &buttons{base: b, r: r, count: int(orDefault(p.ButtonCount, 4)), meanGap: math.Inf(1)}
	if rate > 0 {
		g.meanGap = 60 / rate
	}
	g.nextUS = b.g.startUS + g.gapUS()
	return g
}

func (g *buttons) gapUS() int64 {
	s := math.Max(0.2, g.meanGap*g.r.ExpFloat64())
	return int64(math.Min(s, 1e9) * 1e6)
}

func (*buttons) Waveform() bool { return false }

func (g *buttons) NextUS() int64 {
	if g.releaseU != 0 {
		return g.releaseU
	}
	return g.nextUS
}

func (g *buttons) Advance(untilUS int64, out *Output) int {
	untilUS = g.g.limit(untilUS)
	n := 0
	for {
		if g.releaseU != 0 {
			if g.releaseU >= untilUS {
				return n
			}
			out.Samples = append(out.Samples, Sample{AttributeID: g.id, TimeUS: g.releaseU, Kind: KindNumber, Number: float64(g.pressed), Event: "release"})
			g.nextUS = g.releaseU + g.gapUS()
			g.releaseU = 0
			n++
			continue
		}
		if g.nextUS >= untilUS {
			return n
		}
		g.pressed = 1 + g.r.IntN(g.count)
		out.Samples = append(out.Samples, Sample{AttributeID: g.id, TimeUS: g.nextUS, Kind: KindNumber, Number: float64(g.pressed), Event: "press"})
		g.releaseU = g.nextUS + int64(uniform(g.r, 80, 500)*1000)
		n++
	}
}
