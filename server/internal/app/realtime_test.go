package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// testDeadline bounds every wait of these tests (polling, never asserting durations).
const testDeadline = 20 * time.Second

type rtClients struct {
	sensors   sensoctov1connect.SensorServiceClient
	attention sensoctov1connect.AttentionServiceClient
}

// rtProtocols returns clients of both services over Connect and over gRPC (both on
// HTTP/2 without TLS, as bidirectional streams need).
func rtProtocols(url, token string) map[string]rtClients {
	return map[string]rtClients{
		"connect": {
			sensors:   sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), token), url),
			attention: sensoctov1connect.NewAttentionServiceClient(withToken(h2cClient(), token), url),
		},
		"grpc": {
			sensors:   sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), token), url, connect.WithGRPC()),
			attention: sensoctov1connect.NewAttentionServiceClient(withToken(h2cClient(), token), url, connect.WithGRPC()),
		},
	}
}

var sensorSeq atomic.Int64

func newSensorID(prefix string) string { return fmt.Sprintf("%s-%d", prefix, sensorSeq.Add(1)) }

func register(t *testing.T, c sensoctov1connect.SensorServiceClient, id string, attrs ...*sensoctov1.Attribute) *sensoctov1.RegisterSensorResponse {
	t.Helper()
	res, err := c.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: id, Attributes: attrs})
	if err != nil {
		t.Fatalf("RegisterSensor %s: %v", id, err)
	}
	return res
}

// dataT0 is a fixed time for test data that needs no real time: the server
// refuses times before 2000 or more than a day ahead of its clock.
var dataT0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

func num(attr string, t int64, v float64) *sensoctov1.Measurement {
	return &sensoctov1.Measurement{AttributeId: attr, TimeUs: t, Value: &sensoctov1.Measurement_Number{Number: v}}
}

// watcher reads a Watch stream in a goroutine the test owns into a bounded channel.
type watcher struct {
	ch     chan *sensoctov1.WatchResponse
	cancel context.CancelFunc
	done   chan error
}

func openWatch(t *testing.T, c sensoctov1connect.SensorServiceClient, req *sensoctov1.WatchRequest) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s, err := c.Watch(ctx, req)
	if err != nil {
		cancel()
		t.Fatalf("Watch: %v", err)
	}
	w := &watcher{ch: make(chan *sensoctov1.WatchResponse, 1024), cancel: cancel, done: make(chan error, 1)}
	go func() {
		defer close(w.ch)
		for s.Receive() {
			select {
			case w.ch <- s.Msg():
			case <-ctx.Done():
			}
		}
		w.done <- s.Err()
		_ = s.Close()
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

// next returns the next delivery or fails at the deadline.
func (w *watcher) next(t *testing.T) *sensoctov1.WatchResponse {
	t.Helper()
	select {
	case m, open := <-w.ch:
		if !open {
			t.Fatalf("watch stream ended")
		}
		return m
	case <-time.After(testDeadline):
		t.Fatalf("no watch delivery within %s", testDeadline)
	}
	return nil
}

type sample struct {
	attr string
	t    int64
	v    float64
}

// collect reads deliveries until n samples of the sensor arrived (blocks expanded).
func (w *watcher) collect(t *testing.T, sensorID string, n int) []sample {
	t.Helper()
	var got []sample
	for len(got) < n {
		m := w.next(t)
		for _, d := range m.GetData() {
			if d.GetSensorId() != sensorID {
				continue
			}
			for _, x := range d.GetMeasurements() {
				got = append(got, sample{x.GetAttributeId(), x.GetTimeUs(), x.GetNumber()})
			}
			for _, b := range d.GetBlocks() {
				for i, v := range b.GetSamples() {
					got = append(got, sample{b.GetAttributeId(), b.GetStartTimeUs() + int64(float64(i)*1e6/b.GetSampleRateHz()), float64(v)})
				}
			}
		}
	}
	return got
}

func TestWatchDeliversExactlyWhatWasPublished(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil)
			token := signInGuest(t, srv.url)
			for proto, c := range rtProtocols(srv.url, token) {
				t.Run(proto, func(t *testing.T) {
					id := newSensorID("exact")
					register(t, c.sensors, id,
						&sensoctov1.Attribute{AttributeId: "ecg", AttributeType: "ecg", SampleRateHz: 256},
						&sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
					if _, err := c.attention.ReportAttention(t.Context(), &sensoctov1.ReportAttentionRequest{TabId: "tab-" + proto + "-exact",
						Events: []*sensoctov1.AttentionEvent{{SensorId: id, Kind: sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS}}}); err != nil {
						t.Fatalf("ReportAttention: %v", err)
					}
					w := openWatch(t, c.sensors, &sensoctov1.WatchRequest{SensorIds: []string{id}})
					if first := w.next(t); !first.GetRecent() {
						t.Fatalf("first delivery is not the recent window: %v", first)
					}
					var want []sample
					base := int64(1_700_000_000_000_000)
					// Blocks through Publish.
					for k := range 3 {
						blk := &sensoctov1.SampleBlock{AttributeId: "ecg", StartTimeUs: base + int64(k)*250_000, SampleRateHz: 256}
						for i := range 64 {
							v := float32(k*64 + i)
							blk.Samples = append(blk.Samples, v)
							want = append(want, sample{"ecg", blk.GetStartTimeUs() + int64(float64(i)*1e6/256), float64(v)})
						}
						if _, err := c.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Blocks: []*sensoctov1.SampleBlock{blk}}); err != nil {
							t.Fatalf("Publish block: %v", err)
						}
					}
					// Single measurements through Publish.
					for i := range 10 {
						m := num("hr", base+int64(i)*1000, 60+float64(i))
						want = append(want, sample{"hr", m.GetTimeUs(), m.GetNumber()})
						if _, err := c.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{m}}); err != nil {
							t.Fatalf("Publish measurement: %v", err)
						}
					}
					// Single measurements and a block through Stream.
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					st, err := c.sensors.Stream(ctx)
					if err != nil {
						t.Fatalf("Stream: %v", err)
					}
					var total uint64
					for i := range 10 {
						m := num("hr", base+int64(100+i)*1000, 80+float64(i))
						want = append(want, sample{"hr", m.GetTimeUs(), m.GetNumber()})
						req := &sensoctov1.StreamRequest{SensorId: id, Sequence: uint64(i + 1), Measurements: []*sensoctov1.Measurement{m}}
						if i == 9 {
							blk := &sensoctov1.SampleBlock{AttributeId: "ecg", StartTimeUs: base + 10_000_000, SampleRateHz: 256, Samples: []float32{1.5, 2.5, 3.5}}
							for j, v := range blk.Samples {
								want = append(want, sample{"ecg", blk.GetStartTimeUs() + int64(float64(j)*1e6/256), float64(v)})
							}
							req.Blocks = []*sensoctov1.SampleBlock{blk}
						}
						if err := st.Send(req); err != nil {
							t.Fatalf("Stream send: %v", err)
						}
					}
					if err := st.CloseRequest(); err != nil {
						t.Fatalf("close request: %v", err)
					}
					var sawConfig bool
					for {
						res, err := st.Receive()
						if errors.Is(err, io.EOF) {
							break
						}
						if err != nil {
							t.Fatalf("Stream receive: %v", err)
						}
						if res.GetBackpressure() != nil {
							sawConfig = true
						}
						if a := res.GetAck(); a != nil {
							total = a.GetTotalAccepted()
						}
					}
					if !sawConfig || total != 13 {
						t.Fatalf("stream: config seen %v, total accepted %d, want true and 13", sawConfig, total)
					}
					got := w.collect(t, id, len(want))
					// Per attribute, the order must be the publish order.
					for _, attr := range []string{"ecg", "hr"} {
						var g, wnt []sample
						for _, s := range got {
							if s.attr == attr {
								g = append(g, s)
							}
						}
						for _, s := range want {
							if s.attr == attr {
								wnt = append(wnt, s)
							}
						}
						if len(g) != len(wnt) {
							t.Fatalf("%s: got %d samples, want %d", attr, len(g), len(wnt))
						}
						for i := range g {
							if g[i] != wnt[i] {
								t.Fatalf("%s sample %d = %+v, want %+v", attr, i, g[i], wnt[i])
							}
						}
					}
				})
			}
		})
	}
}

