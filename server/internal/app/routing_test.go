package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/database"
)

// testWebApp stands in for the built web app: an index page, a content-hashed asset and
// a root file, so routing is tested through the real app handler without a frontend
// build.
var testWebApp = fstest.MapFS{
	"index.html":                          {Data: []byte("<!doctype html><title>test app</title>")},
	"favicon.svg":                         {Data: []byte("<svg/>")},
	"_app/immutable/entry/start.abc12.js": {Data: []byte("export {}")},
}

const appPage = "<!doctype html><title>test app</title>"

// TestRouting checks which paths the app's one handler answers with the web app (every
// app route, dotted sensor ids included), with a file, or with a 404: the API prefixes
// (RPC services, /export/, /auth/oidc/, /dev/, /metrics, /healthz) never fall back to
// the app, nor do missing built assets.
func TestRouting(t *testing.T) {
	t.Parallel()
	srv := startServer(t, database.DialectSQLite, map[string]string{"SENSOCTO_DEV": "true"}, app.WithWebApp(testWebApp))
	h := srv.app.Handler()

	type want int
	const (
		webApp   want = iota // 200 with the app's index.html
		notFound             // 404, and not the app
		other                // served by its own handler: any status but not the app
	)
	cases := []struct {
		method, path string
		want         want
	}{
		// Every route kind of the app, on reload.
		{"GET", "/", webApp},
		{"GET", "/lobby", webApp},
		{"GET", "/lobby/ecg", webApp},
		{"GET", "/lobby/location", webApp},
		{"GET", "/rooms", webApp},
		{"GET", "/sense", webApp},
		{"GET", "/sensors/plain-id", webApp},
		{"GET", "/sensors/sim.single_person.person_1", webApp},
		{"GET", "/sensors/sim.hospital_ward.patient_12", webApp},
		{"HEAD", "/sensors/sim.single_person.person_1", webApp},
		{"GET", "/settings", webApp},
		{"GET", "/signin", webApp},
		{"GET", "/signin/magic?secret=abc", webApp},
		{"GET", "/simulator", webApp},
		{"GET", "/system", webApp},
		{"GET", "/no/such/page", webApp}, // the app shows its own not-found page
		{"GET", "/dev/mailbox", webApp},  // the mailbox handler renders it with the app

		// Real files.
		{"GET", "/favicon.svg", other},
		{"GET", "/_app/immutable/entry/start.abc12.js", other},

		// Missing built assets and static files.
		{"GET", "/_app/immutable/entry/start.gone1.js", notFound},
		{"GET", "/_app/immutable/chunks/x", notFound},
		{"GET", "/assets/missing", notFound},
		{"GET", "/favicon.ico", notFound},
		{"GET", "/robots.txt", notFound},
		{"GET", "/app.css", notFound},

		// API prefixes never answer with the app.
		{"GET", "/export/", notFound},
		{"GET", "/export/json", notFound},
		{"GET", "/export/csv/extra", notFound},
		{"GET", "/auth/oidc/", notFound},
		{"GET", "/auth/oidc/login", notFound}, // no OpenID provider configured
		{"GET", "/auth/oidc/unknown", notFound},
		{"GET", "/dev/", notFound},
		{"GET", "/dev/unknown", notFound},
		{"GET", "/dev/mailbox.json", notFound},
		{"GET", "/sensocto.v1.NoSuchService/Method", notFound},
		{"POST", "/sensocto.v1.NoSuchService/Method", notFound},
		{"GET", "/sensocto.v1.SensorService/NoSuchMethod", notFound},
		{"POST", "/sensocto.v1.SensorService/NoSuchMethod", notFound},
		{"GET", "/sensocto.v1.SensorService", other}, // the mux's redirect to the service
		{"GET", "/grpc.health.v1.Health/NoSuchMethod", notFound},
		{"GET", "/grpc.reflection.v1.ServerReflection/Nope", other}, // gRPC only (505 over HTTP/1.1)
		{"GET", "/grpc.unknown/Method", notFound},
		{"GET", "/metrics/extra", notFound},
		{"GET", "/metricsx", notFound},
		{"GET", "/healthz/extra", notFound},
		{"GET", "/healthzx", notFound},

		// API endpoints themselves.
		{"GET", "/metrics", other},
		{"GET", "/healthz", other},
		{"GET", "/export/csv", other},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequestWithContext(t.Context(), c.method, c.path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			isApp := strings.Contains(string(body), "test app")
			switch c.want {
			case webApp:
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d (%.200q), want 200 with the web app", rec.Code, body)
				}
				if c.method == http.MethodGet && string(body) != appPage {
					t.Errorf("body %.200q, want the web app's index.html", body)
				}
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("Content-Type %q, want text/html", ct)
				}
			case notFound:
				if rec.Code != http.StatusNotFound {
					t.Errorf("status %d (%.200q), want 404", rec.Code, body)
				}
				if isApp {
					t.Errorf("answered with the web app")
				}
			case other:
				if isApp {
					t.Errorf("status %d answered with the web app, want its own handler", rec.Code)
				}
				if rec.Code == http.StatusNotFound {
					t.Errorf("status 404, want the endpoint served")
				}
			}
		})
	}
}
