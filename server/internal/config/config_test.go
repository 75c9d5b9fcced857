package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		HTTPAddr: ":8080",
		DataDir:  "./data",
		Database: Database{
			Driver: DriverSQLite,
			URL:    filepath.Join("./data", "sensocto.db"),
			DSN:    filepath.Join("./data", "sensocto.db"),
		},
		LogLevel:            LogInfo,
		LogFormat:           LogFormatAuto,
		ShutdownTimeout:     10 * time.Second,
		PublicURL:           "http://localhost:8080",
		GuestTTL:            2 * time.Hour,
		AuthRatePerMinute:   10,
		AuthMaxStale:        15 * time.Minute,
		StreamsPerUser:      500,
		StreamsPerIP:        2000,
		RecordingQueueBound: 2_000_000,
		OIDC:                OIDC{ProviderName: "OpenID"},
		NATS:                NATS{Prefix: "sensocto", NodeTimeout: 5 * time.Second},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load(empty) =\n%+v\nwant\n%+v", c, want)
	}
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"SENSOCTO_HTTP_ADDR":             "127.0.0.1:9000",
		"SENSOCTO_DATA_DIR":              "/var/lib/sensocto",
		"SENSOCTO_LOG_LEVEL":             "DEBUG",
		"SENSOCTO_LOG_FORMAT":            "console",
		"SENSOCTO_ALLOWED_ORIGINS":       " https://app.example.com, http://localhost:5173 ,",
		"SENSOCTO_SHUTDOWN_TIMEOUT":      "1m30s",
		"SENSOCTO_DEV":                   "true",
		"SENSOCTO_PUBLIC_URL":            "https://sensocto.example.com/",
		"SENSOCTO_SECRET_KEY":            "0123456789abcdef0123456789abcdef",
		"SENSOCTO_GUEST_TTL":             "30m",
		"SENSOCTO_AUTH_RATE_LIMIT":       "3",
		"SENSOCTO_RECORDING_QUEUE_BOUND": "5000",
		"SENSOCTO_TRUSTED_PROXIES":       "10.0.0.0/8, 192.168.1.7,::1",
		"SENSOCTO_SMTP_URL":              "smtp://u:p@mail.example.com:587",
		"SENSOCTO_SMTP_FROM":             "Sensocto <noreply@example.com>",
		"SENSOCTO_OIDC_ISSUER":           "https://id.example.com",
		"SENSOCTO_OIDC_CLIENT_ID":        "sensocto",
		"SENSOCTO_OIDC_CLIENT_SECRET":    "s3cret",
		"SENSOCTO_OIDC_PROVIDER_NAME":    "Example ID",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		HTTPAddr: "127.0.0.1:9000",
		DataDir:  "/var/lib/sensocto",
		Database: Database{
			Driver: DriverSQLite,
			URL:    "/var/lib/sensocto/sensocto.db",
			DSN:    "/var/lib/sensocto/sensocto.db",
		},
		LogLevel:            LogDebug,
		LogFormat:           LogFormatConsole,
		AllowedOrigins:      []string{"https://app.example.com", "http://localhost:5173"},
		ShutdownTimeout:     90 * time.Second,
		Dev:                 true,
		PublicURL:           "https://sensocto.example.com",
		SecretKey:           "0123456789abcdef0123456789abcdef",
		GuestTTL:            30 * time.Minute,
		AuthRatePerMinute:   3,
		AuthMaxStale:        15 * time.Minute,
		StreamsPerUser:      500,
		StreamsPerIP:        2000,
		RecordingQueueBound: 5000,
		TrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("::1/128"),
		},
		SMTP: SMTP{URL: "smtp://u:p@mail.example.com:587", From: "Sensocto <noreply@example.com>"},
		OIDC: OIDC{Issuer: "https://id.example.com", ClientID: "sensocto", ClientSecret: "s3cret", ProviderName: "Example ID"},
		NATS: NATS{Prefix: "sensocto", NodeTimeout: 5 * time.Second},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
	}
}

func TestLoadDatabaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Database
	}{
		{"postgres://u:p@db:5432/sensocto?sslmode=disable", Database{DriverPostgres, "postgres://u:p@db:5432/sensocto?sslmode=disable", "postgres://u:p@db:5432/sensocto?sslmode=disable"}},
		{"postgresql://db/sensocto", Database{DriverPostgres, "postgresql://db/sensocto", "postgresql://db/sensocto"}},
		{"/tmp/x.db", Database{DriverSQLite, "/tmp/x.db", "/tmp/x.db"}},
		{"file:x.db?_pragma=busy_timeout(5000)", Database{DriverSQLite, "file:x.db?_pragma=busy_timeout(5000)", "file:x.db?_pragma=busy_timeout(5000)"}},
		{"sqlite://./data/x.db", Database{DriverSQLite, "sqlite://./data/x.db", "file:./data/x.db"}},
		{"sqlite:///abs/x.db?mode=ro", Database{DriverSQLite, "sqlite:///abs/x.db?mode=ro", "file:/abs/x.db?mode=ro"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			c, err := Load(env(map[string]string{"SENSOCTO_DATABASE_URL": tt.in}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Database != tt.want {
				t.Errorf("Database = %+v, want %+v", c.Database, tt.want)
			}
		})
	}
}

func TestLoadNATS(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"SENSOCTO_DATABASE_URL":         "postgres://db/sensocto",
		"SENSOCTO_NATS_URL":             "nats://u:secret@n1:4222, tls://n2",
		"SENSOCTO_NATS_PREFIX":          "prod.eu",
		"SENSOCTO_NODE_ID":              "node-1",
		"SENSOCTO_NATS_CREDS":           "/run/nats.creds",
		"SENSOCTO_NATS_TLS_CA":          "/ca.pem",
		"SENSOCTO_NATS_TLS_CERT":        "/c.pem",
		"SENSOCTO_NATS_TLS_KEY":         "/k.pem",
		"SENSOCTO_CLUSTER_NODE_TIMEOUT": "12s",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := NATS{URL: "nats://u:secret@n1:4222, tls://n2", Prefix: "prod.eu", NodeID: "node-1", CredsFile: "/run/nats.creds", TLSCA: "/ca.pem", TLSCert: "/c.pem", TLSKey: "/k.pem", NodeTimeout: 12 * time.Second}
	if c.NATS != want {
		t.Errorf("NATS = %+v, want %+v", c.NATS, want)
	}
	if r := c.NATS.Redacted(); strings.Contains(r, "secret") || !strings.Contains(r, "n1:4222") {
		t.Errorf("Redacted = %q", r)
	}
}

func TestDatabaseRedacted(t *testing.T) {
	t.Parallel()
	d := Database{Driver: DriverPostgres, URL: "postgres://u:secret@db/x"}
	if got := d.Redacted(); strings.Contains(got, "secret") {
		t.Errorf("Redacted() = %q, contains the password", got)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		want        string // substring of the error
	}{
		{"SENSOCTO_HTTP_ADDR", "8080", "SENSOCTO_HTTP_ADDR: parse address"},
		{"SENSOCTO_HTTP_ADDR", ":99999", `SENSOCTO_HTTP_ADDR: invalid port "99999"`},
		{"SENSOCTO_DATABASE_URL", "postgres://%zz", `SENSOCTO_DATABASE_URL: parse postgres URL: invalid URL escape "%zz"`},
		{"SENSOCTO_DATABASE_URL", "postgres:///nohost", "SENSOCTO_DATABASE_URL: postgres URL has no host"},
		{"SENSOCTO_DATABASE_URL", "mysql://db/x", `SENSOCTO_DATABASE_URL: unsupported scheme "mysql"`},
		{"SENSOCTO_DATABASE_URL", "sqlite://", "SENSOCTO_DATABASE_URL: sqlite URL has no path"},
		{"SENSOCTO_LOG_LEVEL", "loud", `SENSOCTO_LOG_LEVEL: unknown level "loud"`},
		{"SENSOCTO_LOG_FORMAT", "xml", `SENSOCTO_LOG_FORMAT: unknown format "xml"`},
		{"SENSOCTO_ALLOWED_ORIGINS", "example.com", `SENSOCTO_ALLOWED_ORIGINS: origin "example.com": want scheme://host[:port]`},
		{"SENSOCTO_ALLOWED_ORIGINS", "https://a.com/path", `origin "https://a.com/path": want only scheme://host[:port]`},
		{"SENSOCTO_ALLOWED_ORIGINS", "https://:80", `origin "https://:80": missing host`},
		{"SENSOCTO_ALLOWED_ORIGINS", "ftp://a.com", `origin "ftp://a.com"`},
		{"SENSOCTO_SHUTDOWN_TIMEOUT", "10", "SENSOCTO_SHUTDOWN_TIMEOUT: parse duration"},
		{"SENSOCTO_SHUTDOWN_TIMEOUT", "-1s", "SENSOCTO_SHUTDOWN_TIMEOUT: must be positive"},
		{"SENSOCTO_DEV", "maybe", "SENSOCTO_DEV: strconv.ParseBool"},
		{"SENSOCTO_PUBLIC_URL", "localhost:8080", "SENSOCTO_PUBLIC_URL: want scheme://host"},
		{"SENSOCTO_SECRET_KEY", "short", "SENSOCTO_SECRET_KEY: must be at least 32 characters"},
		{"SENSOCTO_GUEST_TTL", "0s", "SENSOCTO_GUEST_TTL: must be positive"},
		{"SENSOCTO_AUTH_RATE_LIMIT", "0", "SENSOCTO_AUTH_RATE_LIMIT: must be positive"},
		{"SENSOCTO_TRUSTED_PROXIES", "10.0.0.0/8,proxy", `SENSOCTO_TRUSTED_PROXIES: "proxy" is not a CIDR`},
		{"SENSOCTO_SMTP_URL", "mail.example.com", "SENSOCTO_SMTP_URL: want smtp://"},
		{"SENSOCTO_OIDC_ISSUER", "id.example.com", "SENSOCTO_OIDC_ISSUER: want an http(s) URL"},
		{"SENSOCTO_NATS_URL", "nats://127.0.0.1:4222", "SENSOCTO_NATS_URL: cluster mode needs a PostgreSQL"},
		{"SENSOCTO_NATS_URL", "http://127.0.0.1:4222", `SENSOCTO_NATS_URL: unsupported scheme "http"`},
		{"SENSOCTO_NATS_PREFIX", "a.*", "SENSOCTO_NATS_PREFIX: want 1 to 4"},
		{"SENSOCTO_NODE_ID", "a b", "SENSOCTO_NODE_ID: at most 64 bytes"},
		{"SENSOCTO_CLUSTER_NODE_TIMEOUT", "1s", "SENSOCTO_CLUSTER_NODE_TIMEOUT: must be between 2s and 5m"},
		{"SENSOCTO_CLUSTER_NODE_TIMEOUT", "10m", "SENSOCTO_CLUSTER_NODE_TIMEOUT: must be between 2s and 5m"},
		{"SENSOCTO_CLUSTER_NODE_TIMEOUT", "5", "SENSOCTO_CLUSTER_NODE_TIMEOUT: parse duration"},
		{"SENSOCTO_NATS_TLS_KEY", "/k.pem", "SENSOCTO_NATS_TLS_KEY: SENSOCTO_NATS_TLS_CERT and SENSOCTO_NATS_TLS_KEY go together"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, err := Load(env(map[string]string{tt.name: tt.value}))
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			if !strings.HasPrefix(err.Error(), "config: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != 1 || cerr.Problems[0].Var != tt.name {
				t.Errorf("error = %#v, want one problem for %s", err, tt.name)
			}
		})
	}
}

