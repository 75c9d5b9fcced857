package latest_test

import (
	"testing"

	"github.com/sensocto/sensocto/server/internal/latest"
)

func TestPutKeepsOnlyTheNewest(t *testing.T) {
	t.Parallel()
	ch := make(chan int, 1)
	latest.Put(ch, 1) // empty mailbox
	latest.Put(ch, 2) // full: the stale 1 is dropped
	latest.Put(ch, 3)
	if got := <-ch; got != 3 {
		t.Fatalf("read %d, want the newest (3)", got)
	}
	select {
	case v := <-ch:
		t.Fatalf("the mailbox still held %d after the newest was read", v)
	default:
	}
}
