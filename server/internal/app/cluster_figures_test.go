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
	// receive counts values of B's deliveries until want, returning the last values.
	receive := func(want int, onValue func(float64)) int {
		got := 0
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
		}
		return got
	}

	// Single values: batches of 100 measurements, as fast as the Stream takes them.
	const singleBatches, perBatch = 500, 100
	next := 0.0
	start := time.Now()
	go func() {
		for range singleBatches {
			req := &sensoctov1.StreamRequest{}
			for range perBatch {
				next++
				req.Measurements = append(req.Measurements, num("hr", 0, next))
			}
			send(req)
		}
	}()
	expect := 1.0
	receive(singleBatches*perBatch, func(v float64) {
		if v != expect {
			t.Fatalf("B got %v, want %v: lost or reordered", v, expect)
		}
		expect++
	})
	el := time.Since(start)
	t.Logf("single values: %d in %v = %.0f values/s delivered on B", singleBatches*perBatch, el, float64(singleBatches*perBatch)/el.Seconds())

	// Sample blocks: batches of 10 blocks of 250 samples.
	const blockBatches, blocks, samples = 200, 10, 250
	start = time.Now()
	go func() {
		t0 := time.Now().UnixMicro()
		for i := range blockBatches {
			req := &sensoctov1.StreamRequest{}
			for j := range blocks {
				blk := &sensoctov1.SampleBlock{AttributeId: "ecg", SampleRateHz: 1000,
					StartTimeUs: t0 + int64((i*blocks+j)*samples)*1000, Samples: make([]float32, samples)}
				req.Blocks = append(req.Blocks, blk)
			}
			send(req)
		}
	}()
	receive(blockBatches*blocks*samples, nil)
	el = time.Since(start)
	t.Logf("sample blocks: %d samples in %v = %.0f samples/s delivered on B", blockBatches*blocks*samples, el, float64(blockBatches*blocks*samples)/el.Seconds())

	// Latency: one value every 10 ms (100 batches/s), the value its send time.
	const probes = 500
	var lat []time.Duration
	go func() {
		for range probes {
			send(&sensoctov1.StreamRequest{Measurements: []*sensoctov1.Measurement{num("hr", 0, float64(time.Now().UnixMicro()))}})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	receive(probes, func(v float64) {
		lat = append(lat, time.Since(time.UnixMicro(int64(v))))
	})
	slices.Sort(lat)
	t.Logf("latency Stream on A → Watch on B at 100 values/s: p50 %v, p99 %v, max %v",
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}
