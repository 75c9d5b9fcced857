package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/sensocto/sensocto/ent"
	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/attentionrpc"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/live"
	"github.com/sensocto/sensocto/server/internal/loadmon"
	"github.com/sensocto/sensocto/server/internal/sensors"
	"github.com/sensocto/sensocto/server/internal/sensorsrpc"
	"github.com/sensocto/sensocto/server/internal/system"
)

// realtimeOptions are the test knobs of the real-time core.
type realtimeOptions struct {
	attentionLease time.Duration
	attentionNow   func() time.Time
	loadSampler    loadmon.Sampler
	loadInterval   time.Duration
}

// WithAttentionLease sets the lifetime of attention leases (tests use short ones).
func WithAttentionLease(d time.Duration) Option {
	return func(o *options) { o.realtime.attentionLease = d }
}

// WithAttentionClock makes the attention tracker read time from now.
func WithAttentionClock(now func() time.Time) Option {
	return func(o *options) { o.realtime.attentionNow = now }
}

// WithLoadSampler replaces the load monitor's runtime sampler and sampling interval
// (tests drive the load level with it).
func WithLoadSampler(s loadmon.Sampler, interval time.Duration) Option {
	return func(o *options) { o.realtime.loadSampler, o.realtime.loadInterval = s, interval }
}

// realtime is the real-time core: the hub of live data, the attention tracker, the
// back-pressure publisher, the load monitor and the sensor registry, composed by the
// live domain, and the bus over which what must cross nodes travels.
type realtime struct {
	log       zerolog.Logger
	bus       bus.Bus
	hub       *hub.Hub
	tracker   *attention.Tracker
	publisher *backpressure.Publisher
	monitor   *loadmon.Monitor
	sensors   *sensors.Service
	live      *live.Service
	// sensorMessage converts sensors as SensorService shows them (set by mount).
	sensorMessage func(sensors.Sensor) *sensoctov1.Sensor
	// sensorDeleted is told of every deleted sensor (set before serving).
	sensorDeleted func(id string)
}

func newRealtime(db *ent.Client, logger zerolog.Logger, o realtimeOptions, b bus.Bus, reg prometheus.Registerer) (*realtime, error) {
	r := &realtime{log: logger, bus: b}
	r.publisher = backpressure.NewPublisher(nil)
	r.tracker = attention.New(attention.Options{Lease: o.attentionLease, Now: o.attentionNow})
	r.hub = hub.New(hub.Options{
		OnBattery:    func(sensorID string, m hub.Measurement) { r.live.OnBattery(sensorID, m) },
		OnAttributes: func(sensorID string, attrs []hub.AttributeSpec) { r.sensors.OnAttributes(sensorID, attrs) },
		OnEvent:      func(ev hub.Event) { r.live.OnHubEvent(ev) },
		OnIngest:     func(sensorID string, b *hub.Batch) { r.live.OnIngest(sensorID, b) },
	})
	r.sensors = sensors.New(sensors.Options{
		Ent: db, Hub: r.hub, Logger: logger.With().Str("domain", "sensors").Logger(),
		OnDelete: func(id string) {
			r.publisher.Forget(id)
			if r.sensorDeleted != nil {
				r.sensorDeleted(id)
			}
		},
	})
	sampler := o.loadSampler
	if sampler == nil {
		sampler = loadmon.NewRuntimeSampler(r.hub.QueueFill, 0)
	}
	r.monitor = loadmon.New(sampler, loadmon.Options{Interval: o.loadInterval})
	var err error
	r.live, err = live.New(live.Options{
		Sensors: r.sensors, Hub: r.hub, Tracker: r.tracker, Publisher: r.publisher, Monitor: r.monitor,
		Bus: b, Logger: logger.With().Str("domain", "live").Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("build the live path: %w", err)
	}
	if err := r.monitor.Register(reg); err != nil {
		return nil, fmt.Errorf("register load metrics: %w", err)
	}
	if err := r.registerHubMetrics(reg); err != nil {
		return nil, err
	}
	return r, nil
}

// registerHubMetrics exports the hub's counters and watcher queues (read at scrape
// time, nothing on the ingest path).
func (r *realtime) registerHubMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	stat := func(f func(hub.Stats) float64) func() float64 { return func() float64 { return f(r.hub.Stats()) } }
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sensocto_hub_ingested_values_total", Help: "Values (measurements and samples) accepted by the hub."},
			stat(func(s hub.Stats) float64 { return float64(s.Ingested) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sensocto_hub_dropped_values_total", Help: "Values dropped from watcher queues because a watcher did not keep up."},
			stat(func(s hub.Stats) float64 { return float64(s.Dropped) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sensocto_hub_live_sensors", Help: "Sensors live in the hub."},
			stat(func(s hub.Stats) float64 { return float64(s.Sensors) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sensocto_hub_watchers", Help: "Open Watch streams."},
			stat(func(s hub.Stats) float64 { return float64(s.Watchers) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sensocto_hub_watcher_queued_values", Help: "Values waiting in all watcher queues."},
			stat(func(s hub.Stats) float64 { return float64(s.QueuedValues) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sensocto_hub_watcher_queue_capacity_values", Help: "Total capacity of all watcher queues, in values."},
			stat(func(s hub.Stats) float64 { return float64(s.QueueCapacity) })),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register hub metrics: %w", err)
		}
	}
	return nil
}

// mount registers SensorService and AttentionService and returns their names.
func (r *realtime) mount(mount func(string, http.Handler), opts []connect.HandlerOption) []string {
	h := sensorsrpc.New(sensorsrpc.Options{
		Sensors: r.sensors, Live: r.live, History: r.live,
		Logger: r.log.With().Str("service", "sensors").Logger(),
	})
	r.sensorMessage = h.SensorMessage
	mount(sensoctov1connect.NewSensorServiceHandler(h, opts...))
	mount(h.StreamRoute(opts...)) // Stream on its own route: a smaller stack per session
	mount(sensoctov1connect.NewAttentionServiceHandler(attentionrpc.New(r.live), opts...))
	return []string{sensoctov1connect.SensorServiceName, sensoctov1connect.AttentionServiceName}
}

// run runs the live path's loops and the batched writes of inferred attributes until
// ctx ends.
func (r *realtime) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.live.Run(ctx) })
	g.Go(func() error { return r.sensors.Run(ctx) })
	if err := g.Wait(); err != nil {
		return fmt.Errorf("real-time core: %w", err)
	}
	return nil
}

// liveStatus reports the core's state for SystemService.
func (r *realtime) liveStatus() system.Live {
	s := r.monitor.Snapshot()
	return system.Live{
		LoadLevel: int(s.Level), Score: s.Score, MemoryProtection: s.MemoryProtection, Multiplier: s.Multiplier,
		ConnectedSensors: r.sensors.ConnectedCount(), Watchers: r.hub.Stats().Watchers,
	}
}
