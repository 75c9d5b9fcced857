//go:build cluster

// The three-node test runs three real `sensocto serve` processes (the binary built
// from this tree) as one cluster over the PostgreSQL of SENSOCTO_TEST_POSTGRES_URL and
// the NATS (JetStream) of SENSOCTO_TEST_NATS_URL, and checks what cluster mode
// promises (README, "Running a cluster"): data published on one node reaches a Watch on
// another, room members on different nodes see each other's presence and edits, the
// room document survives `kill -9` of its owning node, a simulator run moves to a live
// node after `kill -9` of its node with its data recorded once (history_test.go),
// GetHistory answers the same points on every node, and a sign-out on one node is
// refused on another.
// Run it with `go tool task test:cluster` (the build tag keeps it out of
// `go test ./...`).
package cluster_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/automerge/automerge-go"
	"github.com/nats-io/nats.go/jetstream"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/testkit"
	"github.com/sensocto/sensocto/server/internal/testkit/natstest"
)

// binary is the sensocto binary built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sensocto-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sensocto")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	build := exec.Command("go", "build", "-o", binary, "./server/cmd/sensocto")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sensocto:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// node is one sensocto process.
type node struct {
	id  string
	url string
	cmd *exec.Cmd
	log *lockedLog
}

type lockedLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLog) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }

func (l *lockedLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "\n")
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startNodes starts n processes of one cluster: one database, one secret, one NATS
// prefix of this test alone, each node on a random port.
func startNodes(t *testing.T, n int) ([]*node, string, string) {
	t.Helper()
	natsURL := natstest.URL(t)
	dbURL := dbtest.URL(t, database.DialectPostgres)
	prefix := natstest.Name("cluster3-")
	js, _ := natstest.JetStream(t)
	natstest.DeleteBucket(t, js, strings.ReplaceAll(prefix, ".", "_")+"_leases")
	nodes := make([]*node, n)
	for i := range nodes {
		addr := freePort(t)
		nd := &node{id: fmt.Sprintf("n%d", i+1), url: "http://" + addr, log: &lockedLog{}}
		cmd := exec.Command(binary, "serve")
		cmd.Env = append(os.Environ(),
			"SENSOCTO_HTTP_ADDR="+addr,
			"SENSOCTO_DATA_DIR="+t.TempDir(),
			"SENSOCTO_DATABASE_URL="+dbURL,
			"SENSOCTO_NATS_URL="+natsURL,
			"SENSOCTO_NATS_PREFIX="+prefix,
			"SENSOCTO_NODE_ID="+nd.id,
			"SENSOCTO_SECRET_KEY=three-node-test-secret-0123456789abcdef",
			"SENSOCTO_PUBLIC_URL="+nd.url,
			"SENSOCTO_LOG_FORMAT=json",
			"SENSOCTO_LOG_LEVEL=info",
			"SENSOCTO_DEMO_SCENARIO=",
		)
		out, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = cmd.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 64*1024), 1<<20)
			for sc.Scan() {
				nd.log.add(sc.Text())
			}
		}()
		nd.cmd = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("log of %s:\n%s", nd.id, nd.log.tail(40))
			}
		})
		nodes[i] = nd
	}
	for _, nd := range nodes {
		testkit.WaitFor(t, nd.id+" to answer /healthz", func() bool {
			res, err := http.Get(nd.url + "/healthz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
	}
	// Every node sees the two others before the checks start.
	viewer := guest(t, nodes[0])
	for _, nd := range nodes {
		on := viewer.on(nd)
		testkit.WaitFor(t, nd.id+" to list the three nodes", func() bool {
			res, err := on.system.GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
			return err == nil && len(res.GetStatus().GetNodes()) == n
		})
	}
	return nodes, prefix, dbURL
}

// party is a user's clients of one node.
type party struct {
	token, userID string
	sensors       sensoctov1connect.SensorServiceClient
	attention     sensoctov1connect.AttentionServiceClient
	auth          sensoctov1connect.AuthServiceClient
	system        sensoctov1connect.SystemServiceClient
	rooms         sensoctov1connect.RoomServiceClient
}

type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

func clientFor(token string) *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: bearer{base: &http.Transport{Protocols: p}, token: token}}
}

