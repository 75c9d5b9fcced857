// Package latest owns the one-slot "latest value" mailbox: a channel of capacity one
// that always holds the newest value not yet read, so a slow reader skips stale values
// instead of blocking the writer or queueing without bound (the back-pressure config of
// a connector, the load monitor's state, a simulated sensor's config). It knows no
// domain.
package latest

// Put overwrites the mailbox ch (capacity one) with v without blocking. The caller must
// be ch's only writer (it holds the lock that all writers take, or it is the one writing
// goroutine): then after draining a stale value the send succeeds.
func Put[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}
