package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	atlasmigrate "ariga.io/atlas/sql/migrate"

	"github.com/sensocto/sensocto/migrations"
)

// RevisionsTable records which migrations have been applied. It is not part of the ent
// schema.
const RevisionsTable = "sensocto_schema_revisions"

// migrateLockKey is the PostgreSQL advisory lock key held while migrating
// (the first 8 bytes of "sensocto" as an int64).
const migrateLockKey int64 = 0x73656e736f63746f

// ErrUnknownRevision means the database has a migration applied that this binary does
// not know: it was migrated by a newer version.
var ErrUnknownRevision = errors.New("database has a migration this binary does not know")

// ErrChecksumChanged means an applied migration file was edited afterwards.
var ErrChecksumChanged = errors.New("applied migration was modified")

// Revision is one applied migration.
type Revision struct {
	// Version is the migration's version (its file name prefix).
	Version string
	// Description is the file name's part after the version.
	Description string
	// Checksum is the file's hash from atlas.sum.
	Checksum string
	// AppliedAt is when it was applied.
	AppliedAt time.Time
}

// Migrate applies the embedded migrations for this database's dialect that are not yet
// applied, in version order, each file in its own transaction together with its row in
// RevisionsTable. Running it again is a no-op. It is safe to call from several processes
// at once: on PostgreSQL it holds a session advisory lock for the whole run; on SQLite
// every file is checked and applied inside one BEGIN IMMEDIATE transaction, so a second
// process waits (busy timeout) and then finds the file applied.
//
// It fails, changing nothing, when atlas.sum does not match the embedded files, when
// an applied migration's checksum changed, or when the database has a revision this
// binary does not know (ErrUnknownRevision).
func (db *DB) Migrate(ctx context.Context) (err error) {
	files, sums, err := embeddedMigrations(db.dialect)
	if err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	// discard is set when the connection's session state (lock, pragma) could not be
	// restored; the connection is then closed instead of going back to the pool.
	var discard bool
	defer func() {
		if discard {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}()

	if db.dialect == DialectPostgres {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
			discard = true
			return fmt.Errorf("migrate database: take advisory lock: %w", err)
		}
		defer func() {
			if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey); uerr != nil {
				discard = true
			}
		}()
	}
	if err := db.createRevisionsTable(ctx, conn); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	applied, err := readRevisions(ctx, conn)
	if err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	if err := checkApplied(applied, files, sums); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	var n int
	for _, f := range files {
		if _, ok := applied[f.Version()]; ok {
			continue
		}
		did, err := db.applyFile(ctx, conn, f, sums[f.Name()], &discard)
		if err != nil {
			return fmt.Errorf("migrate database: apply %s: %w", f.Name(), err)
		}
		if did {
			n++
		}
	}
	db.logger.Info().Int("applied", n).Int("total", len(files)).Msg("database migrated")
	return nil
}

