package generate

import (
	"math"
	"math/rand/v2"

	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

type imuOut uint8

const (
	imuBoth imuOut = iota
	imuAccel
	imuGyro
)

// imu models a head- or body-worn IMU at activity_level a (0..1, default 0.5):
// gait at 1.6–2.0 Hz scaled by a on the accelerometer, gravity on z tilted by a
// slow nod, head turns arriving at (0.05 + 0.5a)/s as half-sine bursts of
// angular velocity up to 0.5 + 2.5a rad/s, and sensor noise.
// Accelerometer in m/s², gyroscope in rad/s.
type imu struct {
	r     *rand.Rand
	a     float64
	fStep float64
	ph    [6]float64
	pitch ou
	prevP float64
	// head turn in progress
	turnT, turnDur, turnPeak float64
	out                      imuOut
}

func newIMU(r *rand.Rand, p scenario.Params, out imuOut) *imu {
	a := orDefault(p.ActivityLevel, 0.5)
	m := &imu{r: r, a: a, fStep: 1.6 + 0.4*a + uniform(r, -0.05, 0.05), pitch: ou{sd: 0.05 + 0.1*a, tau: 3}, out: out}
	for i := range m.ph {
		m.ph[i] = uniform(r, 0, 2*math.Pi)
	}
	m.turnT = -1
	return m
}

func (m *imu) step(t, dt float64) (acc, gyr Vec3) {
	a, w := m.a, 2*math.Pi*m.fStep
	pitch := m.pitch.step(m.r, dt)
	dp := (pitch - m.prevP) / dt
	m.prevP = pitch
	if m.turnT < 0 && m.r.Float64() < (0.05+0.5*a)*dt {
		m.turnT, m.turnDur = 0, uniform(m.r, 0.4, 0.8)
		m.turnPeak = uniform(m.r, 0.3, 1) * (0.5 + 2.5*a)
		if m.r.IntN(2) == 0 {
			m.turnPeak = -m.turnPeak
		}
	}
	turn := 0.0
	if m.turnT >= 0 {
		turn = m.turnPeak * math.Sin(math.Pi*m.turnT/m.turnDur)
		m.turnT += dt
		if m.turnT >= m.turnDur {
			m.turnT = -1
		}
	}
	na, ng := 0.03+0.15*a, 0.005+0.02*a
	acc.X = a*(1.5*math.Sin(w*t+m.ph[0])+0.6*math.Sin(2*w*t+m.ph[1])) + 0.05*turn*turn + na*m.r.NormFloat64()
	acc.Y = a*math.Sin(w*t+m.ph[2]) + 9.81*math.Sin(pitch) + na*m.r.NormFloat64()
	acc.Z = 9.81*math.Cos(pitch) + a*2.5*math.Sin(2*w*t+m.ph[3]) + na*m.r.NormFloat64()
	gyr.X = dp + a*0.6*math.Sin(w*t+m.ph[4]) + ng*m.r.NormFloat64()
	gyr.Y = a*0.3*math.Sin(w*t+m.ph[5]) + ng*m.r.NormFloat64()
	gyr.Z = turn + ng*m.r.NormFloat64()
	return acc, gyr
}

func r3(v Vec3) Vec3 { return Vec3{round(v.X, 3), round(v.Y, 3), round(v.Z, 3)} }

func (m *imu) sample(t, dt float64, s *Sample) {
	acc, gyr := m.step(t, dt)
	switch m.out {
	case imuAccel:
		s.Kind, s.Vec[0] = KindVec3, r3(acc)
	case imuGyro:
		s.Kind, s.Vec[0] = KindVec3, r3(gyr)
	default:
		s.Kind, s.Vec[0], s.Vec[1] = KindIMU, r3(acc), r3(gyr)
	}
}

// imuAxis is one axis of the IMU model as a number (accelerometer_x …).
type imuAxis struct {
	m    *imu
	gyro bool
	axis byte
}

func newIMUAxis(r *rand.Rand, p scenario.Params, typ string) *imuAxis {
	return &imuAxis{m: newIMU(r, p, imuBoth), gyro: typ[0] == 'g', axis: typ[len(typ)-1]}
}

func (x *imuAxis) sample(t, dt float64, s *Sample) {
	acc, gyr := x.m.step(t, dt)
	v := acc
	if x.gyro {
		v = gyr
	}
	s.Kind = KindNumber
	switch x.axis {
	case 'x':
		s.Number = round(v.X, 3)
	case 'y':
		s.Number = round(v.Y, 3)
	default:
		s.Number = round(v.Z, 3)
	}
}

// orientation is a smooth rotation: the angular velocity is a 3-axis OU
// process (sd 0.1 + 0.6·activity rad/s, relaxation 2 s) integrated exactly per
// step into a unit quaternion (renormalised). As euler it reports
// {roll, pitch, yaw} in degrees.
type orientation struct {
	r     *rand.Rand
	q     Quat
	w     [3]ou
	euler bool
}

func newOrientation(r *rand.Rand, p scenario.Params, euler bool) *orientation {
	a := orDefault(p.ActivityLevel, 0.5)
	o := &orientation{r: r, euler: euler}
	for i := range o.w {
		o.w[i] = ou{sd: 0.1 + 0.6*a, tau: 2}
	}
	o.q = normalize(Quat{r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64()})
	return o
}

func normalize(q Quat) Quat {
	n := math.Sqrt(q.W*q.W + q.X*q.X + q.Y*q.Y + q.Z*q.Z)
	if n == 0 {
		return Quat{W: 1}
	}
	return Quat{q.W / n, q.X / n, q.Y / n, q.Z / n}
}

func mul(a, b Quat) Quat {
	return Quat{
		W: a.W*b.W - a.X*b.X - a.Y*b.Y - a.Z*b.Z,
		X: a.W*b.X + a.X*b.W + a.Y*b.Z - a.Z*b.Y,
		Y: a.W*b.Y - a.X*b.Z + a.Y*b.W + a.Z*b.X,
		Z: a.W*b.Z + a.X*b.Y - a.Y*b.X + a.Z*b.W,
	}
}

func (o *orientation) sample(_, dt float64, s *Sample) {
	wx, wy, wz := o.w[0].step(o.r, dt), o.w[1].step(o.r, dt), o.w[2].step(o.r, dt)
	n := math.Sqrt(wx*wx + wy*wy + wz*wz)
	if n > 0 {
		h := n * dt / 2
		k := math.Sin(h) / n
		o.q = normalize(mul(o.q, Quat{math.Cos(h), wx * k, wy * k, wz * k}))
	}
	if !o.euler {
		s.Kind, s.Quat = KindQuat, o.q
		return
	}
	q := o.q
	roll := math.Atan2(2*(q.W*q.X+q.Y*q.Z), 1-2*(q.X*q.X+q.Y*q.Y))
	pitch := math.Asin(clamp(2*(q.W*q.Y-q.Z*q.X), -1, 1))
	yaw := math.Atan2(2*(q.W*q.Z+q.X*q.Y), 1-2*(q.Y*q.Y+q.Z*q.Z))
	const deg = 180 / math.Pi
	s.Kind = KindStruct
	s.Struct = map[string]any{"roll": round(roll*deg, 2), "pitch": round(pitch*deg, 2), "yaw": round(yaw*deg, 2)}
}
