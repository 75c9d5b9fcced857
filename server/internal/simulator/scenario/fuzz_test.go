package scenario

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any bytes parse into a scenario whose values are within the documented
// limits, or into *Error problems (at most maxErrors of them); never a panic. Seeds:
// the built-in scenarios (server/internal/simulator/scenarios) and the files in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no built-in scenarios to seed from: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file) //nolint:gosec // G304: a test reading the repository's files
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("connectors:\n  c:\n    sensors:\n      s:\n        attributes:\n          ecg: {sampling_rate: 1e400, batch_size: -1}\n"))
	f.Add([]byte("connectors: [1, 2]\n"))
	f.Add([]byte("&a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz", "fuzz.yaml", data)
		if err != nil {
			if sc != nil {
				t.Fatalf("Parse returned a scenario and an error: %v", err)
			}
			checkErrors(t, err)
			return
		}
		for _, c := range sc.Connectors {
			for _, s := range c.Sensors {
				if s.ID == "" || len(s.ID) > MaxIDLength {
					t.Fatalf("sensor id %q accepted", s.ID)
				}
				for _, a := range s.Attributes {
					if a.ID == "" || len(a.ID) > MaxIDLength {
						t.Fatalf("attribute id %q accepted", a.ID)
					}
					if !(a.SamplingRate > 0 && a.SamplingRate <= MaxSamplingRate) {
						t.Fatalf("%s/%s: sampling rate %v accepted", s.ID, a.ID, a.SamplingRate)
					}
					if a.BatchSize < 1 || a.BatchSize > MaxBatchSize {
						t.Fatalf("%s/%s: batch size %d accepted", s.ID, a.ID, a.BatchSize)
					}
					if a.BatchWindow <= 0 || a.BatchWindow > MaxBatchWindow {
						t.Fatalf("%s/%s: batch window %v accepted", s.ID, a.ID, a.BatchWindow)
					}
					if a.Duration < 0 || math.IsNaN(a.Duration) || math.IsInf(a.Duration, 0) {
						t.Fatalf("%s/%s: duration %v accepted", s.ID, a.ID, a.Duration)
					}
				}
			}
		}
	})
}

// checkErrors asserts that a Parse error is made of *Error values only, at most
// maxErrors of them (a syntax error is one).
func checkErrors(t *testing.T, err error) {
	t.Helper()
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // unwrapping a join on purpose
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	if len(list) == 0 || len(list) > maxErrors {
		t.Fatalf("%d problems reported", len(list))
	}
	for _, e := range list {
		var pe *Error
		if !errors.As(e, &pe) {
			t.Fatalf("problem %v (%T) is not an *Error", e, e)
		}
	}
}
