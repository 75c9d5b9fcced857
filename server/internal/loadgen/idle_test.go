package loadgen_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/loadgen"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// serveEnv makes the test binary a server (TestMain): the idle measurement needs the
// server's stacks alone, without the load generator's goroutines in the same process.
const serveEnv = "SENSOCTO_LOADGEN_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		if err := serve(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serve runs the whole server, configured from the environment as `sensocto serve`
// is, until SIGTERM.
func serve() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, zerolog.New(os.Stderr).Level(zerolog.WarnLevel), app.WithPasswordParams(accounts.TestPasswordParams))
	if err != nil {
		return err
	}
	defer func() { _ = a.Close() }()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

// Budgets of an idle connector session (docs/performance.md, "Memory per idle sensor"):
// one goroutine that waits in a 4 KB stack. A frame more on its wait path doubles the
// stack to 8 KB (and the idle Stream's memory past the 20 KB target): the limit lies
// between the two.
const (
	idleStackBudget      = 6 << 10
	idleGoroutinesBudget = 1.1
	idleConnectors       = 1500
)

// TestIdleStreamStack opens idle Streams against a real server process over HTTP/2
// and reads its /metrics: each open Stream costs one goroutine and a 4 KB stack, with
// the real depth of the HTTP/2 server, Connect, the interceptors and the session.
func TestIdleStreamStack(t *testing.T) {
	t.Parallel()
	addr := testkit.FreeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$") //nolint:gosec // this test binary itself
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SENSOCTO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, serveEnv+"=1", "SENSOCTO_HTTP_ADDR="+addr, "SENSOCTO_DATA_DIR="+t.TempDir(),
		"SENSOCTO_LOG_LEVEL=warn", "SENSOCTO_AUTH_RATE_LIMIT=1000",
		fmt.Sprintf("SENSOCTO_STREAMS_PER_USER=%d", 2*idleConnectors), fmt.Sprintf("SENSOCTO_STREAMS_PER_IP=%d", 2*idleConnectors))
	srv := testkit.StartServer(t, cmd, addr)

	res, err := loadgen.Run(t.Context(), loadgen.Config{URL: srv.URL, Mode: "stream", Idle: true, Connectors: idleConnectors, Duration: time.Second, PID: cmd.Process.Pid})
	if err != nil {
		t.Fatalf("idle run: %v\nserver log:\n%s", err, srv.Logs())
	}
	t.Logf("per idle Stream: %.0f bytes of stack, %.2f goroutines, %.0f bytes of heap, %.0f bytes of RSS",
		res.StackPerSensor, res.GoroutinesPerSensor, res.HeapPerSensor, res.BytesPerSensor)
	if res.StackPerSensor <= 0 || res.GoroutinesPerSensor <= 0 {
		t.Fatalf("nothing measured: %+v", res)
	}
	if res.GoroutinesPerSensor > idleGoroutinesBudget {
		t.Errorf("%.2f goroutines per idle Stream, budget %.1f", res.GoroutinesPerSensor, idleGoroutinesBudget)
	}
	if res.StackPerSensor > idleStackBudget {
		t.Errorf("%.0f bytes of stack per idle Stream, budget %d: the session's wait grew past 4 KB", res.StackPerSensor, idleStackBudget)
	}
}
