package loadgen

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"
)

// Main runs `sensocto loadgen` with args (flags) and prints the result to stdout: one
// JSON object with --json, else a short summary. It returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sensocto loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	var asJSON bool
	fs.StringVar(&cfg.URL, "url", "http://localhost:8080", "server base URL (--mode mqtt: the broker, tcp://host:port)")
	fs.StringVar(&cfg.Token, "token", "", "bearer token (session or API token); empty: sign in as a guest")
	fs.IntVar(&cfg.Connectors, "connectors", 10, "simulated connectors (one sensor each)")
	fs.StringVar(&cfg.Mode, "mode", "stream", "how connectors send: stream, publish, or mqtt (each value a QoS 0 message to an MQTT broker, for comparison)")
	fs.IntVar(&cfg.Block, "block", 0, "samples per SampleBlock; 0 sends single measurements")
	fs.IntVar(&cfg.Batch, "batch", 1, "measurements per message with single measurements; blocks per message with --block and --rate 0")
	fs.Float64Var(&cfg.RateHz, "rate", 10, "samples per second per connector; 0: as fast as possible")
	fs.IntVar(&cfg.Watchers, "watchers", 1, "Watch streams (the sensors are shared out among them)")
	fs.StringVar(&cfg.Attention, "attention", "focus", "what watchers report on what they watch: focus (HIGH), view (MEDIUM), none (LOW), or page: each watcher a viewer with --page sensors of its own in view, one focused, the focus moving every --focus-every")
	fs.IntVar(&cfg.Page, "page", 13, "sensors on each viewer's page with --attention page (one focused, the rest in view); --mode mqtt: topics per subscriber")
	fs.DurationVar(&cfg.FocusEvery, "focus-every", 3*time.Second, "how often a viewer moves its focus with --attention page")
	fs.IntVar(&cfg.PID, "pid", 0, "a process on this machine (the server, or the MQTT broker) whose CPU and RSS are measured over the run (Linux)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long connectors send (idle mode: how long to wait before measuring)")
	fs.BoolVar(&cfg.IgnoreBackpressure, "ignore-backpressure", false, "send at the configured rate whatever the server advises")
	fs.StringVar(&cfg.Protocol, "protocol", "connect", "connect or grpc")
	fs.IntVar(&cfg.Conns, "conns", 0, "HTTP/2 connections (default: one per 100 clients)")
	fs.BoolVar(&cfg.Idle, "idle", false, "memory mode: open one Stream per sensor, send nothing, report server memory per sensor")
	fs.IntVar(&cfg.Reaction, "reaction", 0, "reaction mode: measure focus→HIGH and last watcher gone→config this many times")
	fs.BoolVar(&cfg.HTTP1, "http1", false, "use HTTP/1.1 (with --mode publish; Stream and Watch need HTTP/2)")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "sensocto loadgen: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(res); err != nil {
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "sent %d, accepted %d (%.0f/s, %.0f messages/s), delivered %d (%.0f/s, %.0f messages/s), latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f, drops %d, errors %d\n",
		res.Sent, res.Accepted, res.IngestPerS, res.MessagesPerS, res.Delivered, res.DeliveredPerS, res.WatchMessagesPerS,
		res.LatencyMS.P50, res.LatencyMS.P90, res.LatencyMS.P99, res.LatencyMS.Max, res.Drops, res.Errors)
	for _, l := range []struct {
		name string
		l    *Latency
	}{{"focused", res.FocusedLatencyMS}, {"in view", res.InViewLatencyMS}} {
		if l.l != nil {
			fmt.Fprintf(stdout, "%s: latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f (%d)\n", l.name, l.l.P50, l.l.P90, l.l.P99, l.l.Max, l.l.N)
		}
	}
	if cfg.PID > 0 {
		fmt.Fprintf(stdout, "process %d: %.2f cores, rss %.1f MiB (peak %.1f MiB); loadgen %.2f cores\n", cfg.PID,
			res.ProcessCPUCores, float64(res.ProcessRSSBytes)/(1<<20), float64(res.ProcessPeakRSS)/(1<<20), res.LoadgenCPUCores)
	}
	return 0
}
