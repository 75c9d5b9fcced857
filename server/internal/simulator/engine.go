package simulator

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sensocto/sensocto/server/internal/simulator/generate"
	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

// Config is the part of a sensor's back-pressure advice the engine obeys. The
// wiring converts the hub's back-pressure config to it (the window already
// includes the load multiplier).
type Config struct {
	Window    time.Duration
	BatchSize int
	Paused    bool
}

// SensorInfo describes a simulated sensor to register.
type SensorInfo struct {
	ID            string
	Name          string
	ConnectorID   string
	ConnectorName string
	Scenario      string
	Attributes    []AttributeInfo
}

// AttributeInfo describes one attribute of a simulated sensor.
type AttributeInfo struct {
	ID       string
	Type     string
	Unit     string
	RateHz   float64
	Waveform bool
}

// Publisher is the ingest path the engine publishes through: the same one
// external connectors use. Implementations must be safe for concurrent use by
// the sensors of a run.
type Publisher interface {
	// Register declares a sensor before its first batch.
	Register(ctx context.Context, s SensorInfo) error
	// Publish ingests one batch. It must not keep out or any slice or map
	// reachable from it after returning; the engine reuses them.
	Publish(ctx context.Context, sensorID string, out *generate.Output) error
	// Unregister removes the sensor when its run stops.
	Unregister(ctx context.Context, sensorID string) error
	// Backpressure subscribes to the sensor's configs: the channel delivers
	// the latest config whenever it changes (a one-slot mailbox is enough;
	// the engine only uses the newest). A nil channel means no advice: the
	// scenario's own batch windows apply. cancel ends the subscription.
	Backpressure(sensorID string) (configs <-chan Config, cancel func())
}

// Batch limits that keep every Publish within the wire's limits
// (PublishRequest: 10,000 measurements; SampleBlock: 16,384 samples).
const (
	MaxBatchMeasurements = 5000
	MaxBlockSamples      = 8192
)

// DefaultTick is how often a sensor generates when Options.Tick is 0.
const DefaultTick = 50 * time.Millisecond

// Options configure a run.
type Options struct {
	// Seed makes the run reproducible: same seed, scenario and clock → same data.
	Seed uint64
	// Clock defaults to SystemClock.
	Clock Clock
	// Tick is the generation period (DefaultTick when 0). Batching is decided
	// per tick, so a window shorter than Tick behaves as Tick.
	Tick time.Duration
	// SensorID maps a scenario sensor key to the registered sensor id
	// (identity when nil), e.g. to keep ids unique across runs.
	SensorID func(key string) string
}

// Stats are a run's counters.
type Stats struct {
	StartedAt      time.Time
	Sensors        int
	SamplesSent    uint64 // values published (samples plus block samples)
	Batches        uint64 // successful Publish calls
	SamplesDropped uint64 // generated while paused, or in a failed batch
	PublishErrors  uint64
}

type counters struct {
	sent, batches, dropped, errs atomic.Uint64
}

// Run is one running scenario. Its sensor goroutines belong to it: Stop ends
// them and Wait waits for them.
type Run struct {
	scenario  string
	startedAt time.Time
	sensors   int
	cancel    context.CancelFunc
	done      chan struct{}
	err       error
	c         counters
	lastErr   atomic.Pointer[error]
}

// Start starts one goroutine per sensor of sc, each of which registers its
// sensor, then generates and publishes every tick
// until ctx ends or Stop is called, and finally unregisters it (values still
// pending at that moment, at most about two windows' worth, are not sent). A Register
// error ends the whole run (see Wait); Publish errors are counted and the
// batch dropped, as a device would.
func Start(ctx context.Context, sc *scenario.Scenario, pub Publisher, opts Options) (*Run, error) {
	if pub == nil {
		return nil, errors.New("start simulator run: nil publisher")
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock()
	}
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	if opts.SensorID == nil {
		opts.SensorID = func(k string) string { return k }
	}
	now := opts.Clock.Now()
	r := &Run{scenario: sc.Name, startedAt: now, done: make(chan struct{})}
	var runners []*sensorRunner
	for _, c := range sc.Connectors {
		for _, s := range c.Sensors {
			runners = append(runners, newSensorRunner(sc.Name, c, s, pub, opts, now, &r.c, &r.lastErr))
		}
	}
	r.sensors = len(runners)
	ctx, r.cancel = context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	for _, sr := range runners {
		t := opts.Clock.NewTicker(opts.Tick) // created before Start returns, so no tick is missed
		g.Go(func() error { return sr.loop(gctx, t) })
	}
	go func() { // owned by r: ends when every sensor goroutine has
		err := g.Wait()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		r.err = err
		close(r.done)
	}()
	return r, nil
}

// Stop asks every sensor goroutine to end; Wait waits for them.
func (r *Run) Stop() { r.cancel() }

// Done is closed when every sensor goroutine has ended.
func (r *Run) Done() <-chan struct{} { return r.done }

// Wait waits for the run to end and returns the error that ended it (nil after
// Stop or the parent context's end).
func (r *Run) Wait() error {
	<-r.done
	return r.err
}

// Scenario is the name of the scenario being run.
func (r *Run) Scenario() string { return r.scenario }

