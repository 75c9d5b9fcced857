package sensorsrpc_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/rs/zerolog"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/live/livetest"
	"github.com/sensocto/sensocto/server/internal/rpc/rpctest"
	"github.com/sensocto/sensocto/server/internal/sensorsrpc"
)

// The handler alone, in the connect-go examples' style (rpctest: the production
// interceptors and auth middleware over an in-process HTTP server), on the live path
// over a real database, through Connect and gRPC clients.

type fixture struct {
	env     *livetest.Env
	srv     *rpctest.Server
	viewers map[string]authz.Viewer // by token
}

func newFixture(t *testing.T, dialect string, users ...string) *fixture {
	t.Helper()
	f := &fixture{env: livetest.New(t, dialect, livetest.Options{}), viewers: map[string]authz.Viewer{}}
	tokens := rpctest.Tokens{}
	for _, u := range users {
		v := f.env.User(t, u)
		tokens[u] = v
		f.viewers[u] = v
	}
	f.srv = rpctest.Serve(t, tokens, func(opts ...connect.HandlerOption) (string, http.Handler) {
		return sensoctov1connect.NewSensorServiceHandler(sensorsrpc.New(sensorsrpc.Options{
			Sensors: f.env.Sensors, Live: f.env.Live, Logger: zerolog.Nop(),
		}), opts...)
	})
	return f
}

func (f *fixture) client(p rpctest.Protocol, token string) sensoctov1connect.SensorServiceClient {
	return sensoctov1connect.NewSensorServiceClient(f.srv.HTTPClient(), f.srv.URL, p.As(token)...)
}

func wantCode(t *testing.T, what string, err error, code connect.Code, mention string) {
	t.Helper()
	if rpctest.Code(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Fatalf("%s: %v does not mention %q", what, err, mention)
	}
}

func num(attr string, v float64) *sensoctov1.Measurement {
	return &sensoctov1.Measurement{AttributeId: attr, Value: &sensoctov1.Measurement_Number{Number: v}}
}

func TestSensorServiceHandler(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			var users []string
			for _, p := range rpctest.Protocols {
				users = append(users, "owner-"+p.Name, "other-"+p.Name, "revoked-"+p.Name)
			}
			f := newFixture(t, dialect, users...)
			for _, p := range rpctest.Protocols {
				t.Run(p.Name, func(t *testing.T) {
					t.Parallel()
					c, other := f.client(p, "owner-"+p.Name), f.client(p, "other-"+p.Name)
					id := "hr-" + p.Name
					t.Run("RegisterSensor", func(t *testing.T) { testRegister(t, c, id) })
					t.Run("Publish", func(t *testing.T) { testPublish(t, c, other, id) })
					t.Run("Stream", func(t *testing.T) { testStream(t, c, id) })
					t.Run("Watch", func(t *testing.T) { testWatch(t, c, id) })
					t.Run("WatchBackpressure", func(t *testing.T) { testWatchBackpressure(t, f, f.viewers["owner-"+p.Name], c, id) })
					t.Run("Registry", func(t *testing.T) { testRegistry(t, c, other, id) })
					t.Run("Revocation", func(t *testing.T) { testRevocation(t, f, p, id) })
					t.Run("DeleteSensor", func(t *testing.T) { testDelete(t, c, id) })
				})
			}
		})
	}
}

func testRegister(t *testing.T, c sensoctov1connect.SensorServiceClient, id string) {
	res, err := c.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{
		SensorId: id, Name: "Heart", SensorType: "heartrate",
		Attributes: []*sensoctov1.Attribute{{AttributeId: "hr", AttributeType: "heartrate", Unit: "bpm"}},
	})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if s := res.GetSensor(); s.GetSensorId() != id || s.GetName() != "Heart" || len(s.GetAttributes()) != 1 {
		t.Fatalf("registered %v", s)
	}
	if bp := res.GetBackpressure(); bp.GetAttentionLevel() != sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE || bp.GetRecommendedBatchWindowMs() != 5000 {
		t.Fatalf("config of an unwatched sensor %v, want NONE with a 5 s window", bp)
	}
	_, err = c.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: "sim.mine"})
	wantCode(t, "a simulator id", err, connect.CodeInvalidArgument, "sensor_id")
}

