package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// configs reads back-pressure configs of a connector session (Stream) or of
// WatchBackpressure into a bounded channel, in a goroutine the test owns.
type configs struct {
	ch   chan *sensoctov1.BackpressureConfig
	done chan error
}

func (c *configs) put(ctx context.Context, cfg *sensoctov1.BackpressureConfig) {
	select {
	case c.ch <- cfg:
	case <-ctx.Done():
	}
}

func streamConfigs(t *testing.T, c sensoctov1connect.SensorServiceClient, id string) *configs {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	st, err := c.Stream(ctx)
	if err != nil {
		cancel()
		t.Fatalf("Stream: %v", err)
	}
	if err := st.Send(&sensoctov1.StreamRequest{SensorId: id}); err != nil {
		cancel()
		t.Fatalf("Stream send: %v", err)
	}
	cf := &configs{ch: make(chan *sensoctov1.BackpressureConfig, 64), done: make(chan error, 1)}
	go func() {
		for {
			res, err := st.Receive()
			if err != nil {
				cf.done <- err
				close(cf.ch)
				return
			}
			if b := res.GetBackpressure(); b != nil {
				cf.put(ctx, b)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		// A canceled context alone does not end a bidi call whose request body is
		// still open: close it.
		_ = st.CloseRequest()
		<-cf.done
		_ = st.CloseResponse()
	})
	return cf
}

func watchConfigs(t *testing.T, c sensoctov1connect.SensorServiceClient, id string) *configs {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s, err := c.WatchBackpressure(ctx, &sensoctov1.WatchBackpressureRequest{SensorId: id})
	if err != nil {
		cancel()
		t.Fatalf("WatchBackpressure: %v", err)
	}
	cf := &configs{ch: make(chan *sensoctov1.BackpressureConfig, 64), done: make(chan error, 1)}
	go func() {
		for s.Receive() {
			cf.put(ctx, s.Msg().GetBackpressure())
		}
		cf.done <- s.Err()
		close(cf.ch)
		_ = s.Close()
	}()
	t.Cleanup(func() { cancel(); <-cf.done })
	return cf
}

// await reads configs until one has the level, failing at the deadline.
func (c *configs) await(t *testing.T, name string, level sensoctov1.AttentionLevel) *sensoctov1.BackpressureConfig {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		select {
		case cfg, open := <-c.ch:
			if !open {
				t.Fatalf("%s: config stream ended before level %s", name, level)
			}
			if cfg.GetAttentionLevel() == level {
				return cfg
			}
		case <-deadline:
			t.Fatalf("%s: no config with level %s", name, level)
		}
	}
}

// ended waits for the stream to end and returns its error.
func (c *configs) ended(t *testing.T) error {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		select {
		case _, open := <-c.ch:
			if !open {
				err := <-c.done
				c.done <- err // for the cleanup
				return err
			}
		case <-deadline:
			t.Fatalf("the stream did not end")
		}
	}
}

func report(t *testing.T, c sensoctov1connect.AttentionServiceClient, tab, id string, kinds ...sensoctov1.AttentionEventKind) {
	t.Helper()
	req := &sensoctov1.ReportAttentionRequest{TabId: tab}
	for _, k := range kinds {
		req.Events = append(req.Events, &sensoctov1.AttentionEvent{SensorId: id, Kind: k})
	}
	if _, err := c.ReportAttention(t.Context(), req); err != nil {
		t.Fatalf("ReportAttention: %v", err)
	}
}

