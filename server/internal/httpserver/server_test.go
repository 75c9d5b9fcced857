package httpserver_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/httpserver"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP, as gRPC
// clients do.
func h2cClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func h1Client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// startServer serves h on a free local port until the test ends or stop is
// called; wait returns Serve's result once it has returned.
func startServer(t *testing.T, h http.Handler) (url string, stop context.CancelFunc, wait func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{HTTPAddr: ln.Addr().String(), ShutdownTimeout: 30 * time.Second}
	srv := httpserver.New(cfg, zerolog.Nop(), h)
	ctx, cancel := context.WithCancel(context.Background())
	var serveErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveErr = srv.Serve(ctx, ln)
	}()
	wait = func() error {
		<-done
		return serveErr
	}
	t.Cleanup(func() {
		cancel()
		_ = wait()
	})
	return "http://" + ln.Addr().String(), cancel, wait
}

func TestProtocols(t *testing.T) {
	t.Parallel()
	url, _, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	tests := []struct {
		name   string
		client *http.Client
		want   string
	}{
		{"HTTP/1.1", h1Client(t), "HTTP/1.1"},
		{"h2c prior knowledge", h2cClient(t), "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := tt.client.Get(url + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.Proto != tt.want || string(body) != tt.want {
				t.Errorf("proto = %s, server saw %q; want %s", res.Proto, body, tt.want)
			}
		})
	}
}

// TestHTTP2ServedByXNet: HTTP/2 requests are served by golang.org/x/net/http2's
// server, whose write scheduler the server chooses (configureHTTP2), not by
// net/http's bundled copy.
func TestHTTP2ServedByXNet(t *testing.T) {
	t.Parallel()
	url, _, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		buf := make([]byte, 64<<10)
		_, _ = w.Write(buf[:runtime.Stack(buf, false)])
	}))
	res, err := h2cClient(t).Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	stack, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(stack), "golang.org/x/net/http2.(*serverConn).runHandler") {
		t.Fatalf("the handler did not run under x/net's HTTP/2 server:\n%s", stack)
	}
}

func TestGracefulShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		client func(*testing.T) *http.Client
	}{{"HTTP/1.1", h1Client}, {"h2c", h2cClient}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			handlerDone := make(chan struct{})
			url, stop, wait := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(handlerDone)
				_, _ = io.WriteString(w, "first\n")
				http.NewResponseController(w).Flush()
				<-r.Context().Done() // a long-lived stream
			}))
			res, err := c.client(t).Get(url + "/stream")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			line, err := bufio.NewReader(res.Body).ReadString('\n')
			if err != nil || line != "first\n" {
				t.Fatalf("first line = %q, %v", line, err)
			}

			stop()
			// The shutdown timeout is 30 s; Serve returning nil means the
			// stream ended through the cancelled base context, not the timeout.
			if err := wait(); err != nil {
				t.Fatalf("Serve after cancel: %v", err)
			}
			<-handlerDone
			_, _ = io.Copy(io.Discard, res.Body)
		})
	}
}

func TestRunListenError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := httpserver.New(config.Config{HTTPAddr: ln.Addr().String()}, zerolog.Nop(), http.NotFoundHandler())
	err = srv.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) {
		t.Errorf("Run on a busy port = %v, want a listen error", err)
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := httpserver.New(config.Config{HTTPAddr: addr, ShutdownTimeout: time.Second}, zerolog.Nop(),
		httpserver.NewHandler(httpserver.Routes{}))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	client := h1Client(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("healthz = %d", res.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never answered: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestDebugListenerServesProfilerUntilShutdown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	debugAddr := freeAddr(t)
	cfg := config.Config{HTTPAddr: ln.Addr().String(), DebugAddr: debugAddr, ShutdownTimeout: time.Second}
	srv := httpserver.New(cfg, zerolog.Nop(), httpserver.NewHandler(httpserver.Routes{}))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	client := h1Client(t)
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := client.Get("http://" + debugAddr + "/debug/pprof/goroutine?debug=1")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("goroutine profile = %d", res.StatusCode)
			}
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("debug listener never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile body = %.200q", body)
	}
	// The profiler is not on the public listener.
	res, err := client.Get("http://" + ln.Addr().String() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Error("the public listener serves /debug/pprof/")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if res, err := client.Get("http://" + debugAddr + "/debug/pprof/"); err == nil {
		res.Body.Close()
		t.Error("debug listener still answers after shutdown")
	}
}

func TestDebugListenerBusyPortFailsServe(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{HTTPAddr: ln.Addr().String(), DebugAddr: busy.Addr().String()}
	err = httpserver.New(cfg, zerolog.Nop(), http.NotFoundHandler()).Serve(t.Context(), ln)
	if err == nil || !strings.Contains(err.Error(), "debug address") {
		t.Errorf("Serve with a busy debug port = %v, want a listen error", err)
	}
}

// TestServeSaysWhatToOpen: the start-up line names the URL to open: the public URL
// when configured, else the listen address with localhost for an unspecified host.
func TestServeSaysWhatToOpen(t *testing.T) {
	t.Parallel()
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		public, addr, want string
	}{
		{"https://sensocto.example.com", "[::]:8080", "https://sensocto.example.com"},
		{"", "[::]:8080", "http://localhost:8080"},
		{"", "0.0.0.0:9000", "http://localhost:9000"},
		{"", "127.0.0.1:8081", "http://127.0.0.1:8081"},
	} {
		if got := httpserver.OpenURL(tc.public, tcp(tc.addr)); got != tc.want {
			t.Errorf("OpenURL(%q, %s) = %q, want %q", tc.public, tc.addr, got, tc.want)
		}
	}

	var logs testkit.Buffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserver.New(config.Config{PublicURL: "http://localhost:8080"}, zerolog.New(&logs), http.NotFoundHandler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "open http://localhost:8080 in a browser") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no start-up line naming the URL in %q", logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the log, not waiting for time to pass
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