// Revisions returns the applied migrations, oldest first.
func (db *DB) Revisions(ctx context.Context) ([]Revision, error) {
	rows, err := db.SQL.QueryContext(ctx,
		`SELECT version, description, checksum, applied_at FROM `+RevisionsTable+` ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var revs []Revision
	for rows.Next() {
		var r Revision
		if err := rows.Scan(&r.Version, &r.Description, &r.Checksum, &r.AppliedAt); err != nil {
			return nil, fmt.Errorf("read revisions: %w", err)
		}
		revs = append(revs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	return revs, nil
}

// Pending returns the versions of embedded migrations not yet applied.
func (db *DB) Pending(ctx context.Context) ([]string, error) {
	files, _, err := embeddedMigrations(db.dialect)
	if err != nil {
		return nil, fmt.Errorf("pending migrations: %w", err)
	}
	exists, err := db.revisionsTableExists(ctx)
	if err != nil {
		return nil, fmt.Errorf("pending migrations: %w", err)
	}
	var revs []Revision
	if exists {
		if revs, err = db.Revisions(ctx); err != nil {
			return nil, fmt.Errorf("pending migrations: %w", err)
		}
	}
	done := make(map[string]bool, len(revs))
	for _, r := range revs {
		done[r.Version] = true
	}
	var pending []string
	for _, f := range files {
		if !done[f.Version()] {
			pending = append(pending, f.Version())
		}
	}
	return pending, nil
}

// embeddedMigrations loads and validates the embedded directory of a dialect.
func embeddedMigrations(dialectName string) ([]atlasmigrate.File, map[string]string, error) {
	dir, err := migrations.Dir(dialectName)
	if err != nil {
		return nil, nil, err
	}
	if err := atlasmigrate.Validate(dir); err != nil {
		return nil, nil, fmt.Errorf("verify %s migrations against atlas.sum: %w", dialectName, err)
	}
	files, err := dir.Files()
	if err != nil {
		return nil, nil, fmt.Errorf("list %s migrations: %w", dialectName, err)
	}
	hf, err := dir.Checksum()
	if err != nil {
		return nil, nil, fmt.Errorf("checksum %s migrations: %w", dialectName, err)
	}
	sums := make(map[string]string, len(hf))
	for _, h := range hf {
		sums[h.N] = h.H
	}
	return files, sums, nil
}

// checkApplied verifies that every applied revision is a known file with the same
// checksum.
func checkApplied(applied map[string]Revision, files []atlasmigrate.File, sums map[string]string) error {
	known := make(map[string]atlasmigrate.File, len(files))
	for _, f := range files {
		known[f.Version()] = f
	}
	for v, r := range applied {
		f, ok := known[v]
		if !ok {
			return fmt.Errorf("%w: version %s (%s)", ErrUnknownRevision, v, r.Description)
		}
		if sums[f.Name()] != r.Checksum {
			return fmt.Errorf("%w: %s", ErrChecksumChanged, f.Name())
		}
	}
	return nil
}

func (db *DB) createRevisionsTable(ctx context.Context, conn *sql.Conn) error {
	timeType := "timestamptz"
	if db.dialect == DialectSQLite {
		timeType = "datetime"
	}
	stmt := `CREATE TABLE IF NOT EXISTS ` + RevisionsTable + ` (
	version text NOT NULL PRIMARY KEY,
	description text NOT NULL,
	checksum text NOT NULL,
	applied_at ` + timeType + ` NOT NULL,
	execution_ms bigint NOT NULL
)`
	// On SQLite this runs in its own BEGIN IMMEDIATE transaction (the DSN's _txlock), so
	// two processes creating it at once serialise.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create revisions table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("create revisions table: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create revisions table: %w", err)
	}
	return nil
}

func (db *DB) revisionsTableExists(ctx context.Context) (bool, error) {
	q := `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	if db.dialect == DialectSQLite {
		q = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	}
	var n int
	if err := db.SQL.QueryRowContext(ctx, q, RevisionsTable).Scan(&n); err != nil {
		return false, fmt.Errorf("check revisions table: %w", err)
	}
	return n > 0, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readRevisions(ctx context.Context, q queryer) (map[string]Revision, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, description, checksum FROM `+RevisionsTable)
	if err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	defer func() { _ = rows.Close() }()
	revs := map[string]Revision{}
	for rows.Next() {
		var r Revision
		if err := rows.Scan(&r.Version, &r.Description, &r.Checksum); err != nil {
			return nil, fmt.Errorf("read revisions: %w", err)
		}
		revs[r.Version] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	return revs, nil
}

// applyFile applies one migration file and records it, in one transaction. It reports
// false when the file turned out to be applied already (by a concurrent process).
//
// On SQLite, foreign keys are switched off on the connection around the transaction
// (they cannot be switched inside one), as SQLite's documented procedure for table
// rebuilds requires, and PRAGMA foreign_key_check must be clean before commit.
func (db *DB) applyFile(ctx context.Context, conn *sql.Conn, f atlasmigrate.File, sum string, discard *bool) (applied bool, err error) {
	stmts, err := f.Stmts()
	if err != nil {
		return false, fmt.Errorf("parse: %w", err)
	}
	sqlite := db.dialect == DialectSQLite
	if sqlite {
		if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
			return false, fmt.Errorf("disable foreign keys: %w", err)
		}
		defer func() {
			if _, ferr := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`); ferr != nil {
				*discard = true
				err = errors.Join(err, fmt.Errorf("enable foreign keys: %w", ferr))
			}
		}()
	}
	start := time.Now()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	// Re-check under the transaction's lock: on SQLite another process may have
	// applied the file since Migrate read the revisions.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+RevisionsTable+` WHERE version = $1`, f.Version()).Scan(&n); err != nil {
		return false, fmt.Errorf("check revision: %w", err)
	}
	if n > 0 {
		return false, tx.Rollback()
	}
	for i, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return false, fmt.Errorf("statement %d: %w", i+1, err)
		}
	}
	if sqlite {
		if err := foreignKeyCheck(ctx, tx); err != nil {
			return false, err
		}
	}
	appliedAt := time.Now().UTC()
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO `+RevisionsTable+` (version, description, checksum, applied_at, execution_ms) VALUES ($1, $2, $3, $4, $5)`,
		f.Version(), f.Desc(), sum, appliedAt, time.Since(start).Milliseconds()); err != nil {
		return false, fmt.Errorf("record revision: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	db.logger.Info().Str("version", f.Version()).Str("name", f.Desc()).
		Dur("took", time.Since(start)).Msg("applied migration")
	return true, nil
}

// foreignKeyCheck fails if the transaction left rows violating a foreign key.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer func() { _ = rows.Close() }()
	if rows.Next() {
		var table string
		cols, _ := rows.Columns()
		dest := make([]any, len(cols))
		for i := range dest {
			dest[i] = new(any)
		}
		dest[0] = &table
		_ = rows.Scan(dest...)
		return fmt.Errorf("foreign key check: violation in table %s", table)
	}
	return rows.Err()
}
