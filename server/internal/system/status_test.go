package system

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

type fakeDB struct {
	pings atomic.Int32
	err   error
}

func (f *fakeDB) Ping(context.Context) error {
	f.pings.Add(1)
	return f.err
}

func TestSnapshotsAreSharedWithinMaxAge(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	db := &fakeDB{}
	s := New(Options{Version: "v1", Dialect: "sqlite", DB: db, MaxAge: time.Second, Now: func() time.Time { return now }})

	first, err := s.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(500 * time.Millisecond)
	second, _ := s.Status(t.Context())
	if !second.SampledAt.Equal(first.SampledAt) || db.pings.Load() != 1 {
		t.Fatalf("within MaxAge: sampled %v then %v with %d pings, want one shared snapshot", first.SampledAt, second.SampledAt, db.pings.Load())
	}
	now = now.Add(time.Second)
	third, _ := s.Status(t.Context())
	if !third.SampledAt.After(first.SampledAt) || db.pings.Load() != 2 {
		t.Fatalf("after MaxAge: snapshot not refreshed (%v, %d pings)", third.SampledAt, db.pings.Load())
	}
	if third.Uptime != 1500*time.Millisecond || !third.Database.Reachable || third.Version != "v1" {
		t.Errorf("status = %+v", third)
	}
	if third.Runtime.Goroutines <= 0 || third.Runtime.HeapAllocBytes == 0 || third.Runtime.NumCPU <= 0 {
		t.Errorf("runtime = %+v", third.Runtime)
	}
}

func TestUnreachableDatabaseIsReportedNotFailed(t *testing.T) {
	t.Parallel()
	s := New(Options{Dialect: "postgres", DB: &fakeDB{err: errors.New("connection refused")}})
	st, err := s.Status(t.Context())
	if err != nil {
		t.Fatalf("Status failed: %v", err)
	}
	if st.Database.Reachable || st.Database.Error != "connection refused" {
		t.Errorf("database = %+v, want unreachable with the error", st.Database)
	}
}

func TestCPUFractionIsBounded(t *testing.T) {
	t.Parallel()
	var c cpuSampler
	t0 := time.Now()
	if f := c.sample(t0, 2); f != 0 {
		t.Errorf("first sample = %v, want 0 (no interval yet)", f)
	}
	x := 0
	for i := range 20_000_000 { // burn some CPU
		x += i
	}
	_ = x
	if f := c.sample(t0.Add(time.Millisecond), 2); f < 0 || f > 1 {
		t.Errorf("fraction = %v, want within 0..1", f)
	}
}
