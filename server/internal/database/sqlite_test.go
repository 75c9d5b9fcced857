package database

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestSQLiteDSN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		wantPath   string
		wantMemory bool
		wantPragma []string // pragmas expected in the DSN
		noPragma   []string // pragma names that must not be added
	}{
		{in: "data/sensocto.db", wantPath: "data/sensocto.db",
			wantPragma: []string{"busy_timeout(10000)", "foreign_keys(1)", "journal_mode(WAL)", "synchronous(NORMAL)"}},
		{in: "/var/lib/sensocto/db.sqlite", wantPath: "/var/lib/sensocto/db.sqlite"},
		{in: "file:x.db?cache=private", wantPath: "x.db"},
		{in: "sqlite:///abs/x.db", wantPath: "/abs/x.db"},
		{in: "sqlite://rel.db", wantPath: "rel.db"},
		{in: ":memory:", wantPath: ":memory:", wantMemory: true, noPragma: []string{"journal_mode"}},
		{in: "file:x.db?_pragma=busy_timeout(1)", wantPath: "x.db",
			wantPragma: []string{"busy_timeout(1)"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			dsn, memory, err := sqliteDSN(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if memory != tt.wantMemory {
				t.Errorf("memory = %v, want %v", memory, tt.wantMemory)
			}
			path, rawQuery, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
			if !strings.HasPrefix(dsn, "file:") || path != tt.wantPath {
				t.Errorf("dsn %q: path %q, want %q", dsn, path, tt.wantPath)
			}
			q, err := url.ParseQuery(rawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if q.Get("_txlock") != "immediate" {
				t.Errorf("dsn %q: _txlock not immediate", dsn)
			}
			pragmas := strings.Join(q["_pragma"], " ")
			for _, p := range tt.wantPragma {
				if !strings.Contains(pragmas, p) {
					t.Errorf("dsn %q: missing pragma %s", dsn, p)
				}
			}
			for _, p := range tt.noPragma {
				if strings.Contains(pragmas, p) {
					t.Errorf("dsn %q: unexpected pragma %s", dsn, p)
				}
			}
			if n := strings.Count(pragmas, "busy_timeout"); n != 1 {
				t.Errorf("dsn %q: busy_timeout %d times", dsn, n)
			}
		})
	}
	if _, _, err := sqliteDSN(""); err == nil {
		t.Error("empty URL accepted")
	}
}

func TestOpenSQLiteSettings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(t.Context(), "sqlite://"+path, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if db.Dialect() != DialectSQLite {
		t.Fatalf("dialect = %s", db.Dialect())
	}
	for _, tt := range []struct{ pragma, want string }{
		{"foreign_keys", "1"},
		{"journal_mode", "wal"},
		{"synchronous", "1"},
		{"busy_timeout", "10000"},
	} {
		var got string
		if err := db.SQL.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if strings.ToLower(got) != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
}

func TestOpenInMemory(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), ":memory:", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := db.Client.User.Query().CountX(t.Context()); n != 0 {
		t.Fatalf("users = %d", n)
	}
}

func TestOpenPostgresBadURL(t *testing.T) {
	t.Parallel()
	if _, err := Open(t.Context(), "postgres://%zz", zerolog.Nop()); err == nil {
		t.Fatal("bad URL accepted")
	}
}
