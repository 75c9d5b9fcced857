// Package logging owns the construction of the server's one zerolog logger
// (level, format, timestamps, service name) and carrying it in a context.
// There is no global logger: the logger built here is passed down explicitly
// or taken from the context with FromContext.
package logging

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/sensocto/sensocto/server/internal/config"
)

// Options configure New.
type Options struct {
	// Level is the minimum level logged; empty means info.
	Level config.LogLevel
	// Format is json, console or auto (console when Output is a terminal);
	// empty means auto.
	Format config.LogFormat
	// Service is added to every line as "service" when not empty.
	Service string
	// Output receives the log lines; nil means os.Stderr.
	Output io.Writer
}

// FromConfig returns the Options for cfg with the given service name, writing
// to standard error.
func FromConfig(cfg config.Config, service string) Options {
	return Options{Level: cfg.LogLevel, Format: cfg.LogFormat, Service: service}
}

// New builds a logger. Every line has a UTC timestamp with nanoseconds in
// "time" and the service name in "service". It fails only on an unknown level
// or format, which config.Load already rejects.
func New(opts Options) (zerolog.Logger, error) {
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	level := zerolog.InfoLevel
	if opts.Level != "" {
		l, err := zerolog.ParseLevel(string(opts.Level))
		if err != nil || l == zerolog.NoLevel {
			return zerolog.Nop(), fmt.Errorf("parse log level %q: unknown level", opts.Level)
		}
		level = l
	}
	switch opts.Format {
	case config.LogFormatJSON:
	case config.LogFormatConsole:
		out = consoleWriter(out)
	case config.LogFormatAuto, "":
		if isTerminal(out) {
			out = consoleWriter(out)
		}
	default:
		return zerolog.Nop(), fmt.Errorf("select log format %q: unknown format", opts.Format)
	}
	ctx := zerolog.New(out).Level(level).Hook(timestampHook{}).With()
	if opts.Service != "" {
		ctx = ctx.Str("service", opts.Service)
	}
	return ctx.Logger(), nil
}

// timestampHook adds a precise UTC timestamp without touching zerolog's
// package-level TimeFieldFormat (no global state).
type timestampHook struct{}

func (timestampHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().UTC().Format(time.RFC3339Nano))
}

func consoleWriter(w io.Writer) io.Writer {
	return zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: !isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) //nolint:gosec // G115: file descriptors fit in int.
}

// WithContext returns a copy of ctx carrying l.
func WithContext(ctx context.Context, l zerolog.Logger) context.Context {
	return WithLogger(ctx, &l)
}

// WithLogger returns a copy of ctx carrying l itself (no copy of the logger is made:
// l must not change afterwards), for a logger built once and put into the context of
// every call.
func WithLogger(ctx context.Context, l *zerolog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

type loggerKey struct{}

// FromContext returns the logger carried by ctx (WithContext, WithLogger, or zerolog's
// own Logger.WithContext), or a disabled logger when there is none. It never returns
// nil.
func FromContext(ctx context.Context) *zerolog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*zerolog.Logger); ok && l != nil {
		return l
	}
	if l := zerolog.Ctx(ctx); l != nil && l != zerolog.DefaultContextLogger {
		return l
	}
	nop := zerolog.Nop()
	return &nop
}
