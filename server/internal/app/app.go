// Package app is the only wiring point of the server: it opens the database, applies
// migrations, builds the domain services and their Connect handlers, and assembles the
// one HTTP handler (API, health, reflection, metrics, SPA) served by httpserver.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/sensocto/sensocto/frontend"
	"github.com/sensocto/sensocto/gen/openapi"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/auth"
	"github.com/sensocto/sensocto/server/internal/authrpc"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/buildinfo"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/bus/natsbus"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/exporthttp"
	"github.com/sensocto/sensocto/server/internal/httpserver"
	"github.com/sensocto/sensocto/server/internal/lease"
	"github.com/sensocto/sensocto/server/internal/mail"
	"github.com/sensocto/sensocto/server/internal/rpc"
	"github.com/sensocto/sensocto/server/internal/system"
	"github.com/sensocto/sensocto/server/internal/systemrpc"
)

// App is a wired server.
type App struct {
	cfg      config.Config
	logger   zerolog.Logger
	opts     options
	db       *database.DB
	handler  http.Handler
	server   *httpserver.Server
	services []string

	// background work owned by the app (the guest sweeper), stopped by Close.
	stopBackground context.CancelFunc
	background     sync.WaitGroup
	// recording is stopped by Close after the background work, before the database.
	recording *recorder
	// bus is left by Close after the background work.
	bus bus.Bus
	// leases hands jobs (simulator runs) to one node; closed with the bus.
	leases *lease.Store
}

// OpenAPIPath serves the OpenAPI document of the Connect JSON surface (gen/openapi); the
// web app never answers it or anything below it.
const OpenAPIPath = "/openapi.yaml"

// guestSweepInterval is how often expired guests are deleted, with what they left
// running (simulator runs): at most this long after a guest expires.
const guestSweepInterval = time.Minute

// options are settings that tests change; production uses the defaults.
type options struct {
	now            func() time.Time
	passwordParams accounts.PasswordParams
	realtime       realtimeOptions
	// guestSweepEvery replaces guestSweepInterval (tests).
	guestSweepEvery time.Duration
	simulator       simulatorOptions
	webApp          fs.FS
	// roomLapse replaces rooms.DefaultLapse (tests).
	roomLapse time.Duration
	// cluster replaces the single node's bus and leases (tests of several nodes in
	// one process).
	cluster clusterOptions
}

// clusterOptions are a node's ends of the cluster: its bus and its lease store.
type clusterOptions struct {
	bus    bus.Bus
	leases *lease.Store
}

// WithCluster makes the app one node of a cluster: b is its end of the bus (a node of
// a bus.Network in tests) and leases its lease store (over a shared lease.Memory in
// tests). The app closes both.
func WithCluster(b bus.Bus, leases *lease.Store) Option {
	return func(o *options) { o.cluster = clusterOptions{bus: b, leases: leases} }
}

// Option changes how New builds the app (for tests).
type Option func(*options)

// WithClock makes the accounts domain read time from now (tokens, guest expiry, rate
// limits).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithPasswordParams sets the argon2id parameters (tests use cheap ones).
func WithPasswordParams(p accounts.PasswordParams) Option {
	return func(o *options) { o.passwordParams = p }
}

// WithGuestSweepInterval makes expired guests be deleted every d (tests use short ones).
func WithGuestSweepInterval(d time.Duration) Option {
	return func(o *options) { o.guestSweepEvery = d }
}

// WithRoomPresenceLapse makes a room tab's presence lapse d after its last heartbeat
// (tests use short ones).
func WithRoomPresenceLapse(d time.Duration) Option { return func(o *options) { o.roomLapse = d } }

// WithWebApp serves fsys (index.html at its root) as the web app instead of the one
// embedded by the build, so routing tests need no built frontend.
func WithWebApp(fsys fs.FS) Option { return func(o *options) { o.webApp = fsys } }

