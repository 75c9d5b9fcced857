package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckRepositoryMigrations(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(t.Context(), []string{"-check", "-dialect", "sqlite", "-dir", "../../../migrations"}, &out, &out)
	if err != nil {
		t.Fatalf("entmigrate -check: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "agree") {
		t.Errorf("output = %q", out.String())
	}
}

func TestGenerateThenCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	args := []string{"-dialect", "sqlite", "-dir", dir}
	if err := run(t.Context(), append(args, "-check"), &out, &out); err == nil {
		t.Fatal("-check passed on a missing directory")
	}
	if err := run(t.Context(), append(args, "-name", "init"), &out, &out); err != nil {
		t.Fatalf("generate: %v\n%s", err, out.String())
	}
	files, err := filepath.Glob(filepath.Join(dir, "sqlite", "*_init.sql"))
	if err != nil || len(files) != 1 {
		t.Fatalf("generated files = %v, %v", files, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sqlite", "atlas.sum")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(t.Context(), append(args, "-name", "again"), &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing written") {
		t.Errorf("second run output = %q", out.String())
	}
	if err := run(t.Context(), append(args, "-check"), &out, &out); err != nil {
		t.Fatalf("-check after generate: %v", err)
	}
}

func TestNameRequired(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "Bad Name", "1x"} {
		if err := run(t.Context(), []string{"-name", name}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("-name %q accepted", name)
		}
	}
}
