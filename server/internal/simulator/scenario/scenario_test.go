package scenario

import (
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// referenceDir holds the original's scenario files (shared/reference/scenarios).
const referenceDir = "../../../../../shared/reference/scenarios"

// wantSummaries are the counts the original simulator shows for its scenarios.
var wantSummaries = map[string]struct {
	desc                string
	sensors, attributes int
	rate                float64
}{
	"single_person":    {"Single Person Demo - 1 person with comprehensive sensor suite", 1, 6, 100.434},
	"small_group":      {"Small Group Study - 5 persons with 2 sensors each (mixed frequency)", 5, 15, 251.6},
	"large_group":      {"Large Group Study - 20 persons with 2-3 sensors each", 20, 60, 407},
	"breathing_study":  {"Breathing Study - 10 persons with heartrate + respiration (torso expansion) + HRV sensors", 10, 40, 505},
	"pose_tracking":    {"Pose Tracking Demo - Simulated skeleton/pose estimation sensors", 4, 8, 62},
	"gps_tracking":     {"GPS Tracking Demo - Multiple sensors with realistic GPS tracks", 3, 7, 4.5},
	"pupil_neon_small": {"Pupil Labs Neon Eye Tracker - Small (2 participants)", 2, 12, 742},
}

func TestReferenceScenariosLoad(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(referenceDir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must have shared/ beside the clone: %v", err)
		}
		t.Skipf("reference scenarios not present: %v", err)
	}
	lib, err := LoadLibrary(nil, referenceDir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if got := len(lib.Names()); got != len(wantSummaries) {
		t.Errorf("%d scenarios, want %d: %v", got, len(wantSummaries), lib.Names())
	}
	for _, s := range lib.Summaries() {
		w, ok := wantSummaries[s.Name]
		if !ok {
			continue
		}
		if s.Description != w.desc || s.Sensors != w.sensors || s.Attributes != w.attributes || math.Abs(s.TotalRateHz-w.rate) > 0.05*w.rate {
			t.Errorf("%s: got %q %d sensors %d attributes %.3f Hz, want %+v", s.Name, s.Description, s.Sensors, s.Attributes, s.TotalRateHz, w)
		}
	}
	sc, _ := lib.Get("single_person")
	ecg := sc.Connectors[0].Sensors[0].Attributes[0]
	if ecg.ID != "ecg" || ecg.Type != "ecg" || ecg.SamplingRate != 100 || ecg.BatchSize != 100 ||
		ecg.BatchWindow != time.Second || *ecg.Params.HeartRate != 72 || !ecg.DummyData {
		t.Errorf("single_person ecg = %+v", ecg)
	}
}

func TestUnknownKeysKept(t *testing.T) {
	t.Parallel()
	src := `# Demo
intimate: true
future_flag: {a: 1}
connectors:
  c:
    color: blue
    sensors:
      s1:
        sensor_id: other_id
        room_hint: 3
        attributes:
          hr:
            sensor_type: heartrate
            sampling_rate: "2"
            respiratory_rate: 14
            nested: [1, 2]
`
	sc, err := Parse("demo", "demo.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := sc.Connectors[0].Sensors[0]
	a := s.Attributes[0]
	if sc.Description != "Demo" || !sc.Intimate || !sc.Summary().Intimate || sc.Extra["future_flag"] == nil || sc.Connectors[0].Extra["color"] != "blue" ||
		s.ID != "s1" || s.SensorIDField != "other_id" || s.Extra["room_hint"] != 3 ||
		a.SamplingRate != 2 || a.Extra["respiratory_rate"] != 14 || a.Extra["nested"] == nil || a.BatchSize != 1 {
		t.Errorf("parsed %+v / %+v / %+v", sc, s, a)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const head = "connectors:\n  c:\n    sensors:\n      s1:\n        attributes:\n          a:\n"
	cases := []struct {
		name, src, path string
		line            int
		msg             string
	}{
		{"rate text", head + "            sampling_rate: fast\n", "connectors.c.sensors.s1.attributes.a.sampling_rate", 7, `want a number, got "fast"`},
		{"rate zero", head + "            sampling_rate: 0\n", "connectors.c.sensors.s1.attributes.a.sampling_rate", 7, "must be above 0"},
		{"rate negative", head + "            sensor_type: ecg\n            sampling_rate: -5\n", "connectors.c.sensors.s1.attributes.a.sampling_rate", 8, "above 0"},
		{"batch size fraction", head + "            batch_size: 2.5\n", "connectors.c.sensors.s1.attributes.a.batch_size", 7, "whole number"},
		{"batch window list", head + "            batch_window: [1]\n", "connectors.c.sensors.s1.attributes.a.batch_window", 7, "want a number, got a list"},
		{"min above max", head + "            min_value: 10\n            max_value: 5\n", "connectors.c.sensors.s1.attributes.a.min_value", 7, "above max_value"},
		{"latitude", head + "            start_lat: 123\n", "connectors.c.sensors.s1.attributes.a.start_lat", 7, "between -90 and 90"},
		{"bool", head + "            dummy_data: maybe\n", "connectors.c.sensors.s1.attributes.a.dummy_data", 7, "want true or false"},
		{"activity", head + "            activity_level: 3\n", "connectors.c.sensors.s1.attributes.a.activity_level", 7, "between 0 and 1"},
		{"duplicate attribute", head + "            sampling_rate: 1\n          a:\n            sampling_rate: 2\n", "connectors.c.sensors.s1.attributes.a", 8, "duplicate key"},
		{"bad sensor id", "connectors:\n  c:\n    sensors:\n      \"bad id\":\n        attributes: {}\n", "connectors.c.sensors.bad id", 4, "letters, digits"},
		{"sensors not a mapping", "connectors:\n  c:\n    sensors: [a, b]\n", "connectors.c.sensors", 3, "want a mapping, got a list"},
		{"no connectors", "# nothing\nfoo: 1\n", "connectors", 2, "missing"},
		{"root list", "- a\n- b\n", "", 1, "want a mapping"},
		{"same sensor twice", "connectors:\n  c1:\n    sensors:\n      s: {attributes: {}}\n  c2:\n    sensors:\n      s: {attributes: {}}\n", "connectors.c2.sensors.s", 7, "also used by connectors.c1.sensors.s"},
		{"empty sensor type", head + "            sensor_type: \"\"\n", "connectors.c.sensors.s1.attributes.a.sensor_type", 7, "must not be empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("x", "dir/x.yaml", []byte(c.src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want a *scenario.Error", err)
			}
			if e.File != "dir/x.yaml" || e.Path != c.path || e.Line != c.line || !strings.Contains(e.Msg, c.msg) {
				t.Errorf("got %q (path %q line %d), want path %q line %d containing %q", err, e.Path, e.Line, c.path, c.line, c.msg)
			}
			if !strings.HasPrefix(err.Error(), "dir/x.yaml:") {
				t.Errorf("message %q does not start with the file", err)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	src := "connectors:\n  c:\n    sensors:\n      s1:\n        attributes:\n          a: {sampling_rate: x, batch_size: 0}\n"
	_, err := Parse("x", "x.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "sampling_rate") || !strings.Contains(err.Error(), "batch_size") {
		t.Fatalf("error %v, want both problems", err)
	}
}

func TestSyntaxErrorNamesFile(t *testing.T) {
	t.Parallel()
	_, err := Parse("x", "x.yaml", []byte("connectors:\n  c:\n    sensors: {a: 1\n  d: 2\n"))
	var e *Error
	if !errors.As(err, &e) || e.File != "x.yaml" || e.Line < 2 || !strings.Contains(e.Msg, "invalid YAML") {
		t.Fatalf("error %v", err)
	}
}

func TestLibraryDirectoryOverridesBuiltin(t *testing.T) {
	t.Parallel()
	builtin := fstest.MapFS{
		"one.yaml": {Data: []byte("# Built-in one\nconnectors: {}\n")},
		"two.yaml": {Data: []byte("# Built-in two\nconnectors: {}\n")},
	}
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("two.yaml", "# Mine\nconnectors: {c: {sensors: {s: {attributes: {hr: {sensor_type: heartrate}}}}}}\n")
	write("three.yaml", "# Three\nconnectors: {}\n")
	write("broken.yaml", "connectors:\n  c:\n    sensors: 5\n")
	write("notes.txt", "ignored")
	lib, err := LoadLibrary(builtin, dir)
	var e *Error
	if !errors.As(err, &e) || !strings.HasSuffix(e.File, "broken.yaml") || e.Line != 3 {
		t.Errorf("error %v, want one naming broken.yaml line 3", err)
	}
	if got := strings.Join(lib.Names(), ","); got != "one,three,two" {
		t.Errorf("names %s", got)
	}
	two, _ := lib.Get("two")
	if two.Description != "Mine" || two.Summary().Attributes != 1 || !strings.HasPrefix(two.Source, dir) {
		t.Errorf("two = %+v", two)
	}
	one, _ := lib.Get("one")
	if one.Source != "builtin:one.yaml" {
		t.Errorf("one.Source = %q", one.Source)
	}
	if _, err := LoadLibrary(builtin, filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory: no error")
	}
}

// TestTitles: a scenario's display name, and its sensors' names fall back to their
// ids when two would be equal.
func TestTitles(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"single_person": "Single person", "gps_tracking": "GPS tracking", "pupil_neon_small": "Pupil neon small", "x": "X",
	} {
		if got := Title(name); got != want {
			t.Errorf("Title(%q) = %q, want %q", name, got, want)
		}
	}
	sc := &Scenario{Name: "twins", Connectors: []Connector{{Sensors: []Sensor{
		{ID: "a_1", Name: "Twin"}, {ID: "b_2", Name: "Twin"}, {ID: "c", Name: "Person12"}, {ID: "d", Name: "Walker_Tiergarten"},
	}}}}
	want := map[string]string{"a_1": "Twins · a 1", "b_2": "Twins · b 2", "c": "Twins · Person 12", "d": "Twins · Walker Tiergarten"}
	if got := sc.SensorTitles(); !maps.Equal(got, want) {
		t.Errorf("SensorTitles = %v, want %v", got, want)
	}
}
