package app_test

import (
	"context"
	"maps"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/rpc"
)

// benchServer starts the app on loopback for a benchmark, with env added to its
// defaults, and returns its URL and a guest's token.
func benchServer(b *testing.B, env map[string]string) (string, string) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	vars := map[string]string{
		"SENSOCTO_DATA_DIR": b.TempDir(), "SENSOCTO_DATABASE_URL": dbtest.URL(b, "sqlite"),
		"SENSOCTO_LOG_LEVEL": "error", "SENSOCTO_LOG_FORMAT": "json", "SENSOCTO_PUBLIC_URL": url,
	}
	maps.Copy(vars, env)
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	a, err := app.New(ctx, cfg, dbtest.Logger(b), app.WithPasswordParams(accounts.TestPasswordParams))
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	b.Cleanup(func() { cancel(); <-done; _ = a.Close() })
	res, err := sensoctov1connect.NewAuthServiceClient(http.DefaultClient, url).SignInGuest(ctx, &sensoctov1.SignInGuestRequest{})
	if err != nil {
		b.Fatal(err)
	}
	return url, res.GetToken()
}

// BenchmarkPublishLoopback measures Publish calls with batches of 10 measurements over
// loopback (Connect, HTTP/2), client and server in one process so that a CPU profile
// shows both sides:
//
//	go test -run '^$' -bench PublishLoopback -cpuprofile /tmp/publish.prof ./server/internal/app/
func BenchmarkPublishLoopback(b *testing.B) {
	url, token := benchServer(b, nil)
	c := benchClient(url, token)
	id := newSensorID("bench")
	if _, err := c.RegisterSensor(b.Context(), &sensoctov1.RegisterSensorRequest{SensorId: id}); err != nil {
		b.Fatal(err)
	}
	publishParallel(b, c, id)
}

// benchClient is the Connect client of the Publish benchmarks: HTTP/2 like the bare
// handler's, sending token in every call's headers as a connector does. (withToken's
// transport clones each request to add the header: 0.8 KB and 4 allocations per call
// on the client side, which the bare handler's client does not pay.)
func benchClient(url, token string) sensoctov1connect.SensorServiceClient {
	return sensoctov1connect.NewSensorServiceClient(h2cClient(), url, connect.WithInterceptors(bearerHeader("Bearer "+token)))
}

// bearerHeader sets the Authorization header of every unary call to value.
type bearerHeader string

func (h bearerHeader) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header()["Authorization"] = []string{string(h)}
		return next(ctx, req)
	}
}

func (h bearerHeader) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader()["Authorization"] = []string{string(h)}
		return conn
	}
}

func (bearerHeader) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// publishParallel publishes batches of 10 measurements to sensor id from 16 goroutines
// per core and reports calls/s.
func publishParallel(b *testing.B, c sensoctov1connect.SensorServiceClient, id string) {
	b.Helper()
	req := &sensoctov1.PublishRequest{SensorId: id}
	for i := range 10 {
		req.Measurements = append(req.Measurements, num("value", dataT0+int64(i+1), 1))
	}
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Publish(b.Context(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// bareSensors is a SensorService whose Publish only counts: no authentication,
// interceptors, validation or hub.
type bareSensors struct {
	sensoctov1connect.UnimplementedSensorServiceHandler
}

func (bareSensors) Publish(_ context.Context, req *sensoctov1.PublishRequest) (*sensoctov1.PublishResponse, error) {
	return &sensoctov1.PublishResponse{Accepted: uint64(len(req.GetMeasurements()))}, nil
}

// BenchmarkBarePublishLoopback is the ceiling for BenchmarkPublishLoopback on the same
// machine and run: the same calls and client against a bare connect-go handler on a
// bare net/http server (HTTP/1.1 + unencrypted HTTP/2), i.e. the cost of a unary
// Connect call over loopback with nothing of Sensocto's in it.
func BenchmarkBarePublishLoopback(b *testing.B) {
	publishParallel(b, bareServer(b), "bare")
}

// bareServer serves bareSensors on loopback for the rest of the benchmark and returns
// a client of it.
func bareServer(b *testing.B) sensoctov1connect.SensorServiceClient {
	b.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(b.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(sensoctov1connect.NewSensorServiceHandler(bareSensors{}, connect.WithCompressMinBytes(rpc.CompressMinBytes))) // as the app
	srv := &http.Server{Handler: mux, Protocols: new(http.Protocols), ReadHeaderTimeout: time.Minute}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return sensoctov1connect.NewSensorServiceClient(h2cClient(), "http://"+ln.Addr().String())
}

// publishGuardMin is the perf guard's limit: Publish must reach at least this
// fraction of the bare handler's calls/s in the same run (docs/performance.md, "The
// perf guard", has the measured ratios; the target is 0.9, reached on a quiet machine).
// Generous, so a loaded CI machine does not flake: the lowest ratio of any run so far
// is 0.52, at load 23 and before the changes that brought the quiet median from 0.83
// to above 0.9. A Publish that does real work per call it should not (a database
// query, a lock all calls wait on) falls far below it.
const publishGuardMin = 0.45

// BenchmarkPerfGuardPublish is the perf guard of Publish (go tool task test:perf
// runs it in CI):
//
//	go test -run '^$' -bench '^BenchmarkPerfGuardPublish$' -benchtime 1x ./server/internal/app/
//
// It measures Publish with 10 numbers against the bare connect-go handler in the same
// process, alternating them over rounds of a fixed span and keeping each one's best
// round, and fails when Publish reaches less than publishGuardMin of the bare calls/s:
// a ratio within one run, never an absolute time.
func BenchmarkPerfGuardPublish(b *testing.B) {
	url, token := benchServer(b, nil)
	c := benchClient(url, token)
	id := newSensorID("guard")
	if _, err := c.RegisterSensor(b.Context(), &sensoctov1.RegisterSensorRequest{SensorId: id}); err != nil {
		b.Fatal(err)
	}
	bare := bareServer(b)
	for range b.N {
		publishRate(b, c, id, 200*time.Millisecond) // warm up both: connections, pools
		publishRate(b, bare, "bare", 200*time.Millisecond)
		var app, base float64
		for range 6 {
			app = max(app, publishRate(b, c, id, 250*time.Millisecond))
			base = max(base, publishRate(b, bare, "bare", 250*time.Millisecond))
		}
		ratio := app / base
		b.ReportMetric(ratio, "x-bare")
		b.Logf("Publish %.0f calls/s, bare connect-go handler %.0f calls/s: %.2f× (limit %.2f×)", app, base, ratio, publishGuardMin)
		if ratio < publishGuardMin {
			b.Errorf("Publish reaches %.2f× the calls/s of a bare connect-go handler, under the limit of %.2f×", ratio, publishGuardMin)
		}
	}
}

// publishRate publishes batches of 10 measurements from 16 goroutines per core for
// span and returns the calls/s.
func publishRate(b *testing.B, c sensoctov1connect.SensorServiceClient, id string, span time.Duration) float64 {
	b.Helper()
	req := &sensoctov1.PublishRequest{SensorId: id}
	for i := range 10 {
		req.Measurements = append(req.Measurements, num("value", dataT0+int64(i+1), 1))
	}
	var calls atomic.Int64
	ctx, cancel := context.WithTimeout(b.Context(), span)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range 16 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := c.Publish(b.Context(), req); err != nil {
					b.Error(err)
					return
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(calls.Load()) / time.Since(start).Seconds()
}
