package simulator

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/simulator/generate"
	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

const referenceDir = "../../../../shared/reference/scenarios"

var (
	start  = time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	high   = Config{Window: 100 * time.Millisecond, BatchSize: 1}
	medium = Config{Window: 500 * time.Millisecond, BatchSize: 5}
	low    = Config{Window: 2 * time.Second, BatchSize: 10}
	none   = Config{Window: 5 * time.Second, BatchSize: 20}
)

// batch is one Publish call as the fake publisher saw it.
type batch struct {
	samples []generate.Sample
	blocks  []generate.Block
	n       int
}

// fakePub records everything and lets the test set each sensor's config.
type fakePub struct {
	mu           sync.Mutex
	initial      *Config
	registerErr  error
	publishErr   error
	registered   map[string]SensorInfo
	unregistered map[string]bool
	batches      map[string][]batch
	mail         map[string]chan Config
}

func newFakePub(initial *Config) *fakePub {
	return &fakePub{initial: initial, registered: map[string]SensorInfo{}, unregistered: map[string]bool{},
		batches: map[string][]batch{}, mail: map[string]chan Config{}}
}

func (p *fakePub) Register(_ context.Context, s SensorInfo) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.registerErr != nil {
		return p.registerErr
	}
	p.registered[s.ID] = s
	return nil
}

func (p *fakePub) Unregister(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unregistered[id] = true
	return nil
}

func (p *fakePub) Publish(_ context.Context, id string, out *generate.Output) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.publishErr != nil {
		return p.publishErr
	}
	b := batch{samples: slices.Clone(out.Samples), n: out.Len()}
	for _, bl := range out.Blocks {
		bl.Samples = slices.Clone(bl.Samples)
		b.blocks = append(b.blocks, bl)
	}
	p.batches[id] = append(p.batches[id], b)
	return nil
}

func (p *fakePub) Backpressure(id string) (<-chan Config, func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := make(chan Config, 1)
	if p.initial != nil {
		ch <- *p.initial
	}
	p.mail[id] = ch
	return ch, func() {}
}

// set replaces the sensor's pending config (a one-slot mailbox).
func (p *fakePub) set(id string, c Config) {
	p.mu.Lock()
	ch := p.mail[id]
	p.mu.Unlock()
	select {
	case <-ch:
	default:
	}
	ch <- c
}

func (p *fakePub) batchesOf(id string) []batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.batches[id])
}

// values lists every (time, value) per attribute over all batches of a sensor,
// in publish order.
type value struct {
	t int64
	s generate.Sample
	f float32
}

func valuesOf(bs []batch) map[string][]value {
	out := map[string][]value{}
	for _, b := range bs {
		for _, s := range b.samples {
			out[s.AttributeID] = append(out[s.AttributeID], value{t: s.TimeUS, s: s})
		}
		for _, bl := range b.blocks {
			for i, v := range bl.Samples {
				out[bl.AttributeID] = append(out[bl.AttributeID], value{t: bl.StartUS + int64(math.Round(float64(i)*1e6/bl.RateHz)), f: v})
			}
		}
	}
	return out
}

