package app_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/testkit"
	"github.com/sensocto/sensocto/server/internal/testkit/natstest"
)

// startCluster starts n nodes of one cluster in this process: one PostgreSQL database
// and one secret shared, each node on its own port with its own bus end over the NATS
// of SENSOCTO_TEST_NATS_URL, under a subject prefix of this test alone.
func startCluster(t *testing.T, n int) []*server {
	t.Helper()
	natsURL := natstest.URL(t)
	dbURL := dbtest.URL(t, database.DialectPostgres)
	env := map[string]string{
		"SENSOCTO_DATABASE_URL": dbURL,
		"SENSOCTO_SECRET_KEY":   "cluster-test-secret-0123456789abcdef",
		"SENSOCTO_NATS_URL":     natsURL,
		"SENSOCTO_NATS_PREFIX":  natstest.Name("test-"),
	}
	js, _ := natstest.JetStream(t)
	natstest.DeleteBucket(t, js, env["SENSOCTO_NATS_PREFIX"]+"_leases")
	nodes := make([]*server, n)
	for i := range nodes {
		env["SENSOCTO_NODE_ID"] = "node-" + string(rune('a'+i))
		nodes[i] = startServer(t, database.DialectPostgres, env)
	}
	return nodes
}

// TestClusterRevocation: a session signed out, or an API token revoked, on node A is
// refused on node B at once (well before B's 30 s credential cache would let it go),
// for unary calls and for B's open streams.
func TestClusterRevocation(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	for _, how := range credentialLosses {
		t.Run(how, func(t *testing.T) {
			streamer, session, tokenID := viewerCredential(t, a.url, how)
			onB := partyWith(b.url, streamer.token)
			// B resolves the credential and caches it; a stream of B uses it.
			if _, err := onB.auth.GetMe(t.Context(), &sensoctov1.GetMeRequest{}); err != nil {
				t.Fatalf("GetMe on B: %v", err)
			}
			stream, err := onB.system.WatchStatus(t.Context(), &sensoctov1.WatchStatusRequest{})
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if !stream.Receive() {
				t.Fatalf("WatchStatus on B: %v", stream.Err())
			}
			// B follows revocations from its start; A must have heard of it.
			testkit.WaitFor(t, "A to see B follow revocations", func() bool {
				return a.app.Bus().Interested(bus.KindRevocations, "any")
			})
			start := time.Now()
			endCredential(t, how, partyWith(a.url, session.token), tokenID)
			testkit.WaitFor(t, "B to refuse the credential", func() bool {
				_, err := onB.auth.GetMe(t.Context(), &sensoctov1.GetMeRequest{})
				return connect.CodeOf(err) == connect.CodeUnauthenticated
			})
			t.Logf("%s on A refused on B after %v", how, time.Since(start))
			for stream.Receive() {
			}
			var ce *connect.Error
			if !errors.As(stream.Err(), &ce) || ce.Code() != connect.CodeUnauthenticated {
				t.Fatalf("B's stream ended with %v, want unauthenticated", stream.Err())
			}
		})
	}
}

// TestClusterMembership: each node's status lists the live nodes with their load, the
// answering node first; a node that leaves drops out.
func TestClusterMembership(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	viewer := newParty(t, a.url)
	nodesOf := func() []*sensoctov1.ClusterNode {
		res, err := viewer.system.GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
		if err != nil {
			t.Fatalf("GetStatus: %v", err)
		}
		return res.GetStatus().GetNodes()
	}
	testkit.WaitFor(t, "A to list A and B with their load", func() bool {
		ns := nodesOf()
		return len(ns) == 2 && ns[0].GetNode() == "node-a" && ns[0].GetSelf() &&
			ns[1].GetNode() == "node-b" && !ns[1].GetSelf() &&
			ns[1].GetLoadLevel() != sensoctov1.SystemLoadLevel_SYSTEM_LOAD_LEVEL_UNSPECIFIED && ns[1].GetLastSeen() != nil
	})
	if err := b.app.Bus().Close(); err != nil { // B leaves the cluster
		t.Fatal(err)
	}
	testkit.WaitFor(t, "B to drop out of A's list", func() bool { return len(nodesOf()) == 1 })
}

