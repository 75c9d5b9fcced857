// Package schemadiff owns the link between the ent schema and the versioned migration
// directories: it generates a new migration file when the schema changed and checks that
// the schema, the migration files and their atlas.sum agree. The diff replays the
// existing migrations on a clean dev database (in-memory SQLite, or a scratch PostgreSQL
// database) and compares the result with the ent schema, using Atlas through ent.
//
// It is used by the generator program server/cmd/entmigrate and by tests; the server
// itself only applies migrations (package database).
package schemadiff

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"text/template"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	entschema "entgo.io/ent/dialect/sql/schema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver for the dev database

	"github.com/sensocto/sensocto/ent/migrate"
	"github.com/sensocto/sensocto/server/internal/database/pgscratch"
)

// Dialect names, the same as database.DialectSQLite and database.DialectPostgres and the
// names of the directories under migrations/.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Dialects lists every dialect that has a migration directory.
var Dialects = []string{Postgres, SQLite}

// DevPostgresURLEnv names the environment variable with the PostgreSQL server used for
// scratch dev databases.
const DevPostgresURLEnv = "SENSOCTO_DEV_POSTGRES_URL"

// DefaultDevPostgresURL is used when DevPostgresURLEnv is not set.
const DefaultDevPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ErrOutOfSync is returned by Check when the ent schema and the migration directory
// disagree.
var ErrOutOfSync = errors.New("ent schema and migrations disagree")

// DevPostgresURL returns the PostgreSQL server URL for dev databases from the
// environment, or the default.
func DevPostgresURL() string {
	if u := os.Getenv(DevPostgresURLEnv); u != "" {
		return u
	}
	return DefaultDevPostgresURL
}

// DevDB is a clean database used only to compute a diff.
type DevDB struct {
	// Dialect is SQLite or Postgres.
	Dialect string
	// DB is the connection pool.
	DB      *sql.DB
	cleanup func(context.Context) error
}

// OpenDevDB opens a clean dev database: in-memory SQLite, or a new scratch database on
// the PostgreSQL server at postgresServerURL. Close it to drop it.
func OpenDevDB(ctx context.Context, dialectName, postgresServerURL string) (*DevDB, error) {
	switch dialectName {
	case SQLite:
		// Every connection to ":memory:" is its own database, so keep exactly one.
		db, err := sql.Open("sqlite", "file:dev?mode=memory&_pragma=foreign_keys(1)")
		if err != nil {
			return nil, fmt.Errorf("open sqlite dev database: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open sqlite dev database: %w", err)
		}
		return &DevDB{Dialect: SQLite, DB: db, cleanup: func(context.Context) error { return db.Close() }}, nil
	case Postgres:
		scratch, err := pgscratch.Create(ctx, postgresServerURL, "sensocto_dev")
		if err != nil {
			return nil, fmt.Errorf("open postgres dev database: %w", err)
		}
		cfg, err := pgx.ParseConfig(scratch.URL)
		if err != nil {
			_ = scratch.Drop(ctx)
			return nil, fmt.Errorf("open postgres dev database: %w", err)
		}
		db := stdlib.OpenDB(*cfg)
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			_ = scratch.Drop(ctx)
			return nil, fmt.Errorf("open postgres dev database: %w", err)
		}
		return &DevDB{Dialect: Postgres, DB: db, cleanup: func(ctx context.Context) error {
			return errors.Join(db.Close(), scratch.Drop(ctx))
		}}, nil
	default:
		return nil, fmt.Errorf("open dev database: unknown dialect %q", dialectName)
	}
}

// Close closes the dev database and drops it if it is a scratch PostgreSQL database.
func (d *DevDB) Close(ctx context.Context) error {
	return d.cleanup(ctx)
}