func partyWith(url, token, userID string) party {
	c := clientFor(token)
	return party{
		token: token, userID: userID,
		sensors:   sensoctov1connect.NewSensorServiceClient(c, url),
		attention: sensoctov1connect.NewAttentionServiceClient(c, url),
		auth:      sensoctov1connect.NewAuthServiceClient(c, url),
		system:    sensoctov1connect.NewSystemServiceClient(c, url),
		rooms:     sensoctov1connect.NewRoomServiceClient(c, url),
	}
}

// on is the same user's clients of another node.
func (p party) on(nd *node) party { return partyWith(nd.url, p.token, p.userID) }

func guest(t *testing.T, nd *node) party {
	t.Helper()
	res, err := sensoctov1connect.NewAuthServiceClient(http.DefaultClient, nd.url).SignInGuest(t.Context(), &sensoctov1.SignInGuestRequest{})
	if err != nil {
		t.Fatalf("SignInGuest on %s: %v", nd.id, err)
	}
	return partyWith(nd.url, res.GetToken(), res.GetUser().GetUserId())
}

// stream reads a server stream into a channel until it ends.
type stream[T any] struct {
	ch   chan *T
	err  chan error
	stop context.CancelFunc
}

func open[T any](t *testing.T, f func(ctx context.Context) (*connect.ServerStreamForClient[T], error)) *stream[T] {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s, err := f(ctx)
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	st := &stream[T]{ch: make(chan *T, 4096), err: make(chan error, 1), stop: cancel}
	go func() {
		defer close(st.ch)
		for s.Receive() {
			select {
			case st.ch <- s.Msg():
			case <-ctx.Done():
			}
		}
		st.err <- s.Err()
		_ = s.Close()
	}()
	t.Cleanup(cancel)
	return st
}

// await reads until ok holds; it fails when the stream ends or at the deadline.
func (s *stream[T]) await(t *testing.T, what string, ok func(*T) bool) *T {
	t.Helper()
	deadline := time.After(testkit.Deadline)
	for {
		select {
		case m, open := <-s.ch:
			if !open {
				t.Fatalf("stream ended waiting for %s: %v", what, <-s.err)
			}
			if ok(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestThreeNodes runs the cluster's promises over three processes.
func TestThreeNodes(t *testing.T) {
	nodes, prefix, dbURL := startNodes(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	db := dbtest.OpenURL(t, dbURL).SQL

	t.Run("PublishOn1WatchOn3", func(t *testing.T) {
		owner := guest(t, n1)
		viewer := guest(t, n3)
		id := "three-node-" + owner.userID[:8]
		if _, err := owner.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{
			SensorId: id, Visibility: sensoctov1.Visibility_VISIBILITY_PUBLIC,
			Attributes: []*sensoctov1.Attribute{{AttributeId: "hr", AttributeType: "heartrate"}},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := viewer.attention.ReportAttention(t.Context(), &sensoctov1.ReportAttentionRequest{TabId: "tab-node-3",
			Events: []*sensoctov1.AttentionEvent{{SensorId: id, Kind: sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS}}}); err != nil {
			t.Fatal(err)
		}
		w := open(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchResponse], error) {
			return viewer.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{id}, SkipRecent: true, TabId: "tab-node-3"})
		})
		// Publish until the watch on 3 has the values in order (the first publishes
		// may precede node 1 learning of node 3's interest).
		next := 1.0
		var got []float64
		testkit.WaitFor(t, "values published on 1 at the Watch on 3", func() bool {
			if _, err := owner.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{
				{AttributeId: "hr", Value: &sensoctov1.Measurement_Number{Number: next}}}}); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			next++
			for {
				select {
				case res := <-w.ch:
					for _, d := range res.GetData() {
						for _, m := range d.GetMeasurements() {
							got = append(got, m.GetNumber())
						}
					}
					continue
				default:
				}
				break
			}
			return len(got) >= 5
		})
		for i := 1; i < len(got); i++ {
			if got[i] != got[i-1]+1 {
				t.Fatalf("values on 3 out of order or lost: %v", got)
			}
		}
	})

	t.Run("FocusOn2HighOn1", func(t *testing.T) {
		owner := guest(t, n1)
		viewer := guest(t, n2)
		id := "three-node-focus-" + owner.userID[:8]
		if _, err := owner.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{
			SensorId: id, Visibility: sensoctov1.Visibility_VISIBILITY_PUBLIC,
			Attributes: []*sensoctov1.Attribute{{AttributeId: "hr", AttributeType: "heartrate"}},
		}); err != nil {
			t.Fatal(err)
		}
		bp := open(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchBackpressureResponse], error) {
			return owner.sensors.WatchBackpressure(ctx, &sensoctov1.WatchBackpressureRequest{SensorId: id})
		})
		bp.await(t, "the first config on 1", func(*sensoctov1.WatchBackpressureResponse) bool { return true })
		start := time.Now()
		if _, err := viewer.attention.ReportAttention(t.Context(), &sensoctov1.ReportAttentionRequest{TabId: "tab-node-2",
			Events: []*sensoctov1.AttentionEvent{{SensorId: id, Kind: sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS}}}); err != nil {
			t.Fatal(err)
		}
		bp.await(t, "HIGH on 1 after the focus on 2", func(r *sensoctov1.WatchBackpressureResponse) bool {
			return r.GetBackpressure().GetAttentionLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH
		})
		t.Logf("focus on 2 → HIGH config on 1 in %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("SignOutOn1RefusedOn3", func(t *testing.T) {
		a, b := n1, n3
		user := guest(t, a)
		onB := user.on(b)
		if _, err := onB.auth.GetMe(t.Context(), &sensoctov1.GetMeRequest{}); err != nil {
			t.Fatalf("GetMe on %s: %v", b.id, err)
		}
		start := time.Now()
		if _, err := user.auth.SignOut(t.Context(), &sensoctov1.SignOutRequest{}); err != nil {
			t.Fatalf("SignOut on %s: %v", a.id, err)
		}
		testkit.WaitFor(t, "the signed-out session refused on another node", func() bool {
			_, err := onB.auth.GetMe(t.Context(), &sensoctov1.GetMeRequest{})
			return connect.CodeOf(err) == connect.CodeUnauthenticated
		})
		t.Logf("sign-out on %s refused on %s after %v", a.id, b.id, time.Since(start).Round(time.Millisecond))
	})
	t.Run("HistoryAcrossNodesRecordedOnce", func(t *testing.T) {
		historyAcrossNodes(t, nodes, db)
	})

	t.Run("RoomAcrossNodes", func(t *testing.T) {
		roomAcrossNodes(t, nodes, prefix)
	})

	t.Run("SimulatorRunMovesAfterKill", func(t *testing.T) {
		simulatorRunMoves(t, nodes, prefix, db)
	})

}

