package loadgen_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	mqttserver "github.com/mochi-mqtt/server/v2"
	mqttauth "github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/loadgen"
)

// startServer runs the whole server in-process on loopback (SQLite) and returns its URL.
func startServer(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	vars := map[string]string{
		"SENSOCTO_DATA_DIR": t.TempDir(), "SENSOCTO_DATABASE_URL": dbtest.URL(t, "sqlite"),
		"SENSOCTO_LOG_LEVEL": "error", "SENSOCTO_LOG_FORMAT": "json", "SENSOCTO_PUBLIC_URL": url,
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	a, err := app.New(ctx, cfg, dbtest.Logger(t), app.WithPasswordParams(accounts.TestPasswordParams))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; _ = a.Close() })
	return url
}

// TestAttentionPage runs --attention page against a real server, once with connectors
// that follow back-pressure and once with connectors that ignore it: both deliver the
// focused and the in-view sensors to their viewers, and following back-pressure sends
// far fewer messages, as the sensors on nobody's page slow down to the NONE window.
func TestAttentionPage(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	run := func(ignore bool) loadgen.Result {
		t.Helper()
		res, err := loadgen.Run(t.Context(), loadgen.Config{
			URL: url, Mode: "stream", Connectors: 40, RateHz: 10, Watchers: 2, Attention: "page", Page: 5,
			FocusEvery: 1200 * time.Millisecond, Duration: 4 * time.Second, IgnoreBackpressure: ignore,
		})
		if err != nil {
			t.Fatalf("Run (ignore back-pressure %v): %v", ignore, err)
		}
		if res.Errors != 0 {
			t.Fatalf("Run (ignore back-pressure %v): %d errors, first %s", ignore, res.Errors, res.FirstError)
		}
		if res.FocusedLatencyMS == nil || res.FocusedLatencyMS.N == 0 || res.InViewLatencyMS == nil || res.InViewLatencyMS.N == 0 {
			t.Fatalf("Run (ignore back-pressure %v): no focused or no in-view deliveries: %+v", ignore, res)
		}
		if res.WatchMessages == 0 || res.Delivered == 0 || res.Sent == 0 {
			t.Fatalf("Run (ignore back-pressure %v): nothing sent or delivered: %+v", ignore, res)
		}
		// Every focused delivery carries the server's receipt time: both legs are
		// measured for each, and each is at most the whole.
		ts, fs := res.FocusedToServerMS, res.FocusedFromServerMS
		if ts == nil || fs == nil || ts.N != res.FocusedLatencyMS.N || fs.N != res.FocusedLatencyMS.N {
			t.Fatalf("Run (ignore back-pressure %v): the focused latency's legs are not measured for every delivery: %+v, %+v of %d", ignore, ts, fs, res.FocusedLatencyMS.N)
		}
		if ts.Max > res.FocusedLatencyMS.Max || fs.Max > res.FocusedLatencyMS.Max {
			t.Fatalf("Run (ignore back-pressure %v): a leg (max %v, %v ms) is longer than the whole (max %v ms)", ignore, ts.Max, fs.Max, res.FocusedLatencyMS.Max)
		}
		if res.OpenS <= 0 {
			t.Fatalf("Run (ignore back-pressure %v): the sessions' opening was not measured: %+v", ignore, res)
		}
		if res.LoadgenCPUCores <= 0 {
			t.Fatalf("Run (ignore back-pressure %v): loadgen's own CPU not measured: %+v", ignore, res)
		}
		return res
	}
	with, without := run(false), run(true)
	// Without back-pressure 40 sensors × 10 Hz send ~400 messages/s; with it the 30
	// on nobody's page send one message per 5 s, the 8 in view one per 500 ms and the 2
	// focused one per 100 ms: ~42/s.
	if with.Messages*2 > without.Messages {
		t.Fatalf("following back-pressure sent %d messages, ignoring it %d: want less than half", with.Messages, without.Messages)
	}
	if without.Messages < without.Sent/2 {
		t.Fatalf("ignoring back-pressure sent %d values in only %d messages: want one message per value", without.Sent, without.Messages)
	}
}

// TestProcessMeter: --pid measures a process's CPU and memory (this test's own).
func TestProcessMeter(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	res, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: url, Mode: "stream", Connectors: 4, RateHz: 50, Watchers: 1, Duration: time.Second, PID: os.Getpid(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ProcessCPUCores <= 0 || res.ProcessRSSBytes == 0 || res.ProcessPeakRSS < res.ProcessRSSBytes {
		t.Fatalf("process figures not measured: cpu %v cores, rss %d, peak %d", res.ProcessCPUCores, res.ProcessRSSBytes, res.ProcessPeakRSS)
	}
}

// TestMQTT runs --mode mqtt against an MQTT broker in this process: every value of the
// sensors on a subscriber's page arrives there as its own message, with its latency.
func TestMQTT(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	broker := mqttserver.New(&mqttserver.Options{})
	if err := broker.AddHook(new(mqttauth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := broker.AddListener(listeners.NewNet("loadgen-test", ln)); err != nil {
		t.Fatal(err)
	}
	if err := broker.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Close() })
	res, err := loadgen.Run(t.Context(), loadgen.Config{
		URL: "tcp://" + ln.Addr().String(), Mode: "mqtt", Connectors: 20, RateHz: 20, Watchers: 2, Page: 5,
		Duration: 1500 * time.Millisecond, PID: os.Getpid(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 {
		t.Fatalf("%d errors, first %s", res.Errors, res.FirstError)
	}
	// 20 sensors × 20 Hz × 1.5 s = 600 values, each a message; the 10 on the two pages
	// reach a subscriber.
	if res.Messages < 300 || res.Sent != res.Messages {
		t.Fatalf("sent %d values in %d messages: want about 600, one message each", res.Sent, res.Messages)
	}
	if res.Delivered < res.Messages/4 || res.Delivered > res.Messages/2+20 || res.LatencyMS.N != res.Delivered {
		t.Fatalf("delivered %d of %d (latency measured %d): want the half on the pages", res.Delivered, res.Messages, res.LatencyMS.N)
	}
	if res.ProcessCPUCores <= 0 {
		t.Fatalf("the broker's (this process's) CPU was not measured: %+v", res)
	}
}
