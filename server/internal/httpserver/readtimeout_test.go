package httpserver_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/httpserver"
)

// TestStalledBodyHitsReadTimeout sends a unary request's headers and a few bytes of
// body, then stalls: over HTTP/1.1 and h2c the handler's body read fails with a
// deadline error instead of waiting for ever; an enveloped stream is not bounded.
func TestStalledBodyHitsReadTimeout(t *testing.T) {
	t.Parallel()
	type result struct {
		n   int64
		err error
	}
	reads := make(chan result, 4)
	h := httpserver.NewHandler(httpserver.Routes{
		BodyReadTimeout: 200 * time.Millisecond,
		Routes: []httpserver.Route{{Pattern: "POST /upload", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			reads <- result{n, err}
		})}},
	})
	url, _, _ := startServer(t, h)
	for _, c := range []struct {
		name        string
		client      *http.Client
		contentType string
		bounded     bool
	}{
		{"HTTP/1.1", h1Client(t), "application/proto", true},
		{"h2c", h2cClient(t), "application/json", true},
		{"h2c stream", h2cClient(t), "application/grpc", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/upload", pr)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.contentType)
			go func() {
				res, err := c.client.Do(req)
				if err == nil {
					_ = res.Body.Close()
				}
			}()
			if _, err := pw.Write([]byte("0123456789")); err != nil {
				t.Fatal(err)
			}
			// The client now stalls.
			select {
			case r := <-reads:
				if !c.bounded {
					t.Fatalf("a stream's body read ended (%d bytes, %v) while the client was still sending", r.n, r.err)
				}
				if !errors.Is(r.err, os.ErrDeadlineExceeded) {
					t.Fatalf("body read ended with %d bytes, %v; want a deadline error", r.n, r.err)
				}
			case <-time.After(2 * time.Second): // 10 × the timeout; a negative check needs a wait
				if c.bounded {
					t.Fatal("the stalled body was still being read")
				}
				_ = pw.Close()
				<-reads
			}
		})
	}
}
