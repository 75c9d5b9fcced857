package generate

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

// earthRadius is the mean Earth radius in metres (haversine).
const earthRadius = 6371008.8

// TrackMode describes how a generated track moves.
type TrackMode struct {
	SpeedKMH   float64 // nominal ground speed
	MaxTurnDPS float64 // maximum turn rate, degrees per second of track time
	TurnFreq   float64 // probability per second of starting a corner
	RadiusM    float64 // beyond this distance from the start the track steers back
	AltM       float64 // height above base altitude
	AccuracyM  float64
}

// SpeedVariation is the fraction by which a track's speed varies around the
// mode's (or the speed parameter's) nominal speed.
const SpeedVariation = 0.2

// TrackModes are the track modes of the original (as in the original simulator) with
// their nominal speeds.
var TrackModes = map[string]TrackMode{
	"walk":   {SpeedKMH: 5, MaxTurnDPS: 30, TurnFreq: 0.02, RadiusM: 1500, AccuracyM: 5},
	"cycle":  {SpeedKMH: 20, MaxTurnDPS: 20, TurnFreq: 0.015, RadiusM: 4000, AccuracyM: 5},
	"car":    {SpeedKMH: 60, MaxTurnDPS: 10, TurnFreq: 0.01, RadiusM: 15000, AccuracyM: 5},
	"train":  {SpeedKMH: 120, MaxTurnDPS: 1, TurnFreq: 0.002, RadiusM: 100000, AccuracyM: 5},
	"bird":   {SpeedKMH: 40, MaxTurnDPS: 10, TurnFreq: 0.01, RadiusM: 20000, AltM: 120, AccuracyM: 8},
	"drone":  {SpeedKMH: 30, MaxTurnDPS: 25, TurnFreq: 0.03, RadiusM: 800, AltM: 50, AccuracyM: 2},
	"boat":   {SpeedKMH: 25, MaxTurnDPS: 5, TurnFreq: 0.005, RadiusM: 8000, AccuracyM: 5},
	"wander": {SpeedKMH: 3, MaxTurnDPS: 30, TurnFreq: 0.03, RadiusM: 500, AccuracyM: 5},
}

// Default start positions: Berlin Tiergarten for walks, Berlin centre otherwise.
var (
	walkStart    = [2]float64{52.5145, 13.3501}
	defaultStart = [2]float64{52.52, 13.405}
)

// gps generates a track: a random walk with heading persistence (turn rate an
// OU process bounded by the mode's maximum, occasional corners executed at
// that maximum, and a soft leash that steers back towards the start beyond the
// mode's radius, which makes long runs loop), speed an OU process within
// ±SpeedVariation of nominal. Track time runs at playback_speed × wall time.
// Mode "stationary" stays at the start with ±5 m drift.
type gps struct {
	r          *rand.Rand
	mode       TrackMode
	stationary bool
	playback   float64
	lat0, lng0 float64
	lat, lng   float64
	baseAlt    float64
	v0         float64 // m/s
	speed      ou      // relative speed deviation
	heading    float64 // degrees
	turn       ou      // deg/s
	corner     float64 // remaining corner angle, degrees (signed)
	drift      [2]ou   // stationary drift, metres
	v          float64
	t          float64
}

func newGPS(r *rand.Rand, p scenario.Params) *gps {
	name := strings.ToLower(p.TrackMode)
	if s, ok := p.GenerateTrack.(string); ok && name == "" {
		name = strings.ToLower(s)
	}
	g := &gps{r: r, playback: orDefault(p.PlaybackSpeed, 1), baseAlt: orDefault(p.BaseAlt, 35)}
	mode, ok := TrackModes[name]
	if !ok {
		mode = TrackModes["walk"]
	}
	g.stationary = name == "stationary"
	g.mode = mode
	start := defaultStart
	if name == "walk" || name == "" {
		start = walkStart
	}
	switch {
	case p.StartLat != nil && p.StartLng != nil:
		start = [2]float64{*p.StartLat, *p.StartLng}
	case p.BaseLat != nil && p.BaseLng != nil:
		start = [2]float64{*p.BaseLat, *p.BaseLng}
	}
	g.lat0, g.lng0 = start[0], start[1]
	g.lat, g.lng = start[0], start[1]
	if p.RandomStart {
		g.move(uniform(r, 0, 360), uniform(r, 0, mode.RadiusM/2))
	}
	g.v0 = mode.SpeedKMH / 3.6
	if p.Speed != nil {
		g.v0 = *p.Speed / 3.6
	}
	g.speed = ou{sd: SpeedVariation / 3, tau: 30}
	g.v = g.v0
	g.turn = ou{sd: mode.MaxTurnDPS / 6, tau: 8}
	g.heading = uniform(r, 0, 360)
	g.drift = [2]ou{{sd: 2.5, tau: 60}, {sd: 2.5, tau: 60}}
	return g
}