func TestAttentionMovesBackpressure(t *testing.T) {
	t.Parallel()
	const (
		none   = sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE
		low    = sensoctov1.AttentionLevel_ATTENTION_LEVEL_LOW
		medium = sensoctov1.AttentionLevel_ATTENTION_LEVEL_MEDIUM
		high   = sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH
	)
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil)
			token := signInGuest(t, srv.url)
			for proto, c := range rtProtocols(srv.url, token) {
				t.Run(proto, func(t *testing.T) {
					id := newSensorID("att")
					if lvl := register(t, c.sensors, id).GetBackpressure().GetAttentionLevel(); lvl != none {
						t.Fatalf("first config level %s, want NONE", lvl)
					}
					both := map[string]*configs{"Stream": streamConfigs(t, c.sensors, id), "WatchBackpressure": watchConfigs(t, c.sensors, id)}
					step := func(level sensoctov1.AttentionLevel, window uint32) {
						t.Helper()
						for name, cf := range both {
							if cfg := cf.await(t, name, level); cfg.GetRecommendedBatchWindowMs() != window {
								t.Fatalf("%s at %s: window %d ms, want %d", name, level, cfg.GetRecommendedBatchWindowMs(), window)
							}
						}
					}
					step(none, 5000)
					w := openWatch(t, c.sensors, &sensoctov1.WatchRequest{SensorIds: []string{id}})
					step(low, 2000)
					tab := "tab-" + proto + "-att"
					report(t, c.attention, tab, id, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_ENTER)
					step(medium, 500)
					report(t, c.attention, tab, id, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS)
					step(high, 100)
					report(t, c.attention, tab, id, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_UNFOCUS)
					step(medium, 500)
					report(t, c.attention, tab, id, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_HOVER_ENTER)
					step(high, 100)
					report(t, c.attention, tab, id, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_HOVER_LEAVE,
						sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_LEAVE)
					step(low, 2000) // after the hover linger
					w.cancel()
					step(none, 5000)

					got, err := c.attention.GetAttention(t.Context(), &sensoctov1.GetAttentionRequest{SensorId: id})
					if err != nil || got.GetAttention().GetLevel() != none {
						t.Fatalf("GetAttention = %v, %v; want NONE", got, err)
					}
				})
			}
		})
	}
}

func TestAttentionLeaseExpiryIsAnnounced(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil, app.WithAttentionLease(300*time.Millisecond))
			token := signInGuest(t, srv.url)
			c := rtProtocols(srv.url, token)["grpc"]
			id := newSensorID("lease")
			register(t, c.sensors, id)
			cf := streamConfigs(t, c.sensors, id)
			wb := watchConfigs(t, c.sensors, id)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			watch, err := c.attention.WatchAttention(ctx, &sensoctov1.WatchAttentionRequest{SensorIds: []string{id}})
			if err != nil {
				t.Fatalf("WatchAttention: %v", err)
			}
			if !watch.Receive() {
				t.Fatalf("WatchAttention: %v", watch.Err())
			}
			report(t, c.attention, "tab-lease-1", id, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_PIN)
			for name, x := range map[string]*configs{"Stream": cf, "WatchBackpressure": wb} {
				x.await(t, name, sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH)
				// No heartbeat: the lease expires and the change is pushed.
				x.await(t, name, sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE)
			}
			sawHigh := false
			for watch.Receive() {
				for _, a := range watch.Msg().GetAttention() {
					if a.GetLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH {
						sawHigh = true
					}
					if sawHigh && a.GetLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE {
						return
					}
				}
			}
			t.Fatalf("WatchAttention ended without announcing the expiry: %v", watch.Err())
		})
	}
}