// TestClusterWatchAcrossNodes: measurements ingested on node A reach a Watch on node B
// in order, only while B watches the sensor (A publishes nothing of a sensor no other
// node watches).
func TestClusterWatchAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	owner := newParty(t, a.url)
	viewer := newParty(t, b.url)
	watched, unwatched := newSensorID("cluster-watched"), newSensorID("cluster-unwatched")
	owner.registerPublic(t, watched)
	owner.registerPublic(t, unwatched)
	focus(t, viewer, "viewer-tab", watched) // HIGH on B: B delivers at once
	ctx, cancel := context.WithCancel(t.Context())
	w := readStream(t, func(context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchResponse], error) {
		return viewer.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{watched}, SkipRecent: true, TabId: "viewer-tab"})
	})
	testkit.WaitFor(t, "A to see B watch the sensor", func() bool {
		return a.app.Bus().Interested(bus.KindMeasurements, watched)
	})
	if a.app.Bus().Interested(bus.KindMeasurements, unwatched) {
		t.Fatal("A would publish a sensor no other node watches")
	}
	const n = 200
	for i := 1; i <= n; i++ {
		owner.publish(t, watched, float64(i))
	}
	var got []float64
	for len(got) < n {
		res := w.next(t)
		if res == nil {
			t.Fatalf("Watch on B ended after %d values: %v", len(got), w.err())
		}
		got = append(got, numbers(res, watched)...)
	}
	for i, v := range got {
		if v != float64(i+1) {
			t.Fatalf("B received %v…: value %d is %v, want %d (in order, none lost)", got[:min(len(got), 20)], i, v, i+1)
		}
	}
	// B shows the sensor connected (its connector is on A).
	res, err := viewer.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: watched})
	if err != nil || !res.GetSensor().GetConnected() {
		t.Errorf("GetSensor on B: connected %v (%v), want true while A ingests its data", res.GetSensor().GetConnected(), err)
	}
	// The crossing is counted on both sides.
	for node, want := range map[*server][]string{
		a: {"sensocto_live_remote_batches_out_total", "sensocto_bus_published_total"},
		b: {"sensocto_live_remote_batches_in_total", "sensocto_bus_received_total"},
	} {
		for _, name := range want {
			if v := metric(t, node.url, name); v < n {
				t.Errorf("%s = %v, want at least %d", name, v, n)
			}
		}
	}
	if v := metric(t, b.url, "sensocto_bus_dropped_total"); v != 0 {
		t.Errorf("sensocto_bus_dropped_total on B = %v, want 0", v)
	}
	cancel()
	testkit.WaitFor(t, "A to stop publishing once B's watch ended", func() bool {
		return !a.app.Bus().Interested(bus.KindMeasurements, watched)
	})
}

// TestClusterAttention: a focus on node B moves the back-pressure of a connector on
// node A to HIGH; when B is gone (its bus closed: it stops repeating its attention),
// its viewers' attention lapses on A and the config follows.
func TestClusterAttention(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	owner := newParty(t, a.url)
	viewer := newParty(t, b.url)
	id := newSensorID("cluster-attention")
	owner.registerPublic(t, id)
	cf := watchConfigs(t, owner.sensors, id)
	cf.await(t, "WatchBackpressure on A", sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE)
	testkit.WaitFor(t, "B to see A follow the sensor's attention", func() bool {
		return b.app.Bus().Interested(bus.KindAttention, id)
	})
	start := time.Now()
	focus(t, viewer, "viewer-tab", id)
	cfg := cf.await(t, "HIGH on A after a focus on B", sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH)
	t.Logf("focus on B → HIGH config on A in %v (window %d ms)", time.Since(start), cfg.GetRecommendedBatchWindowMs())
	if err := b.app.Bus().Close(); err != nil { // B is gone for A
		t.Fatal(err)
	}
	cf.await(t, "A's config to drop once B's attention lapsed", sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE)
}

// openStream opens a connector Stream of sensor id and waits for the ack of one batch.
func openStream(t *testing.T, p party, id string, seq uint64, v float64) *connect.BidiStreamForClientSimple[sensoctov1.StreamRequest, sensoctov1.StreamResponse] {
	t.Helper()
	st, err := p.sensors.Stream(t.Context())
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	t.Cleanup(func() { _ = st.CloseResponse() })
	if err := st.Send(&sensoctov1.StreamRequest{SensorId: id, Sequence: seq, Measurements: []*sensoctov1.Measurement{num("hr", 0, v)}}); err != nil {
		t.Fatalf("send: %v", err)
	}
	for {
		res, err := st.Receive()
		if err != nil {
			t.Fatalf("Stream: %v", err)
		}
		if res.GetAck().GetSequence() == seq {
			return st
		}
	}
}

