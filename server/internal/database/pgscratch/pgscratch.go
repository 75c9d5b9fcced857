// Package pgscratch owns throw-away PostgreSQL databases: it creates a uniquely named
// database on a server and drops it again. The migration generator uses one as its dev
// database and tests use one per test, so neither sees anything left by others.
package pgscratch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// validPrefix keeps generated names plain identifiers, so they need no quoting rules
// beyond the double quotes used below.
var validPrefix = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

// Database is a scratch database. Drop it when done.
type Database struct {
	// Name is the database name.
	Name string
	// URL connects to the scratch database: the server URL with its path replaced.
	URL string

	serverURL string
}

// Create creates a new, empty database named prefix_<random hex> on the server that
// serverURL points to (any database on it works, e.g. .../postgres).
func Create(ctx context.Context, serverURL, prefix string) (*Database, error) {
	if !validPrefix.MatchString(prefix) {
		return nil, fmt.Errorf("create scratch database: invalid prefix %q", prefix)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("create scratch database: parse server URL: %w", err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("create scratch database: %w", err)
	}
	name := prefix + "_" + hex.EncodeToString(b[:])
	if err := exec(ctx, serverURL, `CREATE DATABASE "`+name+`"`); err != nil {
		return nil, fmt.Errorf("create scratch database %s: %w", name, err)
	}
	u.Path = "/" + name
	return &Database{Name: name, URL: u.String(), serverURL: serverURL}, nil
}

// Drop drops the database, closing any connections still open to it.
func (d *Database) Drop(ctx context.Context) error {
	if err := exec(ctx, d.serverURL, `DROP DATABASE IF EXISTS "`+d.Name+`" WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop scratch database %s: %w", d.Name, err)
	}
	return nil
}

// exec runs one statement on a short-lived connection to serverURL.
func exec(ctx context.Context, serverURL, stmt string) error {
	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		return fmt.Errorf("parse server URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return err
	}
	return nil
}
