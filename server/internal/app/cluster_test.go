package app_test

import (
	"context"
	"errors"
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
	cancel()
	testkit.WaitFor(t, "A to stop publishing once B's watch ended", func() bool {
		return !a.app.Bus().Interested(bus.KindMeasurements, watched)
	})
}
