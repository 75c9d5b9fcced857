package loadgen

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
)

// focusSettle is how long after the focus moved a viewer's deliveries of the newly
// focused sensor still count as in view: the connector's next message and the
// watcher's flush follow the new attention within a window of the old one.
const focusSettle = time.Second

// heartbeat is how often a viewer renews its attention leases (well within the
// server's 15 s lease) when its focus does not move more often.
const heartbeat = 5 * time.Second

// pageOf returns viewer j's page with --attention page: Page sensors of its own.
func (r *runner) pageOf(j int) []string {
	var ids []string
	for i := j * r.cfg.Page; i < min((j+1)*r.cfg.Page, r.cfg.Connectors); i++ {
		ids = append(ids, r.sensorID(i))
	}
	return ids
}

// pageHists are a viewer's latency histograms: the focused sensor's deliveries (and
// their two legs: the sensor's value to the server's receipt, the receipt to the
// viewer) and the other sensors' in view.
type pageHists struct {
	focused, toServer, fromServer, inView *histogram
}

func newPageHists() *pageHists {
	return &pageHists{focused: newHistogram(), toServer: newHistogram(), fromServer: newHistogram(), inView: newHistogram()}
}

func (h *pageHists) merge(o *pageHists) {
	h.focused.merge(o.focused)
	h.toServer.merge(o.toServer)
	h.fromServer.merge(o.fromServer)
	h.inView.merge(o.inView)
}

// viewer runs one viewer of --attention page: its page of sensors in view (MEDIUM),
// one of them focused (HIGH), the focus moving to the next every FocusEvery, and a
// Watch of the page in the same tab (so each sensor is flushed at this tab's
// attention). A delivery's latency is that of the newest value of each sensor in it,
// sent by its connector at that value's time: the connector's batching window is
// excluded, the watcher's flush window (MEDIUM: 500 ms) is not.
func (r *runner) viewer(ctx context.Context, j int, ids []string, h *pageHists, ready chan<- struct{}) {
	if len(ids) == 0 {
		ready <- struct{}{}
		return
	}
	tab := fmt.Sprintf("loadgen-%s-%d", r.runID, j)
	att := r.attention(r.cfg.Connectors + j)
	report := func(events ...*sensoctov1.AttentionEvent) {
		if _, err := att.ReportAttention(ctx, &sensoctov1.ReportAttentionRequest{TabId: tab, Events: events}); err != nil {
			r.c.fail(err)
		}
	}
	event := func(id string, k sensoctov1.AttentionEventKind) *sensoctov1.AttentionEvent {
		return &sensoctov1.AttentionEvent{SensorId: id, Kind: k}
	}
	var cur, since atomic.Int64 // the focused sensor's index on the page; since when (µs)
	events := make([]*sensoctov1.AttentionEvent, 0, len(ids)+1)
	for _, id := range ids {
		events = append(events, event(id, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_ENTER))
	}
	events = append(events, event(ids[0], sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS))
	since.Store(time.Now().UnixMicro())
	report(events...)

	stream, err := r.sensors(r.cfg.Connectors+j).Watch(ctx, &sensoctov1.WatchRequest{SensorIds: ids, TabId: tab})
	if err != nil {
		r.c.fail(err)
		ready <- struct{}{}
		return
	}
	defer func() { _ = stream.Close() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { // moves the focus; owned by this function (stop, then wg.Wait)
		// Viewers move their focus at different moments.
		first := time.Duration(mrand.Int64N(int64(r.cfg.FocusEvery))) //nolint:gosec // G404: a phase, not a secret
		move := time.NewTimer(first)
		defer move.Stop()
		hb := time.NewTicker(heartbeat)
		defer hb.Stop()
		for {
			select {
			case <-mctx.Done():
				return
			case <-hb.C:
				report() // renews the tab's leases
			case <-move.C:
				move.Reset(r.cfg.FocusEvery)
				old := int(cur.Load())
				next := (old + 1) % len(ids)
				// since before cur: a delivery that sees the new focus sees its time too.
				since.Store(time.Now().UnixMicro())
				cur.Store(int64(next))
				report(event(ids[old], sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_UNFOCUS),
					event(ids[next], sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS))
			}
		}
	})
	first := true
	for stream.Receive() {
		m := stream.Msg()
		if first {
			first = false
			ready <- struct{}{}
		}
		if m.GetRecent() {
			continue
		}
		r.c.watchMessages.Add(1)
		now := time.Now().UnixMicro()
		r.c.drops.Add(m.GetDropped())
		f := ids[cur.Load()]
		measured := now >= r.from.Load() // not while the sessions open
		settled := now-since.Load() >= focusSettle.Microseconds()
		var n uint64
		for _, d := range m.GetData() {
			var newest, srv int64 // the newest value's time, and when the server received it
			for _, x := range d.GetMeasurements() {
				if t := x.GetTimeUs(); t > newest {
					newest, srv = t, x.GetServerTimeUs()
				}
				n++
			}
			for _, b := range d.GetBlocks() {
				if end := b.GetStartTimeUs() + int64(float64(len(b.GetSamples())-1)*1e6/b.GetSampleRateHz()); end > newest {
					newest, srv = end, b.GetServerTimeUs()
				}
				n += uint64(len(b.GetSamples()))
			}
			if newest == 0 || !measured {
				continue
			}
			if d.GetSensorId() == f && settled {
				h.focused.add(now - newest)
				if srv > 0 { // the two legs of the focused latency (same machine, same clock)
					h.toServer.add(srv - newest)
					h.fromServer.add(now - srv)
				}
			} else {
				h.inView.add(now - newest)
			}
		}
		r.c.delivered.Add(n)
	}
	if first {
		ready <- struct{}{}
	}
	if err := stream.Err(); err != nil && ctx.Err() == nil {
		r.c.fail(err)
	}
}
