package app_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// server is a running app on a loopback port.
type server struct {
	url  string
	done chan error
	stop context.CancelFunc
	app  *app.App
}

// startServer starts the app on a loopback port with env added to the test defaults.
func startServer(t *testing.T, dialect string, env map[string]string, opts ...app.Option) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	url := "http://" + ln.Addr().String()
	vars := map[string]string{
		"SENSOCTO_DATA_DIR":     t.TempDir(),
		"SENSOCTO_DATABASE_URL": dbtest.URL(t, dialect),
		"SENSOCTO_LOG_LEVEL":    "warn",
		"SENSOCTO_LOG_FORMAT":   "json",
		"SENSOCTO_PUBLIC_URL":   url,
	}
	maps.Copy(vars, env)
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		cancel()
		t.Fatalf("load config: %v", err)
	}
	opts = append([]app.Option{app.WithPasswordParams(accounts.TestPasswordParams)}, opts...)
	a, err := app.New(ctx, cfg, dbtest.Logger(t), opts...)
	if err != nil {
		cancel()
		t.Fatalf("new app: %v", err)
	}
	s := &server{url: url, done: make(chan error, 1), stop: cancel, app: a}
	go func() { s.done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
		if err := a.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	return s
}

// bearer is an HTTP transport that sends a bearer token with every request.
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// withToken returns c sending token as bearer ("" returns c unchanged).
func withToken(c *http.Client, token string) *http.Client {
	if token == "" {
		return c
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &http.Client{Transport: bearer{base: base, token: token}, Jar: c.Jar, CheckRedirect: c.CheckRedirect}
}

// signInGuest returns a guest's session token.
func signInGuest(t *testing.T, url string) string {
	t.Helper()
	res, err := sensoctov1connect.NewAuthServiceClient(http.DefaultClient, url).SignInGuest(t.Context(), &sensoctov1.SignInGuestRequest{})
	if err != nil {
		t.Fatalf("SignInGuest: %v", err)
	}
	return res.GetToken()
}

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP, as gRPC clients do.
func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

func protocols(token string) map[string]func(string) sensoctov1connect.SystemServiceClient {
	return map[string]func(string) sensoctov1connect.SystemServiceClient{
		"connect": func(url string) sensoctov1connect.SystemServiceClient {
			return sensoctov1connect.NewSystemServiceClient(withToken(http.DefaultClient, token), url)
		},
		"connect-json": func(url string) sensoctov1connect.SystemServiceClient {
			return sensoctov1connect.NewSystemServiceClient(withToken(http.DefaultClient, token), url, connect.WithProtoJSON())
		},
		"grpc": func(url string) sensoctov1connect.SystemServiceClient {
			return sensoctov1connect.NewSystemServiceClient(withToken(h2cClient(), token), url, connect.WithGRPC())
		},
		"grpc-web": func(url string) sensoctov1connect.SystemServiceClient {
			return sensoctov1connect.NewSystemServiceClient(withToken(http.DefaultClient, token), url, connect.WithGRPCWeb())
		},
	}
}

func TestSystemService(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil)
			token := signInGuest(t, srv.url)
			for name, newClient := range protocols(token) {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					client := newClient(srv.url)
					testGetStatus(t, client, dialect)
					testWatchStatus(t, client)
					testInvalidArgument(t, client)
				})
			}
			for name, newClient := range protocols("") {
				t.Run(name+"/anonymous", func(t *testing.T) {
					t.Parallel()
					_, err := newClient(srv.url).GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
					if connect.CodeOf(err) != connect.CodeUnauthenticated {
						t.Errorf("GetStatus without a credential = %v, want unauthenticated", err)
					}
				})
			}
			t.Run("reflection", func(t *testing.T) { testReflection(t, srv.url) })
			t.Run("http", func(t *testing.T) { testHTTPEndpoints(t, srv.url, token) })
		})
	}
}

func testGetStatus(t *testing.T, client sensoctov1connect.SystemServiceClient, dialect string) {
	t.Helper()
	res, err := client.GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
	if err != nil {
		t.Fatalf("GetStatus: %v", err)
	}
	st := res.GetStatus()
	if st.GetVersion() == "" || !strings.HasPrefix(st.GetGoVersion(), "go") || st.GetNode() == "" {
		t.Errorf("build fields missing: version %q go %q node %q", st.GetVersion(), st.GetGoVersion(), st.GetNode())
	}
	if st.GetStartedAt().AsTime().After(st.GetSampledAt().AsTime()) || st.GetUptimeSeconds() < 0 {
		t.Errorf("started_at %v after sampled_at %v (uptime %v)", st.GetStartedAt().AsTime(), st.GetSampledAt().AsTime(), st.GetUptimeSeconds())
	}
	rt := st.GetRuntime()
	if rt.GetGoroutines() <= 0 || rt.GetHeapAllocBytes() == 0 || rt.GetRssBytes() == 0 || rt.GetNumCpu() <= 0 {
		t.Errorf("runtime figures missing: %v", rt)
	}
	db := st.GetDatabase()
	if db.GetDialect() != dialect || !db.GetReachable() || db.GetError() != "" {
		t.Errorf("database = %v, want %s reachable", db, dialect)
	}
	if c := st.GetCounts(); c == nil || c.GetUsers() != 1 || c.GetSensors() != 0 || c.GetRooms() != 0 {
		t.Errorf("counts of a database with one guest = %v, want 1 user and zeros", c)
	}
}

