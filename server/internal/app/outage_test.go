package app_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// TestDatabaseOutageKeepsLiveData stops the PostgreSQL server under a running app, with
// a sensor publishing (unary Publish in a loop and a Stream session) and a Watch open,
// and lets the clock pass the credential cache's lifetime: the streams stay open, ingest
// and Watch keep working on credentials resolved before the outage, calls that need the
// database answer unavailable with RetryInfo (never internal), recording queues; after
// the restart the queue is written and nothing was lost.
func TestDatabaseOutageKeepsLiveData(t *testing.T) {
	pg := dbtest.StartLocalPostgres(t)
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	srv := startServer(t, "sqlite", map[string]string{"SENSOCTO_DATABASE_URL": pg.URL}, app.WithClock(clock))

	token := signInGuest(t, srv.url)
	sc := sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), token), srv.url)
	unary := sensoctov1connect.NewSensorServiceClient(withToken(http.DefaultClient, token), srv.url)
	sys := sensoctov1connect.NewSystemServiceClient(withToken(http.DefaultClient, token), srv.url)
	id := newSensorID("outage")
	register(t, sc, id, &sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
	if _, err := sc.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: true}); err != nil {
		t.Fatalf("SetRecording: %v", err)
	}
	tok, err := sensoctov1connect.NewAuthServiceClient(withToken(http.DefaultClient, token), srv.url).
		CreateApiToken(t.Context(), &sensoctov1.CreateApiTokenRequest{Name: "unused", Scope: sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH})
	if err != nil {
		t.Fatalf("CreateApiToken: %v", err)
	}
	unusedToken := tok.GetSecret()
	w := openWatch(t, sc, &sensoctov1.WatchRequest{SensorIds: []string{id}, SkipRecent: true})

	// The Stream session: batches in, acks out.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st, err := sc.Stream(ctx)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	var acked atomic.Uint64
	streamDone := make(chan error, 1)
	go func() {
		for {
			res, err := st.Receive()
			if err != nil {
				streamDone <- err
				return
			}
			if a := res.GetAck(); a != nil {
				acked.Store(a.GetTotalAccepted())
			}
		}
	}()
	t.Cleanup(func() { cancel(); _ = st.CloseRequest(); <-streamDone; _ = st.CloseResponse() })

	base := time.Now().UnixMicro()
	var seq atomic.Int64 // sensor time steps of 1 ms; every value is distinct
	next := func() *sensoctov1.Measurement {
		i := seq.Add(1)
		return num("hr", base+i*1000, float64(i))
	}
	var streamed, streamSeq uint64
	streamBatch := func() {
		t.Helper()
		streamSeq++
		req := &sensoctov1.StreamRequest{SensorId: id, Sequence: streamSeq}
		for range 5 {
			req.Measurements = append(req.Measurements, next())
		}
		if err := st.Send(req); err != nil {
			t.Fatalf("Stream send: %v (stream ended: %v)", err, streamErr(streamDone))
		}
		streamed += 5
	}

	// The load: Publish in a loop for the whole test, every call must succeed.
	var published atomic.Uint64
	var loadErr atomic.Pointer[error]
	loadCtx, stopLoad := context.WithCancel(t.Context())
	var load sync.WaitGroup
	load.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			req := &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{next(), next()}}
			// Not loadCtx: a call cut short by the stop could be accepted uncounted.
			if _, err := unary.Publish(t.Context(), req); err != nil {
				loadErr.CompareAndSwap(nil, &err)
				return
			}
			published.Add(2)
		}
	})
	defer func() { stopLoad(); load.Wait() }()
	checkLoad := func() {
		t.Helper()
		if p := loadErr.Load(); p != nil {
			t.Fatalf("Publish under load failed: %v", *p)
		}
	}
	status := func() *sensoctov1.RecordingStatus {
		t.Helper()
		res, err := sys.GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
		if err != nil {
			t.Fatalf("GetStatus: %v", err)
		}
		return res.GetStatus().GetRecording()
	}
	// watched waits until the Watch delivers a value published after this call.
	watched := func(what string) {
		t.Helper()
		mark := seq.Load()
		for {
			m := w.next(t)
			for _, d := range m.GetData() {
				for _, x := range d.GetMeasurements() {
					if int64(x.GetNumber()) > mark {
						return
					}
				}
			}
			checkLoad()
		}
	}

	streamBatch()
	testkit.WaitFor(t, "data recorded before the outage", func() bool {
		checkLoad()
		return status().GetWrittenSamples() >= 50
	})
	watched("before the outage")

	// The outage, and the credential cache's lifetime passes.
	if err := pg.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(accounts.DefaultCacheTTL + time.Second))
	outageStart := time.Now()

	// Calls that need the database: unavailable with RetryInfo.
	wantUnavailable := func(what string, err error) {
		t.Helper()
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeUnavailable {
			t.Fatalf("%s during the outage: %v, want unavailable", what, err)
		}
		for _, d := range ce.Details() {
			if v, err := d.Value(); err == nil {
				if ri, ok := v.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
					return
				}
			}
		}
		t.Fatalf("%s during the outage: %v has no RetryInfo", what, err)
	}
	_, err = unary.ListSensors(t.Context(), &sensoctov1.ListSensorsRequest{})
	wantUnavailable("ListSensors", err)
	_, err = unary.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "hr", Raw: true})
	wantUnavailable("GetHistory", err)
	_, err = sensoctov1connect.NewAuthServiceClient(http.DefaultClient, srv.url).SignInGuest(t.Context(), &sensoctov1.SignInGuestRequest{})
	wantUnavailable("SignInGuest", err)
	// A credential this node never resolved cannot be checked: unavailable, not
	// unauthenticated (it may be valid) and not internal.
	_, err = sensoctov1connect.NewSensorServiceClient(withToken(http.DefaultClient, unusedToken), srv.url).
		Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{next()}})
	wantUnavailable("Publish with a token never used before", err)

	// Live data keeps flowing through at least two credential re-checks of the open
	// streams (every 5 s): Publish (the load), Stream batches acked, Watch delivering.
	testkit.WaitFor(t, "ingest through the outage", func() bool {
		checkLoad()
		if time.Since(outageStart) < 12*time.Second {
			streamBatch()
			return false
		}
		return acked.Load() == streamed
	})
	watched("during the outage")
	rec := status()
	if rec.GetQueuedSamples() == 0 || !rec.GetRetrying() {
		t.Fatalf("recording during the outage: %v, want samples queued and retrying", rec)
	}
	select {
	case err := <-streamDone:
		t.Fatalf("Stream ended during the outage: %v", err)
	default:
	}

	// Back up: recording catches up with everything published.
	if err := pg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	streamBatch()
	testkit.WaitFor(t, "Stream acks after the restart", func() bool { return acked.Load() == streamed })
	stopLoad()
	load.Wait()
	checkLoad()
	total := published.Load() + streamed
	testkit.WaitFor(t, "recording caught up", func() bool {
		rec = status()
		return rec.GetWrittenSamples() >= total && rec.GetQueuedSamples() == 0
	})
	if rec.GetWrittenSamples() != total || rec.GetDroppedSamples() != 0 {
		t.Fatalf("after the outage: %v, want %d written and none dropped", rec, total)
	}
	if _, err := unary.ListSensors(t.Context(), &sensoctov1.ListSensorsRequest{}); err != nil {
		t.Fatalf("ListSensors after the restart: %v", err)
	}
	res, err := unary.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{
		SensorId: id, AttributeId: "hr", FromUs: base, ToUs: base + (seq.Load()+1)*1000, Raw: true, MaxPoints: 100000,
	})
	if err != nil {
		t.Fatalf("GetHistory after the restart: %v", err)
	}
	if res.GetTotalCount() != total {
		t.Fatalf("history after the outage has %d values, want %d", res.GetTotalCount(), total)
	}
}

func streamErr(done chan error) error {
	select {
	case err := <-done:
		done <- err
		return err
	default:
		return nil
	}
}
