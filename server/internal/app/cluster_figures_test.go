package app_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// TestClusterFigures measures the cross-node live path (docs/performance.md): values
// ingested on node A through a connector Stream and delivered by a Watch on node B, as
// single measurements and as sample blocks, and the latency of single values from the
// Stream send to B's Watch at a moderate rate. It is a measurement, run on demand:
//
//	SENSOCTO_CLUSTER_FIGURES=1 go test ./server/internal/app -run TestClusterFigures -v
//
// It still fails if a value is lost or reordered.
func TestClusterFigures(t *testing.T) {
	if os.Getenv("SENSOCTO_CLUSTER_FIGURES") == "" {
		t.Skip("a measurement: set SENSOCTO_CLUSTER_FIGURES=1")
	}
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	owner := newParty(t, a.url)
	viewer := newParty(t, b.url)
	id := newSensorID("cluster-figures")
	register(t, owner.sensors, id,
		&sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"},
		&sensoctov1.Attribute{AttributeId: "ecg", AttributeType: "ecg", SampleRateHz: 1000})
	if _, err := owner.sensors.UpdateSensor(t.Context(), &sensoctov1.UpdateSensorRequest{SensorId: id, Visibility: sensoctov1.Visibility_VISIBILITY_PUBLIC}); err != nil {
		t.Fatal(err)
	}
	focus(t, viewer, "viewer-tab", id) // HIGH on B: delivered at once
	w := readStream(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchResponse], error) {
		return viewer.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{id}, SkipRecent: true, TabId: "viewer-tab"})
	})
	testkit.WaitFor(t, "A to see B watch", func() bool { return a.app.Bus().Interested(bus.KindMeasurements, id) })
	st, err := owner.sensors.Stream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.CloseRequest(); _ = st.CloseResponse() }()
	go func() { // drain acks and configs
		for {
			if _, err := st.Receive(); err != nil {
				return
			}
		}
	}()
	var seq uint64
	send := func(req *sensoctov1.StreamRequest) {
		seq++
		req.SensorId, req.Sequence = id, seq
		if err := st.Send(req); err != nil {
			t.Errorf("send: %v", err) // from the sending goroutine: the receive times out
		}
	}
	// receive counts values of B's deliveries until want, calling onValue with each
	// single value and credit once per perCredit values.
	receive := func(want, perCredit int, credit chan<- struct{}, onValue func(float64)) {
		got, credited := 0, 0
		for got < want {
			res := w.next(t)
			if res == nil {
				t.Fatalf("Watch ended: %v", w.err())
			}
			if res.GetDropped() > 0 {
				t.Fatalf("B's watcher dropped %d values", res.GetDropped())
			}
			for _, d := range res.GetData() {
				for _, m := range d.GetMeasurements() {
					got++
					if onValue != nil {
						onValue(m.GetNumber())
					}
				}
				for _, blk := range d.GetBlocks() {
					got += len(blk.GetSamples())
				}
			}
			for credit != nil && got-credited >= perCredit {
				credited += perCredit
				credit <- struct{}{}
			}
		}
	}
	// run sends batches with at most half a watcher queue of values not yet delivered
	// on B (the Watch client reads as fast as it can; beyond its queue the hub drops,
	// as for a slow watcher on one node), and reports the values/s delivered.
	run := func(name string, batches, perBatch int, build func(i int) *sensoctov1.StreamRequest, onValue func(float64)) {
		inFlight := max(2, (hub.DefaultMaxQueuedValues/2)/perBatch) // half a watcher queue
		credit := make(chan struct{}, batches+inFlight)
		for range inFlight {
			credit <- struct{}{}
		}
		start := time.Now()
		go func() {
			for i := range batches {
				<-credit
				send(build(i))
			}
		}()
		receive(batches*perBatch, perBatch, credit, onValue)
		el := time.Since(start)
		t.Logf("%s: %d values in %v = %.0f values/s (%.0f batches/s) delivered on B", name, batches*perBatch, el.Round(time.Millisecond),
			float64(batches*perBatch)/el.Seconds(), float64(batches)/el.Seconds())
	}

	// Single values: batches of 100 measurements.
	const perBatch = 100
	next, expect := 0.0, 1.0
	run("single values (batches of 100)", 10000, perBatch, func(int) *sensoctov1.StreamRequest {
		req := &sensoctov1.StreamRequest{}
		for range perBatch {
			next++
			req.Measurements = append(req.Measurements, num("hr", 0, next))
		}
		return req
	}, func(v float64) {
		if v != expect {
			t.Fatalf("B got %v, want %v: lost or reordered", v, expect)
		}
		expect++
	})
	// Sample blocks: batches of 10 blocks of 250 samples.
	const blocks, samples = 10, 250
	t0 := time.Now().UnixMicro()
	run("sample blocks (10 × 250 samples per batch)", 2000, blocks*samples, func(i int) *sensoctov1.StreamRequest {
		req := &sensoctov1.StreamRequest{}
		for j := range blocks {
			req.Blocks = append(req.Blocks, &sensoctov1.SampleBlock{AttributeId: "ecg", SampleRateHz: 1000,
				StartTimeUs: t0 + int64((i*blocks+j)*samples)*1000, Samples: make([]float32, samples)})
		}
		return req
	}, nil)

	// Latency: one value every 10 ms (100 batches/s), the value its send time.
	const probes = 500
	var lat []time.Duration
	go func() {
		for range probes {
			send(&sensoctov1.StreamRequest{Measurements: []*sensoctov1.Measurement{num("hr", 0, float64(time.Now().UnixMicro()))}})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	receive(probes, 1, nil, func(v float64) {
		lat = append(lat, time.Since(time.UnixMicro(int64(v))))
	})
	slices.Sort(lat)
	t.Logf("latency Stream on A → Watch on B at 100 values/s: p50 %v, p99 %v, max %v",
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}
