// Package config owns the server's configuration: one Config struct loaded
// from SENSOCTO_* environment variables only, typed and validated at start
// with every problem reported at once. The variable table in vars.go is the
// single list of variables; Vars exposes it for documentation checks.
package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is the whole server configuration.
type Config struct {
	// HTTPAddr is the listen address of the one HTTP server (Connect, gRPC,
	// gRPC-Web, SPA, /healthz, /metrics).
	HTTPAddr string
	// DebugAddr, when set, is a second listener serving Go's profiler
	// (/debug/pprof/) for operators; empty means none.
	DebugAddr string
	// DataDir holds local state: the default SQLite file and other files.
	DataDir string
	// Database says which relational store to use and how to reach it.
	Database Database
	// LogLevel is the minimum level logged.
	LogLevel LogLevel
	// LogFormat is the log output format.
	LogFormat LogFormat
	// AllowedOrigins are the origins allowed by CORS ("*" for any). Empty means
	// no cross-origin requests are allowed.
	AllowedOrigins []string
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout time.Duration
	// Dev enables developer conveniences (console logs, verbose errors in the
	// log, demo data, the dev mailbox). Never enable in production.
	Dev bool
	// PublicURL is the base URL browsers use, without a trailing slash.
	PublicURL string
	// SecretKey is the server secret cookie keys derive from; empty means a key
	// generated into DataDir (see app).
	SecretKey string
	// GuestTTL is how long a guest lives without activity.
	GuestTTL time.Duration
	// AuthRatePerMinute limits each sign-in method per client IP.
	AuthRatePerMinute int
	// AuthMaxStale is how long past the credential cache's lifetime a resolved
	// credential stays valid while the database cannot be reached.
	AuthMaxStale time.Duration
	// StreamsPerUser and StreamsPerIP bound the streams open at once per user and
	// per client IP.
	StreamsPerUser, StreamsPerIP int
	// TrustedProxies are the reverse proxies whose forwarding headers are believed.
	TrustedProxies []netip.Prefix
	// RecordingQueueBound is the most samples queued for the measurement store.
	RecordingQueueBound int
	// SMTP is the outgoing mail server; URL empty means none.
	SMTP SMTP
	// OIDC is the OpenID provider; Issuer empty means none.
	OIDC OIDC
	// ScenarioDir holds more simulator scenario files (*.yaml); empty means none.
	ScenarioDir string
	// DemoScenario is started at boot as the system user; empty means none.
	DemoScenario string
	// NATS is cluster mode; URL empty means a single node.
	NATS NATS
}

// NATS configures cluster mode (package bus/natsbus).
type NATS struct {
	// URL lists the NATS servers; it may hold a password: log Redacted instead.
	URL string
	// Prefix is the cluster's subject prefix, NodeID this node's name ("" generated).
	Prefix, NodeID string
	// CredsFile, NKeyFile authenticate; TLSCA, TLSCert, TLSKey are PEM files.
	CredsFile, NKeyFile, TLSCA, TLSCert, TLSKey string
	// NodeTimeout is how long another node counts as alive without a heartbeat
	// (natsbus.Options.InterestTTL).
	NodeTimeout time.Duration
}

// Redacted returns the URL with any password replaced, safe to log.
func (n NATS) Redacted() string {
	var out []string
	for _, s := range strings.Split(n.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return "<unparseable>"
		}
		out = append(out, u.Redacted())
	}
	return strings.Join(out, ",")
}

// SMTP configures outgoing email.
type SMTP struct {
	// URL is smtp://user:pass@host:port or smtps://...; it may hold a password.
	URL  string
	From string
}

// OIDC configures sign-in with an OpenID Connect provider.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	ProviderName string
}

// SecureCookies reports whether cookies must be Secure (the public URL is https).
func (c Config) SecureCookies() bool { return strings.HasPrefix(c.PublicURL, "https://") }

// Driver names a relational database engine.
type Driver string

// The supported database drivers.
const (
	DriverSQLite   Driver = "sqlite"
	DriverPostgres Driver = "postgres"
)

// Database is the parsed SENSOCTO_DATABASE_URL.
type Database struct {
	Driver Driver
	// URL is the value as configured (after *_FILE resolution). It may hold a
	// password: log Redacted instead.
	URL string
	// DSN is what to hand to the driver: the postgres URL unchanged, or for
	// SQLite a file path or a "file:" URI (a "sqlite://" prefix is converted
	// to "file:").
	DSN string
}

// Redacted returns the URL with any password replaced, safe to log.
func (d Database) Redacted() string {
	if d.Driver != DriverPostgres {
		return d.URL
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return "<unparseable>"
	}
	return u.Redacted()
}

// LogLevel is a minimum log level.
type LogLevel string

// The log levels.
const (
	LogTrace LogLevel = "trace"
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// LogFormat is the log output format.
type LogFormat string

// The log formats. LogFormatAuto means console when standard error is a
// terminal and JSON otherwise; package logging decides.
const (
	LogFormatAuto    LogFormat = "auto"
	LogFormatJSON    LogFormat = "json"
	LogFormatConsole LogFormat = "console"
)

// Problem is one invalid variable.
type Problem struct {
	Var string
	Err error
}

// Error lists every invalid variable found by Load.
type Error struct {
	Problems []Problem
}

// Error formats all problems on one line:
//
//	config: SENSOCTO_A: reason; SENSOCTO_B: reason
func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		parts = append(parts, p.Var+": "+p.Err.Error())
	}
	return "config: " + strings.Join(parts, "; ")
}

// Unwrap returns the individual problems' errors.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, len(e.Problems))
	for _, p := range e.Problems {
		errs = append(errs, p.Err)
	}
	return errs
}

// Load reads the configuration through getenv (os.Getenv in production) and
// validates it. On failure the returned error is an *Error naming every bad
// variable; the returned Config is then only partially filled.
//
// For a variable that accepts a file (VarDoc.FileVar is set), NAME_FILE names
// a file whose contents (trailing newlines trimmed) are the value; setting
// both NAME and NAME_FILE is an error.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	var problems []Problem
	for _, v := range vars {
		raw, err := lookup(v, getenv)
		if err != nil {
			problems = append(problems, Problem{Var: v.name, Err: err})
			continue
		}
		if raw == "" {
			raw = v.def
		}
		if err := v.set(&c, raw); err != nil {
			problems = append(problems, Problem{Var: v.name, Err: err})
		}
	}
	if len(problems) > 0 {
		return c, &Error{Problems: problems}
	}
	return c, nil
}

// lookup returns the raw value of v, reading NAME_FILE when allowed and set.
func lookup(v variable, getenv func(string) string) (string, error) {
	val := strings.TrimSpace(getenv(v.name))
	if !v.file {
		return val, nil
	}
	fileVar := v.name + "_FILE"
	path := strings.TrimSpace(getenv(fileVar))
	if path == "" {
		return val, nil
	}
	if val != "" {
		return "", fmt.Errorf("both %s and %s are set; set only one", v.name, fileVar)
	}
	b, err := os.ReadFile(path) //nolint:gosec // G304: the operator names the secret file on purpose
	if err != nil {
		return "", fmt.Errorf("read %s: %w", fileVar, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