func TestBadBatchIsRefusedWhole(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil)
			token := signInGuest(t, srv.url)
			for proto, c := range rtProtocols(srv.url, token) {
				t.Run(proto, func(t *testing.T) {
					id := newSensorID("bad")
					register(t, c.sensors, id, &sensoctov1.Attribute{AttributeId: "ecg", AttributeType: "ecg"}, &sensoctov1.Attribute{AttributeId: "hr"})
					cases := map[string]struct {
						req   *sensoctov1.PublishRequest
						field string
					}{
						"not finite (protovalidate)": {&sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{
							num("hr", dataT0+1, 60), num("hr", dataT0+2, 61), num("hr", dataT0+3, math.NaN()),
						}}, "measurements[2].number"},
						"text into a waveform (hub)": {&sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{
							num("hr", dataT0+1, 60), num("ecg", dataT0+2, 0.1),
							{AttributeId: "ecg", TimeUs: dataT0 + 3, Value: &sensoctov1.Measurement_Text{Text: "x"}},
						}}, "measurements[2].value"},
						"bad sample in a block (protovalidate)": {&sensoctov1.PublishRequest{SensorId: id,
							Measurements: []*sensoctov1.Measurement{num("hr", dataT0+1, 60)},
							Blocks:       []*sensoctov1.SampleBlock{{AttributeId: "ecg", StartTimeUs: dataT0 + 5, SampleRateHz: 100, Samples: []float32{1, float32(math.Inf(1))}}},
						}, "blocks[0].samples[1]"},
						"bad sensor_id (handler)": {&sensoctov1.PublishRequest{SensorId: id + "/x",
							Measurements: []*sensoctov1.Measurement{num("hr", dataT0+1, 60)},
						}, "sensor_id"},
					}
					for name, tc := range cases {
						_, err := c.sensors.Publish(t.Context(), tc.req)
						if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
							t.Errorf("%s: %v, want invalid_argument naming %s", name, err, tc.field)
						}
					}
					for _, attr := range []string{"hr", "ecg"} {
						h, err := c.sensors.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: attr})
						if err != nil {
							t.Fatalf("GetHistory: %v", err)
						}
						if h.GetTotalCount() != 0 {
							t.Errorf("%s: %d values stored after refused batches, want 0", attr, h.GetTotalCount())
						}
					}
				})
			}
		})
	}
}
