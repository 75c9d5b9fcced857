package contract

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// streamingChecks checks the streaming contracts over every protocol: per-sensor
// ordering, back-pressure configs pushed on change, and streams ending on sign-out.
func (s *suite) streamingChecks(ctx context.Context, cfg *sensoctov1.GetAuthConfigResponse, a user) {
	for _, p := range protocols {
		s.orderingCheck(ctx, p, a)
		s.backpressurePushCheck(ctx, p, a)
	}
	for _, p := range protocols {
		s.signOutEndsStreamsCheck(ctx, p, cfg)
	}
}

// orderingCheck publishes ten batches (five with Publish, five on a Stream) and checks a
// Watch gets every ECG sample once, in time order, and heart rates in time order ending
// with the last one.
func (s *suite) orderingCheck(ctx context.Context, p protocol, a user) {
	procs := []string{sensoctov1connect.SensorServiceWatchProcedure, sensoctov1connect.SensorServicePublishProcedure, sensoctov1connect.SensorServiceStreamProcedure}
	s.check(ctx, p, procs, "a Watch delivers one sensor's data in time order per attribute: every ECG sample once, heart rates ending with the last", func(ctx context.Context) error {
		c := s.client(p, a.token)
		id := s.sensorID("order", p.name)
		if _, err := s.registerOwned(ctx, a, &sensoctov1.RegisterSensorRequest{SensorId: id, Attributes: []*sensoctov1.Attribute{ecgAttribute, heartrateAttribute}}); err != nil {
			return must("RegisterSensor", err)
		}
		t0 := nowUS()
		// A marker before the Watch: its recent window proves the watcher is registered.
		if _, err := c.sensors.Publish(ctx, &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{number("heartrate", t0, 1)}}); err != nil {
			return must("Publish", err)
		}
		w, err := c.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{id}})
		if err != nil {
			return must("Watch", err)
		}
		defer func() { _ = w.Close() }()
		if !w.Receive() || !w.Msg().GetRecent() {
			return fmt.Errorf("the recent window first, got %v (%w)", w.Msg(), w.Err())
		}
		const batches, perBlock = 10, 25
		next := func(i int) (*sensoctov1.SampleBlock, []*sensoctov1.Measurement) {
			start := t0 + 1_000_000 + int64(i*perBlock)*4000
			return ecgBlock(start, perBlock), []*sensoctov1.Measurement{number("heartrate", start, float64(100+2*i)), number("heartrate", start+50_000, float64(101+2*i))}
		}
		for i := range batches / 2 {
			blk, ms := next(i)
			if _, err := c.sensors.Publish(ctx, &sensoctov1.PublishRequest{SensorId: id, Measurements: ms, Blocks: []*sensoctov1.SampleBlock{blk}}); err != nil {
				return must("Publish", err)
			}
		}
		st, err := c.sensors.Stream(ctx)
		if err != nil {
			return must("Stream", err)
		}
		defer func() { _ = st.CloseRequest(); _ = st.CloseResponse() }()
		for i := batches / 2; i < batches; i++ {
			blk, ms := next(i)
			if err := st.Send(&sensoctov1.StreamRequest{SensorId: id, Sequence: uint64(i), Measurements: ms, Blocks: []*sensoctov1.SampleBlock{blk}}); err != nil {
				return must("Stream send", err)
			}
		}
		lastHR := float64(101 + 2*(batches-1))
		wantSamples := batches * perBlock
		var samples int
		lastECG, lastHRTime := int64(0), int64(0)
		hrSeen := 0.0
		for samples < wantSamples || hrSeen != lastHR {
			if !w.Receive() {
				return fmt.Errorf("%d ECG samples and heart rate %v, got %d samples, last heart rate %v before the stream ended: %w", wantSamples, lastHR, samples, hrSeen, w.Err())
			}
			for _, d := range w.Msg().GetData() {
				if d.GetSensorId() != id {
					return fmt.Errorf("data of %s only, got %s", id, d.GetSensorId())
				}
				for _, b := range d.GetBlocks() {
					if b.GetStartTimeUs() <= t0 {
						continue
					}
					if b.GetStartTimeUs() <= lastECG {
						return fmt.Errorf("ECG blocks in time order, got a block at %d after one at %d", b.GetStartTimeUs(), lastECG)
					}
					if b.GetStartTimeUs() != t0+1_000_000+int64(samples)*4000 {
						return fmt.Errorf("the ECG block starting at sample %d (time %d), got time %d (samples lost or repeated)", samples, t0+1_000_000+int64(samples)*4000, b.GetStartTimeUs())
					}
					lastECG = b.GetStartTimeUs()
					samples += len(b.GetSamples())
				}
				for _, m := range d.GetMeasurements() {
					if m.GetTimeUs() <= t0 {
						continue
					}
					if m.GetTimeUs() <= lastHRTime {
						return fmt.Errorf("heart rates in time order, got %d after %d", m.GetTimeUs(), lastHRTime)
					}
					lastHRTime, hrSeen = m.GetTimeUs(), m.GetNumber()
				}
			}
		}
		if samples != wantSamples {
			return fmt.Errorf("%d ECG samples, got %d", wantSamples, samples)
		}
		return nil
	})
}

