package testkit

import (
	"bytes"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long StartServer waits for /healthz (a cold binary on a
// loaded machine migrates its database first).
const startTimeout = 2 * time.Minute

// FreeAddr returns a loopback address with a port free a moment ago, for a child
// process to listen on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // the child binds it again; nothing else here picks ports from 0 in this window
	return addr
}

// Server is a server process a test started (StartServer).
type Server struct {
	Cmd  *exec.Cmd
	URL  string
	logs Buffer
	done chan struct{}
	err  error
}

// StartServer starts cmd, a server configured (by its environment) to listen on addr,
// collects its output, waits until it answers /healthz, and stops it when the test
// ends (SIGTERM, then SIGKILL after Deadline; on Linux also when the test process dies). It fails the test when the server
// exits or is not healthy within startTimeout.
func StartServer(t testing.TB, cmd *exec.Cmd, addr string) *Server {
	t.Helper()
	s := &Server{Cmd: cmd, URL: "http://" + addr, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &s.logs, &s.logs
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(Deadline):
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("server exited before it was ready: %v\n%s", s.err, s.Logs())
		default:
		}
		res, err := http.Get(s.URL + "/healthz") //nolint:noctx // a probe with the client's own timeout
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for a condition
	}
	t.Fatalf("server at %s not healthy within %s\n%s", s.URL, startTimeout, s.Logs())
	return nil
}

// Logs returns what the server wrote so far.
func (s *Server) Logs() string { return s.logs.String() }

// Buffer is a bytes.Buffer that goroutines may share: a log sink or a child's output
// written by one, read by the test.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p) //nolint:wrapcheck // bytes.Buffer never fails
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
