package attrcatalog_test

import (
	"io/fs"
	"testing"

	"github.com/sensocto/sensocto/server/internal/attrcatalog"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/simulator"
	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

var kinds = map[attrcatalog.Kind]bool{
	attrcatalog.KindNumber: true, attrcatalog.KindWaveform: true, attrcatalog.KindVector3: true,
	attrcatalog.KindQuaternion: true, attrcatalog.KindGeo: true, attrcatalog.KindStruct: true,
	attrcatalog.KindEvent: true, attrcatalog.KindText: true, attrcatalog.KindLandmarks: true,
}

var charts = map[attrcatalog.Chart]bool{
	attrcatalog.ChartWaveform: true, attrcatalog.ChartSparkline: true, attrcatalog.ChartAxes: true,
	attrcatalog.ChartMap: true, attrcatalog.ChartOrientation: true, attrcatalog.ChartFigure: true,
	attrcatalog.ChartGaze: true, attrcatalog.ChartEvents: true, attrcatalog.ChartNone: true,
}

// Every type has a label, a known kind and chart, and each id or alias names one type only.
func TestCatalogueIsWellFormed(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, ty := range attrcatalog.Types {
		if ty.Label == "" || ty.Category == "" {
			t.Errorf("type %q has no label or category", ty.ID)
		}
		if !kinds[ty.Kind] || !charts[ty.Chart] {
			t.Errorf("type %q: unknown kind %q or chart %q", ty.ID, ty.Kind, ty.Chart)
		}
		if ty.Precision < 0 || ty.Precision > 6 {
			t.Errorf("type %q: precision %d out of 0..6", ty.ID, ty.Precision)
		}
		switch ty.Kind {
		case attrcatalog.KindVector3, attrcatalog.KindQuaternion, attrcatalog.KindGeo:
			if len(ty.Fields) == 0 {
				t.Errorf("type %q of kind %s lists no fields (their order is the readout's)", ty.ID, ty.Kind)
			}
		}
		for _, id := range append([]string{ty.ID}, ty.Aliases...) {
			if other, dup := seen[id]; dup {
				t.Errorf("id %q names both %q and %q", id, other, ty.ID)
			}
			seen[id] = ty.ID
		}
	}
	for _, a := range attrcatalog.Attributes {
		if _, ok := attrcatalog.ByID(a.Type); !ok {
			t.Errorf("attribute %q has unknown type %q", a.ID, a.Type)
		}
		if other, dup := seen[a.ID]; dup {
			t.Errorf("attribute id %q is also type %q", a.ID, other)
		}
		if a.Label == "" {
			t.Errorf("attribute %q has no label", a.ID)
		}
	}
}

// The attribute types of the original system are covered.
func TestCatalogueCoversTheReferenceTypes(t *testing.T) {
	t.Parallel()
	for _, id := range []string{
		"ecg", "heartrate", "hr", "hrv", "respiration", "spo2", "imu", "accelerometer", "gyroscope",
		"magnetometer", "gravity", "quaternion", "euler", "heading", "orientation", "tap", "geolocation",
		"altitude", "speed", "temperature", "humidity", "pressure", "light", "proximity", "gas",
		"air_quality", "color", "battery", "button", "led", "speaker", "microphone", "body_location",
		"rich_presence", "steps", "calories", "distance", "skeleton", "eye_gaze", "eye_aperture",
		"eye_blink", "eye_worn", "buttplug", "numeric",
	} {
		if _, ok := attrcatalog.ByID(id); !ok {
			t.Errorf("reference type %q is not in the catalogue", id)
		}
	}
}

// Whatever type the hub infers for an attribute first seen in data is a catalogue type.
func TestHubInfersOnlyCatalogueTypes(t *testing.T) {
	t.Parallel()
	num := &hub.Value{Kind: hub.KindNumber}
	for _, ty := range attrcatalog.Types {
		for _, id := range append([]string{ty.ID}, ty.Aliases...) {
			got := hub.InferType(id, num)
			if _, ok := attrcatalog.ByID(got); !ok {
				t.Errorf("hub infers type %q for id %q; the catalogue does not know it", got, id)
			}
		}
	}
}

// Every attribute type and id of the built-in scenarios has a catalogue entry, so no
// simulated attribute is shown with a label guessed from its id.
func TestCatalogueCoversTheSimulator(t *testing.T) {
	t.Parallel()
	files, err := fs.Glob(simulator.Builtin(), "*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("built-in scenarios: %v (%d files)", err, len(files))
	}
	known := map[string]bool{}
	for _, a := range attrcatalog.Attributes {
		known[a.ID] = true
	}
	for _, f := range files {
		sc, err := scenario.LoadFS(simulator.Builtin(), f, "builtin")
		if err != nil {
			t.Fatalf("load %s: %v", f, err)
		}
		for _, c := range sc.Connectors {
			for _, s := range c.Sensors {
				for _, a := range s.Attributes {
					if _, ok := attrcatalog.ByID(a.Type); !ok {
						t.Errorf("%s: sensor %s attribute %s: type %q is not in the catalogue", f, s.ID, a.ID, a.Type)
					}
					if _, ok := attrcatalog.ByID(a.ID); !ok && !known[a.ID] {
						t.Errorf("%s: sensor %s: attribute id %q has no catalogue label", f, s.ID, a.ID)
					}
				}
			}
		}
	}
}

// What the hub reads from the catalogue is well-formed: known value kinds, a history
// size that is not negative, and no id inferred to two types.
func TestIngestFactsAreWellFormed(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for _, k := range attrcatalog.ValueKinds {
		known[k] = true
	}
	inferred := map[string]string{}
	for _, ty := range attrcatalog.Types {
		for _, k := range ty.Accepts {
			if !known[k] {
				t.Errorf("type %q accepts unknown value kind %q", ty.ID, k)
			}
		}
		if ty.History < 0 {
			t.Errorf("type %q: history %d", ty.ID, ty.History)
		}
		if !ty.Inferred && len(ty.InferredAlso) > 0 {
			t.Errorf("type %q lists InferredAlso but is not Inferred", ty.ID)
		}
		if !ty.Inferred {
			continue
		}
		for _, id := range append(append([]string{ty.ID}, ty.Aliases...), ty.InferredAlso...) {
			if other, dup := inferred[id]; dup {
				t.Errorf("id %q is inferred to both %q and %q", id, other, ty.ID)
			}
			inferred[id] = ty.ID
		}
	}
	// The hub infers from the catalogue: every inferred id gives its type.
	num := &hub.Value{Kind: hub.KindNumber}
	for id, want := range inferred {
		if got := hub.InferType(id, num); got != want {
			t.Errorf("hub.InferType(%q) = %q, the catalogue says %q", id, got, want)
		}
	}
	if !hub.AcceptsKind("heartrate", hub.KindNumber) || hub.AcceptsKind("heartrate", hub.KindGeo) || !hub.AcceptsKind("no_such_type", hub.KindGeo) {
		t.Error("the hub's accepted kinds do not follow the catalogue")
	}
}