func testPublish(t *testing.T, c, other sensoctov1connect.SensorServiceClient, id string) {
	res, err := c.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("hr", 61), num("hr", 62)}})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if res.GetAccepted() != 2 || res.GetBackpressure() == nil {
		t.Fatalf("publish answered %v, want 2 accepted and the config", res)
	}
	_, err = c.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: "no spaces", Measurements: []*sensoctov1.Measurement{num("hr", 1)}})
	wantCode(t, "a bad sensor id", err, connect.CodeInvalidArgument, "sensor_id")
	_, err = c.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("", 1)}})
	wantCode(t, "an item without attribute", err, connect.CodeInvalidArgument, "measurements[0]")
	_, err = other.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("hr", 1)}})
	wantCode(t, "someone else's private sensor", err, connect.CodeNotFound, "")
}

// stream opens a Stream.
func stream(t *testing.T, ctx context.Context, c sensoctov1connect.SensorServiceClient) *connect.BidiStreamForClientSimple[sensoctov1.StreamRequest, sensoctov1.StreamResponse] {
	t.Helper()
	s, err := c.Stream(ctx)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	return s
}

func testStream(t *testing.T, c sensoctov1connect.SensorServiceClient, id string) {
	s := stream(t, t.Context(), c)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := s.Send(&sensoctov1.StreamRequest{SensorId: id, Sequence: seq, Measurements: []*sensoctov1.Measurement{num("hr", 70), num("hr", 71)}}); err != nil {
			t.Fatalf("send batch %d: %v", seq, err)
		}
	}
	if err := s.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	var gotConfig bool
	var ack *sensoctov1.StreamAck
	for {
		res, err := s.Receive()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if res.GetBackpressure() != nil {
			gotConfig = true
		}
		if res.GetAck() != nil {
			ack = res.GetAck()
		}
	}
	if !gotConfig || ack.GetSequence() != 3 || ack.GetTotalAccepted() != 6 {
		t.Fatalf("config %v, last ack %v: want a config and batch 3 acked with 6 values in total", gotConfig, ack)
	}

	s = stream(t, t.Context(), c)
	_ = s.Send(&sensoctov1.StreamRequest{SensorId: id, Sequence: 1, Measurements: []*sensoctov1.Measurement{num("hr", 1)}})
	_ = s.Send(&sensoctov1.StreamRequest{SensorId: id + "-x", Sequence: 2, Measurements: []*sensoctov1.Measurement{num("hr", 1)}})
	_ = s.CloseRequest()
	for {
		_, err := s.Receive()
		if err != nil {
			wantCode(t, "a batch of another sensor", err, connect.CodeInvalidArgument, "sensor_id")
			break
		}
	}
}

func testWatch(t *testing.T, c sensoctov1connect.SensorServiceClient, id string) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := c.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{id}, SkipRecent: true})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Close()
	s := stream(t, ctx, c)
	if err := s.Send(&sensoctov1.StreamRequest{SensorId: id, Sequence: 1, Measurements: []*sensoctov1.Measurement{num("hr", 88)}}); err != nil {
		t.Fatal(err)
	}
	var connected, data bool
	for !connected || !data {
		if !w.Receive() {
			t.Fatalf("watch ended: %v", w.Err())
		}
		for _, ev := range w.Msg().GetEvents() {
			if ev.GetKind() == sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_CONNECTED && ev.GetSensor().GetSensorId() == id {
				connected = true
			}
		}
		for _, d := range w.Msg().GetData() {
			for _, m := range d.GetMeasurements() {
				if d.GetSensorId() == id && m.GetNumber() == 88 {
					data = true
				}
			}
		}
	}
	_ = s.CloseRequest()
}

