package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
)

const (
	blockAttr  = "ecg"
	singleAttr = "value"
)

// openTimeout bounds the opening of the Stream sessions before the measured time.
const openTimeout = 3 * time.Minute

// waitOpen waits until every session has opened (wg), at most limit.
func waitOpen(ctx context.Context, wg *sync.WaitGroup, limit time.Duration) error {
	done := make(chan struct{})
	go func() { // ends when every connector has called opened, which each does once
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("loadgen: the connectors' sessions did not open within %v", limit)
	case <-ctx.Done():
		return fmt.Errorf("wait for the sessions to open: %w", ctx.Err())
	}
}

// load runs connectors and watchers for the duration.
func (r *runner) load(ctx context.Context) (Result, error) {
	attr, typ := singleAttr, "numeric"
	if r.cfg.Block > 0 {
		attr, typ = blockAttr, "ecg"
	}
	if err := r.register(ctx, attr, typ); err != nil {
		return Result{}, err
	}
	defer r.cleanup()

	// Watchers first, so they see everything sent.
	wctx, stopWatchers := context.WithCancel(ctx)
	defer stopWatchers()
	hists := make([]*histogram, r.cfg.Watchers)
	pages := make([]*pageHists, r.cfg.Watchers) // page mode
	var wg sync.WaitGroup
	ready := make(chan struct{}, max(r.cfg.Watchers, 1))
	for j := range r.cfg.Watchers {
		hists[j] = newHistogram()
		if r.cfg.Attention == "page" {
			ids := r.pageOf(j)
			pages[j] = newPageHists()
			wg.Go(func() { r.viewer(wctx, j, ids, pages[j], ready) })
			continue
		}
		ids := r.watchedBy(j)
		wg.Go(func() { r.watch(wctx, j, ids, hists[j], ready) })
	}
	for range r.cfg.Watchers {
		select {
		case <-ready:
		case <-ctx.Done():
			return Result{}, fmt.Errorf("wait for watchers: %w", ctx.Err())
		}
	}

	// Stream connectors open their sessions first, as MQTT's clients connect before
	// its clock starts (mqtt.go): the measurement starts once every session has its
	// first config, so that it is the steady state, not 10,000 sessions opening at the
	// same instant. The opening is measured apart (Result.OpenS).
	cctx, stopConnectors := context.WithCancel(ctx)
	defer stopConnectors()
	opening := time.Now()
	var opened sync.WaitGroup
	if r.cfg.Mode != "publish" {
		r.from.Store(math.MaxInt64) // nothing counts until every session is open
		opened.Add(r.cfg.Connectors)
	}
	g, gctx := errgroup.WithContext(cctx)
	for i := range r.cfg.Connectors {
		g.Go(func() error {
			if r.cfg.Mode == "publish" {
				r.publisher(gctx, i)
			} else {
				r.streamer(gctx, i, opened.Done)
			}
			return nil
		})
	}
	if err := waitOpen(ctx, &opened, openTimeout); err != nil {
		stopConnectors()
		_ = g.Wait()
		return Result{}, err
	}
	res := Result{Connectors: r.cfg.Connectors, Watchers: r.cfg.Watchers, Mode: r.cfg.Mode}
	start := time.Now()
	if r.cfg.Mode != "publish" {
		res.OpenS = start.Sub(opening).Seconds()
	}
	r.c.reset()
	r.from.Store(start.UnixMicro())
	meter := startProcMeter(r.cfg.PID)
	select {
	case <-time.After(r.cfg.Duration):
	case <-ctx.Done():
	}
	stopConnectors()
	elapsed := time.Since(start)
	meter.stop(&res) // over the sending time: not the connectors' closing
	_ = g.Wait()
	// Let in-flight deliveries arrive (at most the longest watcher window), then stop.
	drain := 200 * time.Millisecond
	switch r.cfg.Attention {
	case "page": // in view: MEDIUM, 500 ms
		drain = time.Second
	case "view", "none":
		drain = 6 * time.Second
	}
	select {
	case <-time.After(drain):
	case <-ctx.Done():
	}
	if st, err := r.status(ctx); err == nil {
		res.ServerLoadLevel = st.GetLoad().GetLevel().String()
		res.ServerLoadScore = st.GetLoad().GetScore()
	}
	stopWatchers()
	wg.Wait()
	all := newHistogram()
	for j := range hists {
		all.merge(hists[j])
	}
	r.results(&res, elapsed)
	res.LatencyMS = all.latency()
	if r.cfg.Attention == "page" {
		p := newPageHists()
		for _, h := range pages {
			p.merge(h)
		}
		fl, vl, ts, fs := p.focused.latency(), p.inView.latency(), p.toServer.latency(), p.fromServer.latency()
		res.FocusedLatencyMS, res.InViewLatencyMS, res.FocusedToServerMS, res.FocusedFromServerMS = &fl, &vl, &ts, &fs
		all.merge(p.focused)
		all.merge(p.inView)
		res.LatencyMS = all.latency()
	}
	return res, nil
}