// leaseHolder reads who holds a lease in the cluster's bucket ("" for nobody).
func leaseHolder(t *testing.T, prefix, name string) string {
	t.Helper()
	js, _ := natstest.JetStream(t)
	kv, err := js.KeyValue(t.Context(), strings.ReplaceAll(prefix, ".", "_")+"_leases")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), name)
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// simulatorRunMoves: a simulator run started through one live node runs on exactly one
// node (its lease); kill -9 of that node moves the run to a live node, whose data
// reaches a Watch again. Its recorded data holds every value once: no series has two
// rows overlapping in time, and the one gap is the takeover (see docs/architecture.md,
// "Recording in a cluster").
func simulatorRunMoves(t *testing.T, nodes []*node, prefix string, db *sql.DB) {
	live := liveNodes(nodes)
	if len(live) < 2 {
		t.Fatalf("%d live nodes", len(live))
	}
	user := guest(t, live[0])
	sim := sensoctov1connect.NewSimulatorServiceClient(clientFor(user.token), live[0].url)
	res, err := sim.StartScenario(t.Context(), &sensoctov1.StartScenarioRequest{Name: "single_person"})
	if err != nil {
		t.Fatal(err)
	}
	ids := res.GetRun().GetSensorIds()
	if len(ids) == 0 {
		t.Fatal("the run has no sensors")
	}
	name := "sim." + user.userID + ".single_person"
	var first string
	testkit.WaitFor(t, "the run's lease", func() bool { first = leaseHolder(t, prefix, name); return first != "" })
	var victim, survivor *node
	for _, nd := range live {
		if nd.id == first {
			victim = nd
		} else if survivor == nil {
			survivor = nd
		}
	}
	if victim == nil {
		t.Fatalf("the run's lease is held by %q, not a live node", first)
	}
	for _, id := range ids {
		testkit.WaitFor(t, "recording on for "+id+" (once the run registered it)", func() bool {
			_, err := user.sensors.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: true})
			if err != nil && connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("SetRecording %s: %v", id, err)
			}
			return err == nil
		})
	}
	// The run's node learns of the recording within sensors.RecordingRefresh (30 s)
	// unless it was asked there; wait for its rows.
	testkit.WaitFor(t, "the run's data recorded by "+victim.id+" (three flushes or more of a series)", func() bool {
		perSeries := map[string]int{}
		for _, r := range recordedOf(t, db, ids...) {
			perSeries[r.sensor+"/"+r.attr]++
			if perSeries[r.sensor+"/"+r.attr] >= 3 {
				return true
			}
		}
		return false
	})
	killed := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	testkit.WaitFor(t, "the run's lease at a live node", func() bool {
		h := leaseHolder(t, prefix, name)
		return h != "" && h != victim.id
	})
	t.Logf("lease takeover: simulator run %s held by %s %v after kill -9 of %s", res.GetRun().GetRunId(), leaseHolder(t, prefix, name), time.Since(killed).Round(10*time.Millisecond), victim.id)
	onSurvivor := user.on(survivor)
	// The new node registers the run's sensors as it starts it: watch until data comes.
	testkit.WaitFor(t, "the moved run's data at a Watch on "+survivor.id, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		st, err := onSurvivor.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: ids, SkipRecent: true, TabId: "tab-simulator"})
		if err != nil {
			return false
		}
		defer st.Close()
		for st.Receive() {
			if len(st.Msg().GetData()) > 0 {
				return true
			}
		}
		return false // refused (not registered there yet) or no data within 5 s: again
	})
	t.Logf("simulator data flowing again %v after the kill", time.Since(killed).Round(10*time.Millisecond))
	runs, err := sensoctov1connect.NewSimulatorServiceClient(clientFor(user.token), survivor.url).ListRuns(t.Context(), &sensoctov1.ListRunsRequest{RunningOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs.GetRuns()) < 1 || runs.GetRuns()[0].GetRunId() != res.GetRun().GetRunId() {
		t.Fatalf("running runs after the move: %v, want the one run %s", runs.GetRuns(), res.GetRun().GetRunId())
	}
	// The new node records the run from its first batch (the sensors' recording flag is
	// read as it registers them): rows after the kill, none overlapping an older one.
	killedUS := killed.UnixMicro()
	testkit.WaitFor(t, "the moved run's data recorded", func() bool {
		rows := recordedOf(t, db, ids...)
		return len(rows) > 0 && rows[len(rows)-1].start > killedUS && slices.ContainsFunc(rows, func(r recordedRow) bool { return r.start > killedUS+int64(time.Second/time.Microsecond) })
	})
	rows := recordedOf(t, db, ids...)
	checkRecordedOnce(t, rows)
	gaps := takeoverGaps(rows, killedUS)
	if len(gaps) == 0 {
		t.Fatalf("no series recorded on both sides of the kill: %d rows", len(rows))
	}
	shortest := time.Duration(math.MaxInt64)
	for _, g := range gaps {
		shortest = min(shortest, g)
	}
	t.Logf("recorded once: %d rows of %d sensors, no two overlapping; takeover gap per series %v (shortest %v)", len(rows), len(ids), gaps, shortest)
	// The gap of a series is its node's unflushed data (up to the recorder's 250 ms),
	// the lease TTL (3 s) and claim interval (1 s), the run's start, and the series' own
	// sampling period; the shortest is the takeover itself.
	if limit := 20 * time.Second; shortest > limit {
		t.Fatalf("takeover gap %v, want under %v (lease TTL + claim interval + the lost flush, with room for load)", shortest, limit)
	}
}

