// Command sensocto is the Sensocto server: one binary with the API, the web app and the
// real-time core. Subcommands: serve, migrate, loadgen, contract, version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/buildinfo"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/loadgen"
	"github.com/sensocto/sensocto/server/internal/logging"
)

const usage = `Sensocto: a real-time sensor data platform.

Usage:
  sensocto serve     serve the API and web app (migrates the database first)
  sensocto migrate   apply database migrations and exit
  sensocto loadgen   generate load against a server and measure it (--help for flags)
  sensocto contract  check a running server against the published API (--help for flags)
  sensocto version   print the version

Configuration comes from SENSOCTO_* environment variables; see the README.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "sensocto %s (%s)\n", buildinfo.String(), buildinfo.GoVersion())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	case "loadgen":
		return loadgen.Main(ctx, args[1:], stdout, stderr)
	case "contract":
		return contractMain(ctx, args[1:], stdout, stderr)
	case "serve", "migrate":
	default:
		fmt.Fprintf(stderr, "sensocto: unknown command %q\n\n%s", args[0], usage)
		return 2
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "sensocto: %v\n", err)
		return 1
	}
	logger, err := logging.New(logging.FromConfig(cfg, "sensocto"))
	if err != nil {
		fmt.Fprintf(stderr, "sensocto: %v\n", err)
		return 1
	}
	ctx = logging.WithContext(ctx, logger)
	for _, name := range config.Unknown(environ) {
		logger.Warn().Str("variable", name).Msg("unknown SENSOCTO_ variable ignored (a typo?)")
	}

	switch args[0] {
	case "migrate":
		db, err := app.OpenDatabase(ctx, cfg, logger)
		if err != nil {
			logger.Error().Err(err).Msg("migrate failed")
			return 1
		}
		_ = db.Close()
		logger.Info().Str("database", cfg.Database.Redacted()).Msg("database is up to date")
		return 0
	default: // serve
		start := time.Now()
		a, err := app.New(ctx, cfg, logger)
		if err != nil {
			logger.Error().Err(err).Msg("start failed")
			return 1
		}
		defer func() {
			if err := a.Close(); err != nil {
				logger.Error().Err(err).Msg("close failed")
			}
		}()
		logger.Info().
			Str("version", buildinfo.String()).
			Str("addr", cfg.HTTPAddr).
			Str("database", cfg.Database.Redacted()).
			Dur("startup", time.Since(start)).
			Msg("sensocto ready")
		if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error().Err(err).Msg("server stopped with an error")
			return 1
		}
		logger.Info().Msg("sensocto stopped")
		return 0
	}
}
