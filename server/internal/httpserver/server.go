// Package httpserver owns the one HTTP server of the process: listening on
// HTTP/1.1 and unencrypted HTTP/2 (http.Protocols, no h2c wrapper) with sane
// limits, graceful shutdown that also ends long-lived streams, and the
// top-level handler that routes to Connect services, /healthz, /metrics and
// the embedded single-page app, behind CORS and a request body limit.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/http2"

	"github.com/sensocto/sensocto/server/internal/config"
)

// Server limits. There is no ReadTimeout or WriteTimeout: streaming RPCs stay
// open for hours; dead peers are found by HTTP/2 pings and TCP keep-alives.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// HTTP/2 health checks for long-lived streams.
	h2SendPingTimeout = 30 * time.Second
	h2PingTimeout     = 15 * time.Second
)

// Server is the process's HTTP server.
type Server struct {
	srv             *http.Server
	addr            string
	debugAddr       string
	shutdownTimeout time.Duration
	logger          zerolog.Logger
	publicURL       string
}

// New returns a server for handler listening on cfg.HTTPAddr, serving HTTP/1.1
// and unencrypted HTTP/2 (prior knowledge, as gRPC clients use).
func New(cfg config.Config, logger zerolog.Logger, handler http.Handler) *Server {
	logger = logger.With().Str("component", "httpserver").Logger()
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	timeout := cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	srv := &http.Server{
		Handler:           growStackForUnary(handler),
		Protocols:         protocols,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: h2SendPingTimeout,
			PingTimeout:     h2PingTimeout,
		},
		ErrorLog: log.New(logger, "", 0),
	}
	configureHTTP2(srv, logger)
	return &Server{
		srv:             srv,
		addr:            cfg.HTTPAddr,
		publicURL:       cfg.PublicURL,
		debugAddr:       cfg.DebugAddr,
		shutdownTimeout: timeout,
		logger:          logger,
	}
}

// configureHTTP2 serves HTTP/2 (TLS and unencrypted) with golang.org/x/net/http2,
// which takes srv.HTTP2's settings, for one thing net/http does not let us choose:
// the write scheduler. net/http's round-robin scheduler looks at every open stream of
// the connection for each frame it writes, also the idle ones; with a hundred
// connector Streams on one connection that was 12 % of the server's CPU at 10,000
// sensors (docs/performance.md, issue 18). The random scheduler only keeps the
// streams that have frames queued, and writes control frames first as the other does.
//
// x/net marks both calls deprecated: from Go 1.27 its server wraps net/http's and
// ignores the scheduler (TestHTTP2ServedByXNet fails then, to say so). Until net/http
// schedules in time independent of idle streams, this is the only way to choose.
func configureHTTP2(srv *http.Server, logger zerolog.Logger) {
	h2 := &http2.Server{NewWriteScheduler: func() http2.WriteScheduler { return http2.NewRandomWriteScheduler() }} //nolint:staticcheck // SA1019: see above
	if err := http2.ConfigureServer(srv, h2); err != nil {                                                         //nolint:staticcheck // SA1019: see above
		// Only for a TLS configuration it refuses (there is none): net/http's own
		// HTTP/2 serves then.
		logger.Warn().Err(err).Msg("HTTP/2 served by net/http: its write scheduler costs more with many streams per connection")
	}
}

// Run listens on the configured address and serves until ctx is cancelled,
// then shuts down gracefully (see Serve).
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled or serving fails, and closes ln.
//
// On cancellation it stops accepting connections and waits, up to the
// configured shutdown timeout, for requests to finish. Request contexts
// derive from a base context that is cancelled as soon as shutdown begins,
// so streaming handlers that watch their context end instead of holding
// shutdown until the timeout. Past the timeout, remaining connections are
// closed and an error is returned. Values of ctx (such as a logger) are
// visible in request contexts. Call Run or Serve once per Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	s.srv.BaseContext = func(net.Listener) context.Context { return base }
	// Shutdown calls this right after closing the listeners.
	s.srv.RegisterOnShutdown(cancelBase)

	if s.debugAddr != "" {
		stopDebug, err := s.serveDebug(ctx)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stopDebug()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(ln) }()
	open := OpenURL(s.publicURL, ln.Addr())
	s.logger.Info().Str("addr", ln.Addr().String()).Str("url", open).Msg("http server listening: open " + open + " in a browser")

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}

	s.logger.Info().Dur("timeout", s.shutdownTimeout).Msg("http server shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		closeErr := s.srv.Close()
		return errors.Join(fmt.Errorf("shut down http server: %w", err), closeErr)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	s.logger.Info().Msg("http server stopped")
	return nil
}

// serveDebug serves Go's profiler on the debug address until the returned
// function is called, which closes it and waits for its goroutine.
func (s *Server) serveDebug(ctx context.Context) (stop func(), err error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.debugAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on debug address %s: %w", s.debugAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: log.New(s.logger, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error().Err(err).Msg("debug server stopped")
		}
	}()
	s.logger.Info().Str("addr", ln.Addr().String()).Msg("debug (pprof) server listening")
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}

// OpenURL is the address to open in a browser: the public URL when configured, else
// http:// and the listen address, with "localhost" for an unspecified host (":8080"
// listens on every interface).
func OpenURL(publicURL string, addr net.Addr) string {
	if publicURL != "" {
		return publicURL
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