// New opens the database, migrates it, and builds every service. Close releases what it
// opened.
func New(ctx context.Context, cfg config.Config, logger zerolog.Logger, opts ...Option) (*App, error) {
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
	for _, o := range opts {
		o(&a.opts)
	}
	if err := a.build(); err != nil {
		if a.bus != nil {
			_ = a.bus.Close()
		}
		a.recording.close()
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
	a.bus, a.leases = a.opts.cluster.bus, a.opts.cluster.leases
	if a.bus == nil {
		// A single node's bus has no other node, so nothing is ever published on it;
		// with SENSOCTO_NATS_URL it is this node's end of the cluster's bus.
		b, err := a.openBus(reg)
		if err != nil {
			return err
		}
		a.bus = b
	}
	if nb, ok := a.bus.(*natsbus.Bus); ok && a.leases == nil {
		// Cluster mode: leases in the cluster's JetStream key-value bucket.
		l, err := clusterLeases(nb)
		if err != nil {
			return err
		}
		a.leases = l
	}
	if a.leases == nil {
		// A single node: every lease is granted.
		l, err := lease.NewMemory(0).Store(a.bus.NodeID())
		if err != nil {
			return fmt.Errorf("build the lease store: %w", err)
		}
		a.leases = l
	}
	rt, err := newRealtime(a.db.Client, a.logger, a.opts.realtime, a.bus, reg)
	if err != nil {
		return err
	}
	// Every stream is counted per user and client IP, and none opens under memory
	// protection (after authorization: the user is known).
	streams := auth.NewStreamLimiter(auth.StreamLimits{
		PerUser:    a.cfg.StreamsPerUser,
		PerIP:      a.cfg.StreamsPerIP,
		Protecting: func() bool { return rt.monitor.Snapshot().MemoryProtection },
	})
	if err := streams.Register(reg); err != nil {
		return err
	}
	opts, err := rpc.HandlerOptions(a.logger, reg, auth.NewInterceptor(), streams)
	if err != nil {
		return fmt.Errorf("build rpc options: %w", err)
	}

	var mailbox *mail.Mailbox
	mailer, err := a.mailer()
	if err != nil {
		return err
	}
	emailDelivery := mailer != nil
	if a.cfg.Dev {
		mailbox = mail.NewMailbox(mail.DefaultMailboxSize)
		if mailer == nil {
			mailer = mail.Multi{mail.Log{Logger: a.logger.With().Str("component", "mail").Logger()}, mailbox}
		} else {
			mailer = mail.Multi{mailer, mailbox}
		}
	}
	oidcEnabled := a.cfg.OIDC.Issuer != ""
	var sim *simulatorWiring // built after the real-time core, which needs nothing of accounts
	roomsSvc, err := a.newRooms(context.Background(), rt)
	if err != nil {
		return err
	}
	// Revoked tokens and deleted users end their open streams at once (authz.StreamGuard).
	revocations := authz.NewRevocations()
	accountsSvc, err := accounts.New(accounts.Options{
		Revocations:      revocations,
		Ent:              a.db.Client,
		Logger:           a.logger.With().Str("domain", "accounts").Logger(),
		Now:              a.opts.now,
		PublicURL:        a.cfg.PublicURL,
		Mailer:           mailer,
		EmailDelivery:    emailDelivery,
		GuestTTL:         a.cfg.GuestTTL,
		MaxStale:         a.cfg.AuthMaxStale,
		Password:         a.opts.passwordParams,
		RatePerMinute:    a.cfg.AuthRatePerMinute,
		OIDCProviderName: a.cfg.OIDC.ProviderName,
		DevMailbox:       mailbox != nil,
		OnUsersDeleted: func(ids []uuid.UUID) {
			if sim != nil {
				sim.runs.ForgetOwners(ids)
			}
			rt.sensors.OwnersDeleted(context.Background(), ids)
			roomsSvc.rooms.UsersDeleted(context.Background(), ids)
		},
		OnGuestSignedOut: func(ctx context.Context, id uuid.UUID) {
			if sim != nil {
				sim.runs.StopOwner(ctx, id)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("build accounts: %w", err)
	}

	if a.recording, err = a.newRecorder(rt.sensors, reg); err != nil {
		return err
	}
	systemSvc := system.New(system.Options{
		Live:      rt.liveStatus,
		Recording: a.recording.status,
		Version:   buildinfo.String(),
		GoVersion: buildinfo.GoVersion(),
		Dialect:   a.db.Dialect(),
		DB:        a.db,
		Ent:       a.db.Client,
		NodeID:    a.nodeID(),
		Peers:     a.peers,
	})
	a.reportLoad(rt.liveStatus)
	if err := registerRemoteMetrics(reg, rt.live.RemoteStats); err != nil {
		return err
	}

	// Status shows the node id; the log maps it to the host and process.
	host, _ := os.Hostname()
	a.logger.Info().Str("node", systemSvc.NodeID()).Str("host", host).Int("pid", os.Getpid()).Msg("node id of this process")

	// Register a service here only once it really works.
	var routes []httpserver.Route
	mount := func(pattern string, h http.Handler) {
		routes = append(routes, httpserver.Route{Pattern: pattern, Handler: h})
	}
	services := []string{sensoctov1connect.SystemServiceName, sensoctov1connect.AuthServiceName}
	mount(sensoctov1connect.NewSystemServiceHandler(systemrpc.New(systemSvc), opts...))
	mount(sensoctov1connect.NewAuthServiceHandler(authrpc.New(accountsSvc, a.cfg.PublicURL, oidcEnabled), opts...))
	mount("GET "+exporthttp.ExportPath, a.recording.exportHandler(rt.sensors))
	mount("GET "+OpenAPIPath, httpserver.Document("application/yaml; charset=utf-8", openapi.YAML))
	if oidcEnabled {
		secret, err := a.secretKey()
		if err != nil {
			return err
		}
		o := authrpc.NewOIDC(authrpc.OIDCConfig{
			Issuer:       a.cfg.OIDC.Issuer,
			ClientID:     a.cfg.OIDC.ClientID,
			ClientSecret: a.cfg.OIDC.ClientSecret,
			PublicURL:    a.cfg.PublicURL,
			SecretKey:    secret,
			Secure:       a.cfg.SecureCookies(),
			Logger:       a.logger.With().Str("component", "oidc").Logger(),
		}, accountsSvc)
		mount("GET "+authrpc.LoginPath, http.HandlerFunc(o.Login))
		mount("GET "+authrpc.CallbackPath, http.HandlerFunc(o.Callback))
	}
	services = append(services, rt.mount(mount, opts)...)
	services = append(services, roomsSvc.mount(rt, mount, opts)...)
	sim, err = a.newSimulator(accountsSvc, rt)
	if err != nil {
		return err
	}
	services = append(services, sim.mount(mount, opts)...)
	a.services = services

	checker := &healthChecker{db: a.db, services: services}
	mount(grpchealth.NewHandler(checker, opts...))
	reflector := grpcreflect.NewStaticReflector(append(services, grpchealth.HealthV1ServiceName)...)
	mount(grpcreflect.NewHandlerV1(reflector, opts...))
	mount(grpcreflect.NewHandlerV1Alpha(reflector, opts...))

	spa := a.opts.webApp
	switch {
	case spa != nil: // a test's web app (WithWebApp)
	case frontend.Built():
		if spa, err = frontend.Assets(); err != nil {
			return fmt.Errorf("load embedded web app: %w", err)
		}
	default:
		a.logger.Warn().Msg("the web app was not built into this binary; run 'go tool task build' to include it")
	}

	if mailbox != nil {
		// The web app renders the mailbox page; JSON requests get the messages.
		var page http.Handler
		if spa != nil {
			page = httpserver.SPAHandler(spa, httpserver.DefaultAPIPrefixes)
		}
		mount("GET "+authrpc.MailboxPath, authrpc.MailboxHandler(mailbox, page))
	}

	a.handler = auth.Middleware(httpserver.NewHandler(httpserver.Routes{
		Logger:         a.logger,
		Routes:         routes,
		Health:         a.db.Ping,
		Metrics:        reg,
		SPA:            spa,
		AllowedOrigins: a.cfg.AllowedOrigins,
		// Never the web app, even for unknown paths: the OIDC endpoints, the CSV
		// export, the developer pages (/dev/mailbox, mounted in developer mode) and the
		// OpenAPI document.
		APIPrefixes: []string{"/auth/oidc/", "/export/", "/dev/", OpenAPIPath},
	}), auth.MiddlewareOptions{
		Resolver:       accountsSvc,
		TrustedProxies: a.cfg.TrustedProxies,
		SecureCookies:  a.cfg.SecureCookies(),
		IsProcedure:    procedureSet(services),
		Revocations:    revocations,
	})
	a.server = httpserver.New(a.cfg, a.logger, a.handler)

	ctx, stop := context.WithCancel(context.Background())
	a.stopBackground = stop
	sweepEvery := guestSweepInterval
	if a.opts.guestSweepEvery > 0 {
		sweepEvery = a.opts.guestSweepEvery
	}
	a.background.Go(func() { accountsSvc.RunSweeper(ctx, sweepEvery) })
	a.background.Go(func() {
		if err := rt.run(ctx); err != nil {
			a.logger.Error().Err(err).Msg("real-time core stopped")
		}
	})
	a.background.Go(func() {
		if err := roomsSvc.run(ctx); err != nil {
			a.logger.Error().Err(err).Msg("rooms stopped")
		}
	})
	a.background.Go(func() {
		if err := sim.run(ctx); err != nil {
			a.logger.Error().Err(err).Msg("simulator stopped")
		}
	})
	a.background.Go(func() {
		// Revocations of other nodes end this node's streams too, and the other way
		// round (a single node has no other: it publishes nothing).
		revocations.ForgetRemote(accountsSvc.ForgetCredentials)
		if err := revocations.Relay(ctx, a.bus); err != nil {
			a.logger.Error().Err(err).Msg("revocations no longer cross nodes")
		}
	})
	return nil
}

// mailer returns the SMTP mailer when configured, else nil (no email can be
// delivered: magic links are not offered, unless the dev mailbox shows them).
func (a *App) mailer() (mail.Mailer, error) {
	if a.cfg.SMTP.URL == "" {
		return nil, nil // no mail server
	}
	m, err := mail.NewSMTP(a.cfg.SMTP.URL, a.cfg.SMTP.From)
	if err != nil {
		return nil, fmt.Errorf("configure SMTP: %w", err)
	}
	return m, nil
}

// secretKeyFile is where a generated server secret is kept when SENSOCTO_SECRET_KEY is
// unset.
const secretKeyFile = "secret.key"

// secretKey returns SENSOCTO_SECRET_KEY, or the key in the data directory, generated
// (32 random bytes, file mode 0600) on first use.
func (a *App) secretKey() ([]byte, error) {
	if a.cfg.SecretKey != "" {
		return []byte(a.cfg.SecretKey), nil
	}
	path := filepath.Join(a.cfg.DataDir, secretKeyFile)
	b, err := os.ReadFile(path) //nolint:gosec // G304: the path is the operator's data directory
	if err == nil {
		if key := strings.TrimSpace(string(b)); len(key) >= 32 {
			return []byte(key), nil
		}
		return nil, fmt.Errorf("server secret %s is shorter than 32 characters; delete it or set SENSOCTO_SECRET_KEY", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read server secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generate server secret: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir for the server secret (or set SENSOCTO_SECRET_KEY): %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // G304: as above
	if errors.Is(err, fs.ErrExist) {
		return a.secretKey() // another process won the race
	}
	if err != nil {
		return nil, fmt.Errorf("create server secret (or set SENSOCTO_SECRET_KEY): %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write server secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write server secret: %w", err)
	}
	a.logger.Info().Str("path", path).Msg("generated a server secret; set SENSOCTO_SECRET_KEY to share one between nodes")
	return []byte(key), nil
}

// ServiceNames lists the fully-qualified names of the RPC services served (as given to
// reflection and health), so tests can enumerate every procedure.
func (a *App) ServiceNames() []string { return append([]string(nil), a.services...) }

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

// Close stops background work and releases the database.
func (a *App) Close() error {
	if a.stopBackground != nil {
		a.stopBackground()
		a.background.Wait()
	}
	if a.leases != nil {
		a.leases.Close() // what is still held goes to other nodes at once
	}
	if a.bus != nil {
		_ = a.bus.Close() // at most once: a node that leaves silently lapses at the others
	}
	a.recording.close() // flushes the recording queue while the database is open
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

// procedureSet returns a test for "/pkg.Service/Method" of every method of the services
// (found in the generated descriptors linked into the binary).
func procedureSet(services []string) func(string) bool {
	set := make(map[string]bool)
	for _, name := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			continue
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			continue
		}
		for i := range sd.Methods().Len() {
			set["/"+name+"/"+string(sd.Methods().Get(i).Name())] = true
		}
	}
	return func(path string) bool { return set[path] }
}
