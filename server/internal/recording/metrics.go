package recording

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the recorder's Prometheus metrics. Counters read the recorder's own
// counts when scraped, so the ingest path pays nothing for them.
type metrics struct {
	flushSeconds prometheus.Histogram
	flushSamples prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, r *Recorder) (*metrics, error) {
	m := &metrics{
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sensocto", Subsystem: "recording", Name: "flush_seconds",
			Help:    "Time to write one batch of recorded samples (successful or not).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		flushSamples: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sensocto", Subsystem: "recording", Name: "flush_samples",
			Help:    "Samples in one written batch.",
			Buckets: prometheus.ExponentialBuckets(64, 4, 9),
		}),
	}
	if reg == nil {
		return m, nil
	}
	stat := func(f func(Stats) float64) func() float64 { return func() float64 { return f(r.Stats()) } }
	cs := []prometheus.Collector{
		m.flushSeconds, m.flushSamples,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "sensocto", Subsystem: "recording", Name: "queue_samples",
			Help: "Samples waiting to be written (a value counts one, a block its samples).",
		}, stat(func(s Stats) float64 { return float64(s.Queued) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "sensocto", Subsystem: "recording", Name: "queue_bound_samples",
			Help: "Samples the queue holds at most before dropping the oldest.",
		}, func() float64 { return float64(r.opts.QueueBound) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "sensocto", Subsystem: "recording", Name: "written_samples_total",
			Help: "Samples written to the measurement store.",
		}, stat(func(s Stats) float64 { return float64(s.Written) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "sensocto", Subsystem: "recording", Name: "dropped_samples_total",
			Help: "Samples dropped because the queue was full (oldest first), invalid, or left at shutdown.",
		}, stat(func(s Stats) float64 { return float64(s.Dropped) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "sensocto", Subsystem: "recording", Name: "write_retries_total",
			Help: "Failed batch writes that were retried.",
		}, stat(func(s Stats) float64 { return float64(s.Retries) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "sensocto", Subsystem: "recording", Name: "retrying",
			Help: "1 while the last write failed and the recorder retries with backoff, else 0.",
		}, stat(func(s Stats) float64 {
			if s.Retrying {
				return 1
			}
			return 0
		})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "sensocto", Subsystem: "recording", Name: "last_flush_lag_seconds",
			Help: "How long the oldest sample of the last written batch waited between being queued and being committed.",
		}, stat(func(s Stats) float64 { return s.LastLag.Seconds() })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "sensocto", Subsystem: "recording", Name: "oldest_queued_age_seconds",
			Help: "How long the oldest sample waiting to be written has waited (0 when none waits).",
		}, stat(func(s Stats) float64 { return s.OldestQueuedAge.Seconds() })),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register recording metrics: %w", err)
		}
	}
	return m, nil
}