// TestClusterSessionMoves: a connector that reconnects to another node keeps its
// sensor (id, attributes, recording); the newest session wins and the old one ends
// with Aborted, saying why.
func TestClusterSessionMoves(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	owner := newParty(t, a.url)
	id := newSensorID("cluster-move")
	register(t, owner.sensors, id, &sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
	if _, err := owner.sensors.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: true}); err != nil {
		t.Fatalf("SetRecording: %v", err)
	}
	old := openStream(t, owner, id, 1, 1)
	testkit.WaitFor(t, "B to see A follow the sensor's sessions", func() bool {
		return b.app.Bus().Interested(bus.KindSensorEvents, id)
	})
	onB := partyWith(b.url, owner.token)
	openStream(t, onB, id, 2, 2) // the connector reconnects to B
	for {
		_, err := old.Receive()
		if err == nil {
			continue
		}
		if connect.CodeOf(err) != connect.CodeAborted || !strings.Contains(err.Error(), "moved to another node") {
			t.Fatalf("the old session on A ended with %v, want aborted: moved to another node", err)
		}
		break
	}
	res, err := onB.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id})
	if err != nil {
		t.Fatalf("GetSensor on B: %v", err)
	}
	sn := res.GetSensor()
	if !sn.GetRecording() || len(sn.GetAttributes()) != 1 || sn.GetAttributes()[0].GetAttributeId() != "hr" {
		t.Fatalf("the sensor on B: recording %v, attributes %v; want it kept", sn.GetRecording(), sn.GetAttributes())
	}
}

// metric reads one unlabelled metric of a node's /metrics.
func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s at %s/metrics", name, url)
	return 0
}

// TestClusterViewerAttention: viewers see a sensor's attention of the whole cluster. A
// focus on node B shows on node A's Watch (an attention event), WatchAttention and
// GetAttention (HIGH, B's focused viewer counted), with no connector of the sensor anywhere; when B is gone
// its attention lapses and A's WatchAttention is told (LOW: A's own Watch).
func TestClusterViewerAttention(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	owner := newParty(t, a.url)
	viewerB := newParty(t, b.url)
	id := newSensorID("cluster-viewer-attention")
	owner.registerPublic(t, id)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // awaitLevel fails then, not hangs
	defer cancel()
	watch, err := owner.attention.WatchAttention(ctx, &sensoctov1.WatchAttentionRequest{SensorIds: []string{id}})
	if err != nil {
		t.Fatalf("WatchAttention on A: %v", err)
	}
	if !watch.Receive() {
		t.Fatalf("WatchAttention on A: %v", watch.Err())
	}
	if l := watch.Msg().GetAttention()[0].GetLevel(); l != sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE {
		t.Fatalf("first attention on A = %v, want NONE", l)
	}
	w := readStream(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchResponse], error) {
		return owner.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{id}, SkipRecent: true, TabId: "owner-tab"})
	})
	testkit.WaitFor(t, "B to see A follow the sensor's attention", func() bool {
		return b.app.Bus().Interested(bus.KindAttention, id)
	})
	focus(t, viewerB, "viewer-b-tab", id)
	// A's Watch is told with an attention event of the cluster's level.
	for sawHigh := false; !sawHigh; {
		res := w.next(t)
		if res == nil {
			t.Fatalf("Watch on A ended: %v", w.err())
		}
		for _, ev := range res.GetEvents() {
			sawHigh = sawHigh || ev.GetKind() == sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_ATTENTION &&
				ev.GetSensor().GetAttentionLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH
		}
	}
	awaitLevel := func(what string, want sensoctov1.AttentionLevel) {
		t.Helper()
		for watch.Receive() {
			for _, sa := range watch.Msg().GetAttention() {
				if sa.GetSensorId() == id && sa.GetLevel() == want {
					return
				}
			}
		}
		t.Fatalf("WatchAttention on A ended before %s: %v", what, watch.Err())
	}
	awaitLevel("HIGH after a focus on B", sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH)
	got, err := owner.attention.GetAttention(t.Context(), &sensoctov1.GetAttentionRequest{SensorId: id})
	if err != nil {
		t.Fatalf("GetAttention on A: %v", err)
	}
	att := got.GetAttention()
	if att.GetLevel() != sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH || len(att.GetAttributes()) != 1 || att.GetAttributes()[0].GetFocused() != 1 {
		t.Fatalf("GetAttention on A = %v, want HIGH with B's focused viewer", att)
	}
	// A sensor A follows nothing of: GetAttention follows it for the time B takes to
	// repeat its attention.
	id2 := newSensorID("cluster-viewer-attention-2")
	owner.registerPublic(t, id2)
	focus(t, viewerB, "viewer-b-tab", id2)
	testkit.WaitFor(t, "GetAttention on A to show B's focus of a sensor A did not follow", func() bool {
		got, err := owner.attention.GetAttention(t.Context(), &sensoctov1.GetAttentionRequest{SensorId: id2})
		if err != nil {
			t.Fatalf("GetAttention on A: %v", err)
		}
		return got.GetAttention().GetLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH
	})
	if err := b.app.Bus().Close(); err != nil { // B is gone for A
		t.Fatal(err)
	}
	// A's own Watch stays: LOW.
	awaitLevel("LOW once B's attention lapsed", sensoctov1.AttentionLevel_ATTENTION_LEVEL_LOW)
}

