package generate

import (
	"math"
	"math/rand/v2"

	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

// heartRate is a mean-reverting (Ornstein–Uhlenbeck) walk around heart_rate
// (default 72 bpm): stationary sd 3 bpm, relaxation 20 s, clamped to
// min_value..max_value or heart_rate ± 15 within 30..220; whole bpm.
type heartRate struct {
	r      *rand.Rand
	o      ou
	lo, hi float64
}

func newHeartRate(r *rand.Rand, p scenario.Params) *heartRate {
	mu := orDefault(p.HeartRate, 72)
	lo, hi := math.Max(30, mu-15), math.Min(220, mu+15)
	if p.MinValue != nil && p.MaxValue != nil {
		lo, hi = *p.MinValue, *p.MaxValue
		if p.HeartRate == nil {
			mu = (lo + hi) / 2
		}
	}
	return &heartRate{r: r, o: ou{x: mu + 3*r.NormFloat64(), mu: mu, sd: 3, tau: 20}, lo: lo, hi: hi}
}

func (h *heartRate) sample(_, dt float64, s *Sample) {
	s.Kind = KindNumber
	s.Number = clamp(math.Round(h.o.step(h.r, dt)), h.lo, h.hi)
}

// hrv follows the original's physiological model (as in the original simulator): RMSSD
// is a baseline falling with heart rate, plus RSA, Mayer-wave, VLF and
// ultra-slow components, a "room" component shared by every sensor of the run
// (from the run seed only, so group HRV synchrony is non-trivial), and noise,
// clipped to 5..150 ms. SDNN = RMSSD × 1.3..1.7 ± 1.5, clipped to 5..200 ms.
type hrv struct {
	r        *rand.Rand
	baseline float64
	comps    [5]struct{ amp, f, ph float64 }
	noise    ou
	ratio    float64
}

func newHRV(r, room *rand.Rand, p scenario.Params) *hrv {
	hr := orDefault(p.HeartRate, 70)
	hf := clamp((hr-40)/70, 0, 1)
	h := &hrv{r: r, baseline: uniform(r, 48, 65) - hf*uniform(r, 28, 38), ratio: uniform(r, 1.3, 1.7)}
	spec := [4][4]float64{ // amp lo, hi, f lo, hi
		{9, 17, 0.2, 0.3},    // RSA
		{4, 9, 0.07, 0.12},   // Mayer
		{2.5, 6, 0.02, 0.04}, // VLF
		{4, 11, 0.003, 0.01}, // drift
	}
	for i, s := range spec {
		h.comps[i].amp, h.comps[i].f, h.comps[i].ph = uniform(r, s[0], s[1]), uniform(r, s[2], s[3]), uniform(r, 0, 2*math.Pi)
	}
	coupling := uniform(r, 0.2, 0.6)
	h.comps[4].amp = uniform(room, 3, 7) * coupling
	h.comps[4].f = uniform(room, 0.004, 0.012)
	h.comps[4].ph = uniform(room, 0, 2*math.Pi)
	h.noise = ou{sd: uniform(r, 1, 2.5), tau: 30}
	return h
}

func (h *hrv) sample(t, dt float64, s *Sample) {
	v := h.baseline
	for _, c := range h.comps {
		v += c.amp * math.Sin(2*math.Pi*c.f*t+c.ph)
	}
	v += h.noise.step(h.r, dt) + 0.5*h.r.NormFloat64()
	rmssd := clamp(v, 5, 150)
	sdnn := clamp(rmssd*h.ratio+uniform(h.r, -1.5, 1.5), 5, 200)
	s.Kind = KindStruct
	s.Struct = map[string]any{"rmssd": round(rmssd, 1), "sdnn": round(sdnn, 1)}
}

// respiration is a torso-expansion waveform: breaths at breaths_per_minute
// (default 15) with the rate drifting ±10 % (OU), inhale 40 % / exhale 60 % of
// each breath, per-breath depth 85–100 %, within min_value..max_value
// (default 50..100 %).
type respiration struct {
	r      *rand.Rand
	f0     float64 // Hz
	rate   ou
	phase  float64
	depth  float64
	mid, h float64
	lo, hi float64
}

func newRespiration(r *rand.Rand, p scenario.Params) *respiration {
	lo, hi := 50.0, 100.0
	if p.MinValue != nil && p.MaxValue != nil && *p.MaxValue > *p.MinValue {
		lo, hi = *p.MinValue, *p.MaxValue
	}
	return &respiration{
		r: r, f0: orDefault(p.BreathsPerMinute, 15) / 60, rate: ou{sd: 0.1, tau: 20},
		phase: r.Float64(), depth: uniform(r, 0.85, 1), mid: (lo + hi) / 2, h: 0.9 * (hi - lo) / 2, lo: lo, hi: hi,
	}
}

func (b *respiration) value(_, dt float64) float32 {
	b.phase += dt * b.f0 * (1 + clamp(b.rate.step(b.r, dt), -0.3, 0.3))
	if b.phase >= 1 {
		b.phase -= math.Floor(b.phase)
		b.depth = uniform(b.r, 0.85, 1)
	}
	var y float64 // 0..1 expansion
	if b.phase < 0.4 {
		y = 0.5 - 0.5*math.Cos(math.Pi*b.phase/0.4)
	} else {
		y = 0.5 + 0.5*math.Cos(math.Pi*(b.phase-0.4)/0.6)
	}
	v := b.mid + b.h*b.depth*(2*y-1) + 0.005*(b.hi-b.lo)*b.r.NormFloat64()
	return float32(clamp(v, b.lo, b.hi))
}

// scalar is a bounded random walk (OU around the middle of the range, sd a
// third of the half-range, relaxation 2 min, clamped to the range) for SpO2,
// temperature, blood pressure, humidity, pressure and any other numeric type.
// The range is min_value..max_value, else a per-type default.
type scalar struct {
	r      *rand.Rand
	o      ou
	lo, hi float64
	digits int
	wrap   bool
}

func newScalar(r *rand.Rand, typ string, p scenario.Params) *scalar {
	lo, hi, digits := scalarDefaults(typ, p)
	if p.MinValue != nil && p.MaxValue != nil {
		lo, hi = *p.MinValue, *p.MaxValue
	}
	mid, half := (lo+hi)/2, (hi-lo)/2
	return &scalar{
		r: r, o: ou{x: mid + half/3*clamp(r.NormFloat64(), -2, 2), mu: mid, sd: half / 3, tau: 120},
		lo: lo, hi: hi, digits: digits, wrap: typ == "heading" || typ == "current_direction",
	}
}

func scalarDefaults(typ string, p scenario.Params) (lo, hi float64, digits int) {
	switch typ {
	case "spo2":
		return 95, 99, 1
	case "temperature", "temp", "body_temperature":
		return 36.3, 37.2, 2
	case "blood_pressure", "blood_pressure_sys":
		return 110, 130, 0
	case "respiratory", "respiratory_rate":
		return 12, 18, 1
	case "humidity":
		return 35, 55, 1
	case "pressure", "barometer":
		return 1005, 1020, 1
	case "light":
		b := orDefault(p.BaseLux, 500)
		return math.Max(0, b-200), b + 200, 0
	case "sound_level":
		b := orDefault(p.BaseDB, 45)
		return math.Max(20, b-10), b + 15, 1
	case "geolocation_lat":
		b := orDefault(p.BaseLat, 52.52)
		return b - 0.002, b + 0.002, 6
	case "geolocation_lng":
		b := orDefault(p.BaseLng, 13.405)
		return b - 0.002, b + 0.002, 6
	case "geolocation_alt", "altitude":
		b := orDefault(p.BaseAlt, 35)
		return b - 5, b + 5, 1
	case "heading", "current_direction":
		return 0, 360, 1
	case "buttplug_vibrate", "buttplug_linear", "buttplug_status", "inference_confidence":
		return 0.5, 1, 3
	}
	mid := orDefault(p.HeartRate, 75)
	return mid - 5, mid + 5, 2
}

func (c *scalar) sample(_, dt float64, s *Sample) {
	v := c.o.step(c.r, dt)
	if c.wrap {
		v = math.Mod(v, 360)
		if v < 0 {
			v += 360
		}
	}
	s.Kind = KindNumber
	s.Number = clamp(round(v, c.digits), c.lo, c.hi)
}