func TestBuiltinsAreTheReferenceScenarios(t *testing.T) {
	t.Parallel()
	lib, err := LoadLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"breathing_study", "gps_tracking", "large_group", "pose_tracking", "pupil_neon_small", "single_person", "small_group"}
	if got := lib.Names(); !slices.Equal(got, want) {
		t.Errorf("built-ins %v, want %v", got, want)
	}
	if _, err := os.Stat(referenceDir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must have shared/ beside the clone: %v", err)
		}
		t.Skipf("no reference directory: %v", err)
	}
	for _, n := range want {
		ref, err := os.ReadFile(filepath.Join(referenceDir, n+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		mine, err := fs.ReadFile(Builtin(), n+".yaml")
		if err != nil || !bytes.Equal(ref, mine) {
			t.Errorf("%s: built-in differs from the reference (%v)", n, err)
		}
	}
}

// scenariosUnderTest are the built-ins and the reference files.
func scenariosUnderTest(t *testing.T) []*scenario.Scenario {
	t.Helper()
	var out []*scenario.Scenario
	lib, err := LoadLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range lib.Names() {
		sc, _ := lib.Get(n)
		out = append(out, sc)
	}
	if _, err := os.Stat(referenceDir); err == nil {
		ref, err := scenario.LoadLibrary(nil, referenceDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ref.Names() {
			sc, _ := ref.Get(n)
			out = append(out, sc)
		}
	}
	return out
}

func TestEveryScenarioRuns30Seconds(t *testing.T) {
	t.Parallel()
	for _, sc := range scenariosUnderTest(t) {
		t.Run(sc.Source, func(t *testing.T) {
			t.Parallel()
			pub := newFakePub(&high)
			clk := NewManualClock(start)
			r, err := Start(context.Background(), sc, pub, Options{Seed: 42, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			for range 600 {
				clk.Advance(DefaultTick)
			}
			r.Stop()
			if err := r.Wait(); err != nil {
				t.Fatalf("run: %v", err)
			}
			var sent uint64
			for _, s := range sc.Sensors() {
				if _, ok := pub.registered[s.ID]; !ok || !pub.unregistered[s.ID] {
					t.Errorf("%s: registered %v, unregistered %v", s.ID, ok, pub.unregistered[s.ID])
				}
				vals := valuesOf(pub.batchesOf(s.ID))
				for _, a := range s.Attributes {
					vs := vals[a.ID]
					sent += uint64(len(vs))
					want := math.Ceil(30 * a.SamplingRate)
					if got := float64(len(vs)); got > want || got < want-math.Max(1, 0.15*a.SamplingRate) {
						t.Errorf("%s/%s: %v values in 30 s at %g Hz, want ≈ %v", s.ID, a.ID, got, a.SamplingRate, want)
					}
					checkValues(t, s.ID, a, vs)
				}
			}
			st := r.Stats()
			if st.SamplesSent != sent || st.Sensors != len(sc.Sensors()) || st.PublishErrors != 0 || st.SamplesDropped != 0 {
				t.Errorf("stats %+v, counted %d", st, sent)
			}
		})
	}
}

// checkValues checks times strictly increase and values are sensible.
func checkValues(t *testing.T, sensor string, a scenario.Attribute, vs []value) {
	t.Helper()
	for i, v := range vs {
		if i > 0 && v.t <= vs[i-1].t {
			t.Fatalf("%s/%s: time %d not after %d", sensor, a.ID, v.t, vs[i-1].t)
		}
		if v.t < start.UnixMicro() || v.t >= start.Add(30*time.Second).UnixMicro() {
			t.Fatalf("%s/%s: time %d outside the run", sensor, a.ID, v.t)
		}
		p, s := a.Params, v.s
		switch a.Type {
		case "ecg":
			if v.f < -1 || v.f > 2 {
				t.Fatalf("%s/%s: ecg %v mV", sensor, a.ID, v.f)
			}
		case "respiration":
			if float64(v.f) < *p.MinValue || float64(v.f) > *p.MaxValue {
				t.Fatalf("%s/%s: respiration %v", sensor, a.ID, v.f)
			}
		case "heartrate":
			if hr := *p.HeartRate; math.Abs(s.Number-hr) > 15 {
				t.Fatalf("%s/%s: heart rate %v, configured %v", sensor, a.ID, s.Number, hr)
			}
		case "battery":
			if l := s.Struct["level"].(float64); l < 0 || l > 100 || (p.MinValue != nil && (l < *p.MinValue-1 || l > *p.MaxValue+1)) {
				t.Fatalf("%s/%s: battery %v", sensor, a.ID, s.Struct)
			}
		case "geolocation":
			if math.Abs(s.Geo.Lat-52.52) > 0.2 || math.Abs(s.Geo.Lng-13.4) > 0.2 {
				t.Fatalf("%s/%s: position %+v far from Berlin", sensor, a.ID, s.Geo)
			}
		case "eye_gaze":
			if x, y := s.Struct["x"].(float64), s.Struct["y"].(float64); x < 0 || x > 1 || y < 0 || y > 1 {
				t.Fatalf("%s/%s: gaze %v", sensor, a.ID, s.Struct)
			}
		case "skeleton":
			if n := len(s.Struct["landmarks"].([]any)); n != generate.Landmarks {
				t.Fatalf("%s/%s: %d landmarks", sensor, a.ID, n)
			}
		default:
			if s.Kind == generate.KindNumber && p.MinValue != nil && (s.Number < *p.MinValue || s.Number > *p.MaxValue) {
				t.Fatalf("%s/%s: %v outside %v..%v", sensor, a.ID, s.Number, *p.MinValue, *p.MaxValue)
			}
		}
	}
}

// ecgScenario is one sensor with a 100 Hz ECG and a 0.2 Hz heart rate.
func ecgScenario(t *testing.T) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse("bp", "bp.yaml", []byte(`# back-pressure
connectors:
  c:
    sensors:
      p1:
        attributes:
          ecg: {sensor_type: ecg, sampling_rate: 100, batch_size: 100, batch_window: 1000, heart_rate: 72}
          heartrate: {sensor_type: heartrate, sampling_rate: 0.2, batch_window: 5000, heart_rate: 72}
`))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestBackpressureBatching drives one sensor's ticks directly (no goroutines)
// through a sequence of configs and checks batch counts, sizes, pause and the
// continuity of sample times across every change.
func TestBackpressureBatching(t *testing.T) {
	t.Parallel()
	sc := ecgScenario(t)
	pub := newFakePub(nil)
	var cnt counters
	sr := newSensorRunner(sc.Name, sc.Connectors[0], sc.Connectors[0].Sensors[0], pub, Options{Seed: 1, SensorID: func(k string) string { return k }}, start, &cnt, nil)
	cfgs := make(chan Config, 1)
	sr.cfgCh = cfgs
	now := start
	ctx := context.Background()
	phase := func(c Config, seconds int) []batch {
		cfgs <- c
		before := len(pub.batchesOf("p1"))
		for range seconds * 20 {
			now = now.Add(DefaultTick)
			if err := sr.tick(ctx, now); err != nil {
				t.Fatal(err)
			}
		}
		return pub.batchesOf("p1")[before:]
	}
	phases := []struct {
		name       string
		cfg        Config
		seconds    int
		minB, maxB int // batches
	}{
		{"high (watched)", high, 20, 195, 200},
		{"none (unwatched)", none, 20, 3, 4},
		{"low", low, 20, 9, 10},
		{"medium", medium, 10, 19, 20},
		{"paused", Config{Window: 5 * time.Second, BatchSize: 20, Paused: true}, 10, 0, 0},
		{"high again", high, 10, 95, 100},
	}
	var got []int
	for _, ph := range phases {
		bs := phase(ph.cfg, ph.seconds)
		got = append(got, len(bs))
		if len(bs) < ph.minB || len(bs) > ph.maxB {
			t.Errorf("%s: %d batches in %d s, want %d..%d", ph.name, len(bs), ph.seconds, ph.minB, ph.maxB)
		}
		for _, b := range bs {
			if b.n < ph.cfg.BatchSize && ph.cfg != high {
				// Only a slow value waiting out its latency bound may be small.
				if len(b.blocks) > 0 {
					t.Errorf("%s: batch of %d values with an ECG block, want ≥ %d", ph.name, b.n, ph.cfg.BatchSize)
				}
			}
		}
	}
	t.Logf("batches per phase (high 20 s, none 20 s, low 20 s, medium 10 s, paused 10 s, high 10 s): %v", got)
	if got[1] >= got[0]/10 {
		t.Errorf("unwatched sent %d batches against %d watched: want far fewer", got[1], got[0])
	}
	// Continuity: every ECG sample on one grid; consecutive outside the pause.
	ecg := valuesOf(pub.batchesOf("p1"))["ecg"]
	pauseStart, pauseEnd := start.Add(70*time.Second).UnixMicro(), start.Add(80*time.Second).UnixMicro()
	for i, v := range ecg {
		if off := v.t - start.UnixMicro(); off%10_000 != 0 {
			t.Fatalf("sample %d at +%d µs is off the 100 Hz grid", i, off)
		}
		if i == 0 {
			continue
		}
		gap := v.t - ecg[i-1].t
		inPause := ecg[i-1].t < pauseEnd && v.t >= pauseStart
		if gap != 10_000 && !inPause {
			t.Fatalf("gap of %d µs at %d outside the pause", gap, v.t)
		}
		if v.t >= pauseStart && v.t < pauseEnd {
			t.Fatalf("sample at %d sent while paused", v.t)
		}
	}
	if n := uint64(len(ecg)); n < 7500 || cnt.dropped.Load() < 1000 {
		t.Errorf("%d ECG samples sent, %d dropped while paused", n, cnt.dropped.Load())
	}
	// The slow heart rate still reports under NONE, with bounded delay.
	hr := valuesOf(pub.batchesOf("p1"))["heartrate"]
	if len(hr) < 16 {
		t.Errorf("%d heart-rate values in 90 s of sending", len(hr))
	}
}

// TestRunFollowsBackpressure runs real sensor goroutines on a manual clock:
// an unwatched sensor (NONE) sends few big batches, watching it (HIGH) speeds
// it up, pausing stops it.
func TestRunFollowsBackpressure(t *testing.T) {
	t.Parallel()
	sc := ecgScenario(t)
	pub := newFakePub(&none)
	clk := NewManualClock(start)
	r, err := Start(context.Background(), sc, pub, Options{Seed: 3, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	advance := func(seconds int) int {
		before := len(pub.batchesOf("p1"))
		for range seconds * 20 {
			clk.Advance(DefaultTick)
		}
		return len(pub.batchesOf("p1")) - before
	}
	unwatched := advance(30)
	pub.set("p1", high)
	watched := advance(30)
	pub.set("p1", Config{Window: 25 * time.Second, BatchSize: 20, Paused: true})
	advance(1) // the tick in flight may still publish
	paused := advance(30)
	r.Stop()
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("batches in 30 s: unwatched %d, watched %d, paused %d", unwatched, watched, paused)
	if unwatched < 5 || unwatched > 7 || watched < 250 || paused != 0 {
		t.Errorf("batches: unwatched %d (want ≈ 6), watched %d (want ≈ 300), paused %d (want 0)", unwatched, watched, paused)
	}
	bs := pub.batchesOf("p1")
	if big := bs[0].n; big < 400 {
		t.Errorf("first unwatched batch has %d values, want ≈ 500", big)
	}
	st := r.Stats()
	if st.Batches != uint64(len(bs)) || st.SamplesDropped == 0 {
		t.Errorf("stats %+v with %d batches", st, len(bs))
	}
}

func TestRegisterErrorEndsRun(t *testing.T) {
	t.Parallel()
	pub := newFakePub(nil)
	pub.registerErr = errors.New("quota exceeded")
	r, err := Start(context.Background(), ecgScenario(t), pub, Options{Clock: NewManualClock(start)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(); err == nil || !strings.Contains(err.Error(), "register simulated sensor p1: quota exceeded") {
		t.Fatalf("Wait = %v", err)
	}
}

func TestPublishErrorsAreCounted(t *testing.T) {
	t.Parallel()
	pub := newFakePub(&high)
	pub.publishErr = errors.New("refused")
	clk := NewManualClock(start)
	r, err := Start(context.Background(), ecgScenario(t), pub, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		clk.Advance(DefaultTick)
	}
	r.Stop()
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.PublishErrors < 5 || st.SamplesSent != 0 || st.SamplesDropped == 0 || r.LastPublishError() == nil {
		t.Errorf("stats %+v, last error %v", st, r.LastPublishError())
	}
}

func TestSameSeedSameRun(t *testing.T) {
	t.Parallel()
	lib, err := LoadLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := lib.Get("pupil_neon_small")
	runOnce := func(seed uint64) map[string][]value {
		pub := newFakePub(&medium)
		clk := NewManualClock(start)
		r, err := Start(context.Background(), sc, pub, Options{Seed: seed, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			clk.Advance(DefaultTick)
		}
		r.Stop()
		if err := r.Wait(); err != nil {
			t.Fatal(err)
		}
		return valuesOf(pub.batchesOf("neon_reader_1"))
	}
	a, b, c := runOnce(1), runOnce(1), runOnce(2)
	gx := func(m map[string][]value) []float64 {
		var out []float64
		for _, v := range m["eye_gaze"] {
			out = append(out, v.s.Struct["x"].(float64))
		}
		return out
	}
	if !slices.Equal(gx(a), gx(b)) || len(gx(a)) == 0 {
		t.Error("same seed, different gaze")
	}
	if slices.Equal(gx(a), gx(c)) {
		t.Error("different seeds, same gaze")
	}
}

// TestBuiltinSensorNamesAreUnique: every built-in scenario's sensors are named
// "<scenario title> · <person>", and no two built-in sensors share a name.
func TestBuiltinSensorNamesAreUnique(t *testing.T) {
	t.Parallel()
	lib, err := LoadLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, name := range lib.Names() {
		sc, _ := lib.Get(name)
		titles := sc.SensorTitles()
		if len(titles) != len(sc.Sensors()) {
			t.Fatalf("%s: %d names for %d sensors", name, len(titles), len(sc.Sensors()))
		}
		for id, title := range titles {
			if other, dup := seen[title]; dup {
				t.Errorf("%s.%s and %s are both named %q", name, id, other, title)
			}
			seen[title] = name + "." + id
			if !strings.HasPrefix(title, sc.Title()+" · ") || strings.Contains(title, "_") {
				t.Errorf("%s.%s is named %q", name, id, title)
			}
		}
	}
	sp, _ := lib.Get("single_person")
	if got := sp.SensorTitles()["person_1"]; got != "Single person · Person 1" {
		t.Errorf("single_person's person_1 is named %q", got)
	}
}