// move moves the position dist metres along heading h (degrees).
func (g *gps) move(h, dist float64) {
	lat := g.lat * math.Pi / 180
	hr := h * math.Pi / 180
	g.lat += dist * math.Cos(hr) / earthRadius * 180 / math.Pi
	g.lng += dist * math.Sin(hr) / (earthRadius * math.Cos(lat)) * 180 / math.Pi
}

// Haversine is the great-circle distance in metres.
func Haversine(lat1, lng1, lat2, lng2 float64) float64 {
	const rad = math.Pi / 180
	dlat, dlng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlng/2)*math.Sin(dlng/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(a)))
}

func bearing(lat1, lng1, lat2, lng2 float64) float64 {
	const rad = math.Pi / 180
	y := math.Sin((lng2-lng1)*rad) * math.Cos(lat2*rad)
	x := math.Cos(lat1*rad)*math.Sin(lat2*rad) - math.Sin(lat1*rad)*math.Cos(lat2*rad)*math.Cos((lng2-lng1)*rad)
	return math.Mod(math.Atan2(y, x)/rad+360, 360)
}

// angleDiff is b − a wrapped to (−180, 180].
func angleDiff(a, b float64) float64 {
	d := math.Mod(b-a+540, 360) - 180
	if d == -180 {
		return 180
	}
	return d
}

// stepTrack advances track time by dt seconds (dt ≤ 1).
func (g *gps) stepTrack(dt float64) {
	m := g.mode
	g.v = g.v0 * (1 + clamp(g.speed.step(g.r, dt), -SpeedVariation, SpeedVariation))
	rate := clamp(g.turn.step(g.r, dt), -m.MaxTurnDPS, m.MaxTurnDPS)
	if g.corner == 0 && g.r.Float64() < m.TurnFreq*dt {
		g.corner = uniform(g.r, 30, 90)
		if g.r.IntN(2) == 0 {
			g.corner = -g.corner
		}
	}
	if d := Haversine(g.lat0, g.lng0, g.lat, g.lng); d > m.RadiusM && g.corner == 0 {
		if back := angleDiff(g.heading, bearing(g.lat, g.lng, g.lat0, g.lng0)); math.Abs(back) > 20 {
			g.corner = back
		}
	}
	if g.corner != 0 {
		rate = math.Copysign(m.MaxTurnDPS, g.corner)
		if math.Abs(g.corner) <= m.MaxTurnDPS*dt {
			rate = g.corner / dt
			g.corner = 0
		} else {
			g.corner -= rate * dt
		}
	}
	g.heading = math.Mod(g.heading+rate*dt+360, 360)
	g.move(g.heading, g.v*dt)
}

func (g *gps) sample(_, dt float64, s *Sample) {
	s.Kind = KindGeo
	trackDT := dt * g.playback
	if g.t == 0 && trackDT > 0 {
		trackDT = 0 // the first fix is at the start
	}
	g.t += dt
	if g.stationary {
		dn, de := g.drift[0].step(g.r, trackDT+1e-9), g.drift[1].step(g.r, trackDT+1e-9)
		lat := g.lat0 + dn/earthRadius*180/math.Pi
		lng := g.lng0 + de/(earthRadius*math.Cos(g.lat0*math.Pi/180))*180/math.Pi
		s.Geo = Geo{Lat: round(lat, 7), Lng: round(lng, 7), Alt: g.baseAlt, AccuracyM: g.mode.AccuracyM}
		return
	}
	for trackDT > 0 {
		h := math.Min(trackDT, 1)
		g.stepTrack(h)
		trackDT -= h
	}
	alt := g.baseAlt + g.mode.AltM + 2*math.Sin(g.t/60)
	if g.mode.AltM >= 100 { // birds ride thermals
		alt += 60 * math.Sin(2*math.Pi*g.t/300)
	}
	s.Geo = Geo{Lat: round(g.lat, 7), Lng: round(g.lng, 7), Alt: round(alt, 1), SpeedMPS: round(g.v, 2), HeadingDeg: round(g.heading, 1), AccuracyM: g.mode.AccuracyM}
	if s.Geo.HeadingDeg >= 360 {
		s.Geo.HeadingDeg = 0
	}
}
