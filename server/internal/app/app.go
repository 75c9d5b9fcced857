// Package app is the only wiring point of the server: it opens the database, applies
// migrations, builds the domain services and their Connect handlers, and assembles the
// one HTTP handler (API, health, reflection, metrics, SPA) served by httpserver.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/frontend"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/buildinfo"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/httpserver"
	"github.com/sensocto/sensocto/server/internal/rpc"
	"github.com/sensocto/sensocto/server/internal/system"
	"github.com/sensocto/sensocto/server/internal/systemrpc"
)

// App is a wired server.
type App struct {
	cfg     config.Config
	logger  zerolog.Logger
	db      *database.DB
	handler http.Handler
	server  *httpserver.Server
}

// New opens the database, migrates it, and builds every service. Close releases what it
// opened.
func New(ctx context.Context, cfg config.Config, logger zerolog.Logger) (*App, error) {
	if cfg.Database.Driver == config.DriverSQLite {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
		}
	}
	db, err := OpenDatabase(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, logger: logger, db: db}
	if err := a.build(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return a, nil
}

// OpenDatabase opens the configured database and applies pending migrations under the
// migration lock, so several processes may start at once.
func OpenDatabase(ctx context.Context, cfg config.Config, logger zerolog.Logger) (*database.DB, error) {
	db, err := database.Open(ctx, cfg.Database.DSN, logger)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", cfg.Database.Redacted(), err)
	}
	if err := db.Migrate(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	return db, nil
}

func (a *App) build() error {
	reg := httpserver.NewMetricsRegistry()
	opts, err := rpc.HandlerOptions(a.logger, reg)
	if err != nil {
		return fmt.Errorf("build rpc options: %w", err)
	}

	systemSvc := system.New(system.Options{
		Version:   buildinfo.String(),
		GoVersion: buildinfo.GoVersion(),
		Dialect:   a.db.Dialect(),
		DB:        a.db,
		Ent:       a.db.Client,
	})

	// Register a service here only once it really works.
	var routes []httpserver.Route
	mount := func(pattern string, h http.Handler) {
		routes = append(routes, httpserver.Route{Pattern: pattern, Handler: h})
	}
	services := []string{sensoctov1connect.SystemServiceName}
	mount(sensoctov1connect.NewSystemServiceHandler(systemrpc.New(systemSvc), opts...))

	checker := &healthChecker{db: a.db, services: services}
	mount(grpchealth.NewHandler(checker, opts...))
	reflector := grpcreflect.NewStaticReflector(append(services, grpchealth.HealthV1ServiceName)...)
	mount(grpcreflect.NewHandlerV1(reflector, opts...))
	mount(grpcreflect.NewHandlerV1Alpha(reflector, opts...))

	var spa fs.FS
	if frontend.Built() {
		if spa, err = frontend.Assets(); err != nil {
			return fmt.Errorf("load embedded web app: %w", err)
		}
	} else {
		a.logger.Warn().Msg("the web app was not built into this binary; run 'go tool task build' to include it")
	}

	a.handler = httpserver.NewHandler(httpserver.Routes{
		Logger:         a.logger,
		Routes:         routes,
		Health:         a.db.Ping,
		Metrics:        reg,
		SPA:            spa,
		AllowedOrigins: a.cfg.AllowedOrigins,
	})
	a.server = httpserver.New(a.cfg, a.logger, a.handler)
	return nil
}

// Handler is the whole HTTP handler, for in-process tests.
func (a *App) Handler() http.Handler { return a.handler }

// Run serves on the configured address until ctx is cancelled, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	return a.server.Run(ctx)
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	return a.server.Serve(ctx, ln)
}

// Close releases the database.
func (a *App) Close() error {
	if err := a.db.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// healthChecker answers grpc.health.v1: SERVING while the database answers, for the
// server as a whole ("") and each registered service.
type healthChecker struct {
	db       *database.DB
	services []string
}

func (h *healthChecker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	known := req.Service == ""
	for _, s := range h.services {
		known = known || s == req.Service
	}
	if !known {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("unknown service"))
	}
	if err := h.db.Ping(ctx); err != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil //nolint:nilerr // an unreachable database is a health answer, not an RPC error
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}
