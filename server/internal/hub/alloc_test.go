//go:build !race

package hub

import (
	"runtime"
	"testing"
	"time"
)

// TestIngestDoesNotAllocate checks the hot path's invariant: in steady state
// (rings and queues at size) Ingest allocates nothing per call, with watchers.
func TestIngestDoesNotAllocate(t *testing.T) {
	h := New(Options{})
	mustRegister(t, h, "s", AttributeSpec{ID: "ecg", Type: "ecg"}, AttributeSpec{ID: "hr"})
	w1, _ := h.Watch(WatchSpec{SensorIDs: []string{"s"}, MaxQueuedValues: 1 << 20})
	defer w1.Close()
	w2, _ := h.Watch(WatchSpec{SensorIDs: []string{"s"}, AttributeIDs: []string{"hr"}, MaxQueuedValues: 1 << 20})
	defer w2.Close()
	samples := make([]float32, 64)
	b := &Batch{Measurements: make([]Measurement, 4), Blocks: make([]SampleBlock, 1)}
	ts := time.Now().UnixMicro()
	ecgTS := ts
	fill := func() {
		for i := range b.Measurements {
			ts++
			b.Measurements[i] = Measurement{AttributeID: "hr", TimeUS: ts, Value: Number(70)}
		}
		// Blocks follow one another (64 samples at 512 Hz last 125 ms), as a
		// connector sends them; an overlapping block is merged, which allocates once.
		b.Blocks[0] = SampleBlock{AttributeID: "ecg", StartTimeUS: ecgTS, SampleRateHz: 512, Samples: samples}
		ecgTS += 125_000
		if _, err := h.Ingest("s", b); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // fill rings and grow both queue buffers of w1
		for range 5000 {
			fill()
		}
		w1.drain()
	}
	// AllocsPerRun rounds down; count every allocation of 1000 calls instead.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 1000 {
		fill()
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n > 2 { // slack for the runtime itself
		t.Fatalf("1000 Ingest calls allocated %d times", n)
	}
}
