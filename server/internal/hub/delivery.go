package hub

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Next waits until the flush window of some queued data has passed (or events
// are queued, or the queue is half full) and returns everything queued. The
// first call of a watcher made with WatchSpec.Recent returns the recent window
// at once. Only one goroutine may call Next, and a Delivery (its Data slices)
// is valid only until the next call: the watcher reuses the buffers. Sample
// slices are shared read-only with the hub and other watchers.
func (w *Watcher) Next(ctx context.Context) (Delivery, error) {
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return Delivery{}, ErrWatcherClosed
		}
		if w.recent != nil {
			d := *w.recent
			w.recent = nil
			w.mu.Unlock()
			return d, nil
		}
		if len(w.events) > 0 || w.queued > 0 && w.queued >= w.maxValues/2 {
			t := w.takeLocked()
			w.mu.Unlock()
			return w.build(t), nil
		}
		wait := time.Duration(-1)
		if w.qn > 0 {
			w.refs = append(w.refs[:0], w.dirty...)
			w.mu.Unlock()
			if due, d := w.untilDue(); due {
				dl := w.drain()
				if len(dl.Data) > 0 || len(dl.Events) > 0 || dl.Dropped > 0 {
					return dl, nil
				}
				continue
			} else {
				wait = d
			}
		} else {
			w.mu.Unlock()
		}
		if wait >= 0 {
			w.timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			w.timer.Stop()
			return Delivery{}, fmt.Errorf("wait for sensor data: %w", ctx.Err())
		case <-w.wake:
		case <-w.timer.C:
		}
		w.timer.Stop()
	}
}

// untilDue reports whether any pending attribute's window has passed, else
// how long until the first one does.
func (w *Watcher) untilDue() (bool, time.Duration) {
	now := w.h.nowUS()
	wait := int64(math.MaxInt64)
	for i := range w.refs {
		r := &w.refs[i]
		var win time.Duration
		if w.window != nil {
			win = w.window(r.sensorID, r.attrID)
		}
		left := r.since + win.Microseconds() - now
		if left <= 0 {
			clear(w.refs)
			return true, 0
		}
		wait = min(wait, left)
	}
	clear(w.refs)
	return false, time.Duration(wait) * time.Microsecond
}

// taken is a queue moved out of the watcher to build a delivery from.
type taken struct {
	q       []qent
	head, n int
	events  []Event
	dropped uint64
}

// takeLocked moves everything queued out of the watcher and puts the spare
// buffer in its place: O(1) plus the pending marks, so ingest never waits for
// a delivery to be built. w.mu must be held.
func (w *Watcher) takeLocked() taken {
	t := taken{q: w.q, head: w.qhead, n: w.qn, events: w.events, dropped: w.dropped}
	w.q, w.spare = w.spare, nil
	w.qhead, w.qn = 0, 0
	w.events, w.dropped = nil, 0
	w.h.queued.Add(-int64(w.queued))
	w.queued = 0
	for _, r := range w.dirty {
		r.sb.pending[r.idx] = false
	}
	clear(w.dirty)
	w.dirty = w.dirty[:0]
	return t
}

// drain takes the queue and builds the delivery.
func (w *Watcher) drain() Delivery {
	w.mu.Lock()
	t := w.takeLocked()
	w.mu.Unlock()
	return w.build(t)
}

// build turns taken entries into a Delivery whose slices are the watcher's
// reused buffers, then keeps the emptied queue buffer as the spare. It runs
// on Next's goroutine without the lock.
func (w *Watcher) build(t taken) Delivery {
	d := Delivery{Events: t.events, Dropped: t.dropped}
	if w.idx == nil {
		w.idx = make(map[*sensor]int)
	}
	clear(w.idx)
	// Large buffers are released after 64 deliveries in a row that were small
	// (under 1024 entries).
	if t.n < 1024 {
		w.smallDrains++
	} else {
		w.smallDrains = 0
	}
	release := w.smallDrains >= 64
	if release {
		w.smallDrains = 0
	}
	data := w.data[:0]
	for k := 0; k < t.n; k++ {
		j := t.head + k
		if j >= len(t.q) {
			j -= len(t.q)
		}
		e := &t.q[j]
		si, ok := w.idx[e.a.sensor]
		if !ok {
			si = len(data)
			w.idx[e.a.sensor] = si
			if si < cap(data) {
				data = data[:si+1]
				data[si].SensorID = e.a.sensor.id
				data[si].Measurements = reuse(data[si].Measurements, release)
				data[si].Blocks = reuse(data[si].Blocks, release)
			} else {
				data = append(data, SensorData{SensorID: e.a.sensor.id})
			}
		}
		sd := &data[si]
		if e.block {
			sd.Blocks = append(sd.Blocks, SampleBlock{AttributeID: e.m.AttributeID, StartTimeUS: e.m.TimeUS,
				SampleRateHz: e.rate, Samples: e.samples, ServerUS: e.m.ServerUS})
		} else {
			sd.Measurements = append(sd.Measurements, e.m)
		}
		*e = qent{}
	}
	w.data = data
	if len(data) > 0 {
		d.Data = data
	}
	if t.q != nil && (!release || len(t.q) <= 4096) {
		w.mu.Lock()
		if w.spare == nil && !w.closed {
			w.spare = t.q
		}
		w.mu.Unlock()
	}
	return d
}

// reuse empties a delivery buffer for reuse; release lets a large one go, so
// that one burst does not pin memory for the life of the stream.
func reuse[T any](s []T, release bool) []T {
	if release && cap(s) > 4096 {
		return nil
	}
	clear(s)
	return s[:0]
}
