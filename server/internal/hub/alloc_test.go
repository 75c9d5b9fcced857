//go:build !race

package hub

import (
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
	fill := func() {
		for i := range b.Measurements {
			ts++
			b.Measurements[i] = Measurement{AttributeID: "hr", TimeUS: ts, Value: Number(70)}
		}
		b.Blocks[0] = SampleBlock{AttributeID: "ecg", StartTimeUS: ts, SampleRateHz: 512, Samples: samples}
		if _, err := h.Ingest("s", b); err != nil {
			t.Fatal(err)
		}
	}
	for range 5000 { // fill rings and grow the queues
		fill()
	}
	w1.mu.Lock()
	w1.drainLocked()
	w1.mu.Unlock()
	if n := testing.AllocsPerRun(1000, fill); n != 0 {
		t.Fatalf("Ingest allocates %v times per call", n)
	}
}
