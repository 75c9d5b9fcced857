package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/config"
)

func TestNewJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, err := New(Options{Level: config.LogWarn, Format: config.LogFormatJSON, Service: "sensocto", Output: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Info().Msg("hidden")
	l.Warn().Str("k", "v").Msg("shown")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1: %q", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("unmarshal %q: %v", lines[0], err)
	}
	if m["level"] != "warn" || m["message"] != "shown" || m["service"] != "sensocto" || m["k"] != "v" {
		t.Errorf("line = %v", m)
	}
	ts, _ := m["time"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("time %q: %v", ts, err)
	}
}

func TestNewConsoleAndAuto(t *testing.T) {
	t.Parallel()
	for _, f := range []config.LogFormat{config.LogFormatConsole, config.LogFormatAuto, ""} {
		var buf bytes.Buffer
		l, err := New(Options{Level: config.LogTrace, Format: f, Output: &buf})
		if err != nil {
			t.Fatal(err)
		}
		l.Trace().Msg("hello")
		out := buf.String()
		isJSON := strings.HasPrefix(out, "{")
		// A buffer is not a terminal, so auto means JSON.
		if wantJSON := f != config.LogFormatConsole; isJSON != wantJSON || !strings.Contains(out, "hello") {
			t.Errorf("format %q: output %q, want JSON=%v", f, out, wantJSON)
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{Level: "loud"}); err == nil {
		t.Error("New with level loud succeeded")
	}
	if _, err := New(Options{Format: "xml"}); err == nil {
		t.Error("New with format xml succeeded")
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	// Without a logger: a usable, disabled logger.
	FromContext(context.Background()).Error().Msg("dropped")

	var buf bytes.Buffer
	l, err := New(Options{Format: config.LogFormatJSON, Output: &buf})
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithContext(context.Background(), l.With().Str("req", "1").Logger())
	FromContext(ctx).Info().Msg("in ctx")
	if !strings.Contains(buf.String(), `"req":"1"`) {
		t.Errorf("output %q lacks the context logger's field", buf.String())
	}
}