func liveNodes(nodes []*node) []*node {
	var out []*node
	for _, nd := range nodes {
		if nd.cmd.ProcessState == nil {
			out = append(out, nd)
		}
	}
	return out
}

// docPeer is a client tab syncing the room document.
type docPeer struct {
	t    *testing.T
	p    party
	room string
	tab  string
	doc  *automerge.Doc
	ss   *automerge.SyncState
	mu   sync.Mutex
}

func (d *docPeer) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for range 50 {
		var out []byte
		if m, ok := d.ss.GenerateMessage(); ok {
			out = m.Bytes()
		}
		res, err := d.p.rooms.SyncRoomState(d.t.Context(), &sensoctov1.SyncRoomStateRequest{RoomId: d.room, PeerId: d.tab, SyncMessage: out})
		if err != nil {
			return err
		}
		if in := res.GetSyncMessage(); len(in) > 0 {
			if _, err := d.ss.ReceiveMessage(in); err != nil {
				return err
			}
		}
		if out == nil && len(res.GetSyncMessage()) == 0 {
			return nil
		}
	}
	return errors.New("sync did not settle")
}

func (d *docPeer) receive(msg []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.ss.ReceiveMessage(msg)
	return err
}

func (d *docPeer) notes() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, _ := d.doc.Path("notes").Text().Get()
	return v
}

