// Package database owns the connection to the relational store: it opens PostgreSQL
// (through pgx) or SQLite (through modernc.org/sqlite) from one URL, builds the ent
// client on top, and applies the embedded versioned migrations (package migrations)
// under a lock so that several processes may start at once. Domain packages use the
// ent client it returns; nothing else opens database connections.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/ent"
)

// Dialect names returned by DB.Dialect. They are also the names of the migration
// directories.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// DB is an open database: the ent client and the connection pool under it.
type DB struct {
	// Client is the ent client; domain packages query through it.
	Client *ent.Client
	// SQL is the underlying pool, for the few queries ent cannot express
	// (bulk measurement writes, COPY, maintenance).
	SQL *sql.DB

	dialect string
	logger  zerolog.Logger
}

// Open connects to the database at url and checks the connection. It does not migrate;
// call Migrate.
//
// A URL starting with postgres:// or postgresql:// selects PostgreSQL; anything else is
// SQLite: a file path, a file: URI, sqlite://path (sqlite:///abs/path for an absolute
// path), or ":memory:". SQLite connections get foreign keys on, WAL, a busy timeout,
// synchronous=NORMAL and BEGIN IMMEDIATE transactions; query parameters already in the
// URL take precedence.
func Open(ctx context.Context, url string, logger zerolog.Logger) (*DB, error) {
	var (
		db  *sql.DB
		d   string
		err error
	)
	if isPostgresURL(url) {
		d = DialectPostgres
		db, err = openPostgres(url)
	} else {
		d = DialectSQLite
		db, err = openSQLite(url)
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open database: ping %s: %w", d, err)
	}
	entDialect := dialect.SQLite
	if d == DialectPostgres {
		entDialect = dialect.Postgres
	}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(entDialect, db)))
	logger = logger.With().Str("dialect", d).Logger()
	logger.Debug().Msg("database opened")
	return &DB{Client: client, SQL: db, dialect: d, logger: logger}, nil
}

// Dialect returns DialectPostgres or DialectSQLite.
func (db *DB) Dialect() string { return db.dialect }

// Ping checks that the database is reachable.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.SQL.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close closes the ent client and the pool.
func (db *DB) Close() error {
	// The ent client's driver wraps db.SQL; closing it closes the pool.
	if err := db.Client.Close(); err != nil && !errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// isPostgresURL reports whether url selects PostgreSQL.
func isPostgresURL(url string) bool {
	l := strings.ToLower(url)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// openPostgres opens a pgx-backed pool. Pool limits suit one server process sharing a
// PostgreSQL server with a few others; pool_max_conns style parameters are not read.
func openPostgres(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse postgres URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(5)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	return db, nil
}

// WithTx runs f in a transaction of c: committed when f returns nil, rolled back when it
// returns an error (which WithTx returns as it is).
func WithTx(ctx context.Context, c *ent.Client, f func(*ent.Tx) error) error {
	tx, err := c.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback() // f's error is what matters; a failed rollback ends with the connection
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}
