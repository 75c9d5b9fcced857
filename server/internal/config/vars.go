package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// variable is one row of the configuration table.
type variable struct {
	name string
	// def is the raw default fed to set when the variable is empty.
	def string
	// docDefault is the default as documented, when def is not self-explanatory.
	docDefault string
	desc       string
	// file allows the NAME_FILE variant (for secrets).
	file bool
	set  func(c *Config, raw string) error
}

// field builds a table row that parses the raw value with parse and stores it
// through dst. Adding a variable is one call to field in vars.
func field[T any](name, def, desc string, parse func(string) (T, error), dst func(*Config) *T) variable {
	return variable{
		name: name,
		def:  def,
		desc: desc,
		set: func(c *Config, raw string) error {
			v, err := parse(raw)
			if err != nil {
				return err
			}
			*dst(c) = v
			return nil
		},
	}
}

// vars is the table of all variables, in load order: a row may use fields set
// by earlier rows (SENSOCTO_DATABASE_URL's default uses SENSOCTO_DATA_DIR).
var vars = []variable{
	field("SENSOCTO_HTTP_ADDR", ":8080",
		"Listen address (host:port) for HTTP/1.1 and unencrypted HTTP/2: Connect, gRPC, gRPC-Web, the web app, /healthz and /metrics.",
		parseAddr, func(c *Config) *string { return &c.HTTPAddr }),
	field("SENSOCTO_DEBUG_ADDR", "",
		"Listen address (host:port) for Go's profiler at /debug/pprof/ (CPU, heap, goroutines). Empty disables it; bind it to loopback or a private network only.",
		parseOptionalAddr, func(c *Config) *string { return &c.DebugAddr }),
	field("SENSOCTO_DATA_DIR", "./data",
		"Directory for local state, such as the default SQLite database.",
		parseNonEmpty, func(c *Config) *string { return &c.DataDir }),
	{
		name:       "SENSOCTO_DATABASE_URL",
		docDefault: "SQLite file sensocto.db in SENSOCTO_DATA_DIR",
		desc:       "Relational database. postgres:// or postgresql:// selects PostgreSQL; otherwise SQLite: a file path, a file: URI or sqlite://PATH.",
		file:       true,
		set: func(c *Config, raw string) error {
			if raw == "" {
				if c.DataDir == "" {
					return errors.New("no default: SENSOCTO_DATA_DIR is invalid")
				}
				raw = filepath.Join(c.DataDir, "sensocto.db")
			}
			db, err := parseDatabaseURL(raw)
			if err != nil {
				return err
			}
			c.Database = db
			return nil
		},
	},
	field("SENSOCTO_LOG_LEVEL", "info",
		"Minimum log level: trace, debug, info, warn or error.",
		parseLogLevel, func(c *Config) *LogLevel { return &c.LogLevel }),
	field("SENSOCTO_LOG_FORMAT", "auto",
		"Log format: json, console, or auto (console when standard error is a terminal, else json).",
		parseLogFormat, func(c *Config) *LogFormat { return &c.LogFormat }),
	field("SENSOCTO_ALLOWED_ORIGINS", "",
		"Comma-separated origins (scheme://host[:port]) allowed to call the API from a browser on another origin, or * for any. Empty allows none.",
		parseOrigins, func(c *Config) *[]string { return &c.AllowedOrigins }),
	field("SENSOCTO_SHUTDOWN_TIMEOUT", "10s",
		"How long graceful shutdown waits for requests and streams to end (Go duration, e.g. 10s).",
		parsePositiveDuration, func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
	field("SENSOCTO_DEV", "false",
		"Developer mode (true/false). Never enable in production.",
		strconv.ParseBool, func(c *Config) *bool { return &c.Dev }),
	field("SENSOCTO_PUBLIC_URL", "http://localhost:8080",
		"Base URL at which browsers reach the server (scheme://host[:port][/path]), for links in email and the OpenID callback. https also marks cookies Secure.",
		parsePublicURL, func(c *Config) *string { return &c.PublicURL }),
	{
		name:       "SENSOCTO_SECRET_KEY",
		docDefault: "generated into secret.key in SENSOCTO_DATA_DIR",
		desc:       "Server secret (at least 32 characters) from which cookie keys are derived. Set the same value on every node of a cluster.",
		file:       true,
		set: func(c *Config, raw string) error {
			if raw != "" && len(raw) < 32 {
				return errors.New("must be at least 32 characters")
			}
			c.SecretKey = raw
			return nil
		},
	},
	field("SENSOCTO_GUEST_TTL", "2h",
		"How long a guest account lives without activity before it and what only it owns are deleted (Go duration).",
		parsePositiveDuration, func(c *Config) *time.Duration { return &c.GuestTTL }),
	field("SENSOCTO_AUTH_RATE_LIMIT", "10",
		"Attempts per minute and client IP allowed for each sign-in method (guest, sign-up, password, magic link request and use), and room join-code lookups (preview and join by code; per room 3 times and in total 30 times as many).",
		parsePositiveInt, func(c *Config) *int { return &c.AuthRatePerMinute }),
	field("SENSOCTO_AUTH_MAX_STALE", "15m",
		"How long past the 30 s credential cache a credential already resolved stays valid while the database cannot be reached (Go duration), so an outage does not sign everyone out or end open streams. Revocations known to the node still apply.",
		parsePositiveDuration, func(c *Config) *time.Duration { return &c.AuthMaxStale }),
	field("SENSOCTO_STREAMS_PER_USER", "500",
		"Most streams (Watch, Stream, WatchStatus, …) one user may hold open at once; one more is refused with resource_exhausted and a retry delay. Raise it for load tests that open many streams with one token.",
		parsePositiveInt, func(c *Config) *int { return &c.StreamsPerUser }),
	field("SENSOCTO_STREAMS_PER_IP", "2000",
		"Most streams one client IP may hold open at once, signed in or not (the IP as SENSOCTO_TRUSTED_PROXIES determines it).",
		parsePositiveInt, func(c *Config) *int { return &c.StreamsPerIP }),
	field("SENSOCTO_TRUSTED_PROXIES", "",
		"Comma-separated CIDRs of reverse proxies whose X-Forwarded-For / X-Real-IP headers give the client IP (right-most untrusted hop). Empty trusts none.",
		parsePrefixes, func(c *Config) *[]netip.Prefix { return &c.TrustedProxies }),
	field("SENSOCTO_RECORDING_QUEUE_BOUND", "2000000",
		"Most samples waiting to be written to the measurement store (a value counts one, a sample block its samples). While the database is slow or down the queue absorbs up to this many, then drops the oldest (counted in sensocto_recording_dropped_samples_total).",
		parsePositiveInt, func(c *Config) *int { return &c.RecordingQueueBound }),
	{
		name: "SENSOCTO_SMTP_URL",
		desc: "SMTP server for magic-link email: smtp://user:pass@host:port (STARTTLS when offered) or smtps:// (implicit TLS). Empty: links are logged (and kept in the dev mailbox with SENSOCTO_DEV).",
		file: true,
		set: func(c *Config, raw string) error {
			if raw == "" {
				return nil
			}
			u, err := url.Parse(raw)
			if err != nil {
				return errors.New("invalid URL")
			}
			if (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
				return errors.New("want smtp://[user:pass@]host[:port] or smtps://[user:pass@]host[:port]")
			}
			c.SMTP.URL = raw
			return nil
		},
	},
	{
		name: "SENSOCTO_SMTP_FROM",
		desc: "Sender address of email, e.g. Sensocto <noreply@example.com>. Required with SENSOCTO_SMTP_URL.",
		set: func(c *Config, raw string) error {
			if raw == "" && c.SMTP.URL != "" {
				return errors.New("required when SENSOCTO_SMTP_URL is set")
			}
			if raw != "" {
				if _, err := mail.ParseAddress(raw); err != nil {
					return fmt.Errorf("parse address: %w", err)
				}
			}
			c.SMTP.From = raw
			return nil
		},
	},
	{
		name: "SENSOCTO_OIDC_ISSUER",
		desc: "Issuer URL of an OpenID Connect provider for \"Sign in with …\" (authorization code + PKCE). Empty disables OpenID sign-in. Register SENSOCTO_PUBLIC_URL/auth/oidc/callback as redirect URI.",
		set: func(c *Config, raw string) error {
			if raw == "" {
				return nil
			}
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return errors.New("want an http(s) URL")
			}
			c.OIDC.Issuer = raw
			return nil
		},
	},
	{
		name: "SENSOCTO_OIDC_CLIENT_ID",
		desc: "Client id registered at the OpenID provider. Required with SENSOCTO_OIDC_ISSUER.",
		set: func(c *Config, raw string) error {
			if raw == "" && c.OIDC.Issuer != "" {
				return errors.New("required when SENSOCTO_OIDC_ISSUER is set")
			}
			c.OIDC.ClientID = raw
			return nil
		},
	},
	{
		name: "SENSOCTO_OIDC_CLIENT_SECRET",
		desc: "Client secret at the OpenID provider (empty for a public client, which relies on PKCE).",
		file: true,
		set: func(c *Config, raw string) error {
			c.OIDC.ClientSecret = raw
			return nil
		},
	},
	field("SENSOCTO_OIDC_PROVIDER_NAME", "OpenID",
		"Name of the OpenID provider on the sign-in page (\"Sign in with …\").",
		parseNonEmpty, func(c *Config) *string { return &c.OIDC.ProviderName }),
	{
		name: "SENSOCTO_NATS_URL",
		desc: "NATS server(s) of cluster mode (nats://[user:pass@]host:4222 or tls://…, comma-separated for several). Set, it joins this node to the other nodes with the same URL and SENSOCTO_NATS_PREFIX (live data, attention, revocations and rooms cross nodes; it requires a PostgreSQL SENSOCTO_DATABASE_URL shared by every node). Empty: a single node, no NATS.",
		file: true,
		set: func(c *Config, raw string) error {
			if raw == "" {
				return nil
			}
			for _, s := range strings.Split(raw, ",") {
				u, err := url.Parse(strings.TrimSpace(s))
				if err != nil || u.Host == "" {
					return errors.New("want nats://[user:pass@]host[:port], tls://, ws:// or wss://, comma-separated")
				}
				switch u.Scheme {
				case "nats", "tls", "ws", "wss":
				default:
					return fmt.Errorf("unsupported scheme %q: want nats, tls, ws or wss", u.Scheme)
				}
			}
			if c.Database.Driver != DriverPostgres {
				return errors.New("cluster mode needs a PostgreSQL SENSOCTO_DATABASE_URL shared by every node (SQLite is one process's)")
			}
			c.NATS.URL = raw
			return nil
		},
	},
	field("SENSOCTO_NATS_PREFIX", "sensocto",
		"First subject tokens of everything the cluster sends on NATS (letters, digits, - and _, up to 4 dot-separated tokens): clusters sharing a NATS server differ in it.",
		parseNATSPrefix, func(c *Config) *string { return &c.NATS.Prefix }),
	field("SENSOCTO_NODE_ID", "",
		"This node's name in the cluster (at most 64 bytes, unique among the nodes). Empty: node- and random hex, new at every start.",
		parseNodeID, func(c *Config) *string { return &c.NATS.NodeID }),
	field("SENSOCTO_CLUSTER_NODE_TIMEOUT", "5s",
		"How long a node of the cluster counts as alive without a heartbeat (it beats every second): then the others drop it from the status and forget its interest in their data. 2s to 5m.",
		parseNodeTimeout, func(c *Config) *time.Duration { return &c.NATS.NodeTimeout }),
	field("SENSOCTO_NATS_CREDS", "",
		"NATS credentials file (JWT and nkey seed, as nsc writes it) for cluster mode.",
		parseString, func(c *Config) *string { return &c.NATS.CredsFile }),
	field("SENSOCTO_NATS_NKEY", "",
		"File with an nkey seed (SU…) to authenticate to NATS with, instead of a credentials file.",
		parseString, func(c *Config) *string { return &c.NATS.NKeyFile }),
	field("SENSOCTO_NATS_TLS_CA", "",
		"PEM file of the CA(s) that signed the NATS server's certificate (else the system's roots).",
		parseString, func(c *Config) *string { return &c.NATS.TLSCA }),
	field("SENSOCTO_NATS_TLS_CERT", "",
		"PEM client certificate for NATS (mutual TLS); needs SENSOCTO_NATS_TLS_KEY.",
		parseString, func(c *Config) *string { return &c.NATS.TLSCert }),
	{
		name: "SENSOCTO_NATS_TLS_KEY",
		desc: "PEM private key of SENSOCTO_NATS_TLS_CERT.",
		set: func(c *Config, raw string) error {
			if (raw == "") != (c.NATS.TLSCert == "") {
				return errors.New("SENSOCTO_NATS_TLS_CERT and SENSOCTO_NATS_TLS_KEY go together")
			}
			c.NATS.TLSKey = raw
			return nil
		},
	},
	field("SENSOCTO_SCENARIO_DIR", "",
		"Directory of more simulator scenario files (*.yaml, the original's format); a file there overrides a built-in scenario of the same name. Empty: built-ins only.",
		parseString, func(c *Config) *string { return &c.ScenarioDir }),
	field("SENSOCTO_DEMO_SCENARIO", "",
		"Simulator scenario started at boot as the built-in system user \"Sensocto demo\", with public sensors, so every visitor sees live data (e.g. single_person). Empty: no demo.",
		parseScenarioName, func(c *Config) *string { return &c.DemoScenario }),
}

