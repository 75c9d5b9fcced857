package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a scenario file, with the YAML path (dotted map keys,
// e.g. "connectors.c1.sensors.s1.attributes.ecg.sampling_rate") and position.
type Error struct {
	File   string
	Path   string
	Line   int
	Column int
	Msg    string
}

func (e *Error) Error() string {
	path := e.Path
	if path == "" {
		path = "(root)"
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, path, e.Msg)
}

// maxErrors bounds the problems reported for one file.
const maxErrors = 20

// Limits of the values accepted in a scenario file.
const (
	MaxSamplingRate = 100000 // Hz, as SampleBlock.sample_rate_hz
	MaxBatchSize    = 10000  // as PublishRequest.measurements
	MaxBatchWindow  = time.Hour
	MaxIDLength     = 64
)

type parser struct {
	file string
	errs []error
}

func (p *parser) fail(n *yaml.Node, path, format string, args ...any) {
	if len(p.errs) >= maxErrors {
		return
	}
	e := &Error{File: p.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

// Parse parses one scenario file. file names the file in errors; name is the
// scenario name. Every problem found is returned (joined); each is an *Error.
func Parse(name, file string, data []byte) (*Scenario, error) {
	p := &parser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(file, err)
	}
	sc := &Scenario{Name: name, Source: file, Description: description(data)}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{File: file, Line: 1, Column: 1, Msg: "empty file"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.fail(root, "", "want a mapping with a connectors key, got %s", kindName(root))
		return nil, errors.Join(p.errs...)
	}
	seen := false
	p.each(root, "", func(key string, k, v *yaml.Node, path string) {
		switch key {
		case "connectors":
			seen = true
			sc.Connectors = p.connectors(v, path)
		case "intimate":
			if b, ok := p.bool(v, path); ok {
				sc.Intimate = b
			}
		default:
			sc.Extra = keep(sc.Extra, key, v)
		}
	})
	if !seen {
		p.fail(root, "connectors", "missing")
	}
	p.checkUniqueSensors(sc)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return sc, nil
}

// description returns the first comment line: the first non-blank line when it
// starts with '#'.
func description(data []byte) string {
	for line := range bytes.Lines(data) {
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		if !strings.HasPrefix(s, "#") {
			return ""
		}
		return strings.TrimSpace(strings.TrimLeft(s, "#"))
	}
	return ""
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	default:
		return "nothing"
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// each calls fn for every key of mapping node m, rejecting duplicate and
// non-scalar keys. Alias values are resolved.
func (p *parser) each(m *yaml.Node, path string, fn func(key string, k, v *yaml.Node, path string)) {
	seen := make(map[string]bool, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(k, path, "keys must be plain strings")
			continue
		}
		if k.Value == "<<" {
			p.fail(k, path, "merge keys are not supported")
			continue
		}
		kp := join(path, k.Value)
		if seen[k.Value] {
			p.fail(k, kp, "duplicate key")
			continue
		}
		seen[k.Value] = true
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		fn(k.Value, k, v, kp)
	}
}

func keep(m map[string]any, key string, v *yaml.Node) map[string]any {
	var val any
	if err := v.Decode(&val); err != nil {
		val = v.Value
	}
	if m == nil {
		m = map[string]any{}
	}
	m[key] = val
	return m
}

func isNull(v *yaml.Node) bool {
	return v.Kind == yaml.ScalarNode && v.Tag == "!!null"
}

func (p *parser) mapping(v *yaml.Node, path string) bool {
	if isNull(v) {
		return false
	}
	if v.Kind != yaml.MappingNode {
		p.fail(v, path, "want a mapping, got %s", kindName(v))
		return false
	}
	return true
}

func (p *parser) connectors(v *yaml.Node, path string) []Connector {
	if !p.mapping(v, path) {
		return nil
	}
	var out []Connector
	p.each(v, path, func(key string, k, cv *yaml.Node, cpath string) {
		c := Connector{Key: key}
		if p.mapping(cv, cpath) {
			p.each(cv, cpath, func(key string, _, v *yaml.Node, path string) {
				switch key {
				case "connector_id":
					c.ID, _ = p.str(v, path)
				case "connector_name":
					c.Name, _ = p.str(v, path)
				case "sensors":
					c.Sensors = p.sensors(v, path)
				default:
					c.Extra = keep(c.Extra, key, v)
				}
			})
		} else if isNull(cv) {
			p.fail(cv, cpath, "empty connector")
		}
		if c.ID == "" {
			c.ID = key
		}
		if c.Name == "" {
			c.Name = c.ID
		}
		out = append(out, c)
	})
	return out
}

func (p *parser) sensors(v *yaml.Node, path string) []Sensor {
	if !p.mapping(v, path) {
		return nil
	}
	var out []Sensor
	p.each(v, path, func(key string, k, sv *yaml.Node, spath string) {
		p.checkID(k, spath, key)
		s := Sensor{ID: key, Line: k.Line}
		if p.mapping(sv, spath) {
			p.each(sv, spath, func(key string, _, v *yaml.Node, path string) {
				switch key {
				case "sensor_id":
					s.SensorIDField, _ = p.str(v, path)
				case "sensor_name":
					s.Name, _ = p.str(v, path)
				case "attributes":
					s.Attributes = p.attributes(v, path)
				default:
					s.Extra = keep(s.Extra, key, v)
				}
			})
		} else if isNull(sv) {
			p.fail(sv, spath, "empty sensor")
		}
		if s.Name == "" {
			s.Name = s.ID
		}
		out = append(out, s)
	})
	return out
}

func (p *parser) checkID(k *yaml.Node, path, id string) {
	if id == "" || len(id) > MaxIDLength {
		p.fail(k, path, "id must have 1 to %d characters", MaxIDLength)
		return
	}
	for i, r := range id {
		ok := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '_' || r == '-')))
		if !ok {
			p.fail(k, path, "id %q: use letters, digits, '_' and '-', starting with a letter or digit", id)
			return
		}
	}
}

