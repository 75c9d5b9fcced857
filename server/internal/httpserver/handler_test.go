package httpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sensocto/sensocto/server/internal/httpserver"
)

var spaFS = fstest.MapFS{
	"index.html":                       {Data: []byte("<!doctype html>app")},
	"favicon.png":                      {Data: []byte("png")},
	"_app/immutable/entry/app.1a2b.js": {Data: []byte("console.log(1)")},
	"assets/logo.3c4d.svg":             {Data: []byte("<svg/>")},
	"docs/index.html":                  {Data: []byte("docs page")},
}

func serve(t *testing.T, h http.Handler, method, target string, header http.Header, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSPA(t *testing.T) {
	t.Parallel()
	rpcHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "rpc")
	})
	h := httpserver.NewHandler(httpserver.Routes{
		Routes: []httpserver.Route{{Pattern: "/sensocto.v1.SensorService/", Handler: rpcHandler}},
		SPA:    spaFS,
	})
	tests := []struct {
		method, path string
		status       int
		body         string
		cache        string
	}{
		{"GET", "/", 200, "<!doctype html>app", "no-cache"},
		{"GET", "/index.html", 200, "<!doctype html>app", "no-cache"},
		{"GET", "/rooms/abc", 200, "<!doctype html>app", "no-cache"},
		{"GET", "/sensors", 200, "<!doctype html>app", "no-cache"},
		{"HEAD", "/sensors", 200, "", "no-cache"},
		{"GET", "/favicon.png", 200, "png", "no-cache"},
		{"GET", "/_app/immutable/entry/app.1a2b.js", 200, "console.log(1)", "public, max-age=31536000, immutable"},
		{"GET", "/assets/logo.3c4d.svg", 200, "<svg/>", "public, max-age=31536000, immutable"},
		{"GET", "/docs", 200, "docs page", "no-cache"},
		{"GET", "/_app/immutable/entry/gone.js", 404, "", ""},
		{"GET", "/assets/missing", 404, "", ""},
		{"GET", "/missing.js", 404, "", ""},
		{"GET", "/favicon.ico", 404, "", ""},
		{"GET", "/robots.txt", 404, "", ""},
		{"GET", "/site.WEBMANIFEST", 404, "", ""},
		{"GET", "/fonts/inter.woff2", 404, "", ""},
		{"GET", "/app.js.map", 404, "", ""},
		// App routes with dots in them are app routes, not files (issue 12).
		{"GET", "/sensors/sim.single_person.person_1", 200, "<!doctype html>app", "no-cache"},
		{"HEAD", "/sensors/sim.single_person.person_1", 200, "", "no-cache"},
		{"GET", "/sensors/sim.hospital_ward.patient_3.json_like", 200, "<!doctype html>app", "no-cache"},
		{"GET", "/sensors/a.b", 200, "<!doctype html>app", "no-cache"},
		{"GET", "/rooms/room.1", 200, "<!doctype html>app", "no-cache"},
		{"GET", "/../../etc/passwd", 307, "", ""}, // ServeMux cleans the path first
		{"GET", "/etc/passwd", 200, "<!doctype html>app", "no-cache"},
		{"POST", "/sensocto.v1.SensorService/ListSensors", 200, "rpc", ""},
		{"POST", "/sensocto.v1.NoSuchService/Foo", 404, "", ""},
		{"GET", "/sensocto.v1.SensorService", 307, "", ""}, // ServeMux adds the slash
		{"GET", "/sensocto.v1.Unknown", 404, "", ""},
		{"POST", "/grpc.health.v1.Health/Check", 404, "", ""},
		{"GET", "/metrics", 404, "", ""}, // no registry configured
		{"POST", "/healthz", 404, "", ""},
		{"POST", "/rooms", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			rec := serve(t, h, tt.method, tt.path, nil, "")
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tt.status, rec.Body.String())
			}
			if tt.body != "" && rec.Body.String() != tt.body {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.body)
			}
			if tt.cache != "" && rec.Header().Get("Cache-Control") != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", rec.Header().Get("Cache-Control"), tt.cache)
			}
			if tt.status == 404 && strings.Contains(rec.Body.String(), "<!doctype") {
				t.Error("404 served the app")
			}
		})
	}
}