func testWatchBackpressure(t *testing.T, f *fixture, owner authz.Viewer, c sensoctov1connect.SensorServiceClient, id string) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := c.WatchBackpressure(ctx, &sensoctov1.WatchBackpressureRequest{SensorId: id})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !w.Receive() || w.Msg().GetBackpressure() == nil {
		t.Fatalf("no current config: %v", w.Err())
	}
	if _, err := f.env.Live.ReportAttention(t.Context(), owner, "tab-"+id, []attention.Event{{SensorID: id, Kind: attention.Focus}}); err != nil {
		t.Fatal(err)
	}
	for w.Msg().GetBackpressure().GetAttentionLevel() != sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH {
		if !w.Receive() {
			t.Fatalf("watch ended before the HIGH config: %v", w.Err())
		}
	}
	if _, err := f.env.Live.ReportAttention(t.Context(), owner, "tab-"+id, []attention.Event{{SensorID: id, Kind: attention.Unfocus}}); err != nil {
		t.Fatal(err)
	}
	w2, err := c.WatchBackpressure(ctx, &sensoctov1.WatchBackpressureRequest{SensorId: "never-registered"})
	if err == nil {
		for w2.Receive() {
		}
		err = w2.Err()
	}
	wantCode(t, "an unregistered sensor", err, connect.CodeNotFound, "RegisterSensor first")
}

func testRegistry(t *testing.T, c, other sensoctov1connect.SensorServiceClient, id string) {
	name := "Renamed"
	up, err := c.UpdateSensor(t.Context(), &sensoctov1.UpdateSensorRequest{SensorId: id, Name: &name, Visibility: sensoctov1.Visibility_VISIBILITY_PUBLIC})
	if err != nil || up.GetSensor().GetName() != name {
		t.Fatalf("update: %v %v", up, err)
	}
	got, err := other.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id})
	if err != nil || got.GetSensor().GetVisibility() != sensoctov1.Visibility_VISIBILITY_PUBLIC {
		t.Fatalf("another user gets the public sensor: %v %v", got, err)
	}
	_, err = other.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("hr", 1)}})
	wantCode(t, "publishing to someone else's public sensor", err, connect.CodePermissionDenied, "")
	list, err := c.ListSensors(t.Context(), &sensoctov1.ListSensorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range list.GetSensors() {
		found = found || s.GetSensorId() == id
	}
	if !found {
		t.Fatalf("list %v lacks %s", list.GetSensors(), id)
	}
	hist, err := c.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "hr", Raw: true})
	if err != nil || len(hist.GetPoints()) == 0 {
		t.Fatalf("history: %v %v", hist, err)
	}
	rec, err := c.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: false})
	if err != nil || rec.GetSensor().GetRecording() {
		t.Fatalf("set recording off: %v %v", rec, err)
	}
}

func testRevocation(t *testing.T, f *fixture, p rpctest.Protocol, id string) {
	user := "revoked-" + p.Name
	c := f.client(p, user)
	mine := id + "-rev"
	if _, err := c.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: mine}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(t.Context(), &sensoctov1.WatchRequest{SensorIds: []string{mine}, SkipRecent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s := stream(t, t.Context(), c)
	if err := s.Send(&sensoctov1.StreamRequest{SensorId: mine, Sequence: 1, Measurements: []*sensoctov1.Measurement{num("hr", 1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Receive(); err != nil { // the session is up
		t.Fatal(err)
	}
	f.srv.Revocations.TokensRevoked(f.viewers[user].TokenID)
	for w.Receive() {
	}
	wantCode(t, "watch after revocation", w.Err(), connect.CodeUnauthenticated, "")
	for {
		if _, err := s.Receive(); err != nil {
			wantCode(t, "stream after revocation", err, connect.CodeUnauthenticated, "")
			break
		}
	}
}

func testDelete(t *testing.T, c sensoctov1connect.SensorServiceClient, id string) {
	s := stream(t, t.Context(), c)
	if err := s.Send(&sensoctov1.StreamRequest{SensorId: id, Sequence: 1, Measurements: []*sensoctov1.Measurement{num("hr", 1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Receive(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSensor(t.Context(), &sensoctov1.DeleteSensorRequest{SensorId: id}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	for {
		if _, err := s.Receive(); err != nil {
			wantCode(t, "stream of a deleted sensor", err, connect.CodeNotFound, "deleted")
			break
		}
	}
	_, err := c.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id})
	wantCode(t, "get a deleted sensor", err, connect.CodeNotFound, "")
}