// backpressurePushCheck checks that a Stream and a WatchBackpressure get the current
// config first, then a new one when the sensor's attention changes, each differing from
// the one before in more than its timestamp.
func (s *suite) backpressurePushCheck(ctx context.Context, p protocol, a user) {
	procs := []string{sensoctov1connect.SensorServiceWatchBackpressureProcedure, sensoctov1connect.SensorServiceStreamProcedure, sensoctov1connect.AttentionServiceReportAttentionProcedure}
	s.check(ctx, p, procs, "back-pressure configs pushed on change only: HIGH (window 100 ms) while focused, lower after unfocus", func(ctx context.Context) error {
		c := s.client(p, a.token)
		id := s.sensorID("bp", p.name)
		if _, err := s.registerOwned(ctx, a, &sensoctov1.RegisterSensorRequest{SensorId: id, Attributes: []*sensoctov1.Attribute{heartrateAttribute}}); err != nil {
			return must("RegisterSensor", err)
		}
		wb, err := c.sensors.WatchBackpressure(ctx, &sensoctov1.WatchBackpressureRequest{SensorId: id})
		if err != nil {
			return must("WatchBackpressure", err)
		}
		defer func() { _ = wb.Close() }()
		st, err := c.sensors.Stream(ctx)
		if err != nil {
			return must("Stream", err)
		}
		defer func() { _ = st.CloseRequest(); _ = st.CloseResponse() }()
		if err := st.Send(&sensoctov1.StreamRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{number("heartrate", 0, 70)}}); err != nil {
			return must("Stream send", err)
		}
		fromWatch := func() (*sensoctov1.BackpressureConfig, error) {
			if !wb.Receive() {
				return nil, fmt.Errorf("WatchBackpressure ended: %w", wb.Err())
			}
			return wb.Msg().GetBackpressure(), nil
		}
		fromStream := func() (*sensoctov1.BackpressureConfig, error) {
			for {
				m, err := st.Receive()
				if err != nil {
					return nil, fmt.Errorf("the Stream ended: %w", err)
				}
				if bp := m.GetBackpressure(); bp != nil {
					return bp, nil
				}
			}
		}
		firstW, err := fromWatch()
		if err != nil {
			return err
		}
		firstS, err := fromStream()
		if err != nil {
			return err
		}
		if firstW.GetAttentionLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH || firstS.GetAttentionLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH {
			return fmt.Errorf("an unwatched sensor below HIGH at first, got %v / %v", firstW, firstS)
		}
		tab := s.tabID("bp-" + p.name)
		report := func(kinds ...sensoctov1.AttentionEventKind) error {
			req := &sensoctov1.ReportAttentionRequest{TabId: tab}
			for _, k := range kinds {
				req.Events = append(req.Events, &sensoctov1.AttentionEvent{SensorId: id, AttributeId: "heartrate", Kind: k})
			}
			_, err := c.attention.ReportAttention(ctx, req)
			return must("ReportAttention", err)
		}
		if err := report(sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_ENTER, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS); err != nil {
			return err
		}
		untilLevel := func(name string, prev *sensoctov1.BackpressureConfig, recv func() (*sensoctov1.BackpressureConfig, error), high bool) (*sensoctov1.BackpressureConfig, error) {
			for {
				bp, err := recv()
				if err != nil {
					return nil, err
				}
				if sameConfig(prev, bp) {
					return nil, fmt.Errorf("%s: a pushed config to differ from the previous one in more than its timestamp, got %v twice", name, bp)
				}
				prev = bp
				isHigh := bp.GetAttentionLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH
				if isHigh == high {
					return bp, nil
				}
			}
		}
		hw, err := untilLevel("WatchBackpressure", firstW, fromWatch, true)
		if err != nil {
			return err
		}
		hs, err := untilLevel("Stream", firstS, fromStream, true)
		if err != nil {
			return err
		}
		if hw.GetRecommendedBatchWindowMs() >= firstW.GetRecommendedBatchWindowMs() || hs.GetRecommendedBatchWindowMs() >= firstS.GetRecommendedBatchWindowMs() {
			return fmt.Errorf("a shorter window at HIGH, got %d→%d (watch), %d→%d (stream)", firstW.GetRecommendedBatchWindowMs(), hw.GetRecommendedBatchWindowMs(), firstS.GetRecommendedBatchWindowMs(), hs.GetRecommendedBatchWindowMs())
		}
		if err := report(sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_UNFOCUS, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_LEAVE); err != nil {
			return err
		}
		if _, err := untilLevel("WatchBackpressure", hw, fromWatch, false); err != nil {
			return err
		}
		if _, err := untilLevel("Stream", hs, fromStream, false); err != nil {
			return err
		}
		return nil
	})
}

