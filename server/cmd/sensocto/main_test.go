package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestBadConfigStopsStartupNamingTheVariables(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SENSOCTO_DATABASE_URL": "postgres://%zz",
		"SENSOCTO_LOG_LEVEL":    "loud",
		"SENSOCTO_DATA_DIR":     t.TempDir(),
	}
	for _, cmd := range []string{"serve", "migrate"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{cmd}, func(k string) string { return env[k] }, nil, &stdout, &stderr)
		if code != 1 {
			t.Errorf("%s with bad config exited %d, want 1", cmd, code)
		}
		msg := stderr.String()
		if strings.Count(msg, "\n") != 1 {
			t.Errorf("%s: want one line naming every problem, got %q", cmd, msg)
		}
		for _, want := range []string{"SENSOCTO_DATABASE_URL", "SENSOCTO_LOG_LEVEL"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not name %s", cmd, msg, want)
			}
		}
	}
}

func TestMigrateAndVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"SENSOCTO_DATA_DIR": dir, "SENSOCTO_LOG_FORMAT": "json"}
	getenv := func(k string) string { return env[k] }
	for range 2 { // a second migrate is a no-op
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"migrate"}, getenv, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("migrate exited %d: %s", code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version"}, getenv, nil, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "sensocto ") {
		t.Errorf("version exited %d with %q", code, stdout.String())
	}
	if code := run(context.Background(), []string{"frobnicate"}, getenv, nil, &stdout, &stderr); code != 2 {
		t.Errorf("unknown command exited %d, want 2", code)
	}
}
