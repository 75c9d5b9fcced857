package database

import (
	"database/sql"
	"fmt"
	"net/url"
	"runtime"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// sqliteDriver is the database/sql driver name modernc.org/sqlite registers.
const sqliteDriver = "sqlite"

// sqlitePragmas are applied to every new SQLite connection, in this order (the driver
// runs busy_timeout first). A pragma already given in the URL is not repeated.
var sqlitePragmas = []struct{ name, value string }{
	{"busy_timeout", "10000"},
	{"foreign_keys", "1"},
	{"journal_mode", "WAL"},
	{"synchronous", "NORMAL"},
}

// openSQLite opens a modernc SQLite pool for a path, file: URI, sqlite:// URL or
// ":memory:".
func openSQLite(raw string) (*sql.DB, error) {
	dsn, memory, err := sqliteDSN(raw)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(sqliteDriver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	if memory {
		// Every connection to an in-memory database is a separate database: keep one
		// connection, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		return db, nil
	}
	// WAL lets readers run beside the single writer; writers queue on the busy
	// timeout (transactions start with BEGIN IMMEDIATE, so they never deadlock on a
	// lock upgrade).
	n := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	return db, nil
}

// sqliteDSN turns the accepted SQLite URL forms into a modernc DSN with Sensocto's
// pragmas, and reports whether the database lives in memory.
func sqliteDSN(raw string) (dsn string, memory bool, err error) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return "", false, fmt.Errorf("empty database URL")
	case strings.HasPrefix(strings.ToLower(s), "sqlite://"):
		s = "file:" + s[len("sqlite://"):]
	case strings.HasPrefix(strings.ToLower(s), "sqlite:"):
		s = "file:" + s[len("sqlite:"):]
	case strings.HasPrefix(s, "file:"):
	default:
		s = "file:" + s
	}
	path, rawQuery, _ := strings.Cut(strings.TrimPrefix(s, "file:"), "?")
	if path == "" {
		return "", false, fmt.Errorf("sqlite URL %q has no path", raw)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", false, fmt.Errorf("parse sqlite URL query: %w", err)
	}
	memory = path == ":memory:" || q.Get("mode") == "memory"
	given := map[string]bool{}
	for _, p := range q["_pragma"] {
		name, _, _ := strings.Cut(p, "(")
		name, _, _ = strings.Cut(name, "=")
		given[strings.ToLower(strings.TrimSpace(name))] = true
	}
	for _, p := range sqlitePragmas {
		if given[p.name] || (memory && p.name == "journal_mode") {
			continue
		}
		q.Add("_pragma", p.name+"("+p.value+")")
	}
	if !q.Has("_txlock") {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode(), memory, nil
}
