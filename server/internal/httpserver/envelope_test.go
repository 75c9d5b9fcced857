package httpserver

import (
	"mime"
	"strings"
	"testing"
)

// TestIsEnvelopedAsMime checks the allocation-free reading of content types against
// mime.ParseMediaType, which it replaces for types without parameters.
func TestIsEnvelopedAsMime(t *testing.T) {
	t.Parallel()
	reference := func(ct string) bool {
		mt, _, err := mime.ParseMediaType(ct)
		return err == nil && (strings.HasPrefix(mt, "application/grpc") || strings.HasPrefix(mt, "application/connect+"))
	}
	for _, ct := range []string{
		"", " ", "application/proto", "application/json", "application/grpc", "application/grpc+proto",
		"application/grpc-web+proto", "application/grpc-web-text", "application/connect+proto",
		"application/connect+json", "application/connect", "Application/GRPC", " application/grpc ",
		"application/grpc; charset=utf-8", "application/grpc;", "application/grpc; =", "application/grpc/x",
		"application/grpc@", "application/grpc x", "application/grpc\t", "application/gr\x7fpc",
		"application/grpcé", "application/", "/grpc", "application", "text/plain", "application/connect+proto;q",
		"APPLICATION/CONNECT+PROTO", "application/grpc\"", "multipart/form-data; boundary=x",
	} {
		if got, want := isEnveloped(ct), reference(ct); got != want {
			t.Errorf("isEnveloped(%q) = %v, mime.ParseMediaType says %v", ct, got, want)
		}
	}
}

func BenchmarkIsEnveloped(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		isEnveloped("application/proto")
	}
}
