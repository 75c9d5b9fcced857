package generate

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

// Landmarks is the number of pose landmarks (MediaPipe Pose order: 0 nose,
// 1–6 eyes, 7–8 ears, 9–10 mouth, 11–12 shoulders, 13–14 elbows, 15–16
// wrists, 17–22 hands, 23–24 hips, 25–26 knees, 27–28 ankles, 29–30 heels,
// 31–32 foot tips; odd = the person's left, drawn on the image's right).
const Landmarks = 33

// pose is one keyframe: joint angles in radians (0 = limb hanging straight
// down, positive = away from the body's midline), pelvis offsets and torso
// lean, all in normalised image units.
type pose struct {
	hipX, hipY, lean, head float64
	shoulder, elbow        [2]float64 // [left, right]
	hip, knee              [2]float64
}

func lerpPose(a, b pose, f float64) pose {
	l := func(x, y float64) float64 { return x + (y-x)*f }
	out := pose{hipX: l(a.hipX, b.hipX), hipY: l(a.hipY, b.hipY), lean: l(a.lean, b.lean), head: l(a.head, b.head)}
	for i := range 2 {
		out.shoulder[i] = l(a.shoulder[i], b.shoulder[i])
		out.elbow[i] = l(a.elbow[i], b.elbow[i])
		out.hip[i] = l(a.hip[i], b.hip[i])
		out.knee[i] = l(a.knee[i], b.knee[i])
	}
	return out
}

// motion is a keyframed cycle.
type motion struct {
	period float64 // seconds
	frames []pose
}

// keyframes builds n keyframes of a cyclic motion from a function of the phase.
func keyframes(n int, period float64, f func(ph float64) pose) motion {
	m := motion{period: period, frames: make([]pose, n)}
	for i := range n {
		m.frames[i] = f(float64(i) / float64(n))
	}
	return m
}

func sin2pi(ph float64) float64 { return math.Sin(2 * math.Pi * ph) }

// Segment lengths in normalised image units (before per-sensor scaling).
const (
	thighLen = 0.17
	shinLen  = 0.16
)

// legDrop is how far the pelvis drops when the thigh is at angle hip and the
// shin at angle shin from vertical, keeping the feet on the floor.
func legDrop(hip, shin float64) float64 {
	return thighLen + shinLen - thighLen*math.Cos(hip) - shinLen*math.Cos(shin)
}

// Motions of the original (as in the original simulator): idle 4 s, walking 1 s
// (8 keyframes), waving 1.5 s, dancing 4 s (16 keyframes), exercise 3 s, and
// jumping 1 s, which the original only named.
var motions = map[string]motion{
	"idle": keyframes(4, 4, func(ph float64) pose {
		s := sin2pi(ph)
		return pose{hipX: 0.004 * s, hipY: 0.002 * s, shoulder: [2]float64{0.12 + 0.02*s, 0.12 + 0.02*s}, elbow: [2]float64{0.1, 0.1}}
	}),
	"walking": keyframes(8, 1, func(ph float64) pose {
		s := sin2pi(ph)
		return pose{
			hipY: 0.01 * math.Abs(s),
			// Seen from the front, swings show as small sideways motion and
			// the bent knee of the swinging leg as a shorter leg.
			shoulder: [2]float64{0.1 - 0.12*s, 0.1 + 0.12*s},
			elbow:    [2]float64{0.25, 0.25},
			hip:      [2]float64{0.06 * s, -0.06 * s},
			knee:     [2]float64{0.5 * math.Max(0, -s), 0.5 * math.Max(0, s)},
		}
	}),
	"waving": keyframes(6, 1.5, func(ph float64) pose {
		return pose{
			shoulder: [2]float64{0.12, 2.5},
			elbow:    [2]float64{0.1, 0.5 + 0.5*sin2pi(ph)},
			head:     0.05 * sin2pi(ph),
		}
	}),
	"dancing": keyframes(16, 4, func(ph float64) pose {
		s, c := sin2pi(2*ph), math.Cos(2*math.Pi*4*ph)
		return pose{
			hipX: 0.03 * s, hipY: 0.015 * (1 + c), lean: 0.1 * s,
			shoulder: [2]float64{1.2 + 0.8*sin2pi(4*ph), 1.2 - 0.8*sin2pi(4*ph)},
			elbow:    [2]float64{0.8, 0.8},
			hip:      [2]float64{0.1 + 0.1*s, 0.1 - 0.1*s},
			knee:     [2]float64{0.3 * (1 + c) / 2, 0.3 * (1 + c) / 2},
			head:     0.1 * s,
		}
	}),
	"exercise": keyframes(6, 3, func(ph float64) pose {
		// Squats seen from the front: knees out, shins back to nearly
		// vertical, the pelvis dropping by what the bent legs lose in
		// height so the feet stay on the floor; arms raise forward.
		d := (1 - math.Cos(2*math.Pi*ph)) / 2 // 0 standing … 1 deep squat
		return pose{
			hipY:     legDrop(0.9*d, 0.2*d),
			shoulder: [2]float64{0.1 + 1.4*d, 0.1 + 1.4*d},
			hip:      [2]float64{0.9 * d, 0.9 * d},
			knee:     [2]float64{1.1 * d, 1.1 * d},
		}
	}),
	"jumping": keyframes(8, 1, func(ph float64) pose {
		up := math.Max(0, sin2pi(ph))
		crouch := math.Max(0, -sin2pi(ph))
		return pose{
			hipY:     -0.08*up + legDrop(0.6*crouch, 0.2*crouch),
			shoulder: [2]float64{0.2 + 2.2*up, 0.2 + 2.2*up},
			hip:      [2]float64{0.6 * crouch, 0.6 * crouch},
			knee:     [2]float64{0.8*crouch + 0.3*up, 0.8*crouch + 0.3*up},
		}
	}),
}

