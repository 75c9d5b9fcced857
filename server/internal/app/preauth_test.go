package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// readCounter is a request body of n zero bytes that counts what was read of it.
type readCounter struct{ n, read int64 }

func (b *readCounter) Read(p []byte) (int, error) {
	if b.read >= b.n {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), b.n-b.read))
	clear(p[:k])
	b.read += int64(k)
	return k, nil
}

func (b *readCounter) Close() error { return nil }

// TestUnauthenticatedPublishBodyIsNotRead sends the app a 3.75 MB Publish without a
// credential, as Connect (declared length and chunked) and as gRPC: it is refused with
// unauthenticated before any of the body is read or decoded.
func TestUnauthenticatedPublishBodyIsNotRead(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	for _, c := range []struct {
		name, contentType string
		chunked           bool
	}{
		{"connect proto", "application/proto", false},
		{"connect json chunked", "application/json", true},
		{"grpc", "application/grpc", true},
	} {
		body := &readCounter{n: 3_750_000}
		r := httptest.NewRequest(http.MethodPost, sensoctov1connect.SensorServicePublishProcedure, body)
		r.Header.Set("Content-Type", c.contentType)
		r.ContentLength = body.n
		if c.chunked {
			r.ContentLength = -1
		}
		w := httptest.NewRecorder()
		srv.app.Handler().ServeHTTP(w, r)
		unauthenticated := w.Code == http.StatusUnauthorized || w.Header().Get("Grpc-Status") == "16"
		if !unauthenticated || body.read != 0 {
			t.Errorf("%s: status %d grpc-status %q, %d bytes read; want unauthenticated and nothing read",
				c.name, w.Code, w.Header().Get("Grpc-Status"), body.read)
		}
	}
}

// TestMisspelledJSONFieldIsNamed calls the app with Connect JSON: a field the request
// does not have is invalid_argument naming it, never silently dropped.
func TestMisspelledJSONFieldIsNamed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	token := signInGuest(t, srv.url)
	for body, want := range map[string]int{`{"pageSize":5}`: http.StatusOK, `{"pagesize":5}`: http.StatusBadRequest} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.url+sensoctov1connect.SensorServiceListSensorsProcedure, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != want || (want != http.StatusOK && (!strings.Contains(string(b), "invalid_argument") || !strings.Contains(string(b), "pagesize"))) {
			t.Errorf("ListSensors %s = %d %s, want %d (naming the field when refused)", body, res.StatusCode, b, want)
		}
	}
}
