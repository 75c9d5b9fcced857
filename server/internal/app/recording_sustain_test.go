package app_test

import (
	"bufio"
	"context"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// TestRecordingSustained is a measurement, not a check: with SENSOCTO_BENCH_SUSTAIN
// set to a duration (e.g. 60s) and SENSOCTO_TEST_POSTGRES_URL set, it publishes
// through the real API at SENSOCTO_BENCH_SUSTAIN_RATE samples/s (default 500000) into
// sensors that record, as single measurements (batches of 256) or as SampleBlocks of
// 64 (SENSOCTO_BENCH_SUSTAIN_MODE=values|blocks), while a probe sensor watched at
// focus (HIGH) publishes its send time every 10 ms; it logs accepted and written
// samples/s, drops, and the probe's publish→watcher latency (its own connection). With
// SENSOCTO_BENCH_SUSTAIN_RECORD=false the sensors do not record (the baseline).
//
//	SENSOCTO_TEST_POSTGRES_URL=… SENSOCTO_BENCH_SUSTAIN=60s \
//	  go test -run TestRecordingSustained -v -timeout 10m ./server/internal/app/
func TestRecordingSustained(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("SENSOCTO_BENCH_SUSTAIN"))
	if err != nil {
		t.Skip("SENSOCTO_BENCH_SUSTAIN (a duration) not set")
	}
	if !hasPostgres(t) {
		t.Skip("SENSOCTO_TEST_POSTGRES_URL not set")
	}
	rate := 500_000.0
	if s := os.Getenv("SENSOCTO_BENCH_SUSTAIN_RATE"); s != "" {
		if rate, err = strconv.ParseFloat(s, 64); err != nil {
			t.Fatal(err)
		}
	}
	blocks := os.Getenv("SENSOCTO_BENCH_SUSTAIN_MODE") == "blocks"
	record := os.Getenv("SENSOCTO_BENCH_SUSTAIN_RECORD") != "false"

	srv := startStoppable(t, dbtest.URL(t, database.DialectPostgres))
	token := signInGuest(t, srv.url)
	client := h2cClient()
	sc := sensoctov1connect.NewSensorServiceClient(withToken(client, token), srv.url)
	ac := sensoctov1connect.NewAttentionServiceClient(withToken(client, token), srv.url)

	const publishers, sensorsPer = 4, 4
	ids := make([]string, publishers*sensorsPer)
	for i := range ids {
		ids[i] = newSensorID("sustain")
		register(t, sc, ids[i], &sensoctov1.Attribute{AttributeId: "ecg", AttributeType: "ecg", SampleRateHz: 250},
			&sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
		if record {
			if _, err := sc.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: ids[i], Enabled: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The probe has its own connection, so it measures the server, not queueing
	// behind the load on a shared HTTP/2 connection.
	pc := sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), token), srv.url)
	probe := newSensorID("probe")
	register(t, sc, probe, &sensoctov1.Attribute{AttributeId: "t", AttributeType: "generic"})
	w := openWatch(t, pc, &sensoctov1.WatchRequest{SensorIds: []string{probe}})
	report(t, ac, "sustain-tab", probe, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_ENTER, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS)

	ctx, cancel := context.WithTimeout(t.Context(), dur)
	defer cancel()
	var accepted atomic.Int64
	var failures atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	const tick = 10 * time.Millisecond
	perTick := int(math.Round(rate * tick.Seconds() / publishers))
	for p := range publishers {
		wg.Go(func() {
			tk := time.NewTicker(tick)
			defer tk.Stop()
			next := start.UnixMicro() + int64(p)
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
				}
				for k := 0; k < perTick; {
					req := &sensoctov1.PublishRequest{SensorId: ids[p*sensorsPer+n%sensorsPer]}
					if blocks {
						for b := 0; b < 16 && k < perTick; b++ {
							blk := &sensoctov1.SampleBlock{AttributeId: "ecg", StartTimeUs: next, SampleRateHz: 250, Samples: make([]float32, 64)}
							for i := range blk.Samples {
								blk.Samples[i] = float32(i)
							}
							next += 256_000
							req.Blocks = append(req.Blocks, blk)
							k += 64
						}
					} else {
						for m := 0; m < 256 && k < perTick; m++ {
							req.Measurements = append(req.Measurements, num("hr", next, float64(k%100)))
							next += 1000
							k++
						}
					}
					res, err := sc.Publish(ctx, req)
					if err != nil {
						if ctx.Err() == nil {
							failures.Add(1)
						}
						return
					}
					accepted.Add(int64(res.GetAccepted())) //nolint:gosec // G115: a count
				}
			}
		})
	}
	var lat []float64
	wg.Go(func() {
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for n := 0; ; {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			if n++; n%500 == 0 { // renew the attention lease (15 s) every 5 s
				_, _ = ac.ReportAttention(ctx, &sensoctov1.ReportAttentionRequest{TabId: "sustain-tab", Events: []*sensoctov1.AttentionEvent{
					{SensorId: probe, Kind: sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS},
				}})
			}
			now := time.Now().UnixMicro()
			_, _ = pc.Publish(ctx, &sensoctov1.PublishRequest{SensorId: probe, Measurements: []*sensoctov1.Measurement{num("t", now, float64(now))}})
		}
	})
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-w.ch:
				if !ok {
					return
				}
				at := time.Now().UnixMicro()
				if m.GetRecent() {
					continue
				}
				for _, d := range m.GetData() {
					for _, x := range d.GetMeasurements() {
						lat = append(lat, float64(at-x.GetTimeUs())/1000)
					}
				}
			}
		}
	}()
	wg.Wait()
	<-recvDone
	elapsed := time.Since(start)
	atEnd := scrapeMetrics(t, srv.url)
	drainStart := time.Now()
	for scrapeMetrics(t, srv.url)["sensocto_recording_queue_samples"] > 0 && time.Since(drainStart) < 2*time.Minute {
		time.Sleep(100 * time.Millisecond) //nolint:forbidigo // a measurement polls the server's metrics
	}
	drained := time.Since(drainStart)
	final := scrapeMetrics(t, srv.url)
	slices.Sort(lat)
	pct := func(q float64) float64 {
		if len(lat) == 0 {
			return math.NaN()
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	mode := "single measurements (batches of 256)"
	if blocks {
		mode = "SampleBlocks of 64 (16 per message)"
	}
	t.Logf("mode %s, recording %v, target %.0f samples/s, %s", mode, record, rate, elapsed.Round(time.Millisecond))
	t.Logf("accepted %.0f samples/s; written during the run %.0f samples/s; written incl. drain (%s) %.0f samples/s over the run; dropped %.0f; failed publishes %d",
		float64(accepted.Load())/elapsed.Seconds(), atEnd["sensocto_recording_written_samples_total"]/elapsed.Seconds(),
		drained.Round(time.Millisecond), final["sensocto_recording_written_samples_total"]/(elapsed+drained).Seconds(),
		final["sensocto_recording_dropped_samples_total"], failures.Load())
	t.Logf("probe publish→watcher latency over %d deliveries: p50 %.2f ms, p99 %.2f ms, max %.2f ms", len(lat), pct(0.5), pct(0.99), pct(1))
}

func hasPostgres(t *testing.T) bool {
	return slices.Contains(dbtest.Dialects(t), database.DialectPostgres)
}

// scrapeMetrics reads the unlabelled sensocto_recording_* samples of /metrics.
func scrapeMetrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics") //nolint:noctx // a test helper
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "sensocto_recording_") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.Contains(name, "{") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err == nil {
			out[name] = v
		}
	}
	return out
}
