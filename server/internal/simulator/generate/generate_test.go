package generate

import (
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

const t0 = int64(1_780_000_000_000_000) // an arbitrary Unix time in µs

func f(v float64) *float64 { return &v }

func attr(typ string, rate float64, p scenario.Params) scenario.Attribute {
	return scenario.Attribute{ID: typ, Type: typ, SamplingRate: rate, BatchSize: 1, Params: p}
}

// run advances a fresh generator to t0+seconds in steps of step seconds.
func run(seed uint64, a scenario.Attribute, seconds, step float64) *Output {
	g := New(Config{Seed: seed, SensorID: "s1", StartUS: t0}, a)
	out := &Output{}
	for t := step; ; t += step {
		if t > seconds {
			t = seconds
		}
		g.Advance(t0+int64(t*1e6), out)
		if t >= seconds {
			break
		}
	}
	return out
}

// allTypes covers every generator family.
var allTypes = []scenario.Attribute{
	attr("ecg", 250, scenario.Params{HeartRate: f(72)}),
	attr("respiration", 50, scenario.Params{BreathsPerMinute: f(15), MinValue: f(0), MaxValue: f(100)}),
	attr("heartrate", 1, scenario.Params{HeartRate: f(80)}),
	attr("hrv", 0.2, scenario.Params{HeartRate: f(70)}),
	attr("spo2", 1, scenario.Params{MinValue: f(95), MaxValue: f(99)}),
	attr("temperature", 0.5, scenario.Params{}),
	attr("imu", 110, scenario.Params{ActivityLevel: f(0.9)}),
	attr("accelerometer", 50, scenario.Params{}),
	attr("gyroscope_z", 50, scenario.Params{}),
	attr("quaternion", 20, scenario.Params{}),
	attr("euler", 10, scenario.Params{}),
	attr("geolocation", 1, scenario.Params{TrackMode: "cycle", PlaybackSpeed: f(2)}),
	attr("geolocation", 1, scenario.Params{TrackMode: "stationary"}),
	attr("battery", 0.1, scenario.Params{MinValue: f(40), MaxValue: f(60)}),
	attr("eye_gaze", 200, scenario.Params{FixationDuration: f(350), SaccadeDuration: f(40)}),
	attr("eye_blink", 30, scenario.Params{}),
	attr("eye_aperture", 30, scenario.Params{}),
	attr("eye_worn", 1, scenario.Params{}),
	attr("skeleton", 15, scenario.Params{MotionType: "dancing"}),
	attr("button", 1, scenario.Params{PressRate: f(30)}),
	attr("water_temperature", 0.1, scenario.Params{MinValue: f(27), MaxValue: f(30)}),
}

func TestDeterminismAndChunkIndependence(t *testing.T) {
	t.Parallel()
	for _, a := range allTypes {
		t.Run(a.Type+"/"+a.Params.TrackMode, func(t *testing.T) {
			t.Parallel()
			whole := run(7, a, 60, 60)
			again := run(7, a, 60, 60)
			chunked := run(7, a, 60, 0.037) // batch boundaries must not change the data
			other := run(8, a, 60, 60)
			if whole.Len() == 0 {
				t.Fatal("no output")
			}
			if !equalOutput(whole, again) {
				t.Error("same seed, different output")
			}
			if !equalFlat(whole, chunked) {
				t.Error("chunked advance differs from one advance")
			}
			if equalOutput(whole, other) && a.Type != "eye_worn" {
				t.Error("different seeds gave identical output")
			}
		})
	}
}

type flat struct {
	t int64
	v string
}

// flatten lists every value with its time, blocks expanded.
func flatten(o *Output) []flat {
	var out []flat
	for _, s := range o.Samples {
		s.AttributeID = ""
		out = append(out, flat{s.TimeUS, fmtSample(s)})
	}
	for _, b := range o.Blocks {
		for i, v := range b.Samples {
			out = append(out, flat{b.StartUS + int64(math.Round(float64(i)*1e6/b.RateHz)), fmtF(float64(v))})
		}
	}
	return out
}

func fmtF(v float64) string { return strconv.FormatUint(math.Float64bits(v), 16) + "," }

func fmtSample(s Sample) string {
	return fmtF(s.Number) + fmtF(s.Vec[0].X) + fmtF(s.Vec[1].Z) + fmtF(s.Quat.W) + fmtF(s.Geo.Lat) + fmtF(s.Geo.Lng) + s.Event + stringify(s.Struct)
}

func stringify(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := ""
	for _, k := range keys {
		switch v := m[k].(type) {
		case float64:
			out += k + fmtF(v)
		case bool:
			out += k + map[bool]string{true: "t", false: "f"}[v]
		case []any:
			for _, e := range v {
				out += stringify(e.(map[string]any))
			}
		}
	}
	return out
}

func equalFlat(a, b *Output) bool {
	fa, fb := flatten(a), flatten(b)
	return slices.Equal(fa, fb)
}

func equalOutput(a, b *Output) bool { return equalFlat(a, b) }

func TestTimesOnGridAndIncreasing(t *testing.T) {
	t.Parallel()
	for _, a := range allTypes {
		out := run(1, a, 30, 0.05)
		var prev int64 = -1
		n := 0
		for _, fl := range flatten(out) {
			if fl.t <= prev {
				t.Fatalf("%s: time %d not after %d", a.Type, fl.t, prev)
			}
			prev = fl.t
			n++
		}
		if a.Type == "button" {
			continue
		}
		want := int(math.Ceil(30 * a.SamplingRate))
		if n != want {
			t.Errorf("%s: %d values in 30 s at %g Hz, want %d", a.Type, n, a.SamplingRate, want)
		}
	}
}

// rPeaks returns the times (s) of R peaks: local maxima above 0.6 mV at least
// 250 ms apart.
func rPeaks(samples []float32, rate float64) []float64 {
	var peaks []float64
	last := -1.0
	for i := 1; i+1 < len(samples); i++ {
		v := samples[i]
		if v > 0.6 && v >= samples[i-1] && v > samples[i+1] {
			t := float64(i) / rate
			if last < 0 || t-last > 0.25 {
				peaks = append(peaks, t)
				last = t
			}
		}
	}
	return peaks
}

func TestECGRPeakRate(t *testing.T) {
	t.Parallel()
	for _, hr := range []float64{45, 60, 72, 100, 150, 180} {
		for _, rate := range []float64{100, 250, 256, 512} {
			out := run(uint64(hr*rate), attr("ecg", rate, scenario.Params{HeartRate: f(hr)}), 120, 0.1)
			if len(out.Blocks) != 1 {
				t.Fatalf("hr %g rate %g: %d blocks, want one continuous block", hr, rate, len(out.Blocks))
			}
			s := out.Blocks[0].Samples
			peaks := rPeaks(s, rate)
			got := float64(len(peaks)-1) / (peaks[len(peaks)-1] - peaks[0]) * 60
			if math.Abs(got-hr)/hr > 0.02 {
				t.Errorf("hr %g at %g Hz: R-peak rate %.2f bpm, off by more than 2%%", hr, rate, got)
			}
			lo, hi := slices.Min(s), slices.Max(s)
			if lo < -0.6 || lo > -0.1 || hi < 0.8 || hi > 1.5 {
				t.Errorf("hr %g at %g Hz: range %.2f..%.2f mV, want a PQRST ≈ −0.3..1.2", hr, rate, lo, hi)
			}
		}
	}
}

func TestGPSSpeedAndTurnRate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mode     string
		playback float64
		rate     float64
		speed    *float64
	}{
		{"walk", 1, 1, nil}, {"walk", 2, 1, nil}, {"cycle", 2, 1, nil}, {"drone", 1, 2, nil},
		{"car", 1, 1, nil}, {"walk", 1, 0.2, nil}, {"cycle", 1, 1, f(15)},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			out := run(3, attr("geolocation", c.rate, scenario.Params{TrackMode: c.mode, PlaybackSpeed: f(c.playback), Speed: c.speed}), 1800, 1)
			mode := TrackModes[c.mode]
			v0 := mode.SpeedKMH / 3.6
			if c.speed != nil {
				v0 = *c.speed / 3.6
			}
			lo, hi := v0*(1-SpeedVariation)*0.999, v0*(1+SpeedVariation)*1.001
			ss := out.Samples
			maxDist := 0.0
			for i := 1; i < len(ss); i++ {
				a, b := ss[i-1].Geo, ss[i].Geo
				dt := float64(ss[i].TimeUS-ss[i-1].TimeUS) / 1e6 * c.playback // track seconds
				v := Haversine(a.Lat, a.Lng, b.Lat, b.Lng) / dt
				// The chord of a turning path is shorter than the path: an arc
				// turning by θ is sinc(θ/2) times longer than its chord.
				half := math.Abs(angleDiff(a.HeadingDeg, b.HeadingDeg)) * math.Pi / 360
				chord := 1.0
				if half > 0 {
					chord = math.Sin(half) / half
				}
				if i > 1 && (v < lo*chord*0.97 || v > hi) {
					t.Fatalf("sample %d: haversine speed %.3f m/s outside %.3f..%.3f", i, v, lo, hi)
				}
				if b.SpeedMPS < lo-0.006 || b.SpeedMPS > hi+0.006 { // 2 dp
					t.Fatalf("sample %d: reported speed %.3f outside %.3f..%.3f", i, b.SpeedMPS, lo, hi)
				}
				if turn := math.Abs(angleDiff(a.HeadingDeg, b.HeadingDeg)) / dt; turn > mode.MaxTurnDPS*1.01+0.2/dt {
					t.Fatalf("sample %d: turn rate %.1f °/s above %g", i, turn, mode.MaxTurnDPS)
				}
				maxDist = math.Max(maxDist, Haversine(ss[0].Geo.Lat, ss[0].Geo.Lng, b.Lat, b.Lng))
			}
			if maxDist < 100 {
				t.Errorf("track stayed within %.0f m", maxDist)
			}
			if maxDist > 3*mode.RadiusM {
				t.Errorf("track wandered %.0f m from the start, leash radius %.0f", maxDist, mode.RadiusM)
			}
		})
	}
}