func TestNoSPA(t *testing.T) {
	t.Parallel()
	h := httpserver.NewHandler(httpserver.Routes{})
	if rec := serve(t, h, "GET", "/", nil, ""); rec.Code != 404 {
		t.Errorf("GET / without SPA = %d, want 404", rec.Code)
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	// What a real failure says: the database's user, name, address and port. None of it
	// may reach an unauthenticated caller.
	down := errors.New("ping database: failed to connect to `user=sensocto database=prod`: 10.0.0.7:5432: connection refused")
	tests := []struct {
		name   string
		check  func(context.Context) error
		accept string
		status int
		body   string
	}{
		{"nil checker", nil, "", 200, "ok\n"},
		{"healthy", func(context.Context) error { return nil }, "", 200, "ok\n"},
		{"unhealthy", func(context.Context) error { return down }, "", 503, "unavailable\n"},
		{"healthy json", func(context.Context) error { return nil }, "application/json", 200, `{"status":"ok"}`},
		{"unhealthy json", func(context.Context) error { return down }, "application/json", 503, `{"status":"unavailable"}`},
		{"deadline set", func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline")
			}
			return nil
		}, "", 200, "ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := httpserver.NewHandler(httpserver.Routes{Health: tt.check, SPA: spaFS})
			rec := serve(t, h, "GET", "/healthz", http.Header{"Accept": {tt.accept}}, "")
			if rec.Code != tt.status || strings.TrimSpace(rec.Body.String()) != strings.TrimSpace(tt.body) {
				t.Errorf("= %d %q, want %d %q", rec.Code, rec.Body.String(), tt.status, tt.body)
			}
			if tt.accept != "" {
				var v map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
					t.Errorf("body is not JSON: %v", err)
				}
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := httpserver.NewHandler(httpserver.Routes{Metrics: httpserver.NewMetricsRegistry()})
	rec := serve(t, h, "GET", "/metrics", nil, "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Errorf("/metrics = %d, body lacks go_goroutines:\n%.300s", rec.Code, rec.Body.String())
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "rpc") })
	routes := []httpserver.Route{{Pattern: "/sensocto.v1.SensorService/", Handler: ok}}
	preflight := http.Header{
		"Origin":                         {"https://app.example.com"},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {"authorization,connect-protocol-version,content-type,x-grpc-web"}, // browsers send them sorted, lowercase
	}
	const path = "/sensocto.v1.SensorService/ListSensors"

	t.Run("allowed origin", func(t *testing.T) {
		t.Parallel()
		h := httpserver.NewHandler(httpserver.Routes{Routes: routes, AllowedOrigins: []string{"https://app.example.com"}})
		rec := serve(t, h, "OPTIONS", path, preflight, "")
		if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Fatalf("preflight = %d %v", rec.Code, rec.Header())
		}
		if got := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers")); !strings.Contains(got, "connect-protocol-version") || !strings.Contains(got, "authorization") {
			t.Errorf("Allow-Headers = %q", got)
		}
		if rec.Header().Get("Access-Control-Allow-Credentials") != "true" {
			t.Error("credentials not allowed for an explicit origin")
		}
		rec = serve(t, h, "POST", path, http.Header{"Origin": {"https://app.example.com"}}, "")
		if rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			!strings.Contains(strings.ToLower(rec.Header().Get("Access-Control-Expose-Headers")), "grpc-status") {
			t.Errorf("actual request headers = %v", rec.Header())
		}
	})
	t.Run("other origin", func(t *testing.T) {
		t.Parallel()
		h := httpserver.NewHandler(httpserver.Routes{Routes: routes, AllowedOrigins: []string{"https://other.example.com"}})
		rec := serve(t, h, "OPTIONS", path, preflight, "")
		if rec.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("disallowed origin got Allow-Origin %q", rec.Header().Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("wildcard without credentials", func(t *testing.T) {
		t.Parallel()
		h := httpserver.NewHandler(httpserver.Routes{Routes: routes, AllowedOrigins: []string{"*"}})
		rec := serve(t, h, "OPTIONS", path, preflight, "")
		if rec.Header().Get("Access-Control-Allow-Origin") == "" || rec.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("wildcard preflight headers = %v", rec.Header())
		}
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		h := httpserver.NewHandler(httpserver.Routes{Routes: routes})
		rec := serve(t, h, "OPTIONS", path, preflight, "")
		if rec.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("CORS answered without configured origins: %v", rec.Header())
		}
	})
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	readAll := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "read")
	})
	h := httpserver.NewHandler(httpserver.Routes{
		Routes:       []httpserver.Route{{Pattern: "/sensocto.v1.SensorService/", Handler: readAll}},
		MaxBodyBytes: 10,
	})
	const path = "/sensocto.v1.SensorService/Publish"
	big := strings.Repeat("x", 11)
	tests := []struct {
		contentType string
		body        string
		status      int
	}{
		{"application/json", "small", 200},
		{"application/json", big, 413},
		{"application/proto", big, 413},
		{"application/grpc", big, 200},
		{"application/grpc-web+proto", big, 200},
		{"application/connect+proto", big, 200},
	}
	for _, tt := range tests {
		t.Run(tt.contentType+"/"+tt.body, func(t *testing.T) {
			t.Parallel()
			rec := serve(t, h, "POST", path, http.Header{"Content-Type": {tt.contentType}}, tt.body)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
		})
	}
	// Unknown length (chunked): the limit still applies while reading.
	req := httptest.NewRequest("POST", path, io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Errorf("chunked oversized body = %d, want 413", rec.Code)
	}
}