// sameConfig compares two configs without their timestamps.
func sameConfig(a, b *sensoctov1.BackpressureConfig) bool {
	x, y := proto.CloneOf(a), proto.CloneOf(b)
	x.TimestampUs, y.TimestampUs = 0, 0
	return proto.Equal(x, y)
}

// signOutEndsStreamsCheck opens every kind of long-lived stream as a new guest, signs it
// out, and expects each stream to end with Unauthenticated.
func (s *suite) signOutEndsStreamsCheck(ctx context.Context, p protocol, cfg *sensoctov1.GetAuthConfigResponse) {
	procs := []string{sensoctov1connect.SensorServiceWatchProcedure, sensoctov1connect.SensorServiceStreamProcedure, sensoctov1connect.SensorServiceWatchBackpressureProcedure,
		sensoctov1connect.AttentionServiceWatchAttentionProcedure, sensoctov1connect.SystemServiceWatchStatusProcedure, sensoctov1connect.AuthServiceSignOutProcedure}
	procs = append(procs, sensoctov1connect.AuthServiceSignInGuestProcedure)
	s.check(ctx, p, procs, "a guest session whose open streams (and GetMe) all end with Unauthenticated after SignOut", func(ctx context.Context) error {
		if !cfg.GetGuestEnabled() {
			_, err := s.client(p, "").auth.SignInGuest(ctx, &sensoctov1.SignInGuestRequest{})
			return expectCode(err, connect.CodeFailedPrecondition)
		}
		res, err := s.client(p, "").auth.SignInGuest(ctx, &sensoctov1.SignInGuestRequest{DisplayName: "contract signout " + s.run})
		if err != nil {
			return must("SignInGuest", err)
		}
		if res.GetToken() == "" || !res.GetUser().GetIsGuest() || res.GetExpiresAt() == nil {
			return fmt.Errorf("a token, a guest user and an expiry, got %v", res)
		}
		s.signOutAtEnd(res.GetToken())
		c := s.client(p, res.GetToken())
		if _, err := c.auth.GetMe(ctx, &sensoctov1.GetMeRequest{}); err != nil {
			return must("GetMe with the new guest token", err)
		}
		id := s.sensorID("signout", p.name)
		if _, err := c.sensors.RegisterSensor(ctx, &sensoctov1.RegisterSensorRequest{SensorId: id, Attributes: []*sensoctov1.Attribute{heartrateAttribute}}); err != nil {
			return must("RegisterSensor", err)
		}
		w, err := c.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{id}, SkipRecent: true})
		if err != nil {
			return must("Watch", err)
		}
		defer func() { _ = w.Close() }()
		wb, err := c.sensors.WatchBackpressure(ctx, &sensoctov1.WatchBackpressureRequest{SensorId: id})
		if err != nil {
			return must("WatchBackpressure", err)
		}
		defer func() { _ = wb.Close() }()
		wa, err := c.attention.WatchAttention(ctx, &sensoctov1.WatchAttentionRequest{SensorIds: []string{id}})
		if err != nil {
			return must("WatchAttention", err)
		}
		defer func() { _ = wa.Close() }()
		ws, err := c.system.WatchStatus(ctx, &sensoctov1.WatchStatusRequest{IntervalMs: 1000})
		if err != nil {
			return must("WatchStatus", err)
		}
		defer func() { _ = ws.Close() }()
		st, err := c.sensors.Stream(ctx)
		if err != nil {
			return must("Stream", err)
		}
		defer func() { _ = st.CloseRequest(); _ = st.CloseResponse() }()
		if err := st.Send(&sensoctov1.StreamRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{number("heartrate", 0, 70)}}); err != nil {
			return must("Stream send", err)
		}
		// Every stream but Watch (skip_recent, no data) sends a first message: wait for it,
		// so each is open before signing out.
		for name, recv := range map[string]func() bool{"WatchBackpressure": wb.Receive, "WatchAttention": wa.Receive, "WatchStatus": ws.Receive} {
			if !recv() {
				return fmt.Errorf("%s to send a first message before sign-out", name)
			}
		}
		if _, err := st.Receive(); err != nil {
			return fmt.Errorf("the Stream to send a first message before sign-out, got %w", err)
		}
		if _, err := c.auth.SignOut(ctx, &sensoctov1.SignOutRequest{}); err != nil {
			return must("SignOut", err)
		}
		drain := map[string]func() error{
			"Watch":             func() error { return drainServer(w.Receive, w.Err) },
			"WatchBackpressure": func() error { return drainServer(wb.Receive, wb.Err) },
			"WatchAttention":    func() error { return drainServer(wa.Receive, wa.Err) },
			"WatchStatus":       func() error { return drainServer(ws.Receive, ws.Err) },
			"Stream": func() error {
				for {
					if _, err := st.Receive(); err != nil {
						return err
					}
				}
			},
		}
		_, err = c.auth.GetMe(ctx, &sensoctov1.GetMeRequest{})
		if e := expectCode(err, connect.CodeUnauthenticated); e != nil {
			return fmt.Errorf("GetMe after SignOut: %w", e)
		}
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		for name, f := range drain {
			wg.Go(func() {
				err := f()
				if e := expectCode(err, connect.CodeUnauthenticated); e != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", name, e))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	})
}

// drainServer receives until a server stream ends and returns its error (nil for a clean
// end, which the caller reports as a wrong code).
func drainServer(receive func() bool, errf func() error) error {
	for receive() {
	}
	return errf()
}

// paginationChecks checks ListSensors and raw GetHistory paging.
func (s *suite) paginationChecks(ctx context.Context, a user) {
	for _, p := range protocols {
		c := s.client(p, a.token)
		s.check(ctx, p, []string{sensoctov1connect.SensorServiceListSensorsProcedure}, "pages of page_size, sorted by name, each sensor once, the last with no token; a bad token naming page_token",
			func(ctx context.Context) error {
				typ := "contract-page-" + s.run + "-" + p.name
				const n = 5
				for i := range n {
					// names in the reverse order of ids: the order must follow names
					if _, err := s.registerOwned(ctx, a, &sensoctov1.RegisterSensorRequest{SensorId: fmt.Sprintf("%s-%d", s.sensorID("page", p.name), i),
						Name: fmt.Sprintf("contract page %d", n-1-i), SensorType: typ}); err != nil {
						return must("RegisterSensor", err)
					}
				}
				var pages []int
				var names []string
				req := &sensoctov1.ListSensorsRequest{SensorType: typ, PageSize: 2}
				for len(pages) < 10 {
					res, err := c.sensors.ListSensors(ctx, req)
					if err != nil {
						return must("ListSensors", err)
					}
					pages = append(pages, len(res.GetSensors()))
					for _, sn := range res.GetSensors() {
						names = append(names, sn.GetName())
					}
					if res.GetNextPageToken() == "" {
						break
					}
					req.PageToken = res.GetNextPageToken()
				}
				want := []string{"contract page 0", "contract page 1", "contract page 2", "contract page 3", "contract page 4"}
				if fmt.Sprint(pages) != "[2 2 1]" || fmt.Sprint(names) != fmt.Sprint(want) {
					return fmt.Errorf("pages [2 2 1] with %q, got pages %v with %q", want, pages, names)
				}
				_, err := c.sensors.ListSensors(ctx, &sensoctov1.ListSensorsRequest{PageToken: "not-a-token"})
				return expectFieldViolation(err, "page_token")
			})
		s.check(ctx, p, []string{sensoctov1connect.SensorServiceGetHistoryProcedure}, "raw pages of max_points values in time order, each value once",
			func(ctx context.Context) error {
				id := s.sensorID("hist", p.name)
				if _, err := s.registerOwned(ctx, a, &sensoctov1.RegisterSensorRequest{SensorId: id, Attributes: []*sensoctov1.Attribute{heartrateAttribute}}); err != nil {
					return must("RegisterSensor", err)
				}
				t0 := nowUS()
				var ms []*sensoctov1.Measurement
				for i := range 7 {
					ms = append(ms, number("heartrate", t0+int64(i)*1000, float64(60+i)))
				}
				if _, err := c.sensors.Publish(ctx, &sensoctov1.PublishRequest{SensorId: id, Measurements: ms}); err != nil {
					return must("Publish", err)
				}
				req := &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "heartrate", Raw: true, MaxPoints: 3}
				var pages []int
				var values []float64
				for len(pages) < 10 {
					res, err := c.sensors.GetHistory(ctx, req)
					if err != nil {
						return must("GetHistory", err)
					}
					pages = append(pages, len(res.GetPoints()))
					for _, pt := range res.GetPoints() {
						values = append(values, pt.GetNumber())
					}
					if res.GetNextPageToken() == "" {
						break
					}
					req = &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "heartrate", MaxPoints: 3, PageToken: res.GetNextPageToken()}
				}
				if fmt.Sprint(pages) != "[3 3 1]" || fmt.Sprint(values) != "[60 61 62 63 64 65 66]" {
					return fmt.Errorf("pages [3 3 1] with values 60..66, got %v with %v", pages, values)
				}
				return nil
			})
	}
}

