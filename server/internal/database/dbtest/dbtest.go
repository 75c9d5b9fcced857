// Package dbtest owns test databases for integration tests: a migrated database.DB on a
// fresh SQLite file, or on a fresh PostgreSQL database when SENSOCTO_TEST_POSTGRES_URL
// is set. Every call gets its own database, dropped when the test ends, so tests may
// run in parallel. StartLocalPostgres gives a test a PostgreSQL server of its own that it
// may stop and start (a database outage).
//
//	for _, dialect := range dbtest.Dialects(t) {
//		t.Run(dialect, func(t *testing.T) {
//			db := dbtest.Open(t, dialect)
//			// use db.Client ...
//		})
//	}
package dbtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/pgscratch"
)

// PostgresURLEnv names the environment variable with a PostgreSQL server URL
// (any database on the server; scratch databases are created next to it).
const PostgresURLEnv = "SENSOCTO_TEST_POSTGRES_URL"

// Dialects returns the dialects to run integration tests against: SQLite always, and
// PostgreSQL when SENSOCTO_TEST_POSTGRES_URL is set. In CI (CI set) a missing
// SENSOCTO_TEST_POSTGRES_URL fails the test instead of quietly testing SQLite only.
func Dialects(t testing.TB) []string {
	t.Helper()
	d := []string{database.DialectSQLite}
	if os.Getenv(PostgresURLEnv) != "" {
		d = append(d, database.DialectPostgres)
	} else if InCI() {
		t.Fatalf("%s is not set in CI: PostgreSQL tests must run there", PostgresURLEnv)
	}
	return d
}

// InCI reports whether the tests run in CI (CI set to anything but "" or "false"),
// where a test that needs an external service fails rather than skips without it.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false"
}

// URL returns the URL of a new, empty database of the given dialect, removed when the
// test ends. For PostgreSQL without SENSOCTO_TEST_POSTGRES_URL the test is skipped.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case database.DialectSQLite:
		return filepath.Join(t.TempDir(), "sensocto.db")
	case database.DialectPostgres:
		server := os.Getenv(PostgresURLEnv)
		if server == "" {
			if InCI() {
				t.Fatalf("%s is not set in CI: PostgreSQL tests must run there", PostgresURLEnv)
			}
			t.Skipf("%s not set; skipping PostgreSQL", PostgresURLEnv)
		}
		scratch, err := pgscratch.Create(t.Context(), server, "sensocto_test")
		if err != nil {
			t.Fatalf("dbtest: %v", err)
		}
		t.Cleanup(func() {
			if err := scratch.Drop(context.Background()); err != nil {
				t.Errorf("dbtest: %v", err)
			}
		})
		return scratch.URL
	default:
		t.Fatalf("dbtest: unknown dialect %q", dialect)
		return ""
	}
}

// OpenURL opens the database at url without migrating it and closes it when the test
// ends. Logs go to the test log.
func OpenURL(t testing.TB, url string) *database.DB {
	t.Helper()
	db, err := database.Open(t.Context(), url, Logger(t))
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("dbtest: %v", err)
		}
	})
	return db
}

// OpenUnmigrated returns a new, empty, unmigrated database of the given dialect.
func OpenUnmigrated(t testing.TB, dialect string) *database.DB {
	t.Helper()
	return OpenURL(t, URL(t, dialect))
}

// Open returns a new database of the given dialect with all migrations applied.
func Open(t testing.TB, dialect string) *database.DB {
	t.Helper()
	db := OpenUnmigrated(t, dialect)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return db
}

// Logger returns a zerolog logger writing to the test log.
func Logger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}