// TestClusterRegistryChanges: a sensor made private or deleted on node A is seen so on
// node B at once, whether or not B watches it: B's cached access decision changes (a
// viewer's GetSensor on B is refused) and a Watch on B drops the sensor with a REMOVED
// event, going on for its other sensor, as a local change does.
func TestClusterRegistryChanges(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	for _, how := range accessLosses {
		t.Run(how, func(t *testing.T) {
			owner, viewer := newParty(t, a.url), newParty(t, b.url)
			// Cached on B, watched by nobody.
			cached := newSensorID("cluster-registry-cached")
			owner.registerPublic(t, cached)
			if _, err := viewer.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: cached}); err != nil {
				t.Fatalf("GetSensor on B: %v", err)
			}
			loseAccess(t, how, owner, cached)
			testkit.WaitFor(t, "B to refuse the viewer "+cached+" after "+how+" on A", func() bool {
				_, err := viewer.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: cached})
				return err != nil
			})
			// Watched on B, with another sensor.
			lost, kept := newSensorID("cluster-registry-lost"), newSensorID("cluster-registry-kept")
			owner.registerPublic(t, lost)
			owner.registerPublic(t, kept)
			focus(t, viewer, "viewer-tab", lost, kept)
			w := readStream(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchResponse], error) {
				return viewer.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{lost, kept}, SkipRecent: true, TabId: "viewer-tab"})
			})
			testkit.WaitFor(t, "A to see B watch both sensors", func() bool {
				return a.app.Bus().Interested(bus.KindMeasurements, lost) && a.app.Bus().Interested(bus.KindMeasurements, kept)
			})
			loseAccess(t, how, owner, lost)
			for gotRemoved := false; !gotRemoved; {
				res := w.next(t)
				if res == nil {
					t.Fatalf("Watch on B ended: %v; it should go on for %s", w.err(), kept)
				}
				gotRemoved = removed(res, lost)
			}
			if how != "DeleteSensor" {
				owner.publish(t, lost, 9)
			}
			owner.publish(t, kept, 9)
			for {
				res := w.next(t)
				if res == nil {
					t.Fatalf("Watch on B ended: %v", w.err())
				}
				if len(numbers(res, lost)) > 0 {
					t.Fatalf("data of %s after %s on A", lost, how)
				}
				if vs := numbers(res, kept); len(vs) > 0 && vs[len(vs)-1] == 9 {
					break
				}
			}
		})
	}
}

// TestClusterConnectedSet: a sensor whose connector streams to node A shows connected
// on node B (GetSensor and ListSensors) though nobody on B watches it, and no longer
// once A is gone (its announcements lapse).
func TestClusterConnectedSet(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	owner := newParty(t, a.url)
	id := newSensorID("cluster-connected")
	owner.registerPublic(t, id)
	onB := partyWith(b.url, owner.token)
	connectedOnB := func() (get, list bool) {
		got, err := onB.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id})
		if err != nil {
			t.Fatalf("GetSensor on B: %v", err)
		}
		res, err := onB.sensors.ListSensors(t.Context(), &sensoctov1.ListSensorsRequest{})
		if err != nil {
			t.Fatalf("ListSensors on B: %v", err)
		}
		for _, sn := range res.GetSensors() {
			if sn.GetSensorId() == id {
				list = sn.GetConnected()
			}
		}
		return got.GetSensor().GetConnected(), list
	}
	if get, list := connectedOnB(); get || list {
		t.Fatalf("connected on B before any connector: GetSensor %v, ListSensors %v", get, list)
	}
	openStream(t, owner, id, 1, 1)
	testkit.WaitFor(t, "B to show the sensor connected on A as connected", func() bool {
		get, list := connectedOnB()
		return get && list
	})
	if err := a.app.Bus().Close(); err != nil { // A is gone for B
		t.Fatal(err)
	}
	testkit.WaitFor(t, "B to show the sensor disconnected once A's announcements lapsed", func() bool {
		get, list := connectedOnB()
		return !get && !list
	})
}