// idempotencyChecks checks that registering the same sensor again changes nothing.
func (s *suite) idempotencyChecks(ctx context.Context, a user) {
	for _, p := range protocols {
		c := s.client(p, a.token)
		s.check(ctx, p, []string{sensoctov1connect.SensorServiceRegisterSensorProcedure}, "registering the same sensor twice returns it unchanged, listed once",
			func(ctx context.Context) error {
				typ := "contract-idem-" + s.run + "-" + p.name
				req := &sensoctov1.RegisterSensorRequest{SensorId: s.sensorID("idem", p.name), Name: "contract idem", SensorType: typ,
					Attributes: []*sensoctov1.Attribute{ecgAttribute, heartrateAttribute}}
				first, err := s.registerOwned(ctx, a, req)
				if err != nil {
					return must("RegisterSensor", err)
				}
				again, err := c.sensors.RegisterSensor(ctx, req)
				if err != nil {
					return must("RegisterSensor again", err)
				}
				f, g := first.GetSensor(), again.GetSensor()
				if g.GetSensorId() != f.GetSensorId() || g.GetName() != f.GetName() || !g.GetCreatedAt().AsTime().Equal(f.GetCreatedAt().AsTime()) ||
					len(g.GetAttributes()) != len(f.GetAttributes()) || !proto.Equal(g.GetAttributes()[0], f.GetAttributes()[0]) {
					return fmt.Errorf("the same sensor, got %v then %v", f, g)
				}
				n := 0
				if err := listAll(ctx, c, &sensoctov1.ListSensorsRequest{SensorType: typ}, func(*sensoctov1.Sensor) { n++ }); err != nil {
					return err
				}
				if n != 1 {
					return fmt.Errorf("one sensor listed, got %d", n)
				}
				return nil
			})
	}
}

