package generate

import (
	"math"
	"math/rand/v2"

	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

// gaze is the original's fixation/saccade state machine. Fixations jitter
// ±0.005 around a point with confidence 0.92–0.99 for fixation_duration ms
// (default 200–800, re-drawn within ±25 %, at least 100 ms); saccades move
// to a uniformly random point over saccade_duration ms (default 20–80),
// smoothstep-interpolated, confidence 0.6–0.8. The first fixation is in the
// central 0.3–0.7 box. Output {x, y ∈ [0,1], confidence}.
type gaze struct {
	r                *rand.Rand
	fix, sac         *float64
	x, y, fromX, toX float64
	fromY, toY       float64
	saccade          bool
	left, dur        float64 // seconds left in, and length of, the current phase
}

func newGaze(r *rand.Rand, p scenario.Params) *gaze {
	g := &gaze{r: r, fix: p.FixationDuration, sac: p.SaccadeDuration}
	g.x, g.y = uniform(r, 0.3, 0.7), uniform(r, 0.3, 0.7)
	g.startFixation()
	return g
}

func (g *gaze) startFixation() {
	ms := uniform(g.r, 200, 800)
	if g.fix != nil {
		ms = *g.fix * uniform(g.r, 0.75, 1.25)
	}
	g.saccade, g.dur = false, math.Max(ms, 100)/1000
	g.left = g.dur
}

func (g *gaze) startSaccade() {
	ms := uniform(g.r, 20, 80)
	if g.sac != nil {
		ms = *g.sac * uniform(g.r, 0.75, 1.25)
	}
	g.saccade, g.dur = true, math.Max(ms, 5)/1000
	g.left = g.dur
	g.fromX, g.fromY = g.x, g.y
	g.toX, g.toY = uniform(g.r, 0.05, 0.95), uniform(g.r, 0.05, 0.95)
}

func (g *gaze) sample(_, dt float64, s *Sample) {
	g.left -= dt
	for g.left <= 0 {
		over := -g.left
		if g.saccade {
			g.x, g.y = g.toX, g.toY
			g.startFixation()
		} else {
			g.startSaccade()
		}
		g.left -= over
	}
	var x, y, conf float64
	if g.saccade {
		f := smoothstep(1 - g.left/g.dur)
		x, y = g.fromX+(g.toX-g.fromX)*f, g.fromY+(g.toY-g.fromY)*f
		conf = uniform(g.r, 0.6, 0.8)
	} else {
		x, y = g.x+uniform(g.r, -0.005, 0.005), g.y+uniform(g.r, -0.005, 0.005)
		conf = uniform(g.r, 0.92, 0.99)
	}
	s.Kind = KindStruct
	s.Struct = map[string]any{"x": round(clamp(x, 0, 1), 4), "y": round(clamp(y, 0, 1), 4), "confidence": round(conf, 3)}
}

// blinks is a sensor's blink schedule, seeded from (run seed, sensor id) only
// so eye_blink and eye_aperture of one sensor see the same blinks. Blinks last
// 100–250 ms and come blink_rate times per minute on average (default 17),
// at least 0.8 s apart.
type blinks struct {
	r          *rand.Rand
	meanGap    float64
	start, end float64
}

func newBlinks(cfg Config, p scenario.Params) *blinks {
	b := &blinks{r: newRand(cfg.Seed, cfg.SensorID, "\x00blinks")}
	rate := orDefault(p.BlinkRate, 17)
	b.meanGap = math.Inf(1)
	if rate > 0 {
		b.meanGap = 60 / rate
	}
	b.end = 0
	b.next()
	return b
}

func (b *blinks) next() {
	gap := math.Max(0.8, b.meanGap*b.r.ExpFloat64())
	b.start = b.end + gap
	b.end = b.start + uniform(b.r, 0.1, 0.25)
}

// phase returns the blink phase 0..1 at t, or −1 outside a blink. t must not
// decrease between calls.
func (b *blinks) phase(t float64) float64 {
	for t >= b.end {
		b.next()
	}
	if t < b.start {
		return -1
	}
	return (t - b.start) / (b.end - b.start)
}

// blink is 1 during a blink, else 0.
type blink struct{ sched *blinks }

func (b *blink) sample(t, _ float64, s *Sample) {
	s.Kind, s.Number = KindNumber, 0
	if b.sched.phase(t) >= 0 {
		s.Number = 1
	}
}

// aperture is the eye opening in degrees: 17.5 ± 0.75 (clamped 12–22), closing
// as 17.5·(1 − sin(π·phase)) during a blink, with ±0.15 left/right asymmetry.
type aperture struct {
	r     *rand.Rand
	sched *blinks
	base  ou
}

func newAperture(r *rand.Rand, sched *blinks) *aperture {
	return &aperture{r: r, sched: sched, base: ou{x: 17.5, mu: 17.5, sd: 0.75, tau: 5}}
}

func (a *aperture) sample(t, dt float64, s *Sample) {
	base := clamp(a.base.step(a.r, dt), 12, 22)
	l, r := base, base
	if ph := a.sched.phase(t); ph >= 0 {
		c := base * (1 - math.Sin(math.Pi*ph))
		l, r = c+uniform(a.r, -0.15, 0.15), c+uniform(a.r, -0.15, 0.15)
	}
	s.Kind = KindStruct
	s.Struct = map[string]any{"left": round(math.Max(0, l), 2), "right": round(math.Max(0, r), 2)}
}

// worn is 0 for 15 s out of every 300 s (phase random), else 1.
type worn struct{ offset float64 }

func newWorn(r *rand.Rand) *worn { return &worn{offset: uniform(r, 0, 300)} }

func (w *worn) sample(t, _ float64, s *Sample) {
	s.Kind, s.Number = KindNumber, 1
	if math.Mod(t+w.offset, 300) < 15 {
		s.Number = 0
	}
}
