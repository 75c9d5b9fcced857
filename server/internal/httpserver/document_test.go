package httpserver_test

import (
	"net/http"
	"testing"

	"github.com/sensocto/sensocto/server/internal/httpserver"
)

// TestDocument serves a fixed document beside the SPA: the document at its path (GET,
// HEAD, ETag revalidation), and nothing below its path ever falls back to the SPA.
func TestDocument(t *testing.T) {
	t.Parallel()
	doc := []byte("openapi: 3.1.0\n")
	h := httpserver.NewHandler(httpserver.Routes{
		Routes:      []httpserver.Route{{Pattern: "GET /openapi.yaml", Handler: httpserver.Document("application/yaml", doc)}},
		SPA:         spaFS,
		APIPrefixes: []string{"/openapi.yaml"},
	})
	rec := serve(t, h, "GET", "/openapi.yaml", nil, "")
	if rec.Code != 200 || rec.Body.String() != string(doc) || rec.Header().Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	etag := rec.Header().Get("ETag")
	if rec := serve(t, h, "GET", "/openapi.yaml", http.Header{"If-None-Match": {etag}}, ""); etag == "" || rec.Code != http.StatusNotModified {
		t.Errorf("revalidation with ETag %q: %d", etag, rec.Code)
	}
	if rec := serve(t, h, "HEAD", "/openapi.yaml", nil, ""); rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "15" {
		t.Errorf("HEAD: %d, %d bytes, length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	for _, path := range []string{"/openapi.yaml/", "/openapi.yaml/x", "/openapi.yamlx"} {
		if rec := serve(t, h, "GET", path, nil, ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404 (never the web app)", path, rec.Code, rec.Body.String())
		}
	}
	if rec := serve(t, h, "POST", "/openapi.yaml", nil, "x"); rec.Code != http.StatusNotFound {
		t.Errorf("POST /openapi.yaml: %d %q, want 404 (never the web app)", rec.Code, rec.Body.String())
	}
}