func (d *docPeer) write(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	txt := d.doc.Path("notes").Text()
	if err := txt.Insert(txt.Len(), s); err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.doc.Commit("type"); err != nil {
		d.t.Fatal(err)
	}
}

// watchRoom opens the tab's WatchRoom and feeds its STATE messages to the peer.
func (d *docPeer) watchRoom(t *testing.T, view string) *stream[sensoctov1.WatchRoomResponse] {
	d.mu.Lock()
	d.ss = automerge.NewSyncState(d.doc) // a new stream: the server's sync state starts afresh
	d.mu.Unlock()
	w := open(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchRoomResponse], error) {
		return d.p.rooms.WatchRoom(ctx, &sensoctov1.WatchRoomRequest{RoomId: d.room, TabId: d.tab, View: view})
	})
	return w
}

func member(ev *sensoctov1.WatchRoomResponse, user string) *sensoctov1.Member {
	for _, m := range ev.GetMembers() {
		if m.GetUserId() == user {
			return m
		}
	}
	return nil
}

// roomAcrossNodes: the owner on node 1 and a member on node 2 see each other's
// presence, a room change made on node 3, and each other's document edits; then the
// document's owning node is killed with SIGKILL: the lease moves, the document keeps
// every edit, and the watchers reconnect (to a live node) and sync again.
func roomAcrossNodes(t *testing.T, nodes []*node, prefix string) {
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	owner := guest(t, n1)
	member2 := guest(t, n2)
	created, err := owner.rooms.CreateRoom(t.Context(), &sensoctov1.CreateRoomRequest{Name: "Three nodes"})
	if err != nil {
		t.Fatal(err)
	}
	room := created.GetRoom()
	var joinErr error
	testkit.WaitFor(t, "node 2 to know the room's code", func() bool {
		_, joinErr = member2.rooms.JoinRoom(t.Context(), &sensoctov1.JoinRoomRequest{JoinCode: room.GetJoinCode()})
		return joinErr == nil
	})
	po := &docPeer{t: t, p: owner, room: room.GetRoomId(), tab: "owner-tab", doc: automerge.New()}
	pm := &docPeer{t: t, p: member2, room: room.GetRoomId(), tab: "member-tab", doc: automerge.New()}
	po.ss, pm.ss = automerge.NewSyncState(po.doc), automerge.NewSyncState(pm.doc)
	wo := po.watchRoom(t, "sensors")
	wm := pm.watchRoom(t, "notes")
	wo.await(t, "the member's presence (node 2) at the owner's watch (node 1)", func(ev *sensoctov1.WatchRoomResponse) bool {
		m := member(ev, member2.userID)
		return m != nil && m.GetPresent() && len(m.GetViews()) == 1 && m.GetViews()[0] == "notes"
	})
	wm.await(t, "the owner's presence (node 1) at the member's watch (node 2)", func(ev *sensoctov1.WatchRoomResponse) bool {
		m := member(ev, owner.userID)
		return m != nil && m.GetPresent()
	})
	name := "Renamed on node 3"
	if _, err := owner.on(n3).rooms.UpdateRoom(t.Context(), &sensoctov1.UpdateRoomRequest{RoomId: room.GetRoomId(), Name: &name}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*stream[sensoctov1.WatchRoomResponse]{wo, wm} {
		w.await(t, "the rename made on node 3", func(ev *sensoctov1.WatchRoomResponse) bool { return ev.GetRoom().GetName() == name })
	}

	// Document edits: each peer answers its stream's STATE messages.
	follow := func(d *docPeer, w *stream[sensoctov1.WatchRoomResponse]) <-chan error {
		ended := make(chan error, 1)
		go func() {
			for ev := range w.ch {
				if ev.GetKind() != sensoctov1.RoomEventKind_ROOM_EVENT_KIND_STATE {
					continue
				}
				if err := d.receive(ev.GetSyncMessage()); err != nil {
					ended <- err
					return
				}
				_ = d.sync()
			}
			ended <- <-w.err
		}()
		return ended
	}
	endO, endM := follow(po, wo), follow(pm, wm)
	// Both start from the server's document (its sections exist before anyone types).
	for _, d := range []*docPeer{po, pm} {
		testkit.WaitFor(t, d.tab+" to have the server's document", func() bool {
			if err := d.sync(); err != nil {
				return false
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			_, err := d.doc.Path("notes").Text().Get()
			return err == nil
		})
	}
	po.write("owner on 1. ")
	if err := po.sync(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the owner's edit at the member's (node 2)", func() bool { return pm.notes() == "owner on 1. " })
	pm.write("member on 2. ")
	if err := pm.sync(); err != nil {
		t.Fatal(err)
	}
	const both = "owner on 1. member on 2. "
	testkit.WaitFor(t, "the member's edit at the owner's (node 1)", func() bool { return po.notes() == both })

	// Kill the document's owning node.
	js, _ := natstest.JetStream(t)
	kv, err := js.KeyValue(t.Context(), strings.ReplaceAll(prefix, ".", "_")+"_leases")
	if err != nil {
		t.Fatal(err)
	}
	holder := func() string {
		e, err := kv.Get(t.Context(), "roomdoc."+room.GetRoomId())
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) || err != nil {
			return ""
		}
		return string(e.Value())
	}
	ownerNode := holder()
	var victim *node
	for _, nd := range nodes {
		if nd.id == ownerNode {
			victim = nd
		}
	}
	if victim == nil {
		t.Fatalf("the document's lease is held by %q, not one of the nodes", ownerNode)
	}
	killed := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	testkit.WaitFor(t, "the lease to move to a live node", func() bool {
		h := holder()
		return h != "" && h != victim.id
	})
	t.Logf("lease takeover: roomdoc lease of %s held by %s %v after kill -9 of %s", room.GetRoomId(), holder(), time.Since(killed).Round(10*time.Millisecond), victim.id)
	_ = endO
	_ = endM
	// Every watcher's stream ended (on the dead node, or relayed from it); each
	// reconnects to a live node and syncs again.
	live := liveNodes(nodes)
	reconnect := func(d *docPeer, view string) {
		target := live[0]
		d.p = d.p.on(target)
		w := d.watchRoom(t, view)
		follow(d, w)
		testkit.WaitFor(t, d.tab+" to sync again", func() bool { return d.sync() == nil })
	}
	// The streams on the dead node end with the connection; relayed ones with
	// Unavailable: wait for both before reconnecting.
	for _, e := range []<-chan error{endO, endM} {
		select {
		case <-e:
		case <-time.After(testkit.Deadline):
			t.Fatal("a watcher's stream did not end after the owner died")
		}
	}
	reconnect(po, "sensors")
	reconnect(pm, "notes")
	took := time.Since(killed)
	fresh := &docPeer{t: t, p: guestMember(t, live[len(live)-1], room.GetJoinCode()), room: room.GetRoomId(), tab: "fresh-tab", doc: automerge.New()}
	fresh.ss = automerge.NewSyncState(fresh.doc)
	// The owning node learns of the new member through the bus: retry until it has.
	testkit.WaitFor(t, "a newcomer's first sync", func() bool { return fresh.sync() == nil })
	if got := fresh.notes(); got != both {
		t.Fatalf("after kill -9 of %s the document holds %q, want %q", victim.id, got, both)
	}
	t.Logf("kill -9 of the document's owner %s: lease at %s, both clients synced again %v after the kill", victim.id, holder(), took.Round(10*time.Millisecond))
	po.write("owner again.")
	if err := po.sync(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "a new edit at the member's after the takeover", func() bool { return pm.notes() == both+"owner again." })
	_ = n2
}

func guestMember(t *testing.T, nd *node, code string) party {
	t.Helper()
	p := guest(t, nd)
	if _, err := p.rooms.JoinRoom(t.Context(), &sensoctov1.JoinRoomRequest{JoinCode: code}); err != nil {
		t.Fatal(err)
	}
	return p
}