// Generate diffs the ent schema against the migrations in dir, replayed on dev, and
// when they differ writes one new migration file named <version>_<name>.sql into dir
// and updates its atlas.sum. version is a UTC timestamp as made by NewVersion; pass the
// same one for every dialect so the directories stay parallel. It returns the names of
// the files it wrote, or none when the schema and the migrations already agree.
func Generate(ctx context.Context, dev *DevDB, dir atlasmigrate.Dir, version, name string) ([]string, error) {
	if name == "" {
		return nil, errors.New("generate migration: empty name")
	}
	if err := atlasmigrate.CheckVersion(version); err != nil {
		return nil, fmt.Errorf("generate migration: %w", err)
	}
	before, err := fileNames(dir)
	if err != nil {
		return nil, fmt.Errorf("generate migration: %w", err)
	}
	if err := diff(ctx, dev, dir, version, name); err != nil {
		if errors.Is(err, atlasmigrate.ErrNoPlan) {
			return nil, nil
		}
		return nil, fmt.Errorf("generate %s migration: %w", dev.Dialect, err)
	}
	after, err := fileNames(dir)
	if err != nil {
		return nil, fmt.Errorf("generate migration: %w", err)
	}
	var written []string
	for _, n := range after {
		if !slices.Contains(before, n) {
			written = append(written, n)
		}
	}
	return written, nil
}

// Check verifies that dir's atlas.sum matches its files and that the ent schema needs no
// new migration. It never modifies dir: the diff is computed on an in-memory copy. When
// a migration is missing the error wraps ErrOutOfSync and includes the SQL that
// Generate would write.
func Check(ctx context.Context, dev *DevDB, dir atlasmigrate.Dir) error {
	if err := atlasmigrate.Validate(dir); err != nil {
		return fmt.Errorf("check %s migrations: atlas.sum does not match the migration files (regenerate it, never edit an applied migration): %w", dev.Dialect, err)
	}
	files, err := dir.Files()
	if err != nil {
		return fmt.Errorf("check %s migrations: %w", dev.Dialect, err)
	}
	mem := &atlasmigrate.MemDir{}
	if err := mem.CopyFiles(files); err != nil {
		return fmt.Errorf("check %s migrations: %w", dev.Dialect, err)
	}
	written, err := Generate(ctx, dev, mem, NewVersion(), "pending")
	if err != nil {
		return fmt.Errorf("check %s migrations: %w", dev.Dialect, err)
	}
	if len(written) == 0 {
		return nil
	}
	all, err := mem.Files()
	if err != nil {
		return fmt.Errorf("check %s migrations: %w", dev.Dialect, err)
	}
	var sqlText strings.Builder
	for _, f := range all {
		if slices.Contains(written, f.Name()) {
			sqlText.Write(f.Bytes())
		}
	}
	return fmt.Errorf("check %s migrations: %w; run `go run ./server/cmd/entmigrate -name <change>`; missing migration:\n%s",
		dev.Dialect, ErrOutOfSync, sqlText.String())
}

// diffMu serialises diffs: ent's Atlas.NamedDiff sets up the package-level
// migrate.Tables in place, so two diffs at once race on them.
var diffMu sync.Mutex

// diff runs ent's versioned-migration diff in replay mode.
func diff(ctx context.Context, dev *DevDB, dir atlasmigrate.Dir, version, name string) error {
	diffMu.Lock()
	defer diffMu.Unlock()
	formatter := atlasmigrate.TemplateFormatter{{
		N: template.Must(template.New("name").Parse(version + "_{{ .Name }}.sql")),
		C: atlasmigrate.DefaultFormatter[0].C,
	}}
	entDialect := dialect.SQLite
	if dev.Dialect == Postgres {
		entDialect = dialect.Postgres
	}
	drv := entsql.OpenDB(entDialect, dev.DB)
	return migrate.NewSchema(drv).NamedDiff(ctx, name,
		entschema.WithDir(dir),
		entschema.WithDialect(entDialect),
		entschema.WithMigrationMode(entschema.ModeReplay),
		entschema.WithFormatter(formatter),
		entschema.WithErrNoPlan(true),
		entschema.WithDropColumn(true),
		entschema.WithDropIndex(true),
	)
}

// NewVersion returns a migration version for now: the UTC time as yyyymmddhhmmss.
func NewVersion() string {
	return atlasmigrate.NewVersion()
}

// fileNames lists the migration file names in dir.
func fileNames(dir atlasmigrate.Dir) ([]string, error) {
	files, err := dir.Files()
	if err != nil {
		return nil, fmt.Errorf("list migration files: %w", err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name()
	}
	return names, nil
}
