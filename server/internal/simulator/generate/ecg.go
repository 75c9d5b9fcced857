package generate

import (
	"math"
	"math/rand/v2"
)

// ecgWave is one Gaussian of the PQRST complex: amplitude mV, centre and width
// in seconds relative to the R peak. Centres and widths marked qt scale with
// √RR (Bazett), so T moves closer to R at higher rates.
type ecgWave struct {
	amp, mu, sigma float64
	qt             bool
}

// pqrst is the beat template (lead II-like, ≈ −0.25 … 1.1 mV), after the
// sum-of-Gaussians model of McSharry et al. (ECGSYN) expressed in time.
var pqrst = [...]ecgWave{
	{0.15, -0.20, 0.025, true}, // P
	{-0.12, -0.035, 0.010, false},
	{1.10, 0, 0.011, false}, // R
	{-0.25, 0.035, 0.011, false},
	{0.30, 0.26, 0.045, true}, // T
}

// ecg generates a PQRST waveform at a mean heart rate with slight
// beat-to-beat variability (respiratory sinus arrhythmia plus noise, both
// mean-zero so the mean rate is the configured one), baseline wander and
// measurement noise.
type ecg struct {
	r      *rand.Rand
	rrMean float64
	// beats holds R-peak times (s) and their RR intervals, oldest first,
	// covering the samples in flight.
	beats []beat
	rsaF  float64
	rsaP  float64
	wandP [2]float64
}

type beat struct{ t, rr float64 }

func newECG(r *rand.Rand, hr float64) *ecg {
	e := &ecg{r: r, rrMean: 60 / hr, rsaF: uniform(r, 0.2, 0.3), rsaP: uniform(r, 0, 2*math.Pi)}
	e.wandP = [2]float64{uniform(r, 0, 2*math.Pi), uniform(r, 0, 2*math.Pi)}
	first := uniform(r, 0.2, 0.2+e.rrMean)
	e.beats = append(e.beats, beat{first, e.rrMean})
	return e
}

func (e *ecg) nextRR(t float64) float64 {
	v := 1 + 0.02*math.Sin(2*math.Pi*e.rsaF*t+e.rsaP) + 0.01*e.r.NormFloat64()
	return e.rrMean * clamp(v, 0.9, 1.1)
}

func (e *ecg) value(t, _ float64) float32 {
	// Keep the beats whose waves reach t: from 1 s before to 0.5 s after.
	for e.beats[len(e.beats)-1].t < t+0.5 {
		last := e.beats[len(e.beats)-1]
		rr := e.nextRR(last.t)
		e.beats = append(e.beats, beat{last.t + rr, rr})
	}
	drop := 0
	for drop < len(e.beats)-1 && e.beats[drop].t < t-1 {
		drop++
	}
	if drop > 0 {
		e.beats = append(e.beats[:0], e.beats[drop:]...)
	}
	v := 0.0
	for _, b := range e.beats {
		s := math.Sqrt(b.rr)
		d := t - b.t
		for _, w := range pqrst {
			mu, sg := w.mu, w.sigma
			if w.qt {
				mu, sg = mu*s, sg*s
			}
			x := (d - mu) / sg
			if x > -5 && x < 5 {
				v += w.amp * math.Exp(-0.5*x*x)
			}
		}
	}
	v += 0.04*math.Sin(2*math.Pi*0.22*t+e.wandP[0]) + 0.02*math.Sin(2*math.Pi*0.05*t+e.wandP[1])
	v += 0.008 * e.r.NormFloat64()
	return float32(v)
}
