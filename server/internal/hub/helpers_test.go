package hub

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is the fake clock's start, 2026-01-01T00:00:00Z: test data lies around it
// (the hub refuses times outside [2000-01-01, now + 1 day]).
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// clock is a fake clock for the hub, advanced by tests.
type clock struct{ us atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.us.Store(t0)
	return c
}

func (c *clock) now() time.Time          { return time.UnixMicro(c.us.Load()) }
func (c *clock) advance(d time.Duration) { c.us.Add(d.Microseconds()) }
func newTestHub(t *testing.T) (*Hub, *clock) {
	t.Helper()
	c := newClock()
	return New(Options{Now: c.now}), c
}

func mustRegister(t *testing.T, h *Hub, id string, attrs ...AttributeSpec) {
	t.Helper()
	if _, err := h.Register(id, attrs); err != nil {
		t.Fatalf("Register(%s): %v", id, err)
	}
}

func mustIngest(t *testing.T, h *Hub, id string, b *Batch) {
	t.Helper()
	if _, err := h.Ingest(id, b); err != nil {
		t.Fatalf("Ingest(%s): %v", id, err)
	}
}

// next calls Next with a deadline so that a broken test fails instead of hanging.
func next(t *testing.T, w *Watcher) Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return d
}

// collect reads deliveries until pred holds or the deadline passes.
func collect(t *testing.T, w *Watcher, pred func(all []Delivery) bool) []Delivery {
	t.Helper()
	var all []Delivery
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !pred(all) {
		d, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d deliveries: %v", len(all), err)
		}
		all = append(all, clone(d))
	}
	return all
}

// clone copies a delivery out of the watcher's reused buffers.
func clone(d Delivery) Delivery {
	c := d
	c.Data = nil
	for _, sd := range d.Data {
		c.Data = append(c.Data, SensorData{
			SensorID:     sd.SensorID,
			Measurements: append([]Measurement(nil), sd.Measurements...),
			Blocks:       append([]SampleBlock(nil), sd.Blocks...),
		})
	}
	return c
}

func blocks(ds []Delivery) []SampleBlock {
	var out []SampleBlock
	for _, d := range ds {
		for _, sd := range d.Data {
			out = append(out, sd.Blocks...)
		}
	}
	return out
}

func measurements(ds []Delivery) []Measurement {
	var out []Measurement
	for _, d := range ds {
		for _, sd := range d.Data {
			out = append(out, sd.Measurements...)
		}
	}
	return out
}
