// Package scenario owns the simulator's scenario files: parsing and validating the
// original's YAML format (connectors → sensors → attributes with sensor_type,
// sampling_rate, batch_size, batch_window and generator parameters), keeping
// unknown keys, reporting wrong values with file, YAML path and line, and the
// library of built-in and directory-loaded scenarios with their summaries.
//
// The package is pure: it reads files only through the fs.FS or directory it is
// given and never starts goroutines.
package scenario

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Scenario is one parsed scenario file.
type Scenario struct {
	// Name is the file name without ".yaml".
	Name string
	// Description is the first comment line of the file, without "#".
	Description string
	// Source says where the file came from ("builtin:<file>" or a path).
	Source string
	// Intimate hides the scenario from users without the matching flag.
	Intimate bool
	// Connectors in file order.
	Connectors []Connector
	// Extra holds unknown top-level keys, kept and ignored.
	Extra map[string]any
}

// Connector is one entry of the top-level connectors mapping.
type Connector struct {
	Key  string // the YAML map key
	ID   string // connector_id (defaults to Key)
	Name string // connector_name (defaults to ID)
	// Sensors in file order.
	Sensors []Sensor
	Extra   map[string]any
}

// Sensor is one simulated sensor. Its id is the YAML map key, as in the original
// (the sensor_id field may differ and is kept in SensorIDField).
type Sensor struct {
	ID            string
	SensorIDField string
	Name          string // sensor_name (defaults to ID)
	Line          int
	Attributes    []Attribute
	Extra         map[string]any
}

// Attribute is one simulated attribute. Its id is the YAML map key.
type Attribute struct {
	ID               string
	AttributeIDField string
	// Type is sensor_type: the attribute type and generator selector
	// (defaults to the attribute id).
	Type string
	// SamplingRate in Hz (default 1).
	SamplingRate float64
	// BatchSize is the device's natural batch size (default 1).
	BatchSize int
	// BatchWindow is the device's natural batch window (default 1 s).
	BatchWindow time.Duration
	// Duration in seconds; 0 means continuous.
	Duration float64
	// DummyData is the original's switch between built-in and Python generators;
	// kept for compatibility, the Go generators are always built in.
	DummyData bool
	Line      int
	Params    Params
	// Extra holds unknown keys, kept and ignored.
	Extra map[string]any
}

// Params are the generator parameters of an attribute. A nil pointer means the
// key was absent; generators then use their documented defaults.
type Params struct {
	HeartRate        *float64 // bpm
	MinValue         *float64
	MaxValue         *float64
	Unit             string
	BreathsPerMinute *float64
	ActivityLevel    *float64 // 0..1
	MotionType       string
	FixationDuration *float64 // ms
	SaccadeDuration  *float64 // ms
	BlinkRate        *float64 // blinks per minute (Go addition)

	TrackMode     string
	TrackName     string
	PlaybackSpeed *float64
	RandomStart   bool
	NoLoop        bool
	GenerateTrack any
	StartLat      *float64
	StartLng      *float64
	TrackDuration *float64 // minutes
	Speed         *float64 // km/h, overrides the track mode's speed (Go addition)

	BaseLat *float64
	BaseLng *float64
	BaseAlt *float64
	BaseLux *float64
	BaseDB  *float64

	HydroStationID string
	HydroParameter string

	// Battery (Go additions): start level %, drain and charge rates in %/min,
	// and a fixed initial charging state.
	StartLevel *float64
	DrainRate  *float64
	ChargeRate *float64
	Charging   *bool

	// Buttons (Go additions): number of buttons and presses per minute.
	ButtonCount *float64
	PressRate   *float64
}

// Summary is what a scenario list shows.
type Summary struct {
	Name        string
	Title       string // see Scenario.Title
	Description string
	Source      string
	Intimate    bool
	Connectors  int
	Sensors     int
	Attributes  int
	// TotalRateHz is the sum of the attributes' nominal sampling rates.
	TotalRateHz float64
}

// Summary counts the scenario's sensors, attributes and total sample rate.
func (s *Scenario) Summary() Summary {
	sum := Summary{Name: s.Name, Title: s.Title(), Description: s.Description, Source: s.Source, Intimate: s.Intimate, Connectors: len(s.Connectors)}
	for _, c := range s.Connectors {
		sum.Sensors += len(c.Sensors)
		for _, se := range c.Sensors {
			sum.Attributes += len(se.Attributes)
			for _, a := range se.Attributes {
				sum.TotalRateHz += a.SamplingRate
			}
		}
	}
	return sum
}

// Sensors returns every sensor of every connector, in file order.
func (s *Scenario) Sensors() []Sensor {
	var out []Sensor
	for _, c := range s.Connectors {
		out = append(out, c.Sensors...)
	}
	return out
}

// Title is the scenario's display name: its name with words spaced and the first
// capitalised ("single_person" → "Single person", "gps_tracking" → "GPS tracking").
func (s *Scenario) Title() string { return Title(s.Name) }

// Title turns a scenario name into its display name (see Scenario.Title).
func Title(name string) string {
	words := strings.FieldsFunc(name, func(r rune) bool { return r == '_' || r == '-' || r == ' ' })
	for i, w := range words {
		switch up := strings.ToUpper(w); up {
		case "GPS", "ECG", "HRV", "IMU", "EEG":
			words[i] = up
			continue
		}
		if i == 0 {
			r, n := utf8.DecodeRuneInString(w)
			words[i] = string(unicode.ToUpper(r)) + w[n:]
		}
	}
	return strings.Join(words, " ")
}

// SensorTitles returns the display name of each sensor of the scenario, by sensor id:
// "<scenario title> · <sensor name>", the name spaced ("Person1" → "Person 1",
// "Walker_Tiergarten" → "Walker Tiergarten"). Sensors of the same scenario whose
// names would be equal get their id instead, so names are unique within a run; the
// scenario title makes them unique among runs of different scenarios.
func (s *Scenario) SensorTitles() map[string]string {
	title := s.Title()
	sensors := s.Sensors()
	seen := make(map[string]int, len(sensors))
	for _, se := range sensors {
		seen[spaceName(se.Name)]++
	}
	out := make(map[string]string, len(sensors))
	for _, se := range sensors {
		n := spaceName(se.Name)
		if n == "" || seen[n] > 1 {
			n = spaceName(se.ID)
		}
		out[se.ID] = title + " · " + n
	}
	return out
}

// spaceName replaces underscores with spaces and separates a trailing number from
// the lower-case letter before it ("Person12" → "Person 12").
func spaceName(n string) string {
	n = strings.TrimSpace(strings.ReplaceAll(n, "_", " "))
	var b strings.Builder
	var prev rune
	for _, r := range n {
		if unicode.IsDigit(r) && unicode.IsLower(prev) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}