func TestLoadReportsAllProblems(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"SENSOCTO_DATABASE_URL": "postgres://%zz",
		"SENSOCTO_LOG_LEVEL":    "loud",
		"SENSOCTO_DEV":          "maybe",
	}))
	want := `config: SENSOCTO_DATABASE_URL: parse postgres URL: invalid URL escape "%zz"; ` +
		`SENSOCTO_LOG_LEVEL: unknown level "loud" (want trace, debug, info, warn or error); ` +
		`SENSOCTO_DEV: strconv.ParseBool: parsing "maybe": invalid syntax`
	if err == nil || err.Error() != want {
		t.Errorf("error =\n%v\nwant\n%s", err, want)
	}
}

func TestLoadFileVariant(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(dir, "db-url")
	if err := os.WriteFile(secret, []byte("postgres://u:p@db/sensocto\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("read", func(t *testing.T) {
		t.Parallel()
		c, err := Load(env(map[string]string{"SENSOCTO_DATABASE_URL_FILE": secret}))
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if c.Database.Driver != DriverPostgres || c.Database.URL != "postgres://u:p@db/sensocto" {
			t.Errorf("Database = %+v, want the URL from the file", c.Database)
		}
	})
	t.Run("both set", func(t *testing.T) {
		t.Parallel()
		_, err := Load(env(map[string]string{
			"SENSOCTO_DATABASE_URL_FILE": secret,
			"SENSOCTO_DATABASE_URL":      "x.db",
		}))
		if err == nil || !strings.Contains(err.Error(), "SENSOCTO_DATABASE_URL: both SENSOCTO_DATABASE_URL and SENSOCTO_DATABASE_URL_FILE are set") {
			t.Errorf("error = %v, want both-set error", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		_, err := Load(env(map[string]string{"SENSOCTO_DATABASE_URL_FILE": filepath.Join(dir, "nope")}))
		if err == nil || !strings.Contains(err.Error(), "SENSOCTO_DATABASE_URL: read SENSOCTO_DATABASE_URL_FILE") || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error = %v, want read error wrapping ErrNotExist", err)
		}
	})
	t.Run("no file variant for other vars", func(t *testing.T) {
		t.Parallel()
		c, err := Load(env(map[string]string{"SENSOCTO_LOG_LEVEL_FILE": secret}))
		if err != nil || c.LogLevel != LogInfo {
			t.Errorf("Load = %v, %v; want _FILE ignored for a non-secret", c.LogLevel, err)
		}
	})
}

func TestVars(t *testing.T) {
	t.Parallel()
	docs := Vars()
	seen := map[string]bool{}
	for _, d := range docs {
		if !strings.HasPrefix(d.Name, "SENSOCTO_") || d.Description == "" {
			t.Errorf("bad doc entry %+v", d)
		}
		if seen[d.Name] {
			t.Errorf("duplicate %s", d.Name)
		}
		seen[d.Name] = true
	}
	for _, name := range []string{"SENSOCTO_HTTP_ADDR", "SENSOCTO_DATABASE_URL", "SENSOCTO_DEV"} {
		if !seen[name] {
			t.Errorf("Vars() lacks %s", name)
		}
	}
}

func TestUnknown(t *testing.T) {
	t.Parallel()
	got := Unknown([]string{
		"PATH=/bin", "SENSOCTO_HTTP_ADDR=:1", "SENSOCTO_DATABASE_URL_FILE=/x",
		"SENSOCTO_LOGLEVEL=debug", "SENSOCTO_TEST_POSTGRES_URL=postgres://x",
	})
	if want := []string{"SENSOCTO_LOGLEVEL"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Unknown = %v, want %v", got, want)
	}
}

// TestLoadDependentVariables checks variables that another variable makes required.
func TestLoadDependentVariables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		set, value, want string
	}{
		{"SENSOCTO_SMTP_URL", "smtp://mail.example.com", "SENSOCTO_SMTP_FROM: required when SENSOCTO_SMTP_URL is set"},
		{"SENSOCTO_OIDC_ISSUER", "https://id.example.com", "SENSOCTO_OIDC_CLIENT_ID: required when SENSOCTO_OIDC_ISSUER is set"},
	}
	for _, tt := range tests {
		_, err := Load(env(map[string]string{tt.set: tt.value}))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s=%s) error = %v, want %q", tt.set, tt.value, err, tt.want)
		}
	}
}
