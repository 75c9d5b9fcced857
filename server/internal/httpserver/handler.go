package httpserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	connectcors "connectrpc.com/cors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"
	"github.com/rs/zerolog"
)

// DefaultMaxBodyBytes limits request bodies that are not enveloped RPC
// streams (see Routes.MaxBodyBytes).
const DefaultMaxBodyBytes = 4 << 20

// healthTimeout bounds one health check.
const healthTimeout = 5 * time.Second

// DefaultAPIPrefixes are the path prefixes that belong to the API: the SPA
// never answers them with index.html, so a mistyped RPC gets a 404 rather than
// a web page.
var DefaultAPIPrefixes = []string{"/sensocto.", "/grpc.", "/healthz", "/metrics"}

// Route is one handler mounted on the mux. Pattern is an http.ServeMux
// pattern; for a Connect service it is the path returned by the generated
// New...ServiceHandler ("/sensocto.v1.SensorService/").
type Route struct {
	Pattern string
	Handler http.Handler
}

// Routes describes the top-level handler built by NewHandler.
type Routes struct {
	// Logger logs metrics-handler errors. The zero value discards.
	Logger zerolog.Logger
	// Routes are mounted as given: Connect services, grpchealth, grpcreflect,
	// and plain HTTP endpoints such as an OIDC callback.
	Routes []Route
	// Health is called by GET /healthz: nil error means 200 "ok", otherwise
	// 503 "unavailable" (the error is logged, never shown). Nil means always healthy.
	Health func(context.Context) error
	// Metrics, when set, is served at GET /metrics.
	Metrics prometheus.Gatherer
	// SPA, when set, is the built single-page app (its root holds
	// index.html), served at / with fallback to index.html.
	SPA fs.FS
	// AllowedOrigins enables CORS for these origins ("*" for any, without
	// credentials). Empty disables CORS.
	AllowedOrigins []string
	// MaxBodyBytes limits request bodies, except enveloped RPC streams
	// (gRPC, gRPC-Web, Connect streaming) whose messages are limited one by one
	// by connect.WithReadMaxBytes. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// APIPrefixes are added to DefaultAPIPrefixes.
	APIPrefixes []string
	// BodyReadTimeout bounds reading the body of a request that is not an enveloped
	// stream, from when its handling starts (0: DefaultBodyReadTimeout): a client that
	// sends its headers and then trickles or stalls its body fails with a read error
	// instead of holding a goroutine and a buffer forever.
	BodyReadTimeout time.Duration
}

// DefaultBodyReadTimeout is Routes.BodyReadTimeout's default: a 4 MiB body at 1 Mbit/s
// takes 34 s.
const DefaultBodyReadTimeout = time.Minute

// NewHandler builds the top-level handler: CORS, then the body limit, then a
// mux with the routes, /healthz, /metrics and the SPA at /.
func NewHandler(r Routes) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range r.Routes {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	mux.Handle("GET /healthz", healthHandler(r.Health, r.Logger))
	if r.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(r.Metrics, promhttp.HandlerOpts{
			ErrorLog: promLogger{r.Logger},
		}))
	}
	apiPrefixes := append(append([]string(nil), DefaultAPIPrefixes...), r.APIPrefixes...)
	if r.SPA != nil {
		mux.Handle("/", SPAHandler(r.SPA, apiPrefixes))
	}

	maxBody := r.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	readTimeout := r.BodyReadTimeout
	if readTimeout <= 0 {
		readTimeout = DefaultBodyReadTimeout
	}
	h := limitBody(mux, maxBody, readTimeout)
	if len(r.AllowedOrigins) > 0 {
		h = newCORS(r.AllowedOrigins).Handler(h)
	}
	return h
}

// NewMetricsRegistry returns a registry with the Go runtime and process
// collectors, for /metrics and for rpc.HandlerOptions.
func NewMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// newCORS allows the configured origins to use Connect, gRPC-Web and the
// session cookie. Credentials are not allowed with "*": that would let any
// site act with a visitor's session.
func newCORS(origins []string) *cors.Cors {
	wildcard := false
	for _, o := range origins {
		wildcard = wildcard || o == "*"
	}
	return cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   connectcors.AllowedMethods(),
		AllowedHeaders:   append(connectcors.AllowedHeaders(), "Authorization"),
		ExposedHeaders:   connectcors.ExposedHeaders(),
		AllowCredentials: !wildcard,
		MaxAge:           7200,
	})
}

