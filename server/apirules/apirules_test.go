package apirules_test

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/sensocto/sensocto/ent/recording"
	"github.com/sensocto/sensocto/ent/sensor"
	"github.com/sensocto/sensocto/ent/sensorattribute"
	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/hub"

	_ "github.com/sensocto/sensocto/ent" // its runtime.go sets the schema's validators
)

// ids is the table every check of an id must agree on.
var ids = []string{
	"", "a", "A", "0", "_", ".", ":", "-", "_x", ".x", ":x", "-x", "x_", "x.", "x:", "x-",
	"sensor-1", "ecg_12:3.x", "AA:BB:CC:DD:EE:FF", "a b", "a/b", "é", "a\n", "x\x00",
	"browser-k3j9x2a7", "s-abcdefghijklmnop", "UPPER.lower:09-_",
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 65),
	strings.Repeat("a", 127), strings.Repeat("a", 128), strings.Repeat("a", 129),
}

func init() {
	for c := range 128 {
		ids = append(ids, "s"+string(rune(c)), string(rune(c))+"s")
	}
}

// fieldRules returns the protovalidate rules of every field of the API's messages
// named one of names (and of the repeated fields' items), with where they are.
func fieldRules(t *testing.T, names ...string) map[string]*validate.FieldRules {
	t.Helper()
	out := map[string]*validate.FieldRules{}
	protoregistry.GlobalFiles.RangeFilesByPackage("sensocto.v1", func(fd protoreflect.FileDescriptor) bool {
		var walk func(protoreflect.MessageDescriptors)
		walk = func(ms protoreflect.MessageDescriptors) {
			for i := range ms.Len() {
				m := ms.Get(i)
				for j := range m.Fields().Len() {
					f := m.Fields().Get(j)
					for _, n := range names {
						if string(f.Name()) == n {
							r, _ := proto.GetExtension(f.Options(), validate.E_Field).(*validate.FieldRules)
							out[string(f.FullName())] = r
						}
					}
				}
				walk(m.Messages())
			}
		}
		walk(fd.Messages())
		return true
	})
	if len(out) == 0 {
		t.Fatalf("no field named %v in sensocto.v1", names)
	}
	return out
}

// patternOf returns the string pattern of a field (of its items when repeated), "" when
// it has none.
func patternOf(r *validate.FieldRules) string {
	if p := r.GetString().GetPattern(); p != "" {
		return p
	}
	return r.GetRepeated().GetItems().GetString().GetPattern()
}

// checkPatterns: the pattern of every field named one of names is the rule itself, or
// the rule made optional (^(…)?$) for a field where empty means "none". Fields without
// a pattern are outputs (SensorData.sensor_id, …).
func checkPatterns(t *testing.T, rule string, names ...string) {
	t.Helper()
	optional := "^(" + strings.TrimSuffix(strings.TrimPrefix(rule, "^"), "$") + ")?$"
	checked := 0
	for field, r := range fieldRules(t, names...) {
		got := patternOf(r)
		if got == "" {
			continue
		}
		checked++
		if got != rule && got != optional {
			t.Errorf("%s: pattern %q, want %q (or %q)", field, got, rule, optional)
		}
	}
	if checked < 3 {
		t.Errorf("only %d fields named %v carry a pattern; is the walk right?", checked, names)
	}
}

// TestSensorIDRuleAgrees: the proto's patterns, the Go check, the ent schema, the hub
// and the web app's generated pattern accept and refuse the same ids.
func TestSensorIDRuleAgrees(t *testing.T) {
	t.Parallel()
	checkPatterns(t, apirules.SensorIDPattern, "sensor_id", "sensor_ids")
	re := regexp.MustCompile(apirules.SensorIDPattern)
	web := webPattern(t, "SENSOR_ID_PATTERN")
	for _, id := range ids {
		want := re.MatchString(id)
		if got := apirules.ValidSensorID(id); got != want {
			t.Errorf("ValidSensorID(%q) = %v, the pattern says %v", id, got, want)
		}
		if got := sensor.IDValidator(id) == nil; got != want {
			t.Errorf("ent accepts sensor id %q: %v, the pattern says %v", id, got, want)
		}
		if got := hub.CheckSensorID(id) == nil; got != want {
			t.Errorf("hub.CheckSensorID(%q) accepts: %v, the pattern says %v", id, got, want)
		}
		if got := web.MatchString(id); got != want {
			t.Errorf("the web app's pattern accepts %q: %v, the Go pattern says %v", id, got, want)
		}
	}
}

// TestAttributeIDRuleAgrees is the same for attribute ids.
func TestAttributeIDRuleAgrees(t *testing.T) {
	t.Parallel()
	checkPatterns(t, apirules.AttributeIDPattern, "attribute_id", "attribute_ids")
	re := regexp.MustCompile(apirules.AttributeIDPattern)
	web := webPattern(t, "ATTRIBUTE_ID_PATTERN")
	for _, id := range ids {
		want := re.MatchString(id)
		if got := apirules.ValidAttributeID(id); got != want {
			t.Errorf("ValidAttributeID(%q) = %v, the pattern says %v", id, got, want)
		}
		for name, v := range map[string]func(string) error{
			"sensor_attributes": sensorattribute.AttributeIDValidator, "recordings": recording.AttributeIDValidator,
		} {
			if got := v(id) == nil; got != want {
				t.Errorf("ent (%s) accepts attribute id %q: %v, the pattern says %v", name, id, got, want)
			}
		}
		if got := web.MatchString(id); got != want {
			t.Errorf("the web app's pattern accepts %q: %v, the Go pattern says %v", id, got, want)
		}
	}
}

