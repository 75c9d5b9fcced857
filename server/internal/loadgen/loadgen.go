// Package loadgen is the load generator behind `sensocto loadgen`: a client tool, not
// a domain. It runs N simulated connectors (Stream or Publish; single measurements or
// SampleBlocks of K samples at R Hz) and W watchers against a server URL, and measures
// what was sent, accepted and delivered, the publish→watcher latency (the send time is
// carried in time_us and compared on receipt, on the same machine), drops and errors.
// Connectors obey the back-pressure configs they receive unless told not to. Extra
// modes measure back-pressure reaction times, the memory of idle sensors, viewers that
// look at pages of sensors and move their focus (--attention page), and the same load
// through an MQTT broker for comparison (--mode mqtt). With --pid it measures the CPU
// and memory of a process on this machine (the server or the broker) over the run.
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/sync/errgroup"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// Config is one run.
type Config struct {
	URL   string
	Token string // empty: sign in as a guest
	// Connectors is the number of simulated sensors, each with its own connector.
	Connectors int
	// Mode is "stream", "publish" or "mqtt" (URL is then the broker's, tcp://host:port).
	Mode string
	// Block is the samples per SampleBlock; 0 sends single measurements.
	Block int
	// Batch is the measurements per message with single measurements (default 1), or
	// the blocks per message with blocks when sending as fast as possible.
	Batch int
	// RateHz is the samples per second per connector; 0 sends as fast as possible.
	RateHz float64
	// Watchers is the number of Watch streams; the sensors are shared out among them.
	Watchers int
	// Attention is what watchers report on what they watch: "focus" (HIGH, the
	// default), "view" (MEDIUM) or "none" (the Watch alone: LOW); "page": each
	// watcher is a viewer with a page of Page sensors of its own in view (MEDIUM), one
	// of them focused (HIGH), the focus moving to the next every FocusEvery; the
	// sensors on nobody's page are watched by nobody (NONE).
	Attention string
	// Page is the sensors on each viewer's page with --attention page (default 13:
	// one focused, 12 in view); with --mode mqtt, the topics each subscriber wants.
	Page int
	// FocusEvery is how often a viewer moves its focus (default 3 s).
	FocusEvery time.Duration
	// PID is a process on this machine (the server, or the MQTT broker) whose CPU
	// time and resident memory are measured over the run; 0: none.
	PID                int
	Duration           time.Duration
	IgnoreBackpressure bool
	// Protocol is "connect" (default) or "grpc".
	Protocol string
	// Conns is the number of HTTP/2 connections shared by the clients (default: one
	// per 100 connectors, at least 1).
	Conns int
	// Idle makes connectors open their Stream and send nothing (memory mode).
	Idle bool
	// Reaction measures back-pressure reaction times instead of load.
	Reaction int
	// HTTP1 makes the clients use HTTP/1.1 (Publish only: streams need HTTP/2).
	HTTP1 bool
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	N   uint64  `json:"n"`
}

