package rpc

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
)

// metricsInterceptor records RPC counts, durations and open streams.
type metricsInterceptor struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	streams  *prometheus.GaugeVec
	// succeeded holds each procedure's series for code "ok" (*okSeries), looked up once:
	// WithLabelValues hashes the labels and takes the vector's lock on every call. Only
	// procedures this server serves reach an interceptor, so it stays small.
	succeeded sync.Map
}

// okSeries are a procedure's series of successful calls.
type okSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// NewMetricsInterceptor registers on reg, and returns an interceptor that
// updates, the handler-side metrics:
//
//	sensocto_rpc_requests_total{procedure,code}      counter of finished calls
//	sensocto_rpc_duration_seconds{procedure,code}    histogram of call durations
//	sensocto_rpc_streams_in_flight{procedure}        gauge of open streaming calls
//
// code is "ok" or the Connect code name ("not_found", ...).
func NewMetricsInterceptor(reg prometheus.Registerer) (connect.Interceptor, error) {
	m := &metricsInterceptor{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sensocto_rpc_requests_total",
			Help: "RPCs handled, by procedure and result code.",
		}, []string{"procedure", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sensocto_rpc_duration_seconds",
			Help: "Duration of handled RPCs (for streams: how long the stream was open), by procedure and result code.",
			// Defaults up to 10 s for unary calls, then longer buckets for streams.
			Buckets: slices.Concat(prometheus.DefBuckets, []float64{30, 60, 300, 1800, 3600}),
		}, []string{"procedure", "code"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sensocto_rpc_streams_in_flight",
			Help: "Streaming RPCs currently open, by procedure.",
		}, []string{"procedure"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.streams} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register rpc metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metricsInterceptor) observe(procedure string, start time.Time, err error) {
	if err == nil {
		ok := m.okSeries(procedure)
		ok.requests.Inc()
		ok.duration.Observe(time.Since(start).Seconds())
		return
	}
	code := codeLabel(err)
	m.requests.WithLabelValues(procedure, code).Inc()
	m.duration.WithLabelValues(procedure, code).Observe(time.Since(start).Seconds())
}

// okSeries returns the series of procedure's successful calls.
func (m *metricsInterceptor) okSeries(procedure string) *okSeries {
	if s, ok := m.succeeded.Load(procedure); ok {
		return s.(*okSeries) //nolint:forcetypeassert // only *okSeries is stored
	}
	code := codeLabel(nil)
	s, _ := m.succeeded.LoadOrStore(procedure, &okSeries{
		requests: m.requests.WithLabelValues(procedure, code),
		duration: m.duration.WithLabelValues(procedure, code),
	})
	return s.(*okSeries) //nolint:forcetypeassert // as above
}

func (m *metricsInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		res, err := next(ctx, req)
		m.observe(req.Spec().Procedure, start, err)
		return res, err
	}
}

func (m *metricsInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

//go:noinline
func (m *metricsInterceptor) openStream(conn connect.StreamingHandlerConn) (prometheus.Gauge, time.Time) {
	gauge := m.streams.WithLabelValues(conn.Spec().Procedure)
	gauge.Inc()
	return gauge, time.Now()
}

//go:noinline
func (m *metricsInterceptor) closeStream(conn connect.StreamingHandlerConn, gauge prometheus.Gauge, start time.Time, err error) {
	gauge.Dec()
	m.observe(conn.Spec().Procedure, start, err)
}

func (m *metricsInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	// The closure's frame stays on a stream goroutine's stack for the stream's
	// lifetime: the work is in openStream and closeStream.
	// No defer (its record would be on the frame too): a handler's panic is recovered
	// by connect's recover interceptor, inside this one.
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		gauge, start := m.openStream(conn)
		err := next(ctx, conn)
		m.closeStream(conn, gauge, start, err)
		return err
	}
}
