package app_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/loadmon"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// wantExhausted checks err is resource_exhausted with a RetryInfo detail.
func wantExhausted(t *testing.T, what string, err error) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
		t.Fatalf("%s: %v, want resource_exhausted", what, err)
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if _, ok := v.(*errdetails.RetryInfo); ok {
				return
			}
		}
	}
	t.Fatalf("%s: %v has no RetryInfo", what, err)
}

// TestStreamLimits opens streams of every kind up to the per-user and per-IP limits:
// one more is refused with resource_exhausted and RetryInfo, ending one frees its place;
// under the load monitor's memory protection no new stream opens while those open stay.
func TestStreamLimits(t *testing.T) {
	t.Parallel()
	var heap atomic.Uint64
	const limit = 1 << 30
	heap.Store(limit / 10)
	sampler := loadmon.SamplerFunc(func(time.Time) loadmon.Sample {
		return loadmon.Sample{HeapBytes: heap.Load(), MemoryLimitBytes: limit}
	})
	srv := startServer(t, "sqlite", map[string]string{
		"SENSOCTO_STREAMS_PER_USER": "3",
		"SENSOCTO_STREAMS_PER_IP":   "5",
	}, app.WithLoadSampler(sampler, 10*time.Millisecond))

	alice := signInGuest(t, srv.url)
	ac := sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), alice), srv.url)
	id := newSensorID("limits")
	register(t, ac, id)
	sys := func(token string) sensoctov1connect.SystemServiceClient {
		return sensoctov1connect.NewSystemServiceClient(withToken(h2cClient(), token), srv.url)
	}

	// Alice: a Watch, a WatchStatus and a Stream are her three.
	w := openWatch(t, ac, &sensoctov1.WatchRequest{SensorIds: []string{id}})
	w.next(t)
	status, err := sys(alice).WatchStatus(t.Context(), &sensoctov1.WatchStatusRequest{})
	if err != nil || !status.Receive() {
		t.Fatalf("WatchStatus: %v %v", err, status.Err())
	}
	select {
	case _, open := <-streamConfigs(t, ac, id).ch:
		if !open {
			t.Fatal("Stream ended")
		}
	case <-time.After(testDeadline):
		t.Fatal("no config on the Stream")
	}
	wantExhausted(t, "alice's 4th stream", firstOf(ac.Watch(t.Context(), &sensoctov1.WatchRequest{SensorIds: []string{id}})))

	// Ending one frees its place (released when the handler returns).
	_ = status.Close()
	var w2 *connect.ServerStreamForClient[sensoctov1.WatchResponse]
	testkit.WaitFor(t, "a place after closing WatchStatus", func() bool {
		s, err := ac.Watch(t.Context(), &sensoctov1.WatchRequest{SensorIds: []string{id}})
		if err == nil && s.Receive() {
			w2 = s
			return true
		}
		if err == nil {
			err = s.Err()
			_ = s.Close()
		}
		wantExhausted(t, "a 4th stream before the place is freed", err)
		return false
	})

	// Bob shares the loopback address: 3 of its 5 are alice's.
	bob := signInGuest(t, srv.url)
	bc := sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), bob), srv.url)
	bobs := newSensorID("limits")
	register(t, bc, bobs)
	for i := range 2 {
		s, err := bc.Watch(t.Context(), &sensoctov1.WatchRequest{SensorIds: []string{bobs}})
		if err != nil || !s.Receive() {
			t.Fatalf("bob's watch %d: %v %v", i, err, s.Err())
		}
		t.Cleanup(func() { _ = s.Close() })
	}
	wantExhausted(t, "the 6th stream from one address", firstOf(sys(bob).WatchStatus(t.Context(), &sensoctov1.WatchStatusRequest{})))
	// Unary calls are not limited.
	if _, err := sensoctov1connect.NewSensorServiceClient(withToken(http.DefaultClient, bob), srv.url).
		GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: bobs}); err != nil {
		t.Fatalf("unary call refused: %v", err)
	}

	// Memory protection: nobody opens a stream, open ones keep delivering.
	_ = w2.Close()
	heap.Store(limit / 100 * 95)
	testkit.WaitFor(t, "memory protection refusing new streams", func() bool {
		err := firstOf(ac.Watch(t.Context(), &sensoctov1.WatchRequest{SensorIds: []string{id}}))
		if err == nil {
			return false
		}
		wantExhausted(t, "a stream under memory protection", err)
		return true
	})
	if _, err := ac.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("v", time.Now().UnixMicro(), 1)}}); err != nil {
		t.Fatalf("Publish under memory protection: %v", err)
	}
	for got := false; !got; {
		for _, d := range w.next(t).GetData() {
			got = got || len(d.GetMeasurements()) > 0
		}
	}
	// The refusals are counted by reason.
	res, err := http.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	for _, m := range []string{`sensocto_streams_refused_total{reason="user"}`, `sensocto_streams_refused_total{reason="ip"} 1`, `sensocto_streams_refused_total{reason="memory"}`, "sensocto_streams_open "} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics has no %s", m)
		}
	}
	heap.Store(limit / 10)
	testkit.WaitFor(t, "streams open again after memory protection", func() bool {
		return firstOf(ac.Watch(t.Context(), &sensoctov1.WatchRequest{SensorIds: []string{id}})) == nil
	})
}
