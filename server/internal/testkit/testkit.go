// Package testkit owns the helpers that the tests of many packages share (waiting for
// a condition that another goroutine makes true). Only tests import it; it knows no
// domain.
package testkit

import (
	"testing"
	"time"
)

// Deadline is how long WaitFor waits before it fails the test: long enough for a
// loaded shared machine, short enough that a hang names itself.
const Deadline = 20 * time.Second

// WaitFor polls cond until it holds. It fails the test (naming what it waited for)
// after Deadline or when the test's context ends.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended waiting for %s", what)
		case <-tick.C:
		}
	}
}