// Result is what a run measured.
type Result struct {
	Connectors    int     `json:"connectors"`
	Watchers      int     `json:"watchers"`
	Mode          string  `json:"mode"`
	DurationS     float64 `json:"duration_s"`
	Sent          uint64  `json:"sent"`
	Accepted      uint64  `json:"accepted"`
	Delivered     uint64  `json:"delivered"`
	Messages      uint64  `json:"messages"`
	IngestPerS    float64 `json:"ingest_per_s"`
	MessagesPerS  float64 `json:"messages_per_s"`
	DeliveredPerS float64 `json:"delivered_per_s"`
	LatencyMS     Latency `json:"latency_ms"`
	Drops         uint64  `json:"drops"`
	Errors        uint64  `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	Paused        uint64  `json:"paused_ticks,omitempty"`
	// Memory mode: server RSS before the sensors were registered and with all their
	// Streams open, and the difference per sensor.
	RSSBeforeBytes  uint64  `json:"rss_before_bytes,omitempty"`
	RSSAfterBytes   uint64  `json:"rss_after_bytes,omitempty"`
	BytesPerSensor  float64 `json:"bytes_per_sensor,omitempty"`
	HeapBeforeBytes uint64  `json:"heap_before_bytes,omitempty"`
	HeapAfterBytes  uint64  `json:"heap_after_bytes,omitempty"`
	HeapPerSensor   float64 `json:"heap_bytes_per_sensor,omitempty"`
	// Goroutine stacks (the server's /metrics) once the sensors were registered and
	// with their Streams open: what each idle session's goroutine holds. MetricsError
	// says why they are missing (/metrics not reachable).
	StackBeforeBytes    float64  `json:"stack_before_bytes,omitempty"`
	StackAfterBytes     float64  `json:"stack_after_bytes,omitempty"`
	StackPerSensor      float64  `json:"stack_bytes_per_sensor,omitempty"`
	GoroutinesPerSensor float64  `json:"goroutines_per_sensor,omitempty"`
	MetricsError        string   `json:"metrics_error,omitempty"`
	FocusToHighMS       *Latency `json:"focus_to_high_ms,omitempty"`
	WatcherGoneMS       *Latency `json:"last_watcher_gone_to_config_ms,omitempty"`
	ServerLoadLevel     string   `json:"server_load_level,omitempty"`
	ServerLoadScore     float64  `json:"server_load_score,omitempty"`
	// Attention page mode: the send→delivery latency of the newest value of each
	// sensor in each delivery (so the connector's batching window is excluded; the
	// watcher's flush window is not), for the focused sensors (from 1 s after the
	// focus moved) and for the other sensors in view.
	FocusedLatencyMS *Latency `json:"focused_latency_ms,omitempty"`
	InViewLatencyMS  *Latency `json:"in_view_latency_ms,omitempty"`
	// The focused latency's two legs: from the value's time to the server's receipt
	// (the connector's send, the network, the server's read and decode) and from there
	// to the viewer (the hub, the Watch, the network, the viewer's read). Their
	// quantiles do not add up to the whole's.
	FocusedToServerMS   *Latency `json:"focused_to_server_ms,omitempty"`
	FocusedFromServerMS *Latency `json:"focused_from_server_ms,omitempty"`
	// Messages out: Watch messages (MQTT: messages) the watchers received, and the
	// configs and acks the connectors received.
	WatchMessages           uint64  `json:"watch_messages"`
	WatchMessagesPerS       float64 `json:"watch_messages_per_s"`
	ToConnectorMessagesPerS float64 `json:"to_connector_messages_per_s"`
	// With --pid: the process's CPU (cores: CPU seconds per second) over the sending
	// time, and its resident memory at the end and at its peak; and loadgen's own CPU.
	ProcessCPUCores float64 `json:"process_cpu_cores,omitempty"`
	ProcessRSSBytes uint64  `json:"process_rss_bytes,omitempty"`
	ProcessPeakRSS  uint64  `json:"process_peak_rss_bytes,omitempty"`
	LoadgenCPUCores float64 `json:"loadgen_cpu_cores,omitempty"`
	// OpenS is how long the Stream connectors took to open their sessions (each to its
	// first config), before the measured time.
	OpenS float64 `json:"open_s,omitempty"`
}

type counters struct {
	sent, accepted, delivered, messages, drops, errors, paused atomic.Uint64
	watchMessages, toConnectors                                atomic.Uint64
	errMu                                                      sync.Mutex
	firstErr                                                   string
}

// reset zeroes the counts (not the errors) at the start of the measured time.
func (c *counters) reset() {
	for _, n := range []*atomic.Uint64{&c.sent, &c.accepted, &c.delivered, &c.messages, &c.drops, &c.paused, &c.watchMessages, &c.toConnectors} {
		n.Store(0)
	}
}

func (c *counters) fail(err error) {
	if err == nil || errors.Is(err, context.Canceled) || connect.CodeOf(err) == connect.CodeCanceled {
		return
	}
	c.errors.Add(1)
	c.errMu.Lock()
	if c.firstErr == "" {
		c.firstErr = err.Error()
	}
	c.errMu.Unlock()
}

// runner holds the clients of a run.
type runner struct {
	cfg     Config
	clients []*http.Client
	opts    []connect.ClientOption
	runID   string
	c       counters
	// from is when the measured time began (µs since the epoch): latencies of
	// deliveries before it are not counted.
	from atomic.Int64
}

func (r *runner) httpClient(i int) *http.Client { return r.clients[i%len(r.clients)] }

func (r *runner) sensors(i int) sensoctov1connect.SensorServiceClient {
	return sensoctov1connect.NewSensorServiceClient(r.httpClient(i), r.cfg.URL, r.opts...)
}

func (r *runner) attention(i int) sensoctov1connect.AttentionServiceClient {
	return sensoctov1connect.NewAttentionServiceClient(r.httpClient(i), r.cfg.URL, r.opts...)
}

func (r *runner) system() sensoctov1connect.SystemServiceClient {
	return sensoctov1connect.NewSystemServiceClient(r.httpClient(0), r.cfg.URL, r.opts...)
}

func (r *runner) sensorID(i int) string { return fmt.Sprintf("lg-%s-%d", r.runID, i) }

// bearer adds the token to every request.
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(req) //nolint:wrapcheck // a transport passes errors through
}

func newTransport(http1 bool) *http.Transport {
	p := new(http.Protocols)
	if http1 {
		p.SetHTTP1(true)
		return &http.Transport{Protocols: p, MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0}
	}
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{Protocols: p, MaxIdleConnsPerHost: 1}
}

// Run runs the configured load and returns what it measured.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	r := &runner{cfg: cfg}
	var id [4]byte
	_, _ = rand.Read(id[:])
	r.runID = hex.EncodeToString(id[:])
	if cfg.Mode == "mqtt" {
		return r.mqtt(ctx)
	}
	if cfg.Protocol == "grpc" {
		r.opts = append(r.opts, connect.WithGRPC())
	}
	if r.cfg.Token == "" {
		tok, err := signInGuest(ctx, cfg.URL)
		if err != nil {
			return Result{}, err
		}
		r.cfg.Token = tok
	}
	for range cfg.Conns {
		r.clients = append(r.clients, &http.Client{Transport: bearer{base: newTransport(cfg.HTTP1), token: r.cfg.Token}})
	}
	switch {
	case cfg.Reaction > 0:
		return r.reaction(ctx)
	case cfg.Idle:
		return r.idle(ctx)
	}
	return r.load(ctx)
}

func (cfg *Config) defaults() error {
	if cfg.URL == "" {
		return errors.New("loadgen: --url is required")
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.Connectors <= 0 {
		cfg.Connectors = 1
	}
	if cfg.Mode == "" {
		cfg.Mode = "stream"
	}
	if cfg.Mode != "stream" && cfg.Mode != "publish" && cfg.Mode != "mqtt" {
		return fmt.Errorf("loadgen: --mode must be stream, publish or mqtt, not %q", cfg.Mode)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1
	}
	switch cfg.Attention {
	case "":
		cfg.Attention = "focus"
	case "focus", "view", "none", "page":
	default:
		return fmt.Errorf("loadgen: --attention must be focus, view, none or page, not %q", cfg.Attention)
	}
	if cfg.Page <= 0 {
		cfg.Page = 13
	}
	if cfg.Page > 256 {
		return fmt.Errorf("loadgen: --page must be at most 256 (the Watch limit), not %d", cfg.Page)
	}
	if cfg.FocusEvery <= 0 {
		cfg.FocusEvery = 3 * time.Second
	}
	if cfg.Mode == "mqtt" && (cfg.Block > 0 || cfg.RateHz <= 0 || cfg.Idle || cfg.Reaction > 0) {
		return errors.New("loadgen: --mode mqtt sends paced single values: --rate > 0, no --block, --idle or --reaction")
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Conns <= 0 {
		cfg.Conns = max(1, (cfg.Connectors+cfg.Watchers+99)/100)
	}
	return nil
}

func signInGuest(ctx context.Context, url string) (string, error) {
	c := sensoctov1connect.NewAuthServiceClient(http.DefaultClient, strings.TrimRight(url, "/"))
	res, err := c.SignInGuest(ctx, &sensoctov1.SignInGuestRequest{})
	if err != nil {
		return "", fmt.Errorf("sign in as a guest: %w", err)
	}
	return res.GetToken(), nil
}

// register registers the sensors with some concurrency.
func (r *runner) register(ctx context.Context, attr, typ string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range r.cfg.Connectors {
		g.Go(func() error {
			_, err := r.sensors(i).RegisterSensor(ctx, &sensoctov1.RegisterSensorRequest{
				SensorId: r.sensorID(i), Name: "loadgen " + r.sensorID(i), SensorType: "loadgen",
				Attributes: []*sensoctov1.Attribute{{AttributeId: attr, AttributeType: typ}},
			})
			if err != nil {
				return fmt.Errorf("register %s: %w", r.sensorID(i), err)
			}
			return nil
		})
	}
	return g.Wait() //nolint:wrapcheck // errors are wrapped above
}

// cleanup deletes the run's sensors.
func (r *runner) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range r.cfg.Connectors {
		g.Go(func() error {
			_, _ = r.sensors(i).DeleteSensor(ctx, &sensoctov1.DeleteSensorRequest{SensorId: r.sensorID(i)})
			return nil
		})
	}
	_ = g.Wait()
}

func (r *runner) status(ctx context.Context) (*sensoctov1.SystemStatus, error) {
	res, err := r.system().GetStatus(ctx, &sensoctov1.GetStatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("get status: %w", err)
	}
	return res.GetStatus(), nil
}
