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
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sensocto/sensocto/ent"
	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/attentionrpc"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/hub"
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
// back-pressure publisher, the load monitor and the sensor registry over them.
type realtime struct {
	log       zerolog.Logger
	hub       *hub.Hub
	tracker   *attention.Tracker
	publisher *backpressure.Publisher
	monitor   *loadmon.Monitor
	sensors   *sensors.Service
	// sensorMessage converts sensors as SensorService shows them (set by mount).
	sensorMessage func(sensors.Sensor) *sensoctov1.Sensor
	// sensorDeleted is told of every deleted sensor (set before serving).
	sensorDeleted func(id string)
}

func newRealtime(db *ent.Client, logger zerolog.Logger, o realtimeOptions, reg prometheus.Registerer) (*realtime, error) {
	r := &realtime{log: logger}
	r.publisher = backpressure.NewPublisher(nil)
	r.tracker = attention.New(attention.Options{Lease: o.attentionLease, Now: o.attentionNow})
	r.hub = hub.New(hub.Options{
		OnBattery: func(sensorID string, m hub.Measurement) {
			if b, ok := sensorBattery(&m.Value); ok {
				r.publisher.SetSensorBattery(sensorID, b)
			}
		},
		OnAttributes: func(sensorID string, attrs []hub.AttributeSpec) { r.sensors.OnAttributes(sensorID, attrs) },
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

// sensorBattery reads a battery attribute's value: a number (percent, 0..100) or a
// struct {level, charging} as the original's connectors send (level in percent, or a
// fraction when ≤ 1).
func sensorBattery(v *hub.Value) (backpressure.Battery, bool) {
	switch v.Kind {
	case hub.KindNumber:
		return backpressure.Battery{Known: true, Level: v.F[0] / 100}, true
	case hub.KindStruct:
		var st structpb.Struct
		if v.Ext == nil || proto.Unmarshal(v.Ext.Struct.Encoded, &st) != nil {
			return backpressure.Battery{}, false
		}
		level, ok := st.GetFields()["level"].GetKind().(*structpb.Value_NumberValue)
		if !ok {
			return backpressure.Battery{}, false
		}
		l := level.NumberValue
		if l > 1 {
			l /= 100
		}
		return backpressure.Battery{Known: true, Level: l, Charging: st.GetFields()["charging"].GetBoolValue()}, true
	}
	return backpressure.Battery{}, false
}

// mount registers SensorService and AttentionService and returns their names.
func (r *realtime) mount(mount func(string, http.Handler), opts []connect.HandlerOption) []string {
	h := sensorsrpc.New(sensorsrpc.Options{
		Sensors: r.sensors, Hub: r.hub, Tracker: r.tracker, Publisher: r.publisher,
		LoadMultiplier: func() float64 { return r.monitor.Snapshot().Multiplier },
		Logger:         r.log.With().Str("service", "sensors").Logger(),
	})
	r.sensorMessage = h.SensorMessage
	mount(sensoctov1connect.NewSensorServiceHandler(h, opts...))
	mount(sensoctov1connect.NewAttentionServiceHandler(attentionrpc.New(r.tracker, r.sensors), opts...))
	return []string{sensoctov1connect.SensorServiceName, sensoctov1connect.AttentionServiceName}
}

// run runs the loops of the core until ctx ends: lease sweeps, load sampling,
// attention and load into back-pressure (and attention events to watchers), and the
// batched writes of inferred attributes.
func (r *realtime) run(ctx context.Context) error {
	attSub := r.tracker.Subscribe()
	defer attSub.Close()
	loadSub := r.monitor.Subscribe()
	defer loadSub.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.tracker.Run(ctx) })
	g.Go(func() error { return r.monitor.Run(ctx) })
	g.Go(func() error { return r.sensors.Run(ctx) })
	g.Go(func() error {
		return r.publisher.FollowLoad(ctx, loadSub, func(s loadmon.Snapshot) {
			r.hub.SetLoadFactor(s.Level.RetentionFactor())
		})
	})
	g.Go(func() error {
		for {
			changes, err := attSub.Next(ctx)
			if err != nil {
				return nil //nolint:nilerr // ends with ctx
			}
			for _, c := range changes {
				r.publisher.SetAttention(c.SensorID, c.Level)
				if c.Level != c.Previous {
					_ = r.hub.Notify(c.SensorID, hub.EventAttention) // not live: nobody watches
				}
			}
		}
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("real-time core: %w", err)
	}
	return nil
}

// live reports the core's state for SystemService.
func (r *realtime) live() system.Live {
	s := r.monitor.Snapshot()
	return system.Live{
		LoadLevel: int(s.Level), Score: s.Score, MemoryProtection: s.MemoryProtection, Multiplier: s.Multiplier,
		ConnectedSensors: r.sensors.ConnectedCount(), Watchers: r.hub.Stats().Watchers,
	}
}