func TestBatteryTrend(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		charging bool
		rate     float64
		start    float64
	}{
		{"draining", false, 1.2, 80},
		{"charging", true, 1.5, 20},
		{"slow drain", false, 0.5, 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := scenario.Params{StartLevel: f(c.start), Charging: &c.charging, DrainRate: f(c.rate), ChargeRate: f(c.rate)}
			out := run(5, attr("battery", 0.1, p), 3600, 10)
			ss := out.Samples
			if got := ss[0].Struct["level"].(float64); math.Abs(got-c.start) > 0.06 {
				t.Fatalf("start level %v, want %v", got, c.start)
			}
			// Slope over every run of samples reporting the same state.
			runs, flips := 0, 0
			for i := 0; i < len(ss); {
				j := i
				for j+1 < len(ss) && ss[j+1].Struct["charging"] == ss[i].Struct["charging"] {
					j++
				}
				if i > 0 {
					flips++
				}
				if j-i >= 10 {
					l0, l1 := ss[i].Struct["level"].(float64), ss[j].Struct["level"].(float64)
					minutes := float64(ss[j].TimeUS-ss[i].TimeUS) / 60e6
					slope := (l1 - l0) / minutes
					want := -c.rate
					if ss[i].Struct["charging"].(bool) {
						want = c.rate
					}
					if l0 > 1 && l0 < 99 && l1 > 1 && l1 < 99 && math.Abs(slope-want) > 0.05 {
						t.Errorf("samples %d..%d charging=%v: %.3f %%/min, want %.2f", i, j, ss[i].Struct["charging"], slope, want)
					}
					runs++
				}
				i = j + 1
			}
			if runs < 2 || flips < 2 {
				t.Errorf("%d runs and %d flips in an hour, want the state to flip every 4–12 min", runs, flips)
			}
		})
	}
}

