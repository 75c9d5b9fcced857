package recording

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The measurement store lives outside ent (its tables are partitioned by day on
// PostgreSQL, which ent's schema cannot express), so its schema is versioned here:
// storeMigrations are applied in order, each at most once, by EnsureSchema at
// start-up (under storeLockKey on PostgreSQL, in one IMMEDIATE transaction on
// SQLite), and measurement_store_versions records the versions applied. Version 1 is
// the original DDL, written with IF NOT EXISTS, so a database created before the
// store was versioned takes it as a no-op and continues from there.
//
// A migration is never edited once released: add a new one.

// versionsTable records the store's applied migrations.
const versionsTable = "measurement_store_versions"

// storeMigration is one versioned change of the measurement store's schema.
type storeMigration struct {
	version  int
	name     string
	postgres []string
	sqlite   []string
}

var storeMigrations = []storeMigration{
	{
		version: 1,
		name:    "values and blocks",
		postgres: []string{
			`CREATE TABLE IF NOT EXISTS measurements (
				sensor_id text NOT NULL,
				attribute_id text NOT NULL,
				time_us bigint NOT NULL,
				server_time_us bigint NOT NULL,
				kind smallint NOT NULL,
				number double precision,
				payload bytea
			) PARTITION BY RANGE (time_us)`,
			`CREATE TABLE IF NOT EXISTS measurements_default PARTITION OF measurements DEFAULT`,
			`CREATE INDEX IF NOT EXISTS measurements_sensor_attr_time ON measurements (sensor_id, attribute_id, time_us)`,
			`CREATE TABLE IF NOT EXISTS measurement_blocks (
				sensor_id text NOT NULL,
				attribute_id text NOT NULL,
				start_time_us bigint NOT NULL,
				server_time_us bigint NOT NULL,
				rate_hz double precision NOT NULL,
				count integer NOT NULL,
				samples bytea NOT NULL
			) PARTITION BY RANGE (start_time_us)`,
			`CREATE TABLE IF NOT EXISTS measurement_blocks_default PARTITION OF measurement_blocks DEFAULT`,
			`CREATE INDEX IF NOT EXISTS measurement_blocks_sensor_attr_time ON measurement_blocks (sensor_id, attribute_id, start_time_us)`,
		},
		sqlite: []string{
			`CREATE TABLE IF NOT EXISTS measurements (
				sensor_id TEXT NOT NULL,
				attribute_id TEXT NOT NULL,
				time_us INTEGER NOT NULL,
				server_time_us INTEGER NOT NULL,
				kind INTEGER NOT NULL,
				number REAL,
				payload BLOB
			)`,
			`CREATE INDEX IF NOT EXISTS measurements_sensor_attr_time ON measurements (sensor_id, attribute_id, time_us)`,
			`CREATE TABLE IF NOT EXISTS measurement_blocks (
				sensor_id TEXT NOT NULL,
				attribute_id TEXT NOT NULL,
				start_time_us INTEGER NOT NULL,
				server_time_us INTEGER NOT NULL,
				rate_hz REAL NOT NULL,
				count INTEGER NOT NULL,
				samples BLOB NOT NULL
			)`,
			`CREATE INDEX IF NOT EXISTS measurement_blocks_sensor_attr_time ON measurement_blocks (sensor_id, attribute_id, start_time_us)`,
		},
	},
	{
		// Numbers are stored packed per series and flush (measurement_packs) instead
		// of one measurements row each; blocks get the time of their last sample and
		// the min, max and sum of their samples. Rows written before this migration
		// stay as they are: readers read numbers from both tables, and treat blocks
		// without a summary (NULL) as to be decoded. See the package documentation.
		version: 2,
		name:    "packed numbers, block summaries",
		postgres: []string{
			`CREATE TABLE measurement_packs (
				sensor_id text NOT NULL,
				attribute_id text NOT NULL,
				start_time_us bigint NOT NULL,
				end_time_us bigint NOT NULL,
				count integer NOT NULL,
				min_value double precision NOT NULL,
				max_value double precision NOT NULL,
				sum_value double precision NOT NULL,
				times bytea NOT NULL,
				numbers bytea NOT NULL
			) PARTITION BY RANGE (start_time_us)`,
			`CREATE TABLE measurement_packs_default PARTITION OF measurement_packs DEFAULT`,
			`CREATE INDEX measurement_packs_sensor_attr_time ON measurement_packs (sensor_id, attribute_id, start_time_us)`,
			`ALTER TABLE measurement_blocks
				ADD COLUMN end_time_us bigint,
				ADD COLUMN min_value double precision,
				ADD COLUMN max_value double precision,
				ADD COLUMN sum_value double precision`,
		},
		sqlite: []string{
			`CREATE TABLE measurement_packs (
				sensor_id TEXT NOT NULL,
				attribute_id TEXT NOT NULL,
				start_time_us INTEGER NOT NULL,
				end_time_us INTEGER NOT NULL,
				count INTEGER NOT NULL,
				min_value REAL NOT NULL,
				max_value REAL NOT NULL,
				sum_value REAL NOT NULL,
				times BLOB NOT NULL,
				numbers BLOB NOT NULL
			)`,
			`CREATE INDEX measurement_packs_sensor_attr_time ON measurement_packs (sensor_id, attribute_id, start_time_us)`,
			`ALTER TABLE measurement_blocks ADD COLUMN end_time_us INTEGER`,
			`ALTER TABLE measurement_blocks ADD COLUMN min_value REAL`,
			`ALTER TABLE measurement_blocks ADD COLUMN max_value REAL`,
			`ALTER TABLE measurement_blocks ADD COLUMN sum_value REAL`,
		},
	},
}

// StoreVersion is the measurement store's schema version this code reads and writes.
func StoreVersion() int { return storeMigrations[len(storeMigrations)-1].version }

// execer is what migrations run on: a pgx transaction or a database/sql one.
type execer func(ctx context.Context, stmt string, args ...any) error

// applyStoreMigrations applies the migrations not yet recorded, each with its
// version row in the same transaction (begin opens one). It returns how many it
// applied. The caller holds the store lock.
func applyStoreMigrations(ctx context.Context, dialect string, applied map[int]bool, begin func(func(execer) error) error, now time.Time) (int, error) {
	n := 0
	for _, m := range storeMigrations {
		if applied[m.version] {
			continue
		}
		stmts := m.sqlite
		if dialect == "postgres" {
			stmts = m.postgres
		}
		err := begin(func(exec execer) error {
			for _, stmt := range stmts {
				if err := exec(ctx, stmt); err != nil {
					return fmt.Errorf("apply measurement store migration %d (%s): %w", m.version, m.name, err)
				}
			}
			return exec(ctx, rebind(dialect, `INSERT INTO `+versionsTable+` (version, name, applied_at_us) VALUES (?, ?, ?)`),
				m.version, m.name, now.UnixMicro())
		})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

const createVersionsTable = `CREATE TABLE IF NOT EXISTS ` + versionsTable + ` (
	version integer PRIMARY KEY,
	name text NOT NULL,
	applied_at_us bigint NOT NULL
)`

// migratePostgres applies pending store migrations on c, which holds the store lock.
func migratePostgres(ctx context.Context, c *pgx.Conn, now time.Time) (int, error) {
	if _, err := c.Exec(ctx, createVersionsTable); err != nil {
		return 0, fmt.Errorf("create %s: %w", versionsTable, err)
	}
	rows, err := c.Query(ctx, `SELECT version FROM `+versionsTable)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", versionsTable, err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", versionsTable, err)
	}
	applied := map[int]bool{}
	for _, v := range versions {
		applied[int(v)] = true
	}
	return applyStoreMigrations(ctx, "postgres", applied, func(f func(execer) error) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			return f(func(ctx context.Context, stmt string, args ...any) error {
				_, err := tx.Exec(ctx, stmt, args...)
				return err
			})
		})
	}, now)
}

// migrateSQLite applies pending store migrations in one transaction (IMMEDIATE, see
// database, so concurrent starts serialise).
func migrateSQLite(ctx context.Context, db *sql.DB, now time.Time) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, createVersionsTable); err != nil {
		return 0, fmt.Errorf("create %s: %w", versionsTable, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM `+versionsTable)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", versionsTable, err)
	}
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("read %s: %w", versionsTable, err)
		}
		applied[v] = true
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("read %s: %w", versionsTable, err)
	}
	n, err := applyStoreMigrations(ctx, "sqlite", applied, func(f func(execer) error) error {
		return f(func(ctx context.Context, stmt string, args ...any) error {
			_, err := tx.ExecContext(ctx, stmt, args...)
			return err
		})
	}, now)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return n, nil
}
