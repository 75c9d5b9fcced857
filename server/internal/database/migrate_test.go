package database_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sensocto/sensocto/migrations"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// embeddedVersions lists the migration versions shipped for a dialect.
func embeddedVersions(t *testing.T, dialect string) []string {
	t.Helper()
	dir, err := migrations.Dir(dialect)
	if err != nil {
		t.Fatal(err)
	}
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	var v []string
	for _, f := range files {
		v = append(v, f.Version())
	}
	return v
}

// tableCount counts the application tables (those created by migrations).
func tableExists(t *testing.T, db *database.DB, table string) bool {
	t.Helper()
	q := `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	if db.Dialect() == database.DialectSQLite {
		q = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	}
	var n int
	if err := db.SQL.QueryRowContext(t.Context(), q, table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestMigrateFresh(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db := dbtest.OpenUnmigrated(t, dialect)
			if got := db.Dialect(); got != dialect {
				t.Fatalf("Dialect() = %q, want %q", got, dialect)
			}
			want := embeddedVersions(t, dialect)
			pending, err := db.Pending(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != len(want) {
				t.Fatalf("pending before migrate = %v, want %v", pending, want)
			}
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, table := range []string{"users", "tokens", "sensors", "sensor_attributes", "rooms",
				"room_memberships", "room_sensors", "room_documents", "simulator_runs", "recordings"} {
				if !tableExists(t, db, table) {
					t.Errorf("table %s missing after migrate", table)
				}
			}
			revs, err := db.Revisions(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(revs) != len(want) {
				t.Fatalf("revisions = %d, want %d", len(revs), len(want))
			}
			for i, r := range revs {
				if r.Version != want[i] || r.Checksum == "" || r.AppliedAt.IsZero() {
					t.Errorf("revision %d = %+v, want version %s with checksum and time", i, r, want[i])
				}
			}
			pending, err = db.Pending(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != 0 {
				t.Errorf("pending after migrate = %v", pending)
			}
			if err := db.Ping(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			url := dbtest.URL(t, dialect)
			db := dbtest.OpenURL(t, url)
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			first, err := db.Revisions(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			// Again on the same pool, and from a second "process".
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			if err := dbtest.OpenURL(t, url).Migrate(t.Context()); err != nil {
				t.Fatalf("migrate from second pool: %v", err)
			}
			second, err := db.Revisions(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(first) != len(second) {
				t.Fatalf("revisions changed: %d -> %d", len(first), len(second))
			}
			for i := range first {
				if !first[i].AppliedAt.Equal(second[i].AppliedAt) {
					t.Errorf("revision %s re-applied", first[i].Version)
				}
			}
		})
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			url := dbtest.URL(t, dialect)
			// Separate pools stand in for separate processes starting at once.
			const procs = 4
			dbs := make([]*database.DB, procs)
			for i := range dbs {
				dbs[i] = dbtest.OpenURL(t, url)
			}
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				errs  = make([]error, procs)
			)
			for i, db := range dbs {
				wg.Go(func() {
					<-start
					errs[i] = db.Migrate(t.Context())
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("migrate %d: %v", i, err)
				}
			}
			revs, err := dbs[0].Revisions(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if want := embeddedVersions(t, dialect); len(revs) != len(want) {
				t.Fatalf("revisions = %d, want %d", len(revs), len(want))
			}
		})
	}
}

func TestMigrateRefusesUnknownRevision(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db := dbtest.Open(t, dialect)
			if _, err := db.SQL.ExecContext(t.Context(),
				`INSERT INTO `+database.RevisionsTable+` (version, description, checksum, applied_at, execution_ms) VALUES ($1, $2, $3, $4, $5)`,
				"99991231235959", "from_the_future", "h1:x", time.Now().UTC(), 0); err != nil {
				t.Fatal(err)
			}
			err := db.Migrate(t.Context())
			if !errors.Is(err, database.ErrUnknownRevision) {
				t.Fatalf("Migrate() = %v, want ErrUnknownRevision", err)
			}
		})
	}
}

func TestMigrateRefusesChangedChecksum(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db := dbtest.Open(t, dialect)
			if _, err := db.SQL.ExecContext(t.Context(),
				`UPDATE `+database.RevisionsTable+` SET checksum = 'h1:edited'`); err != nil {
				t.Fatal(err)
			}
			err := db.Migrate(t.Context())
			if !errors.Is(err, database.ErrChecksumChanged) {
				t.Fatalf("Migrate() = %v, want ErrChecksumChanged", err)
			}
		})
	}
}