func TestValueRanges(t *testing.T) {
	t.Parallel()
	for _, a := range allTypes {
		out := run(11, a, 300, 1)
		for _, s := range out.Samples {
			switch a.Type {
			case "heartrate":
				if s.Number < 65 || s.Number > 95 {
					t.Fatalf("heartrate %v outside 80 ± 15", s.Number)
				}
			case "spo2", "water_temperature":
				if s.Number < *a.Params.MinValue || s.Number > *a.Params.MaxValue {
					t.Fatalf("%s %v outside range", a.Type, s.Number)
				}
			case "hrv":
				r, d := s.Struct["rmssd"].(float64), s.Struct["sdnn"].(float64)
				if r < 5 || r > 150 || d < 5 || d > 200 {
					t.Fatalf("hrv %v", s.Struct)
				}
			case "quaternion":
				q := s.Quat
				if n := math.Sqrt(q.W*q.W + q.X*q.X + q.Y*q.Y + q.Z*q.Z); math.Abs(n-1) > 1e-9 {
					t.Fatalf("quaternion norm %v", n)
				}
			case "eye_gaze":
				x, y, c := s.Struct["x"].(float64), s.Struct["y"].(float64), s.Struct["confidence"].(float64)
				if x < 0 || x > 1 || y < 0 || y > 1 || c < 0.6 || c > 0.99 {
					t.Fatalf("gaze %v", s.Struct)
				}
			case "eye_blink", "eye_worn":
				if s.Number != 0 && s.Number != 1 {
					t.Fatalf("%s %v", a.Type, s.Number)
				}
			case "eye_aperture":
				l, r := s.Struct["left"].(float64), s.Struct["right"].(float64)
				if l < 0 || l > 22.2 || r < 0 || r > 22.2 {
					t.Fatalf("aperture %v", s.Struct)
				}
			case "battery":
				if l := s.Struct["level"].(float64); l < 0 || l > 100 {
					t.Fatalf("battery %v", s.Struct)
				}
			case "skeleton":
				lm := s.Struct["landmarks"].([]any)
				if len(lm) != Landmarks {
					t.Fatalf("%d landmarks", len(lm))
				}
				for _, p := range lm {
					m := p.(map[string]any)
					x, y, v := m["x"].(float64), m["y"].(float64), m["v"].(float64)
					if x < 0 || x > 1 || y < 0 || y > 1 || v < 0.5 || v > 1 {
						t.Fatalf("landmark %v", m)
					}
				}
			case "imu":
				if s.Kind != KindIMU || math.Abs(s.Vec[0].Z-9.81) > 6 {
					t.Fatalf("imu %+v", s.Vec)
				}
			}
		}
		for _, b := range out.Blocks {
			for _, v := range b.Samples {
				if a.Type == "respiration" && (v < 0 || v > 100) {
					t.Fatalf("respiration %v outside 0..100", v)
				}
			}
		}
	}
}