// LastPublishError is the most recent Publish error, or nil.
func (r *Run) LastPublishError() error {
	if p := r.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats returns the run's counters so far.
func (r *Run) Stats() Stats {
	return Stats{
		StartedAt: r.startedAt, Sensors: r.sensors,
		SamplesSent: r.c.sent.Load(), Batches: r.c.batches.Load(),
		SamplesDropped: r.c.dropped.Load(), PublishErrors: r.c.errs.Load(),
	}
}

// sensorRunner is one simulated sensor: its generators, pending batch and
// batching state. tick is synchronous so tests can drive it directly.
type sensorRunner struct {
	info     SensorInfo
	gens     []generate.Generator
	pub      Publisher
	pending  generate.Output
	base     Config // from the scenario: smallest batch_window, batch size 1
	cfg      Config
	since    time.Time // when the oldest pending value was generated
	last     time.Time // last flush
	c        *counters
	lastErr  *atomic.Pointer[error]
	cfgCh    <-chan Config
	cfgClose func()
}

func newSensorRunner(scName string, c scenario.Connector, s scenario.Sensor, pub Publisher, opts Options, now time.Time, cnt *counters, lastErr *atomic.Pointer[error]) *sensorRunner {
	id := opts.SensorID(s.ID)
	sr := &sensorRunner{pub: pub, c: cnt, lastErr: lastErr, last: now}
	sr.info = SensorInfo{ID: id, Name: s.Name, ConnectorID: c.ID, ConnectorName: c.Name, Scenario: scName}
	sr.base = Config{Window: time.Hour, BatchSize: 1}
	for _, a := range s.Attributes {
		g := generate.New(generate.Config{Seed: opts.Seed, SensorID: s.ID, StartUS: now.UnixMicro()}, a)
		sr.gens = append(sr.gens, g)
		sr.info.Attributes = append(sr.info.Attributes, AttributeInfo{ID: a.ID, Type: a.Type, Unit: a.Params.Unit, RateHz: g.RateHz(), Waveform: g.Waveform()})
		sr.base.Window = min(sr.base.Window, a.BatchWindow)
	}
	if len(s.Attributes) == 0 {
		sr.base.Window = time.Second
	}
	sr.cfg = sr.base
	return sr
}

func (sr *sensorRunner) loop(ctx context.Context, t Ticker) error {
	defer t.Stop()
	if err := sr.pub.Register(ctx, sr.info); err != nil {
		return fmt.Errorf("register simulated sensor %s: %w", sr.info.ID, err)
	}
	sr.cfgCh, sr.cfgClose = sr.pub.Backpressure(sr.info.ID)
	defer func() {
		if sr.cfgClose != nil {
			sr.cfgClose()
		}
		// Unregister even though ctx has ended: the sensor must not linger.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = sr.pub.Unregister(uctx, sr.info.ID) // best effort; nothing to do on failure
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case cfg := <-sr.cfgCh:
			sr.apply(cfg)
		case now := <-t.C():
			if err := sr.tick(ctx, now); err != nil {
				return err
			}
		}
	}
}

// apply adopts a back-pressure config; a zero window or size keeps the
// scenario's own.
func (sr *sensorRunner) apply(cfg Config) {
	if cfg.Window <= 0 {
		cfg.Window = sr.base.Window
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = sr.base.BatchSize
	}
	sr.cfg = cfg
}

// tick generates every value due before now and publishes a batch when the
// batching rule says so:
//
//   - paused: values are generated (the generators' clocks keep moving, so
//     on resume sample times continue on the same grid, with a gap) and
//     dropped, pending ones too; nothing is sent;
//   - otherwise a batch is sent when at least BatchSize values are pending and
//     Window has passed since the last batch, or when the oldest pending value
//     is two windows old (so a slow sensor under a large BatchSize still
//     reports with bounded delay), or when the batch reaches the wire limits.
//
// So an unwatched sensor (NONE: 5 s, 20) sends few, big batches and a watched
// one (HIGH: 100 ms, 1) small frequent ones. The latest config is read before
// generating, so a config delivered before a tick applies to that tick.
func (sr *sensorRunner) tick(ctx context.Context, now time.Time) error {
	select {
	case cfg := <-sr.cfgCh:
		sr.apply(cfg)
	default:
	}
	if sr.pending.Len() == 0 {
		sr.since = now
	}
	until := now.UnixMicro()
	for _, g := range sr.gens {
		g.Advance(until, &sr.pending)
	}
	n := sr.pending.Len()
	if sr.cfg.Paused {
		sr.c.dropped.Add(count(n))
		sr.pending.Reset()
		return nil
	}
	if n == 0 || !sr.due(now, n) {
		return nil
	}
	return sr.flush(ctx, now, n)
}

func (sr *sensorRunner) due(now time.Time, n int) bool {
	if len(sr.pending.Samples) >= MaxBatchMeasurements {
		return true
	}
	for i := range sr.pending.Blocks {
		if len(sr.pending.Blocks[i].Samples) >= MaxBlockSamples {
			return true
		}
	}
	if n >= sr.cfg.BatchSize && now.Sub(sr.last) >= sr.cfg.Window {
		return true
	}
	return now.Sub(sr.since) >= 2*sr.cfg.Window
}

func (sr *sensorRunner) flush(ctx context.Context, now time.Time, n int) error {
	err := sr.pub.Publish(ctx, sr.info.ID, &sr.pending)
	sr.pending.Reset()
	sr.last = now
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sr.c.errs.Add(1)
		sr.c.dropped.Add(count(n))
		werr := fmt.Errorf("publish simulated sensor %s: %w", sr.info.ID, err)
		sr.lastErr.Store(&werr)
		return nil
	}
	sr.c.batches.Add(1)
	sr.c.sent.Add(count(n))
	return nil
}

// count converts a non-negative length for the counters.
func count(n int) uint64 { return uint64(max(n, 0)) } //nolint:gosec // G115: n ≥ 0 by construction
