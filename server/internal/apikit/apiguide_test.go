package apikit_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// TestAPIGuide runs every ```sh block of docs/api.md, in order, as one bash script against
// a freshly started server, as a newcomer would paste them: sign in, a call of each
// service, streaming with curl and envelopes, and the connector walkthrough (publish-scope
// token, RegisterSensor, ecg.sh publishing sample blocks while obeying back-pressure, a
// Watch that must see the ECG live).
func TestAPIGuide(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the guide's shell commands; not in -short")
	}
	for _, tool := range []string{"bash", "curl", "awk", "sed", "od", "head"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the guide needs %s: %v", tool, err)
		}
	}
	guide := string(readFile(t, "docs/api.md"))
	var blocks []string
	for _, part := range strings.Split(guide, "\n```sh\n")[1:] {
		end := strings.Index(part, "\n```\n")
		if end < 0 {
			t.Fatalf("unterminated sh block: %.80q", part)
		}
		blocks = append(blocks, part[:end])
	}
	if len(blocks) < 10 {
		t.Fatalf("found %d sh blocks in docs/api.md", len(blocks))
	}
	url := startApp(t)
	dir := t.TempDir() // the guide writes ecg.sh and watch.out; go tool buf needs go.mod
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := os.WriteFile(filepath.Join(dir, f), readFile(t, f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script := "set -e\n" + strings.Join(blocks, "\n")
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "URL="+url)
	out, err := cmd.CombinedOutput()
	// protojson may put a space after ':' and ','; compare without.
	text := strings.NewReplacer(`": `, `":`, `, "`, `,"`).Replace(string(out))
	if err != nil {
		t.Fatalf("the guide's commands failed: %v\n%s", err, text)
	}
	for _, want := range []string{
		`"guestEnabled":true`,               // GetAuthConfig
		`"sensorId":"guide-hr"`,             // RegisterSensor / ListSensors
		`"accepted":"1"`,                    // Publish
		`"leaseMs":`,                        // ReportAttention
		`"field":"sensor_id"`,               // the error example
		"openapi: 3.1.0",                    // /openapi.yaml
		`SERVING`,                           // health
		`"attributeId":"ecg","startTimeUs"`, // the live Watch saw ECG sample blocks
		`"recommendedBatchWindowMs"`,        // back-pressure configs
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the guide's output lacks %s:\n%s", want, text)
		}
	}
}

// startApp serves the real app (SQLite) on a free port until the test ends.
func startApp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{"SENSOCTO_DATA_DIR": dir, "SENSOCTO_DATABASE_URL": filepath.Join(dir, "sensocto.db")}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, dbtest.Logger(t), app.WithPasswordParams(accounts.TestPasswordParams))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: a.Handler(), Protocols: p, ReadHeaderTimeout: time.Minute}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
		<-done
		if err := a.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}