// VarDoc documents one environment variable.
type VarDoc struct {
	Name string
	// Default is the default value as documented ("" means empty/unset).
	Default     string
	Description string
	// FileVar is the NAME_FILE variant that reads the value from a file, or ""
	// when the variable has none.
	FileVar string
}

// Vars lists every environment variable Load reads, in a stable order.
func Vars() []VarDoc {
	docs := make([]VarDoc, 0, len(vars))
	for _, v := range vars {
		d := VarDoc{Name: v.name, Default: v.def, Description: v.desc}
		if v.docDefault != "" {
			d.Default = v.docDefault
		}
		if v.file {
			d.FileVar = v.name + "_FILE"
		}
		docs = append(docs, d)
	}
	return docs
}

// Unknown returns the SENSOCTO_* names in environ (os.Environ() format) that
// Load does not read, usually typos worth a warning at start.
func Unknown(environ []string) []string {
	known := make(map[string]bool, 2*len(vars))
	for _, v := range vars {
		known[v.name] = true
		if v.file {
			known[v.name+"_FILE"] = true
		}
	}
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SENSOCTO_") && !strings.HasPrefix(name, "SENSOCTO_TEST_") && !known[name] {
			unknown = append(unknown, name)
		}
	}
	return unknown
}

func parseString(raw string) (string, error) { return raw, nil }

