package system

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
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
	refused := fmt.Errorf("failed to connect to `user=sensocto database=prod`: 10.0.0.7:5432: %w",
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	s := New(Options{Dialect: "postgres", DB: &fakeDB{err: refused}})
	st, err := s.Status(t.Context())
	if err != nil {
		t.Fatalf("Status failed: %v", err)
	}
	if st.Database.Reachable || st.Database.Error != "database unreachable" {
		t.Errorf("database = %+v, want unreachable, described without its details", st.Database)
	}
}

// The status is shown to every signed-in user: it names no host, process id, database
// address or database user.
func TestStatusRevealsNoHostOrDatabaseDetails(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	pid := strconv.Itoa(os.Getpid())
	s := New(Options{Dialect: "postgres", DB: &fakeDB{err: errors.New("password authentication failed for user \"sensocto\" at 10.0.0.7:5432")}})
	st, err := s.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^node-[0-9a-f]{8}$`).MatchString(st.Node) || (host != "" && strings.Contains(st.Node, host)) || strings.Contains(st.Node, pid) {
		t.Errorf("node = %q, want an opaque id without host %q or pid %s", st.Node, host, pid)
	}
	if st.Node != s.NodeID() {
		t.Errorf("node %q != NodeID %q", st.Node, s.NodeID())
	}
	for _, secret := range []string{"sensocto", "10.0.0.7", "5432"} {
		if strings.Contains(st.Database.Error, secret) {
			t.Errorf("database error %q reveals %q", st.Database.Error, secret)
		}
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

// TestNodesListSelfFirst: the status lists this node (with its live load) first, then
// the cluster's other nodes in id order; a single node lists only itself.
func TestNodesListSelfFirst(t *testing.T) {
	t.Parallel()
	live := func() Live { return Live{LoadLevel: 2, Score: 0.7, ConnectedSensors: 3, Watchers: 4} }
	single := New(Options{Live: live})
	st, err := single.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 1 || st.Nodes[0].ID != single.NodeID() || !st.Nodes[0].Self || st.Nodes[0].LoadLevel != 2 || st.Nodes[0].Watchers != 4 {
		t.Fatalf("single node: %+v", st.Nodes)
	}
	seen := time.Unix(1_700_000_000, 0)
	s := New(Options{NodeID: "node-m", Live: live, Peers: func() []Node {
		return []Node{{ID: "node-z", LastSeen: seen}, {ID: "node-a", LoadLevel: 3, LastSeen: seen}}
	}})
	st, err = s.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range st.Nodes {
		ids = append(ids, fmt.Sprintf("%s:%v:%d", n.ID, n.Self, n.LoadLevel))
	}
	if got := strings.Join(ids, " "); got != "node-m:true:2 node-a:false:3 node-z:false:0" || st.Node != "node-m" {
		t.Fatalf("nodes %s (node %s), want self first, then the others by id", got, st.Node)
	}
}