// results fills res's counts and rates over the sending time.
func (r *runner) results(res *Result, elapsed time.Duration) {
	secs := elapsed.Seconds()
	res.DurationS = secs
	res.Sent, res.Accepted, res.Delivered = r.c.sent.Load(), r.c.accepted.Load(), r.c.delivered.Load()
	res.Messages = r.c.messages.Load()
	res.IngestPerS = float64(res.Accepted) / secs
	res.MessagesPerS = float64(res.Messages) / secs
	res.DeliveredPerS = float64(res.Delivered) / secs
	res.WatchMessages = r.c.watchMessages.Load()
	res.WatchMessagesPerS = float64(res.WatchMessages) / secs
	res.ToConnectorMessagesPerS = float64(r.c.toConnectors.Load()) / secs
	res.Drops, res.Errors, res.FirstError, res.Paused = r.c.drops.Load(), r.c.errors.Load(), r.c.firstErr, r.c.paused.Load()
}

// watchedBy returns the sensors watcher j watches: every W-th sensor from j (at most
// 256, the Watch limit).
func (r *runner) watchedBy(j int) []string {
	var ids []string
	for i := j; i < r.cfg.Connectors && len(ids) < 256; i += r.cfg.Watchers {
		ids = append(ids, r.sensorID(i))
	}
	return ids
}