func TestStalledWatcherDoesNotSlowOthers(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil)
			token := signInGuest(t, srv.url)
			c := rtProtocols(srv.url, token)["grpc"]
			id := newSensorID("stall")
			register(t, c.sensors, id, &sensoctov1.Attribute{AttributeId: "ecg", AttributeType: "ecg", SampleRateHz: 1000})
			report(t, c.attention, "tab-stall-1", id, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS)

			// The stalled watcher: opened, first (recent) message read, then never read
			// while data flows.
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			stalled, err := c.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{id}})
			if err != nil || !stalled.Receive() {
				t.Fatalf("stalled Watch: %v %v", err, stalled.Err())
			}
			good := openWatch(t, c.sensors, &sensoctov1.WatchRequest{SensorIds: []string{id}})
			good.next(t) // the recent window

			// Far more than the stalled watcher's queue and its HTTP/2 window hold.
			const blocks, size = 160, 16384
			samples := make([]float32, size)
			for i := range samples {
				samples[i] = float32(i)
			}
			start := int64(1_700_000_000_000_000)
			// Publish block after block; after each, the reading watcher must receive it
			// whole (no drop) while the stalled one holds everything it was sent.
			n := 0
			for k := range blocks {
				blk := &sensoctov1.SampleBlock{AttributeId: "ecg", StartTimeUs: start + int64(k)*size*1000, SampleRateHz: 1000, Samples: samples}
				if _, err := c.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Blocks: []*sensoctov1.SampleBlock{blk}}); err != nil {
					t.Fatalf("Publish %d: %v", k, err)
				}
				for n < (k+1)*size {
					m := good.next(t)
					if m.GetDropped() > 0 {
						t.Fatalf("the reading watcher lost %d values", m.GetDropped())
					}
					for _, d := range m.GetData() {
						for _, b := range d.GetBlocks() {
							n += len(b.GetSamples())
						}
					}
				}
			}
			// Now the stalled watcher reads: what it lost is counted, nothing else is lost.
			var got, dropped uint64
			for got+dropped < blocks*size {
				if !stalled.Receive() {
					t.Fatalf("stalled watch ended: %v (got %d, dropped %d)", stalled.Err(), got, dropped)
				}
				dropped += stalled.Msg().GetDropped()
				for _, d := range stalled.Msg().GetData() {
					for _, b := range d.GetBlocks() {
						got += uint64(len(b.GetSamples()))
					}
				}
			}
			if dropped == 0 || got+dropped != blocks*size {
				t.Fatalf("stalled watcher: got %d + dropped %d, want a drop and %d in all", got, dropped, blocks*size)
			}
		})
	}
}

func TestSensorLifecycle(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dbURL := dbtest.URL(t, dialect)
			srv := startServer(t, dialect, map[string]string{"SENSOCTO_DATABASE_URL": dbURL})
			ownerTok := signInGuest(t, srv.url)
			ownerC := rtProtocols(srv.url, ownerTok)["connect"]
			otherC := rtProtocols(srv.url, signInGuest(t, srv.url))["grpc"]
			id := newSensorID("life")
			register(t, ownerC.sensors, id, &sensoctov1.Attribute{AttributeId: "hr"})

			// Someone else's id is taken.
			if _, err := otherC.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: id}); connect.CodeOf(err) != connect.CodeAlreadyExists {
				t.Fatalf("RegisterSensor of another user's id: %v, want already_exists", err)
			}
			// Private: others do not see it; public: they see it but may not change it.
			if _, err := otherC.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id}); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("GetSensor of a private sensor: %v, want not_found", err)
			}
			if _, err := ownerC.sensors.UpdateSensor(t.Context(), &sensoctov1.UpdateSensorRequest{SensorId: id, Visibility: sensoctov1.Visibility_VISIBILITY_PUBLIC}); err != nil {
				t.Fatalf("UpdateSensor: %v", err)
			}
			if _, err := otherC.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id}); err != nil {
				t.Fatalf("GetSensor of a public sensor: %v", err)
			}
			name := "mine now"
			if _, err := otherC.sensors.UpdateSensor(t.Context(), &sensoctov1.UpdateSensorRequest{SensorId: id, Name: &name}); connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Fatalf("UpdateSensor of a public sensor by another user: %v, want permission_denied", err)
			}
			if _, err := otherC.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("hr", dataT0+1, 1)}}); connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Fatalf("Publish to a public sensor by another user: %v, want permission_denied", err)
			}

			// An attribute first seen in data is persisted (asynchronously).
			if _, err := ownerC.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("temperature", dataT0+1, 21.5)}}); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			testkit.WaitFor(t, "the inferred attribute to be stored", func() bool {
				s, err := ownerC.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id})
				if err != nil {
					t.Fatalf("GetSensor: %v", err)
				}
				for _, a := range s.GetSensor().GetAttributes() {
					if a.GetAttributeId() == "temperature" && a.GetAttributeType() == "temperature" {
						return true
					}
				}
				return false
			})

			// Listing with paging.
			for i := range 3 {
				register(t, ownerC.sensors, newSensorID("list"+string(rune('a'+i))))
			}
			var all []string
			tok := ""
			for {
				res, err := ownerC.sensors.ListSensors(t.Context(), &sensoctov1.ListSensorsRequest{OwnerId: "me", PageSize: 2, PageToken: tok})
				if err != nil {
					t.Fatalf("ListSensors: %v", err)
				}
				for _, s := range res.GetSensors() {
					all = append(all, s.GetSensorId())
				}
				if tok = res.GetNextPageToken(); tok == "" {
					break
				}
			}
			if len(all) != 4 {
				t.Fatalf("ListSensors(me) paged = %v, want 4 sensors", all)
			}
			if res, err := otherC.sensors.ListSensors(t.Context(), &sensoctov1.ListSensorsRequest{}); err != nil || len(res.GetSensors()) != 1 {
				t.Fatalf("ListSensors as another user = %v, %v; want only the public sensor", res, err)
			}

			// Another process on the same database knows the sensor (lazily live).
			srv2 := startServer(t, dialect, map[string]string{"SENSOCTO_DATABASE_URL": dbURL})
			ownerC2 := rtProtocols(srv2.url, ownerTok)["grpc"] // the servers share the database, so the session works on both
			w2 := openWatch(t, ownerC2.sensors, &sensoctov1.WatchRequest{SensorIds: []string{id}})
			w2.next(t)
			if _, err := ownerC2.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("hr", dataT0+5, 70)}}); err != nil {
				t.Fatalf("Publish after restart: %v", err)
			}
			if got := w2.collect(t, id, 1); got[0].v != 70 {
				t.Fatalf("after restart got %v", got)
			}

			// Delete ends the streams: watchers get REMOVED, connector sessions end.
			st := streamConfigs(t, ownerC.sensors, id)
			w := openWatch(t, ownerC.sensors, &sensoctov1.WatchRequest{SensorIds: []string{id}})
			w.next(t)
			if _, err := ownerC.sensors.DeleteSensor(t.Context(), &sensoctov1.DeleteSensorRequest{SensorId: id}); err != nil {
				t.Fatalf("DeleteSensor: %v", err)
			}
			removed := false
			for !removed {
				for _, ev := range w.next(t).GetEvents() {
					removed = removed || ev.GetKind() == sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_REMOVED
				}
			}
			if err := st.ended(t); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("Stream after delete ended with %v, want not_found", err)
			}
			if _, err := ownerC.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id}); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("GetSensor after delete: %v, want not_found", err)
			}
		})
	}
}

