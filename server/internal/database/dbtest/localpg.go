package dbtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// LocalPostgres is a PostgreSQL server of a test's own, in a temporary directory on a
// free loopback port, that the test may stop and start again (to play a database
// outage). Unlike the shared server of SENSOCTO_TEST_POSTGRES_URL, nobody else uses it.
type LocalPostgres struct {
	// URL connects to its postgres database as the superuser postgres (trust).
	URL string

	bin, dir, data string
	port           int
	asUser         string // run the binaries as this user (root may not run them)
}

// StartLocalPostgres initialises and starts a PostgreSQL server for this test from the
// binaries in /usr/lib/postgresql/*/bin (or SENSOCTO_TEST_POSTGRES_BIN), and stops it
// when the test ends. It runs when SENSOCTO_TEST_POSTGRES_URL is set (a PostgreSQL
// installation is then expected) and is skipped otherwise; under CI=true it fails
// instead of skipping, also when the server cannot be started.
func StartLocalPostgres(t testing.TB) *LocalPostgres {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("local PostgreSQL: "+format, args...)
		}
		t.Skipf("local PostgreSQL: "+format, args...)
	}
	if os.Getenv(PostgresURLEnv) == "" {
		unavailable("%s not set", PostgresURLEnv)
	}
	bin, err := postgresBin()
	if err != nil {
		unavailable("%v", err)
	}
	// A directory the server's user owns: t.TempDir's parents are private to root.
	dir, err := os.MkdirTemp("", "sensocto-pg-")
	if err != nil {
		t.Fatalf("local PostgreSQL: %v", err)
	}
	p := &LocalPostgres{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run it as the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable("running as root and no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			unavailable("chown %s: %v", dir, err)
		}
		p.asUser = "postgres"
	}
	if p.port, err = freePort(); err != nil {
		unavailable("find a free port: %v", err)
	}
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := p.run(ctx, "initdb", "-D", p.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
		unavailable("initdb: %v\n%s", err, out)
	}
	if err := p.Start(ctx); err != nil {
		unavailable("%v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = p.run(ctx, "pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop")
	})
	return p
}

// Start starts the server (again) and waits until it accepts connections.
func (p *LocalPostgres) Start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=60", p.port, p.dir)
	if out, err := p.run(ctx, "pg_ctl", "-D", p.data, "-o", opts, "-l", filepath.Join(p.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log")) //nolint:gosec // G304: our own temporary directory
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return nil
}

// Stop shuts the server down at once (fast mode: open sessions are ended), as an
// outage would.
func (p *LocalPostgres) Stop(ctx context.Context) error {
	if out, err := p.run(ctx, "pg_ctl", "-D", p.data, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

func (p *LocalPostgres) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path := filepath.Join(p.bin, name)
	var cmd *exec.Cmd
	if p.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", p.asUser, "--", path}, args...)...) //nolint:gosec // G204: fixed binaries of the PostgreSQL installation
	} else {
		cmd = exec.CommandContext(ctx, path, args...) //nolint:gosec // G204: as above
	}
	cmd.Dir = p.dir
	return cmd.CombinedOutput()
}

// postgresBin finds the newest /usr/lib/postgresql/*/bin holding initdb and pg_ctl.
func postgresBin() (string, error) {
	if b := os.Getenv("SENSOCTO_TEST_POSTGRES_BIN"); b != "" {
		return b, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no initdb in /usr/lib/postgresql/*/bin or PATH (set SENSOCTO_TEST_POSTGRES_BIN)")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
