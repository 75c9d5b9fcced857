package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEveryVariable keeps the README's configuration table true.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	readme := string(b)
	for _, v := range Vars() {
		if !strings.Contains(readme, "| `"+v.Name+"`") {
			t.Errorf("README.md has no configuration row for %s", v.Name)
		}
		if v.FileVar != "" && !strings.Contains(readme, "`"+v.FileVar+"`") {
			t.Errorf("README.md does not mention %s", v.FileVar)
		}
	}
}