func (p *parser) checkUniqueSensors(sc *Scenario) {
	seen := map[string]string{}
	for _, c := range sc.Connectors {
		for _, s := range c.Sensors {
			path := "connectors." + c.Key + ".sensors." + s.ID
			if prev, dup := seen[s.ID]; dup {
				p.fail(&yaml.Node{Line: s.Line, Column: 1}, path, "sensor id %q is also used by %s", s.ID, prev)
				continue
			}
			seen[s.ID] = path
		}
	}
}

func (p *parser) attributes(v *yaml.Node, path string) []Attribute {
	if !p.mapping(v, path) {
		return nil
	}
	var out []Attribute
	p.each(v, path, func(key string, k, av *yaml.Node, apath string) {
		p.checkID(k, apath, key)
		a := Attribute{ID: key, Line: k.Line, SamplingRate: 1, BatchSize: 1, BatchWindow: time.Second}
		if p.mapping(av, apath) {
			p.attribute(&a, av, apath)
		} else if isNull(av) {
			p.fail(av, apath, "empty attribute")
		}
		if a.Type == "" {
			a.Type = key
		}
		out = append(out, a)
	})
	return out
}

func (p *parser) attribute(a *Attribute, av *yaml.Node, apath string) {
	var minNode *yaml.Node
	pr := &a.Params
	p.each(av, apath, func(key string, _, v *yaml.Node, path string) {
		if isNull(v) {
			return
		}
		switch key {
		case "attribute_id":
			a.AttributeIDField, _ = p.str(v, path)
		case "sensor_type":
			if s, ok := p.str(v, path); ok {
				a.Type = strings.ToLower(strings.TrimSpace(s))
				if a.Type == "" {
					p.fail(v, path, "must not be empty")
				}
			}
		case "sampling_rate":
			if f, ok := p.rangeF(v, path, 0, MaxSamplingRate, false); ok {
				a.SamplingRate = f
			}
		case "batch_size":
			if f, ok := p.rangeF(v, path, 1, MaxBatchSize, true); ok {
				a.BatchSize = int(f)
			}
		case "batch_window":
			if f, ok := p.rangeF(v, path, 1, float64(MaxBatchWindow/time.Millisecond), true); ok {
				a.BatchWindow = time.Duration(f * float64(time.Millisecond))
			}
		case "duration":
			if f, ok := p.rangeF(v, path, 0, math.MaxInt32, true); ok {
				a.Duration = f
			}
		case "dummy_data":
			a.DummyData, _ = p.bool(v, path)
		case "heart_rate":
			pr.HeartRate = p.optF(v, path, 20, 250)
		case "min_value":
			minNode = v
			pr.MinValue = p.optF(v, path, -math.MaxFloat64, math.MaxFloat64)
		case "max_value":
			pr.MaxValue = p.optF(v, path, -math.MaxFloat64, math.MaxFloat64)
		case "unit":
			pr.Unit, _ = p.str(v, path)
		case "breaths_per_minute":
			pr.BreathsPerMinute = p.optF(v, path, 1, 80)
		case "activity_level":
			pr.ActivityLevel = p.optF(v, path, 0, 1)
		case "motion_type":
			pr.MotionType, _ = p.str(v, path)
		case "fixation_duration":
			pr.FixationDuration = p.optPos(v, path, 60000)
		case "saccade_duration":
			pr.SaccadeDuration = p.optPos(v, path, 10000)
		case "blink_rate":
			pr.BlinkRate = p.optF(v, path, 0, 120)
		case "track_mode":
			pr.TrackMode, _ = p.str(v, path)
		case "track_name":
			pr.TrackName, _ = p.str(v, path)
		case "playback_speed":
			pr.PlaybackSpeed = p.optPos(v, path, 1000)
		case "random_start":
			pr.RandomStart, _ = p.bool(v, path)
		case "no_loop":
			pr.NoLoop, _ = p.bool(v, path)
		case "generate_track":
			var g any
			if err := v.Decode(&g); err == nil {
				pr.GenerateTrack = g
			}
		case "start_lat", "base_lat":
			f := p.optF(v, path, -90, 90)
			if key == "start_lat" {
				pr.StartLat = f
			} else {
				pr.BaseLat = f
			}
		case "start_lng", "base_lng":
			f := p.optF(v, path, -180, 180)
			if key == "start_lng" {
				pr.StartLng = f
			} else {
				pr.BaseLng = f
			}
		case "track_duration":
			pr.TrackDuration = p.optPos(v, path, 10000)
		case "speed":
			pr.Speed = p.optF(v, path, 0, 2000)
		case "base_alt":
			pr.BaseAlt = p.optF(v, path, -500, 20000)
		case "base_lux":
			pr.BaseLux = p.optF(v, path, 0, 200000)
		case "base_db":
			pr.BaseDB = p.optF(v, path, 0, 200)
		case "hydro_station_id":
			pr.HydroStationID, _ = p.str(v, path)
		case "hydro_parameter":
			pr.HydroParameter, _ = p.str(v, path)
		case "start_level":
			pr.StartLevel = p.optF(v, path, 0, 100)
		case "drain_rate":
			pr.DrainRate = p.optF(v, path, 0, 100)
		case "charge_rate":
			pr.ChargeRate = p.optF(v, path, 0, 100)
		case "charging":
			if b, ok := p.bool(v, path); ok {
				pr.Charging = &b
			}
		case "button_count":
			pr.ButtonCount = p.optF(v, path, 1, 64)
		case "press_rate":
			pr.PressRate = p.optF(v, path, 0, 600)
		default:
			a.Extra = keep(a.Extra, key, v)
		}
	})
	if pr.MinValue != nil && pr.MaxValue != nil && *pr.MinValue > *pr.MaxValue {
		p.fail(minNode, join(apath, "min_value"), "min_value %g is above max_value %g", *pr.MinValue, *pr.MaxValue)
	}
}