func TestBlinkApertureCorrelated(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 9, SensorID: "eyes", StartUS: t0}
	bl := New(cfg, attr("eye_blink", 30, scenario.Params{}))
	ap := New(cfg, attr("eye_aperture", 30, scenario.Params{}))
	var ob, oa Output
	bl.Advance(t0+120e6, &ob)
	ap.Advance(t0+120e6, &oa)
	blinks := 0
	for i, s := range ob.Samples {
		closed := oa.Samples[i].Struct["left"].(float64) < 11
		if s.Number == 1 {
			blinks++
		}
		if closed && s.Number != 1 {
			t.Fatalf("aperture closed at %d without a blink", i)
		}
	}
	if blinks < 20 {
		t.Errorf("%d blink samples in 2 min at 17/min", blinks)
	}
}

func TestButtons(t *testing.T) {
	t.Parallel()
	out := run(2, attr("button", 1, scenario.Params{PressRate: f(12), ButtonCount: f(3)}), 600, 0.05)
	presses := 0
	for i, s := range out.Samples {
		want := "press"
		if i%2 == 1 {
			want = "release"
			if s.Number != out.Samples[i-1].Number {
				t.Fatalf("release of %v after press of %v", s.Number, out.Samples[i-1].Number)
			}
		} else {
			presses++
		}
		if s.Event != want || s.Number < 1 || s.Number > 3 {
			t.Fatalf("event %d: %+v, want %s", i, s, want)
		}
	}
	if presses < 80 || presses > 160 {
		t.Errorf("%d presses in 10 min at 12/min", presses)
	}
}