func TestStatusShowsLiveCountsAndLoad(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	token := signInGuest(t, srv.url)
	c := rtProtocols(srv.url, token)["connect"]
	id := newSensorID("status")
	register(t, c.sensors, id)
	streamConfigs(t, c.sensors, id).await(t, "Stream", sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE)
	openWatch(t, c.sensors, &sensoctov1.WatchRequest{SensorIds: []string{id}}).next(t)
	sys := sensoctov1connect.NewSystemServiceClient(withToken(http.DefaultClient, token), srv.url)
	testkit.WaitFor(t, "status with a connected sensor and a watcher", func() bool {
		res, err := sys.GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
		if err != nil {
			t.Fatalf("GetStatus: %v", err)
		}
		st := res.GetStatus()
		if st.GetLoad().GetLevel() == sensoctov1.SystemLoadLevel_SYSTEM_LOAD_LEVEL_UNSPECIFIED || st.GetLoad().GetLoadMultiplier() < 1 {
			t.Fatalf("status load = %v", st.GetLoad())
		}
		return st.GetCounts().GetConnectedSensors() >= 1 && st.GetCounts().GetWatchers() >= 1
	})
	res, err := http.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	for _, name := range []string{"sensocto_hub_watchers", "sensocto_hub_dropped_values_total", "sensocto_load_score"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

func TestReRegisterMergesAttributes(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	c := rtProtocols(srv.url, signInGuest(t, srv.url))["grpc"]
	id := newSensorID("merge")
	register(t, c.sensors, id, &sensoctov1.Attribute{AttributeId: "hr", Unit: "bpm"})
	res, err := c.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{
		SensorId: id, Name: "chest strap",
		Attributes: []*sensoctov1.Attribute{{AttributeId: "ecg", AttributeType: "ecg", SampleRateHz: 130}, {AttributeId: "hr", Unit: "1/min"}},
	})
	if err != nil {
		t.Fatalf("RegisterSensor again: %v", err)
	}
	s := res.GetSensor()
	if s.GetName() != "chest strap" || len(s.GetAttributes()) != 2 {
		t.Fatalf("after re-registering: %v", s)
	}
	got := map[string]*sensoctov1.Attribute{}
	for _, a := range s.GetAttributes() {
		got[a.GetAttributeId()] = a
	}
	if got["hr"].GetUnit() != "1/min" || got["hr"].GetAttributeType() != "heartrate" || got["ecg"].GetSampleRateHz() != 130 {
		t.Fatalf("attributes after re-registering: %v", s.GetAttributes())
	}
	if id2 := register(t, c.sensors, "").GetSensor().GetSensorId(); id2 == "" {
		t.Fatalf("no generated id")
	}
}

// TestWatchFollowsItsOwnTabsAttention: two Watch streams of one sensor, from two tabs of
// one user. Only the first tab focuses the sensor, so only its watch is delivered at
// once (HIGH); the other is delivered at the LOW window (1 s), coalescing what arrives
// in between, although the sensor as a whole is at HIGH.
func TestWatchFollowsItsOwnTabsAttention(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	token := signInGuest(t, srv.url)
	c := rtProtocols(srv.url, token)["grpc"]
	id := newSensorID("tabs")
	register(t, c.sensors, id, &sensoctov1.Attribute{AttributeId: "hr"})
	const focusedTab, otherTab = "tab-focused-1", "tab-other-1"
	report(t, c.attention, focusedTab, id, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS)
	focused := openWatch(t, c.sensors, &sensoctov1.WatchRequest{SensorIds: []string{id}, TabId: focusedTab, SkipRecent: true})
	other := openWatch(t, c.sensors, &sensoctov1.WatchRequest{SensorIds: []string{id}, TabId: otherTab, SkipRecent: true})

	const n = 20
	for i := range n {
		if _, err := c.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id,
			Measurements: []*sensoctov1.Measurement{num("hr", dataT0+int64(i+1), float64(60+i))}}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		time.Sleep(40 * time.Millisecond) // 800 ms in all, less than the LOW window
	}
	// count reads deliveries until all n values have arrived.
	count := func(w *watcher) (deliveries int) {
		got := 0
		for got < n {
			m := w.next(t)
			vals := 0
			for _, d := range m.GetData() {
				vals += len(d.GetMeasurements())
			}
			if vals > 0 {
				deliveries++
				got += vals
			}
		}
		return deliveries
	}
	f, o := count(focused), count(other)
	if f < n/4 || f <= o {
		t.Errorf("focused tab's watch: %d values in %d deliveries (other tab: %d), want them delivered as they come", n, f, o)
	}
	if o > 3 {
		t.Errorf("other tab's watch: %d values in %d deliveries, want them coalesced at the LOW window", n, o)
	}
}

// TestHistoryKeepsStructuredValues: a structured value (battery {level, charging})
// comes back from GetHistory as that structure.
func TestHistoryKeepsStructuredValues(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	c := rtProtocols(srv.url, signInGuest(t, srv.url))["connect"]
	id := newSensorID("struct")
	register(t, c.sensors, id, &sensoctov1.Attribute{AttributeId: "battery", AttributeType: "battery"})
	st, err := structpb.NewStruct(map[string]any{"level": 70.5, "charging": true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{
		{AttributeId: "battery", TimeUs: 1_700_000_000_000_000, Value: &sensoctov1.Measurement_StructValue{StructValue: st}},
	}}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	h, err := c.sensors.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "battery"})
	if err != nil {
		t.Fatalf("GetHistory: %v", err)
	}
	if len(h.GetPoints()) != 1 {
		t.Fatalf("%d points, want 1", len(h.GetPoints()))
	}
	got := h.GetPoints()[0].GetStructValue().AsMap()
	if got["level"] != 70.5 || got["charging"] != true {
		t.Errorf("history value %v, want level 70.5 and charging", got)
	}
}
