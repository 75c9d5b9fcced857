package app_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/sensocto/sensocto/gen/openapi"
	"github.com/sensocto/sensocto/server/internal/app"
)

// TestOpenAPIServed checks that the app serves the generated OpenAPI document without a
// credential.
func TestOpenAPIServed(t *testing.T) {
	srv := startServer(t, "sqlite", nil)
	res, err := http.Get(srv.url + app.OpenAPIPath) //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(body) != string(openapi.YAML) || len(body) < 1000 {
		t.Fatalf("GET %s: %d, %d bytes (want the %d bytes of gen/openapi)", app.OpenAPIPath, res.StatusCode, len(body), len(openapi.YAML))
	}
}