func TestHeartRateMeanReverts(t *testing.T) {
	t.Parallel()
	out := run(4, attr("heartrate", 1, scenario.Params{HeartRate: f(95)}), 3600, 10)
	sum := 0.0
	for _, s := range out.Samples {
		sum += s.Number
	}
	if mean := sum / float64(len(out.Samples)); math.Abs(mean-95) > 1.5 {
		t.Errorf("mean heart rate %.2f, want ≈ 95", mean)
	}
}

func BenchmarkECG(b *testing.B) {
	for _, rate := range []float64{100, 512} {
		b.Run(fmtRate(rate), func(b *testing.B) {
			g := New(Config{Seed: 1, SensorID: "s", StartUS: t0}, attr("ecg", rate, scenario.Params{HeartRate: f(72)}))
			var out Output
			until := t0
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				until += 100_000 // 100 ms per call
				n += g.Advance(until, &out)
				out.Reset()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

func fmtRate(r float64) string {
	if r == 100 {
		return "100Hz"
	}
	return "512Hz"
}

func TestDurationStopsTheAttribute(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"ecg", "heartrate", "button"} {
		a := attr(typ, 10, scenario.Params{PressRate: f(120)})
		a.Duration = 5
		out := run(1, a, 20, 0.5)
		last := int64(0)
		for _, fl := range flatten(out) {
			last = max(last, fl.t)
		}
		if out.Len() == 0 || last >= t0+5e6 {
			t.Errorf("%s: %d values, last at +%d µs, want none from +5 s", typ, out.Len(), last-t0)
		}
	}
}

// TestSkeletonIsUpright checks the landmarks form a standing figure: head above
// shoulders above hips above knees above ankles, left side on the image's right.
func TestSkeletonIsUpright(t *testing.T) {
	t.Parallel()
	for _, m := range []string{"idle", "walking", "waving", "dancing", "exercise", "jumping", "unknown"} {
		out := run(1, attr("skeleton", 15, scenario.Params{MotionType: m}), 8, 1)
		for i, s := range out.Samples {
			lm := s.Struct["landmarks"].([]any)
			y := func(j int) float64 { return lm[j].(map[string]any)["y"].(float64) }
			x := func(j int) float64 { return lm[j].(map[string]any)["x"].(float64) }
			if !(y(0) < y(11) && y(11) < y(23) && y(23) < y(25) && y(25) < y(27) && y(12) < y(24) && y(24) < y(26) && y(26) < y(28)) {
				t.Fatalf("%s frame %d: not upright: nose %.3f shoulders %.3f hips %.3f knees %.3f ankles %.3f", m, i, y(0), y(11), y(23), y(25), y(27))
			}
			if x(11) <= x(12) || x(23) <= x(24) {
				t.Fatalf("%s frame %d: left/right swapped", m, i)
			}
		}
		if first, last := stringify(out.Samples[0].Struct), stringify(out.Samples[len(out.Samples)-1].Struct); first == last {
			t.Errorf("%s: no motion", m)
		}
	}
}
