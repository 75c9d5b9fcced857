// Package natstest gives integration tests a connection to the NATS server (with
// JetStream) named by SENSOCTO_TEST_NATS_URL, and names unique to the test so that
// parallel runs never share a bucket or a subject. Without the variable the test is
// skipped, except in CI, where it fails; an unreachable server always fails.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// URLEnv names the environment variable with the NATS server URL.
const URLEnv = "SENSOCTO_TEST_NATS_URL"

// URL returns the NATS server URL, skipping the test without one (failing it in CI).
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(URLEnv)
	if u == "" {
		if dbtest.InCI() {
			t.Fatalf("%s is not set in CI: NATS tests must run there", URLEnv)
		}
		t.Skipf("%s not set; skipping NATS", URLEnv)
	}
	return u
}

// Connect opens a connection to the test server, closed when the test ends.
func Connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(URL(t), nats.Timeout(10*time.Second), nats.Name("sensocto-test "+t.Name()))
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", os.Getenv(URLEnv), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context over a new connection.
func JetStream(t testing.TB) (jetstream.JetStream, *nats.Conn) {
	t.Helper()
	nc := Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return js, nc
}

// Name returns prefix followed by a random suffix: a bucket or subject token of this
// test alone.
func Name(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// DeleteBucket removes a key-value bucket when the test ends.
func DeleteBucket(t testing.TB, js jetstream.JetStream, bucket string) {
	t.Cleanup(func() {
		ctx, cancel := contextTimeout()
		defer cancel()
		_ = js.DeleteKeyValue(ctx, bucket)
	})
}

func contextTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