// watch runs one watcher: attention reports (renewed well within the lease) and a
// Watch stream whose deliveries are measured.
func (r *runner) watch(ctx context.Context, j int, ids []string, h *histogram, ready chan<- struct{}) {
	if len(ids) == 0 {
		ready <- struct{}{}
		return
	}
	tab := fmt.Sprintf("loadgen-%s-%d", r.runID, j)
	kind := sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS
	if r.cfg.Attention == "view" {
		kind = sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_ENTER
	}
	att := r.attention(r.cfg.Connectors + j)
	reportAll := func() {
		if r.cfg.Attention == "none" {
			return
		}
		for k := 0; k < len(ids); k += 500 {
			req := &sensoctov1.ReportAttentionRequest{TabId: tab}
			for _, id := range ids[k:min(k+500, len(ids))] {
				req.Events = append(req.Events, &sensoctov1.AttentionEvent{SensorId: id, Kind: kind})
			}
			if _, err := att.ReportAttention(ctx, req); err != nil {
				r.c.fail(err)
			}
		}
	}
	reportAll()
	stream, err := r.sensors(r.cfg.Connectors+j).Watch(ctx, &sensoctov1.WatchRequest{SensorIds: ids, SkipRecent: false})
	if err != nil {
		r.c.fail(err)
		ready <- struct{}{}
		return
	}
	defer func() { _ = stream.Close() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	hbCtx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	wg.Go(func() {
		t := time.NewTicker(4 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				reportAll()
			}
		}
	})
	// Unpaced, the blocks' sample clock runs ahead of the wall clock: no latency then.
	paced := r.cfg.RateHz > 0
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
		measured := now >= r.from.Load() // not while the sessions open
		var n uint64
		for _, d := range m.GetData() {
			for _, x := range d.GetMeasurements() {
				if measured {
					h.add(now - x.GetTimeUs())
				}
				n++
			}
			for _, b := range d.GetBlocks() {
				// From the time of the block's last sample, which was taken when it was sent.
				if paced && measured {
					h.add(now - b.GetStartTimeUs() - int64(float64(len(b.GetSamples())-1)*1e6/b.GetSampleRateHz()))
				}
				n += uint64(len(b.GetSamples()))
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

// pacer decides when a connector sends and how many values.
type pacer struct {
	rate    float64 // values per second; 0: unpaced
	unit    int     // values per message
	obey    bool
	window  time.Duration
	size    int
	paused  bool
	last    time.Time
	pending float64
}

func newPacer(cfg Config) *pacer {
	unit := cfg.Batch
	if cfg.Block > 0 {
		unit = cfg.Block
		if cfg.RateHz <= 0 {
			unit = cfg.Block * cfg.Batch // unpaced: --batch blocks per message
		}
	}
	return &pacer{rate: cfg.RateHz, unit: unit, obey: !cfg.IgnoreBackpressure, last: time.Now()}
}

func (p *pacer) apply(c *sensoctov1.BackpressureConfig) {
	if c == nil || !p.obey {
		return
	}
	p.window = time.Duration(c.GetRecommendedBatchWindowMs()) * time.Millisecond
	p.paused = c.GetPaused()
}

// interval is how long to wait before the next send.
func (p *pacer) interval() time.Duration {
	if p.rate <= 0 {
		return 0
	}
	natural := time.Duration(float64(time.Second) * float64(p.unit) / p.rate)
	if p.obey && p.window > natural {
		return p.window
	}
	return natural
}

// take returns how many values are due now.
func (p *pacer) take(now time.Time) int {
	if p.rate <= 0 {
		return p.unit
	}
	p.pending += now.Sub(p.last).Seconds() * p.rate
	p.last = now
	n := int(p.pending)
	p.pending -= float64(n)
	return n
}

// fill builds the messages' content for n values sent now. Blocks follow one
// another on the connector's sample clock *clock (µs), as a real sensor's do: the n
// values cover the time up to now, and the clock jumps forward over pauses. Unpaced
// (flat out, --rate 0) the clock runs ahead of the wall clock at the nominal 1 kHz.
// Paced single measurements are spaced one sample period apart, the newest at now.
func fill(cfg Config, n int, now int64, clock *int64, ms []*sensoctov1.Measurement, blocks []*sensoctov1.SampleBlock, samples []float32) ([]*sensoctov1.Measurement, []*sensoctov1.SampleBlock) {
	ms, blocks = ms[:0], blocks[:0]
	if cfg.Block > 0 {
		rate := blockRate(cfg)
		step := 1e6 / rate
		*clock = max(*clock, now-int64(float64(n-1)*step))
		for k := 0; k < n; k += cfg.Block {
			cnt := min(cfg.Block, n-k)
			blocks = append(blocks, &sensoctov1.SampleBlock{AttributeId: blockAttr, StartTimeUs: *clock, SampleRateHz: rate, Samples: samples[:cnt]})
			*clock += int64(float64(cnt) * step)
		}
		return ms, blocks
	}
	// Paced, the n values were taken one sample period apart, the newest now (and
	// after the previous message's); flat out they all carry the send time.
	var step int64
	if cfg.RateHz > 0 {
		step = int64(1e6 / cfg.RateHz)
	}
	// Messages are marshalled before Publish or Send return, so the previous
	// message's measurements are reused rather than allocated anew.
	all := ms[:cap(ms)]
	for i := range n {
		t := now
		if step > 0 {
			t = max(now-int64(n-1-i)*step, *clock+1)
			*clock = t
		}
		if i < len(all) && all[i] != nil {
			all[i].TimeUs = t
			ms = append(ms, all[i])
			continue
		}
		ms = append(ms, &sensoctov1.Measurement{AttributeId: singleAttr, TimeUs: t, Value: &sensoctov1.Measurement_Number{Number: 1}})
	}
	return ms, blocks
}

// blockRate is the sample rate of the blocks sent.
func blockRate(cfg Config) float64 {
	if cfg.RateHz > 0 {
		return cfg.RateHz
	}
	return 1000
}

// wait sleeps until the next send; false when ctx ended.
func wait(ctx context.Context, t *time.Timer, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t.Reset(d)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (r *runner) samples() []float32 {
	s := make([]float32, max(r.cfg.Block, 1))
	for i := range s {
		s[i] = float32(i % 100)
	}
	return s
}

// publisher sends with unary Publish calls.
func (r *runner) publisher(ctx context.Context, i int) {
	c := r.sensors(i)
	id := r.sensorID(i)
	p := newPacer(r.cfg)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	samples := r.samples()
	var clock int64 // the sample clock of this connector's blocks (see fill)
	var ms []*sensoctov1.Measurement
	var blocks []*sensoctov1.SampleBlock
	for wait(ctx, timer, p.interval()) {
		n := p.take(time.Now())
		if n == 0 {
			continue
		}
		if p.paused {
			r.c.paused.Add(1)
			continue
		}
		ms, blocks = fill(r.cfg, n, time.Now().UnixMicro(), &clock, ms, blocks, samples)
		r.c.sent.Add(uint64(n)) //nolint:gosec // G115: a count
		res, err := c.Publish(ctx, &sensoctov1.PublishRequest{SensorId: id, Measurements: ms, Blocks: blocks})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.c.fail(err)
			continue
		}
		r.c.messages.Add(1)
		r.c.accepted.Add(res.GetAccepted())
		p.apply(res.GetBackpressure())
	}
}

// streamer sends over one Stream session and reads its configs and acks. Following
// back-pressure it sends when the advised window has passed since its last message,
// and a new config takes effect at once (a sensor brought into focus sends now).
// It calls opened once, when its session has its first config (or failed to open).
func (r *runner) streamer(ctx context.Context, i int, opened func()) {
	var once sync.Once
	open := func() { once.Do(opened) }
	defer open()
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	st, err := r.sensors(i).Stream(sctx)
	if err != nil {
		r.c.fail(err)
		return
	}
	id := r.sensorID(i)
	if err := st.Send(&sensoctov1.StreamRequest{SensorId: id}); err != nil {
		r.c.fail(err)
		return
	}
	cfgs := make(chan *sensoctov1.BackpressureConfig, 1)
	recvDone := make(chan struct{})
	go func() { // owned by this function: it waits for recvDone below
		defer close(recvDone)
		for {
			res, err := st.Receive()
			if err != nil {
				if !errors.Is(err, io.EOF) && sctx.Err() == nil {
					r.c.fail(err)
				}
				return
			}
			open() // the first config: the session is open
			r.c.toConnectors.Add(1)
			if a := res.GetAck(); a != nil {
				r.c.accepted.Add(a.GetAccepted())
			}
			if b := res.GetBackpressure(); b != nil {
				select { // keep only the latest
				case <-cfgs:
				default:
				}
				cfgs <- b
			}
		}
	}()
	p := newPacer(r.cfg)
	if p.obey && p.rate > 0 { // the session's first config comes at once: start with it
		select {
		case c := <-cfgs:
			p.apply(c)
		case <-time.After(10 * time.Second):
		case <-ctx.Done():
		}
	}
	// As if the connector had last sent at a random moment of its interval, so that
	// connectors started together do not send together.
	last := time.Now().Add(-time.Duration(mrand.Int64N(int64(p.interval()) + 1))) //nolint:gosec // G404: a phase, not a secret
	p.last = last
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	samples := r.samples()
	var clock int64 // the sample clock of this connector's values (see fill)
	var ms []*sensoctov1.Measurement
	var blocks []*sensoctov1.SampleBlock
	var seq uint64
	for ctx.Err() == nil {
		if d := time.Until(last.Add(p.interval())); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				continue
			case c := <-cfgs:
				p.apply(c)
				continue // the next send follows the new window
			case <-timer.C:
			}
		}
		select {
		case c := <-cfgs:
			p.apply(c)
		default:
		}
		now := time.Now()
		n := p.take(now)
		last = now
		if n == 0 {
			continue
		}
		if p.paused {
			r.c.paused.Add(1)
			continue
		}
		ms, blocks = fill(r.cfg, n, now.UnixMicro(), &clock, ms, blocks, samples)
		seq++
		r.c.sent.Add(uint64(n)) //nolint:gosec // G115: a count
		if err := st.Send(&sensoctov1.StreamRequest{SensorId: id, Sequence: seq, Measurements: ms, Blocks: blocks}); err != nil {
			r.c.fail(err)
			break
		}
		r.c.messages.Add(1)
	}
	_ = st.CloseRequest() // the server acks the rest and ends the session
	select {
	case <-recvDone:
	case <-time.After(5 * time.Second):
		cancel()
		<-recvDone
	}
	_ = st.CloseResponse()
}