// skeleton plays a motion_type (unknown types fall back to idle) with a random
// phase, speed 0.8–1.2 and placement, interpolating keyframes with smoothstep
// easing, noise ±0.0015 on x/y and visibility 0.5–1.0.
// Output {landmarks: [33 × {x, y, v}]} in normalised image coordinates.
type skeleton struct {
	r             *rand.Rand
	m             motion
	phase, speed  float64
	cx, cy, scale float64
	pts           [Landmarks][2]float64
}

func newSkeleton(r *rand.Rand, p scenario.Params) *skeleton {
	m, ok := motions[strings.ToLower(p.MotionType)]
	if !ok {
		m = motions["idle"]
	}
	return &skeleton{r: r, m: m, phase: r.Float64(), speed: uniform(r, 0.8, 1.2),
		cx: uniform(r, 0.4, 0.6), cy: uniform(r, 0.5, 0.55), scale: uniform(r, 0.9, 1.1)}
}

func (k *skeleton) pose(dt float64) pose {
	k.phase = math.Mod(k.phase+dt*k.speed/k.m.period, 1)
	n := len(k.m.frames)
	x := k.phase * float64(n)
	i := int(x) % n
	return lerpPose(k.m.frames[i], k.m.frames[(i+1)%n], smoothstep(x-math.Floor(x)))
}

// limb returns the end of a segment of length l from (x, y) at angle a,
// mirrored for the right side (side 1).
func limb(x, y, l, a float64, side int) (float64, float64) {
	if side == 1 {
		a = -a
	}
	return x + l*math.Sin(a), y + l*math.Cos(a)
}

// place computes the 33 landmarks of pose p (before placement and scaling).
func (k *skeleton) place(p pose) {
	pt := &k.pts
	hx, hy := p.hipX, 0.1+p.hipY // pelvis centre, y grows downwards
	sx, sy := hx+0.25*math.Sin(p.lean), hy-0.25*math.Cos(p.lean)
	for side := range 2 {
		dir := 1.0 // the person's left is drawn on the image's right
		if side == 1 {
			dir = -1
		}
		sh := [2]float64{sx + dir*0.075, sy}
		pt[11+side] = sh
		ex, ey := limb(sh[0], sh[1], 0.12, p.shoulder[side], side)
		pt[13+side] = [2]float64{ex, ey}
		wx, wy := limb(ex, ey, 0.11, p.shoulder[side]+p.elbow[side], side)
		pt[15+side] = [2]float64{wx, wy}
		for j, off := range [3]float64{0.025, 0.03, 0.02} { // pinky, index, thumb
			px, py := limb(wx, wy, off, p.shoulder[side]+p.elbow[side]+float64(j-1)*0.3, side)
			pt[17+2*j+side] = [2]float64{px, py}
		}
		hp := [2]float64{hx + dir*0.045, hy}
		pt[23+side] = hp
		kx, ky := limb(hp[0], hp[1], thighLen, p.hip[side], side)
		pt[25+side] = [2]float64{kx, ky}
		ax, ay := limb(kx, ky, shinLen, p.hip[side]-p.knee[side], side)
		pt[27+side] = [2]float64{ax, ay}
		pt[29+side] = [2]float64{ax - dir*0.005, ay + 0.015}
		pt[31+side] = [2]float64{ax + dir*0.03, ay + 0.02}
	}
	// Head: above the shoulders' midpoint, tilted by head + lean.
	nx, ny := sx+0.1*math.Sin(p.lean+p.head), sy-0.1*math.Cos(p.lean+p.head)
	pt[0] = [2]float64{nx, ny}
	for side := range 2 {
		dir := 1.0
		if side == 1 {
			dir = -1
		}
		for j, dx := range [3]float64{0.01, 0.017, 0.024} { // eye inner, eye, eye outer
			pt[1+3*side+j] = [2]float64{nx + dir*dx, ny - 0.015}
		}
		pt[7+side] = [2]float64{nx + dir*0.04, ny - 0.005}
		pt[9+side] = [2]float64{nx + dir*0.012, ny + 0.02}
	}
}

func (k *skeleton) sample(_, dt float64, s *Sample) {
	k.place(k.pose(dt))
	lm := make([]any, Landmarks)
	for i, p := range k.pts {
		x := k.cx + k.scale*p[0] + uniform(k.r, -0.0015, 0.0015)
		y := k.cy + k.scale*(p[1]-0.1) + uniform(k.r, -0.0015, 0.0015)
		v := clamp(0.95+0.05*k.r.NormFloat64(), 0.5, 1)
		lm[i] = map[string]any{"x": round(clamp(x, 0, 1), 4), "y": round(clamp(y, 0, 1), 4), "v": round(v, 3)}
	}
	s.Kind = KindStruct
	s.Struct = map[string]any{"landmarks": lm}
}