// limitBody caps request bodies at limit bytes and their reading at readTimeout, except
// enveloped streams (their messages are capped one by one, and a stream is meant to
// stay open). http.Server's ReadTimeout cannot do this: it would end every stream too.
//
// Over HTTP/1.1 the deadline is the connection's read deadline (set through
// http.ResponseController, reset for the next request). Over HTTP/2 a timer of the
// request's own closes its body when the time is up, which makes a pending read return
// (see deadlineBody). http.ResponseController's SetReadDeadline would do the same, but
// over HTTP/2 it sends every request to the connection's one serving goroutine, which
// reads and writes every frame of the connection, to start the stream's timer there:
// a message, a wake-up and a timer on that goroutine for each unary call.
func limitBody(next http.Handler, limit int64, readTimeout time.Duration) http.Handler {
	// The handler's frame stays on a stream goroutine's stack for the stream's
	// lifetime (docs/performance.md, "Memory per idle sensor"): the work is in bound.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch bound(w, r, limit, readTimeout) {
		case bodyRefused:
		case bodyNeedsTimer:
			serveWithBodyDeadline(next, w, r, readTimeout)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// What bound did with a request's body.
const (
	bodyBounded    = iota // capped (with its deadline set), or an RPC stream's: serve it
	bodyRefused           // too large: answered
	bodyNeedsTimer        // capped, an HTTP/2 body: serve it with serveWithBodyDeadline
)

// bound caps the body of a request that is not an RPC stream and sets its read
// deadline over HTTP/1.1.
//
//go:noinline
func bound(w http.ResponseWriter, r *http.Request, limit int64, readTimeout time.Duration) int {
	if r.Body == nil || r.Body == http.NoBody || isEnveloped(r.Header.Get("Content-Type")) {
		return bodyBounded
	}
	if r.ContentLength > limit {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return bodyRefused
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if r.ProtoMajor >= 2 {
		return bodyNeedsTimer
	}
	// ErrNotSupported only under a test recorder; nothing to bound there.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(readTimeout))
	return bodyBounded
}

// serveWithBodyDeadline serves r with its body closed readTimeout from now, unless the
// handler has returned by then.
func serveWithBodyDeadline(next http.Handler, w http.ResponseWriter, r *http.Request, readTimeout time.Duration) {
	b := &deadlineBody{ReadCloser: r.Body}
	b.timer = time.AfterFunc(readTimeout, b.expire)
	defer b.timer.Stop()
	r.Body = b
	next.ServeHTTP(w, r)
}

// deadlineBody is an HTTP/2 request body that its timer closes (expire): closing an
// HTTP/2 body ends a pending read at once. Reads from then on fail with an error that
// is os.ErrDeadlineExceeded, as after a connection's read deadline.
type deadlineBody struct {
	io.ReadCloser
	timer   *time.Timer
	expired atomic.Bool
}

func (b *deadlineBody) expire() {
	b.expired.Store(true)
	_ = b.Close() // an HTTP/2 body's Close never fails
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && b.expired.Load() {
		err = errBodyDeadline
	}
	return n, err
}

// errBodyDeadline is what a read of an HTTP/2 body past its deadline returns.
var errBodyDeadline = fmt.Errorf("read request body: %w", os.ErrDeadlineExceeded)

// isEnveloped reports whether a content type is a length-prefixed RPC stream
// (gRPC, gRPC-Web, Connect streaming), as mime.ParseMediaType reads it. A content
// type without parameters (what Connect, gRPC and the web app send) is checked
// without it: it allocates a map for the parameters on every call.
func isEnveloped(contentType string) bool {
	mt := strings.TrimSpace(contentType)
	if strings.Contains(mt, ";") {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return false
		}
	} else if !isMediaType(mt) {
		return false // what mime.ParseMediaType refuses
	}
	return hasPrefixFold(mt, "application/grpc") || hasPrefixFold(mt, "application/connect+")
}

// isMediaType reports whether s is "type" or "type/subtype" in tokens (RFC 1521), the
// media types mime.ParseMediaType accepts.
func isMediaType(s string) bool {
	typ, sub, slash := strings.Cut(s, "/")
	return isToken(typ) && (!slash || isToken(sub))
}

// isToken reports whether s is a non-empty RFC 1521 token (as package mime reads one).
func isToken(s string) bool {
	for i := range len(s) {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return s != ""
}

// tokenByte holds the bytes of an RFC 1521 token: printable ASCII but tspecials.
var tokenByte = func() (t [256]bool) {
	for c := '!'; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune(`()<>@,;:\"/[]?=`, c)
	}
	return t
}()

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// healthHandler answers only up or down: /healthz needs no credential, so the reason
// (which names the database's address and user) goes to the log, not the body.
func healthHandler(check func(context.Context) error, logger zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if check != nil {
			ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
			err = check(ctx)
			cancel()
		}
		w.Header().Set("Cache-Control", "no-store")
		status := http.StatusOK
		if err != nil {
			status = http.StatusServiceUnavailable
			logger.Warn().Err(err).Msg("health check failed")
		}
		if wantsJSON(r) {
			body := map[string]string{"status": "ok"}
			if err != nil {
				body = map[string]string{"status": "unavailable"}
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(body) // the client went away; nothing to do
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		if err != nil {
			_, _ = w.Write([]byte("unavailable\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") || r.URL.Query().Get("format") == "json"
}

// promLogger adapts zerolog to promhttp.Logger.
type promLogger struct{ l zerolog.Logger }

func (p promLogger) Println(v ...any) { p.l.Error().Msg(strings.TrimSpace(fmt.Sprintln(v...))) }

// Document serves a fixed document (such as the embedded OpenAPI description) with the
// given content type, cacheable for a short while and revalidated by ETag.
func Document(contentType string, body []byte) http.Handler {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body) // the client went away; nothing to do
	})
}