// rateLimitChecks uses up the per-IP limit of VerifyMagicLink with unknown secrets and
// expects ResourceExhausted with a RetryInfo detail (and a Retry-After header).
func (s *suite) rateLimitChecks(ctx context.Context) {
	p := protocols[0]
	s.check(ctx, p, []string{sensoctov1connect.AuthServiceVerifyMagicLinkProcedure}, "ResourceExhausted with a google.rpc.RetryInfo retry_delay once the per-IP sign-in limit is used up",
		func(ctx context.Context) error {
			c := s.client(p, "")
			for i := range 1000 {
				_, err := c.auth.VerifyMagicLink(ctx, &sensoctov1.VerifyMagicLinkRequest{Secret: fmt.Sprintf("contract-limit-%s-%04d", s.run, i)})
				if connect.CodeOf(err) == connect.CodeUnauthenticated {
					continue
				}
				if e := expectCode(err, connect.CodeResourceExhausted); e != nil {
					return e
				}
				var ce *connect.Error
				if !errors.As(err, &ce) {
					return fmt.Errorf("a Connect error, got %T", err)
				}
				for _, d := range ce.Details() {
					if v, derr := d.Value(); derr == nil {
						if ri, ok := v.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
							if ce.Meta().Get("Retry-After") == "" {
								return errors.New("a Retry-After header with the RetryInfo")
							}
							return nil
						}
					}
				}
				return fmt.Errorf("a RetryInfo detail with a positive retry_delay, got %v", ce.Details())
			}
			return errors.New("ResourceExhausted within 1000 attempts (is SENSOCTO_AUTH_RATE_LIMIT that high?)")
		})
}
