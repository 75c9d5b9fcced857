package contract_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/contract"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/database/pgscratch"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// TestContractAgainstBinary builds the real sensocto binary, starts it on a free port
// (SQLite, and PostgreSQL when SENSOCTO_TEST_POSTGRES_URL is set) and runs the whole
// contract suite against it, as CI and integrators do.
func TestContractAgainstBinary(t *testing.T) {
	bin := buildBinary(t)
	t.Run("sqlite", func(t *testing.T) {
		runAgainstBinary(t, bin, map[string]string{"SENSOCTO_DATABASE_URL": filepath.Join(t.TempDir(), "sensocto.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		server := os.Getenv(dbtest.PostgresURLEnv)
		if server == "" {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not set under CI=true: the contract suite must run against PostgreSQL in CI", dbtest.PostgresURLEnv)
			}
			t.Skipf("%s not set; skipping PostgreSQL", dbtest.PostgresURLEnv)
		}
		db, err := pgscratch.Create(t.Context(), server, "sensocto_contract")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := db.Drop(context.Background()); err != nil {
				t.Errorf("drop scratch database: %v", err)
			}
		})
		runAgainstBinary(t, bin, map[string]string{"SENSOCTO_DATABASE_URL": db.URL})
	})
}

var build struct {
	once sync.Once
	dir  string // removed by TestMain
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// buildBinary builds ./server/cmd/sensocto into a temporary directory once per test run
// (SENSOCTO_CONTRACT_BIN names an already built binary instead).
func buildBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "sensocto-contract-")
		if err != nil {
			build.err = err
			return
		}
		build.dir, build.path = dir, filepath.Join(dir, "sensocto")
		cmd := exec.Command("go", "build", "-o", build.path, "./server/cmd/sensocto")
		cmd.Dir = filepath.Join("..", "..")
		// The test's own environment (CGO_ENABLED and all), so the build reuses the
		// packages `go test` just compiled.
		if bin := os.Getenv("SENSOCTO_CONTRACT_BIN"); bin != "" {
			build.path = bin
			return
		}
		build.out, build.err = cmd.CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("go build ./server/cmd/sensocto: %v\n%s", build.err, build.out)
	}
	return build.path
}

// runAgainstBinary starts bin with env and runs the suite against it.
func runAgainstBinary(t *testing.T, bin string, env map[string]string) {
	addr := testkit.FreeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "SENSOCTO_HTTP_ADDR="+addr, "SENSOCTO_DATA_DIR="+t.TempDir(), "SENSOCTO_LOG_LEVEL=warn", "SENSOCTO_LOG_FORMAT=json")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	srv := testkit.StartServer(t, cmd, addr)
	url := srv.URL

	var out bytes.Buffer
	res, err := contract.Run(t.Context(), contract.Config{URL: url, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed > 0 || res.Passed == 0 {
		t.Fatalf("contract suite against the binary: %d passed, %d failed:\n%s\nserver log:\n%s", res.Passed, res.Failed, out.String(), srv.Logs())
	}
	last := strings.TrimSpace(out.String())
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	if !strings.HasSuffix(last, " passed, 0 failed") {
		t.Errorf("closing line %q, want \"N passed, 0 failed\"", last)
	}
}

// TestContractNamesTheBrokenRPC runs the suite against a server whose GetSensor was
// changed to answer NotFound for every sensor: the suite must fail, and every failure
// must name GetSensor and say what was expected.
func TestContractNamesTheBrokenRPC(t *testing.T) {
	url := startInProcess(t, func(mux *http.ServeMux) {
		mux.Handle(sensoctov1connect.SensorServiceGetSensorProcedure, connect.NewUnaryHandler(sensoctov1connect.SensorServiceGetSensorProcedure,
			func(context.Context, *connect.Request[sensoctov1.GetSensorRequest]) (*connect.Response[sensoctov1.GetSensorResponse], error) {
				return nil, connect.NewError(connect.CodeNotFound, errors.New("sensor not found"))
			}))
	})
	var out bytes.Buffer
	res, err := contract.Run(t.Context(), contract.Config{URL: url, Out: &out, SkipRateLimit: true})
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if res.Failed == 0 {
		t.Fatalf("the suite passed against a server whose GetSensor always answers NotFound:\n%s", text)
	}
	for _, p := range []string{"connect", "grpc", "grpc-web"} {
		want := "FAIL [" + p + "] /sensocto.v1.SensorService/GetSensor: expected the registered sensor with its attributes: "
		if !strings.Contains(text, want) {
			t.Errorf("no failure line starting %q in:\n%s", want, text)
		}
	}
	for _, line := range res.Failures {
		if !strings.Contains(line, "GetSensor") {
			t.Errorf("a failure that does not name GetSensor (only GetSensor was changed): %s", line)
		}
	}
	if !strings.Contains(text, fmt.Sprintf("passed, %d failed\n", res.Failed)) {
		t.Errorf("no closing \"N passed, %d failed\" line in:\n%s", res.Failed, text)
	}
}

// TestContractPassesInProcess runs the suite against the unchanged app in-process: the
// control for TestContractNamesTheBrokenRPC (same set-up, nothing changed).
func TestContractPassesInProcess(t *testing.T) {
	url := startInProcess(t, nil)
	var out bytes.Buffer
	res, err := contract.Run(t.Context(), contract.Config{URL: url, Out: &out, SkipRateLimit: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed > 0 {
		t.Fatalf("%d checks failed against the unchanged app:\n%s", res.Failed, out.String())
	}
}

// startInProcess serves the real app (SQLite) on a free port, with change (when not nil)
// mounting handlers in front of it, and returns its URL.
func startInProcess(t *testing.T, change func(*http.ServeMux)) string {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{"SENSOCTO_DATA_DIR": dir, "SENSOCTO_DATABASE_URL": filepath.Join(dir, "sensocto.db")}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, dbtest.Logger(t), app.WithPasswordParams(accounts.TestPasswordParams))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	if change != nil {
		change(mux)
	}
	mux.Handle("/", a.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: p, ReadHeaderTimeout: time.Minute}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
		<-done
		cancel()
		if err := a.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}