// TestLimitsAgree: the proto's caps are the Go table's.
func TestLimitsAgree(t *testing.T) {
	t.Parallel()
	msg := func(m proto.Message) protoreflect.MessageDescriptor { return m.ProtoReflect().Descriptor() }
	rules := func(md protoreflect.MessageDescriptor, field string) *validate.FieldRules {
		f := md.Fields().ByName(protoreflect.Name(field))
		if f == nil {
			t.Fatalf("%s has no field %s", md.FullName(), field)
		}
		r, _ := proto.GetExtension(f.Options(), validate.E_Field).(*validate.FieldRules)
		return r
	}
	maxItems := []struct {
		md    protoreflect.MessageDescriptor
		field string
		want  int
	}{
		{msg(&sensoctov1.PublishRequest{}), "measurements", apirules.MaxMeasurements},
		{msg(&sensoctov1.PublishRequest{}), "blocks", apirules.MaxBlocks},
		{msg(&sensoctov1.StreamRequest{}), "measurements", apirules.MaxMeasurements},
		{msg(&sensoctov1.StreamRequest{}), "blocks", apirules.MaxBlocks},
		{msg(&sensoctov1.SampleBlock{}), "samples", apirules.MaxBlockSamples},
		{msg(&sensoctov1.RegisterSensorRequest{}), "attributes", apirules.MaxAttributes},
		{msg(&sensoctov1.WatchRequest{}), "sensor_ids", apirules.MaxWatchSensors},
		{msg(&sensoctov1.WatchRequest{}), "attribute_ids", apirules.MaxWatchAttributes},
		{msg(&sensoctov1.WatchAttentionRequest{}), "sensor_ids", apirules.MaxWatchSensors},
		{msg(&sensoctov1.ReportAttentionRequest{}), "events", apirules.MaxAttentionEvents},
	}
	for _, c := range maxItems {
		if got := rules(c.md, c.field).GetRepeated().GetMaxItems(); got != uint64(c.want) {
			t.Errorf("%s.%s: max_items %d, apirules says %d", c.md.FullName(), c.field, got, c.want)
		}
	}
	text := rules(msg(&sensoctov1.Measurement{}), "text").GetString().GetMaxBytes()
	if text != apirules.MaxTextBytes {
		t.Errorf("Measurement.text: max_bytes %d, apirules says %d", text, apirules.MaxTextBytes)
	}
	for _, md := range []protoreflect.MessageDescriptor{msg(&sensoctov1.SampleBlock{}), msg(&sensoctov1.Attribute{})} {
		if got := rules(md, "sample_rate_hz").GetDouble().GetLte(); got != apirules.MaxSampleRateHz {
			t.Errorf("%s.sample_rate_hz: lte %v, apirules says %d", md.FullName(), got, apirules.MaxSampleRateHz)
		}
	}
	// The hub enforces the same numbers.
	if hub.MaxMeasurements != apirules.MaxMeasurements || hub.MaxBlocks != apirules.MaxBlocks ||
		hub.MaxBlockSamples != apirules.MaxBlockSamples || hub.MaxWatchedSensors != apirules.MaxWatchSensors ||
		hub.MaxAttributesPerSensor != apirules.MaxAttributes || hub.MaxTextBytes != apirules.MaxTextBytes {
		t.Error("the hub's limits are not apirules'")
	}
}

// TestWebAppIsGenerated: frontend/src/lib/gen/limits.ts is what TypeScript renders now.
func TestWebAppIsGenerated(t *testing.T) {
	t.Parallel()
	got, err := os.ReadFile(filepath.Join("..", "..", "frontend", "src", "lib", "gen", "limits.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != apirules.TypeScript() {
		t.Error("frontend/src/lib/gen/limits.ts is out of date: run 'go tool task generate'")
	}
}

// webPattern reads a pattern constant of the generated TypeScript module and compiles
// it (the patterns use only what JavaScript and Go regular expressions read alike).
func webPattern(t *testing.T, name string) *regexp.Regexp {
	t.Helper()
	m := regexp.MustCompile(`export const ` + name + ` = "([^"]*)";`).FindStringSubmatch(apirules.TypeScript())
	if m == nil {
		t.Fatalf("limits.ts defines no %s", name)
	}
	return regexp.MustCompile(m[1])
}

func TestSampleTimeUS(t *testing.T) {
	t.Parallel()
	const t0 = int64(1_767_225_600_000_000)
	cases := []struct {
		start int64
		i     int
		rate  float64
		want  int64
	}{
		{t0, 0, 512, t0},
		{t0, 1, 512, t0 + 1953}, // 1953.125 rounds down
		{t0, 3, 512, t0 + 5859}, // 5859.375
		{t0, 5, 512, t0 + 9766}, // 9765.625 rounds up, as the recorder's SQL does
		{t0, 2, 3, t0 + 666_667},
		{1_000_000, 5, 512, 1_009_766},
		{math.MaxInt64 - 10, 1, 100, math.MaxInt64}, // saturates
		{t0, 16383, 1e-13, math.MaxInt64},
		{t0, 2, 1e-13, math.MaxInt64},
		{math.MinInt64 + 10, -1, 100, math.MinInt64},
		{t0, 1, math.NaN(), math.MaxInt64},
	}
	for _, tc := range cases {
		if got := apirules.SampleTimeUS(tc.start, tc.i, tc.rate); got != tc.want {
			t.Errorf("SampleTimeUS(%d, %d, %v) = %d, want %d", tc.start, tc.i, tc.rate, got, tc.want)
		}
	}
}
