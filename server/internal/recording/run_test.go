package recording

import (
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

func TestRunFlushTriggers(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock(baseTime)
			r := newRecorder(t, dbtest.Open(t, dialect), Options{Clock: clock, FlushSamples: 100})
			runRecorder(t, r)
			enqueue := func(n int) {
				for i := range n {
					r.Enqueue(Value{SensorID: "s", AttributeID: "a", TimeUS: baseTime.UnixMicro() + int64(i), Kind: KindNumber})
				}
			}
			// Few values wait for the flush interval...
			enqueue(10)
			testkit.WaitFor(t, "flush timer", func() bool { return clock.Waiters() == 1 })
			if st := r.Stats(); st.Written != 0 || st.Queued != 10 {
				t.Fatalf("before the interval: %+v", st)
			}
			clock.Advance(250 * time.Millisecond)
			testkit.WaitFor(t, "timed flush", func() bool { return r.Stats().Written == 10 })
			// ...FlushSamples values are written without waiting for it.
			enqueue(100)
			testkit.WaitFor(t, "size flush", func() bool { return r.Stats().Written == 110 })
		})
	}
}

// TestRunRetriesWithBackoffThenRecovers takes the store away on every dialect: the
// queue keeps the data, retries back off exponentially up to RetryMax, and
// everything queued is written once the store is back.
func TestRunRetriesWithBackoffThenRecovers(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock(baseTime)
			r := newRecorder(t, dbtest.Open(t, dialect), Options{Clock: clock, RetryMin: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond})
			flaky := &flakySink{inner: r.sink}
			flaky.down.Store(true)
			r.sink = flaky
			runRecorder(t, r)
			for i := range 1000 {
				r.Enqueue(Value{SensorID: "s", AttributeID: "a", TimeUS: baseTime.UnixMicro() + int64(i), Kind: KindNumber, Number: float64(i)})
			}
			testkit.WaitFor(t, "flush timer", func() bool { return clock.Waiters() == 1 })
			clock.Advance(250 * time.Millisecond)
			// Backoff: 100, 200, 400, 400 ms. Advancing by less than the backoff
			// must not retry.
			for i, backoff := range []time.Duration{100, 200, 400, 400} {
				backoff *= time.Millisecond
				testkit.WaitFor(t, "retry", func() bool { return r.Stats().Retries == uint64(i+1) && clock.Waiters() == 1 })
				clock.Advance(backoff - time.Millisecond)
				if clock.Waiters() != 1 {
					t.Fatalf("retry %d came before its backoff of %v", i+1, backoff)
				}
				clock.Advance(time.Millisecond)
			}
			testkit.WaitFor(t, "fifth retry", func() bool { return r.Stats().Retries == 5 && clock.Waiters() == 1 })
			// Queued at baseTime; the clock has moved 250+100+200+400+400 ms since.
			waited := 1350 * time.Millisecond
			if st := r.Stats(); st.Queued != 1000 || st.Written != 0 || st.Dropped != 0 || st.LastError == "" ||
				!st.Retrying || !st.LastWrite.IsZero() || st.OldestQueuedAge != waited {
				t.Fatalf("while down: %+v", st)
			}
			flaky.down.Store(false)
			clock.Advance(400 * time.Millisecond)
			testkit.WaitFor(t, "written after recovery", func() bool { return r.Stats().Written == 1000 })
			if st := r.Stats(); st.Queued != 0 || st.LastError != "" || st.Retrying || st.OldestQueuedAge != 0 ||
				!st.LastWrite.Equal(baseTime.Add(waited+400*time.Millisecond)) || st.LastLag != waited+400*time.Millisecond {
				t.Fatalf("after recovery: %+v", st)
			}
			got := allPoints(t, r, HistoryRequest{SensorID: "s", AttributeID: "a", MaxPoints: 300})
			if len(got) != 1000 || got[999].Number != 999 {
				t.Fatalf("read back %d points", len(got))
			}
		})
	}
}