func testWatchStatus(t *testing.T, client sensoctov1connect.SystemServiceClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := client.WatchStatus(ctx, &sensoctov1.WatchStatusRequest{IntervalMs: 250})
	if err != nil {
		t.Fatalf("WatchStatus: %v", err)
	}
	defer func() { _ = stream.Close() }()
	var last time.Time
	for i := range 3 {
		if !stream.Receive() {
			t.Fatalf("WatchStatus ended after %d messages: %v", i, stream.Err())
		}
		at := stream.Msg().GetStatus().GetSampledAt().AsTime()
		if i > 0 && !at.After(last) {
			t.Fatalf("message %d sampled at %v, not after the previous %v", i, at, last)
		}
		last = at
	}
}

func testInvalidArgument(t *testing.T, client sensoctov1connect.SystemServiceClient) {
	t.Helper()
	stream, err := client.WatchStatus(t.Context(), &sensoctov1.WatchStatusRequest{IntervalMs: 999_999})
	if err == nil {
		for stream.Receive() {
			t.Fatal("WatchStatus with interval_ms 999999 delivered a message")
		}
		err = stream.Err()
		_ = stream.Close()
	}
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("WatchStatus(interval_ms=999999) error = %v, want invalid_argument", err)
	}
	if !strings.Contains(err.Error(), "interval_ms") {
		t.Errorf("error %q does not name the field interval_ms", err)
	}
}

func testReflection(t *testing.T, url string) {
	client := grpcreflect.NewClient(h2cClient(), url, connect.WithGRPC())
	stream := client.NewStream(t.Context())
	defer func() { _, _ = stream.Close() }()
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("list services by reflection: %v", err)
	}
	want := map[string]bool{"sensocto.v1.SystemService": false, "grpc.health.v1.Health": false}
	for _, n := range names {
		if _, ok := want[string(n)]; ok {
			want[string(n)] = true
		}
	}
	for n, found := range want {
		if !found {
			t.Errorf("reflection lists %v, missing %s", names, n)
		}
	}
	files, err := stream.FileContainingSymbol("sensocto.v1.SystemService")
	if err != nil || len(files) == 0 {
		t.Fatalf("reflection has no file for SystemService: %v", err)
	}
}

func testHTTPEndpoints(t *testing.T, url, token string) {
	cases := []struct {
		method, path, body, contentType, token string
		wantCode                               int
		wantBody                               string
	}{
		{"GET", "/healthz", "", "", "", http.StatusOK, "ok"},
		{"POST", "/grpc.health.v1.Health/Check", "{}", "application/json", "", http.StatusOK, "SERVING"},
		{"POST", "/sensocto.v1.SystemService/GetStatus", "{}", "application/json", token, http.StatusOK, `"goVersion"`},
		{"POST", "/sensocto.v1.SystemService/GetStatus", "{}", "application/json", "", http.StatusUnauthorized, `"unauthenticated"`},
		{"POST", "/sensocto.v1.SystemService/GetStatus", "{}", "application/json", "sst_not-a-token", http.StatusUnauthorized, `"unauthenticated"`},
		{"POST", "/sensocto.v1.AuthService/GetAuthConfig", "{}", "application/json", "", http.StatusOK, `"guestEnabled":true`},
		{"GET", "/metrics", "", "", "", http.StatusOK, `sensocto_rpc_requests_total{code="ok",procedure="/sensocto.v1.SystemService/GetStatus"}`},
		{"GET", "/sensocto.v1.NoSuchService/Method", "", "", "", http.StatusNotFound, ""},
	}
	for _, c := range cases {
		req, err := http.NewRequestWithContext(t.Context(), c.method, url+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != c.wantCode || !strings.Contains(string(body), c.wantBody) {
			t.Errorf("%s %s = %d %.300q, want %d containing %q", c.method, c.path, res.StatusCode, body, c.wantCode, c.wantBody)
		}
	}
}

// TestShutdownEndsStreams checks that cancelling the server's context ends open streams and
// Serve returns without waiting for the shutdown timeout.
func TestShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	client := sensoctov1connect.NewSystemServiceClient(withToken(h2cClient(), signInGuest(t, srv.url)), srv.url, connect.WithGRPC())
	stream, err := client.WatchStatus(t.Context(), &sensoctov1.WatchStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() {
		t.Fatalf("no first status: %v", stream.Err())
	}
	srv.stop()
	for stream.Receive() {
	}
	select {
	case err := <-srv.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Serve returned %v", err)
		}
		srv.done <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