// natsPrefix is the shape of SENSOCTO_NATS_PREFIX (natsbus.Options.Prefix).
var natsPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$`)

func parseNATSPrefix(raw string) (string, error) {
	if !natsPrefix.MatchString(raw) {
		return "", errors.New("want 1 to 4 dot-separated tokens of letters, digits, - and _")
	}
	return raw, nil
}

func parseNodeID(raw string) (string, error) {
	if len(raw) > 64 || strings.ContainsAny(raw, " \t\r\n") {
		return "", errors.New("at most 64 bytes, no spaces")
	}
	return raw, nil
}

// scenarioName is the shape of a scenario name (SimulatorService's pattern).
var scenarioName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func parseScenarioName(raw string) (string, error) {
	if raw != "" && !scenarioName.MatchString(raw) {
		return "", errors.New("must be a scenario name: a file name without .yaml, letters, digits and _.-")
	}
	return raw, nil
}

func parseNonEmpty(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("must not be empty")
	}
	return raw, nil
}

func parseAddr(raw string) (string, error) {
	_, port, err := net.SplitHostPort(raw)
	if err != nil {
		return "", fmt.Errorf("parse address %q: %w", raw, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("invalid port %q", port)
	}
	return raw, nil
}

func parseOptionalAddr(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	return parseAddr(raw)
}

// parseNodeTimeout reads SENSOCTO_CLUSTER_NODE_TIMEOUT: at least two heartbeats of the
// bus (natsbus.DefaultHeartbeat, 1 s), at most five minutes.
func parseNodeTimeout(raw string) (time.Duration, error) {
	d, err := parsePositiveDuration(raw)
	if err != nil {
		return 0, err
	}
	if d < 2*time.Second || d > 5*time.Minute {
		return 0, errors.New("must be between 2s and 5m (nodes beat every second)")
	}
	return d, nil
}

func parsePositiveDuration(raw string) (time.Duration, error) {
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("parse duration: %w", err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be positive, got %s", raw)
	}
	return d, nil
}

func parseLogLevel(raw string) (LogLevel, error) {
	switch l := LogLevel(strings.ToLower(raw)); l {
	case LogTrace, LogDebug, LogInfo, LogWarn, LogError:
		return l, nil
	}
	return "", fmt.Errorf("unknown level %q (want trace, debug, info, warn or error)", raw)
}

func parseLogFormat(raw string) (LogFormat, error) {
	switch f := LogFormat(strings.ToLower(raw)); f {
	case LogFormatAuto, LogFormatJSON, LogFormatConsole:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want json, console or auto)", raw)
}

func parseOrigins(raw string) ([]string, error) {
	var origins, bad []string
	for item := range strings.SplitSeq(raw, ",") {
		o := strings.TrimSpace(item)
		if o == "" {
			continue
		}
		if err := checkOrigin(o); err != nil {
			bad = append(bad, err.Error())
			continue
		}
		origins = append(origins, o)
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, ", "))
	}
	return origins, nil
}

// checkOrigin accepts "*" and scheme://host[:port] with an http(s) scheme and
// nothing else (no path, query, fragment or user info).
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil {
		return fmt.Errorf("origin %q: %w", o, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("origin %q: want scheme://host[:port] with scheme http or https", o)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("origin %q: missing host", o)
	case u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return fmt.Errorf("origin %q: want only scheme://host[:port]", o)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("origin %q: invalid port", o)
		}
	}
	return nil
}

func parseDatabaseURL(raw string) (Database, error) {
	lower := strings.ToLower(raw)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			// url.Error repeats the whole URL, which may hold a password;
			// report only the reason.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return Database{}, fmt.Errorf("parse postgres URL: %w", err)
		}
		if u.Host == "" {
			return Database{}, errors.New("postgres URL has no host")
		}
		return Database{Driver: DriverPostgres, URL: raw, DSN: raw}, nil
	case strings.HasPrefix(lower, "sqlite://"):
		path := raw[len("sqlite://"):]
		if p, _, _ := strings.Cut(path, "?"); p == "" {
			return Database{}, errors.New("sqlite URL has no path")
		}
		return Database{Driver: DriverSQLite, URL: raw, DSN: "file:" + path}, nil
	case strings.HasPrefix(lower, "file:"):
		if p, _, _ := strings.Cut(raw[len("file:"):], "?"); p == "" {
			return Database{}, errors.New("file: URI has no path")
		}
		return Database{Driver: DriverSQLite, URL: raw, DSN: raw}, nil
	case strings.Contains(raw, "://"):
		scheme, _, _ := strings.Cut(raw, "://")
		return Database{}, fmt.Errorf("unsupported scheme %q (want postgres, postgresql, sqlite or file)", scheme)
	default:
		return Database{Driver: DriverSQLite, URL: raw, DSN: raw}, nil
	}
}

func parsePositiveInt(raw string) (int, error) {
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, fmt.Errorf("parse integer %q: %w", raw, err)
	}
	if n <= 0 {
		return 0, fmt.Errorf("must be positive, got %d", n)
	}
	return n, nil
}

// parsePublicURL accepts an absolute http(s) URL without query or fragment and returns it
// without a trailing slash.
func parsePublicURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("invalid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("want scheme://host[:port][/path] with scheme http or https, got %q", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// parsePrefixes parses comma-separated CIDRs; a bare address means a /32 or /128.
func parsePrefixes(raw string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var bad []string
	for item := range strings.SplitSeq(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(item); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		bad = append(bad, fmt.Sprintf("%q is not a CIDR or address", item))
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, ", "))
	}
	return out, nil
}
