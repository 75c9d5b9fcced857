package main

import (
	"bytes"
	"os"
	"testing"
)

// The committed frontend/src/lib/gen/attributes.ts is what the table renders to
// (`go tool task generate` rewrites it; generate:check fails on a diff too).
func TestGeneratedFileIsCurrent(t *testing.T) {
	t.Parallel()
	want, err := render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../../frontend/src/lib/gen/attributes.ts")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("frontend/src/lib/gen/attributes.ts is out of date; run `go tool task generate`")
	}
}
