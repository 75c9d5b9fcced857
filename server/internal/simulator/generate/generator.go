package generate

import (
	"strings"

	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

// Generator produces the values of one attribute of one simulated sensor.
// It is not safe for concurrent use; each sensor goroutine owns its generators.
type Generator interface {
	// AttributeID is the attribute the values belong to.
	AttributeID() string
	// Type is the attribute type (the scenario's sensor_type).
	Type() string
	// RateHz is the nominal sample rate.
	RateHz() float64
	// Waveform reports whether values are delivered as Blocks.
	Waveform() bool
	// Advance appends every value due strictly before untilUS that was not
	// produced yet and returns how many it appended. Calls with a time at or
	// before the previous one append nothing. An attribute with a duration
	// produces nothing after StartUS + duration.
	Advance(untilUS int64, out *Output) int
	// NextUS is the time of the next value not produced yet.
	NextUS() int64
}

// Config identifies a generator in a run.
type Config struct {
	Seed     uint64 // the run's seed
	SensorID string
	StartUS  int64 // time of the first sample, Unix epoch microseconds
}

// New returns the generator for attribute a, selected by a.Type. Unknown
// types get a bounded random walk (a generic numeric stream).
func New(cfg Config, a scenario.Attribute) Generator {
	rate := a.SamplingRate
	if rate <= 0 {
		rate = 1
	}
	b := base{id: a.ID, typ: a.Type, g: grid{startUS: cfg.StartUS, rate: rate}}
	if a.Duration > 0 {
		b.g.endUS = cfg.StartUS + int64(a.Duration*1e6)
	}
	r := newRand(cfg.Seed, cfg.SensorID, a.ID)
	p := a.Params
	t := strings.ToLower(a.Type)
	switch t {
	case "ecg", "heart", "heartbeat":
		return &waveGen{base: b, w: newECG(r, orDefault(p.HeartRate, 72))}
	case "respiration", "breathing", "breath":
		return &waveGen{base: b, w: newRespiration(r, p)}
	case "button", "buttons":
		return newButtons(b, r, p)
	}
	var s sampler
	switch t {
	case "heartrate", "heart_rate", "hr", "bpm":
		s = newHeartRate(r, p)
	case "hrv", "heart_rate_variability":
		s = newHRV(r, seeded(cfg.Seed, hashIDs("\x00room")), p)
	case "imu", "motion":
		s = newIMU(r, p, imuBoth)
	case "accelerometer":
		s = newIMU(r, p, imuAccel)
	case "gyroscope":
		s = newIMU(r, p, imuGyro)
	case "accelerometer_x", "accelerometer_y", "accelerometer_z", "gyroscope_x", "gyroscope_y", "gyroscope_z":
		s = newIMUAxis(r, p, t)
	case "quaternion", "orientation_quaternion":
		s = newOrientation(r, p, false)
	case "euler":
		s = newOrientation(r, p, true)
	case "geolocation", "location", "gps":
		s = newGPS(r, p)
	case "battery", "battery_level":
		s = newBattery(r, p)
	case "eye_gaze", "gaze":
		s = newGaze(r, p)
	case "eye_blink":
		s = &blink{sched: newBlinks(cfg, p)}
	case "eye_aperture":
		s = newAperture(r, newBlinks(cfg, p))
	case "eye_worn":
		s = newWorn(r)
	case "skeleton", "pose", "pose_skeleton", "body_pose":
		s = newSkeleton(r, p)
	default:
		s = newScalar(r, t, p)
	}
	return &sampleGen{base: b, s: s}
}

type base struct {
	id, typ string
	g       grid
}

func (b *base) AttributeID() string { return b.id }
func (b *base) Type() string        { return b.typ }
func (b *base) RateHz() float64     { return b.g.rate }
func (b *base) NextUS() int64       { return b.g.timeOf(b.g.next) }

// sampler computes the value of sample k (at t seconds since start, dt seconds
// after the previous one) into s. Samples are requested in order.
type sampler interface {
	sample(t, dt float64, s *Sample)
}

type sampleGen struct {
	base
	s sampler
}

func (*sampleGen) Waveform() bool { return false }

func (g *sampleGen) Advance(untilUS int64, out *Output) int {
	n := g.g.due(untilUS)
	dt := g.g.dt()
	for range n {
		k := g.g.next
		out.Samples = append(out.Samples, Sample{AttributeID: g.id, TimeUS: g.g.timeOf(k)})
		g.s.sample(g.g.seconds(k), dt, &out.Samples[len(out.Samples)-1])
		g.g.next++
	}
	return int(n)
}

// waver computes waveform sample values in order.
type waver interface {
	value(t, dt float64) float32
}

type waveGen struct {
	base
	w waver
}

func (*waveGen) Waveform() bool { return true }

func (g *waveGen) Advance(untilUS int64, out *Output) int {
	n := g.g.due(untilUS)
	if n == 0 {
		return 0
	}
	b := out.wave(g.id, g.g.rate, g.g.timeOf(g.g.next))
	dt := g.g.dt()
	for range n {
		b.Samples = append(b.Samples, g.w.value(g.g.seconds(g.g.next), dt))
		g.g.next++
	}
	return int(n)
}