// number decodes a scalar number; numeric strings ("100") are accepted as the
// original's loader did.
func (p *parser) number(v *yaml.Node, path string) (float64, bool) {
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float" && v.Tag != "!!str") {
		p.fail(v, path, "want a number, got %s", kindName(v))
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(v.Value), "_", ""), 64)
	if err != nil {
		if v.Tag == "!!int" {
			if i, ierr := strconv.ParseInt(v.Value, 0, 64); ierr == nil {
				return float64(i), true
			}
		}
		p.fail(v, path, "want a number, got %q", v.Value)
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		p.fail(v, path, "want a finite number, got %q", v.Value)
		return 0, false
	}
	return f, true
}

// rangeF decodes a number in [lo, hi]; integral demands a whole number. A
// non-integral field with lo 0 must be above 0 (a rate of 0 makes no sense).
func (p *parser) rangeF(v *yaml.Node, path string, lo, hi float64, integral bool) (float64, bool) {
	f, ok := p.number(v, path)
	if !ok {
		return 0, false
	}
	if integral && f != math.Trunc(f) {
		p.fail(v, path, "want a whole number, got %s", v.Value)
		return 0, false
	}
	if lo == 0 && !integral && f <= 0 {
		p.fail(v, path, "must be above 0, got %s", v.Value)
		return 0, false
	}
	if f < lo || f > hi {
		p.fail(v, path, "must be between %s and %s, got %s", num(lo), num(hi), v.Value)
		return 0, false
	}
	return f, true
}

func (p *parser) optF(v *yaml.Node, path string, lo, hi float64) *float64 {
	f, ok := p.number(v, path)
	if !ok {
		return nil
	}
	if f < lo || f > hi {
		p.fail(v, path, "must be between %s and %s, got %s", num(lo), num(hi), v.Value)
		return nil
	}
	return &f
}

func (p *parser) optPos(v *yaml.Node, path string, hi float64) *float64 {
	f, ok := p.number(v, path)
	if !ok {
		return nil
	}
	if f <= 0 || f > hi {
		p.fail(v, path, "must be above 0 and at most %s, got %s", num(hi), v.Value)
		return nil
	}
	return &f
}

func (p *parser) bool(v *yaml.Node, path string) (bool, bool) {
	if v.Kind == yaml.ScalarNode {
		switch strings.ToLower(v.Value) {
		case "true", "yes", "on":
			return true, true
		case "false", "no", "off":
			return false, true
		}
	}
	p.fail(v, path, "want true or false, got %s", kindName(v))
	return false, false
}

func (p *parser) str(v *yaml.Node, path string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.fail(v, path, "want a string, got %s", kindName(v))
		return "", false
	}
	return v.Value, true
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML syntax error ("yaml: line 3: did not find …") into
// an *Error with that line.
func syntaxError(file string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Column: 1, Msg: "invalid YAML: " + m[2]}
	}
	// No line in the message (e.g. "found unexpected end of stream"): still an *Error,
	// as Parse documents (FuzzParse found a lone '"' answered otherwise).
	return &Error{File: file, Line: 1, Column: 1, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
