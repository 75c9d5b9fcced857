package apperr

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"
	"syscall"
	"time"
)

// DefaultRetryAfter is the retry hint given with an Unavailable error that names none:
// a dependency (the database) cannot be reached right now.
const DefaultRetryAfter = 2 * time.Second

// sqlStater is implemented by database errors that carry a SQLSTATE code (pgconn.PgError
// among them), so this package needs no driver import.
type sqlStater interface{ SQLState() string }

// IsUnavailable reports whether err says a dependency cannot be reached right now (the
// database is down, restarting or refusing connections) rather than that the request or
// the program is wrong: a dial or network failure, a connection database/sql gave up
// on, or a PostgreSQL connection-exception (class 08), shutdown (57P01–57P03) or
// too-many-connections (53300) status. Such errors are KindUnavailable for KindOf, so a
// database outage reaches callers as a retryable Unavailable, never Internal.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var st sqlStater
	if errors.As(err, &st) {
		code := st.SQLState()
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
	}
	return false
}
