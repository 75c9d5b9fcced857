package attentionrpc_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/attentionrpc"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/live/livetest"
	"github.com/sensocto/sensocto/server/internal/rpc/rpctest"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// The handler alone (rpctest: the production interceptors and auth middleware over an
// in-process HTTP server), on the live path over a real database, through Connect and
// gRPC clients.

const lease = time.Minute

type fixture struct {
	env     *livetest.Env
	srv     *rpctest.Server
	viewers map[string]authz.Viewer // by token
}

func newFixture(t *testing.T, dialect string, users ...string) *fixture {
	t.Helper()
	f := &fixture{env: livetest.New(t, dialect, livetest.Options{Lease: lease}), viewers: map[string]authz.Viewer{}}
	tokens := rpctest.Tokens{}
	for _, u := range users {
		v := f.env.User(t, u)
		tokens[u] = v
		f.viewers[u] = v
	}
	f.srv = rpctest.Serve(t, tokens, func(opts ...connect.HandlerOption) (string, http.Handler) {
		return sensoctov1connect.NewAttentionServiceHandler(attentionrpc.New(f.env.Live), opts...)
	})
	return f
}

func (f *fixture) client(p rpctest.Protocol, token string) sensoctov1connect.AttentionServiceClient {
	return sensoctov1connect.NewAttentionServiceClient(f.srv.HTTPClient(), f.srv.URL, p.As(token)...)
}

// sensor registers a private sensor of user with a heart-rate attribute.
func (f *fixture) sensor(t *testing.T, user, id string) {
	t.Helper()
	if _, err := f.env.Sensors.Register(t.Context(), f.viewers[user], sensors.RegisterInput{
		ID: id, Attributes: []sensors.Attribute{{ID: "hr", Type: "heartrate"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Hub.Get(id); err != nil {
		t.Fatalf("registered sensor %s not live: %v", id, err)
	}
}

func event(id, attr string, kind sensoctov1.AttentionEventKind) *sensoctov1.AttentionEvent {
	return &sensoctov1.AttentionEvent{SensorId: id, AttributeId: attr, Kind: kind}
}

func wantCode(t *testing.T, what string, err error, code connect.Code, mention string) {
	t.Helper()
	if rpctest.Code(err) != code || !strings.Contains(err.Error(), mention) {
		t.Fatalf("%s: %v, want %s mentioning %q", what, err, code, mention)
	}
}

func TestAttentionServiceHandler(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect, "owner", "other", "revoked-connect", "revoked-grpc")
			for _, p := range rpctest.Protocols {
				t.Run(p.Name, func(t *testing.T) {
					id := "hr-" + p.Name
					f.sensor(t, "owner", id)
					owner, other := f.client(p, "owner"), f.client(p, "other")
					t.Run("ReportAttention", func(t *testing.T) { testReport(t, owner, other, id) })
					t.Run("GetAttention", func(t *testing.T) { testGet(t, owner, other, id) })
					t.Run("WatchAttention", func(t *testing.T) { testWatch(t, owner, id) })
					t.Run("Revocation", func(t *testing.T) { testRevocation(t, f, p, id) })
				})
			}
		})
	}
}

func testReport(t *testing.T, owner, other sensoctov1connect.AttentionServiceClient, id string) {
	res, err := owner.ReportAttention(t.Context(), &sensoctov1.ReportAttentionRequest{TabId: "tab-0001", Events: []*sensoctov1.AttentionEvent{
		event(id, "", sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_ENTER),
		event(id, "hr", sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_HOVER_ENTER),
	}})
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if res.GetLeaseMs() != uint32(lease/time.Millisecond) {
		t.Fatalf("lease %d ms, want %v", res.GetLeaseMs(), lease)
	}
	// A batch with one bad event is refused whole, naming the event's field.
	_, err = owner.ReportAttention(t.Context(), &sensoctov1.ReportAttentionRequest{TabId: "tab-0001", Events: []*sensoctov1.AttentionEvent{
		event(id, "", sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_PIN),
		event(id, "nope", sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS),
	}})
	wantCode(t, "an unknown attribute", err, connect.CodeNotFound, "events[1].attribute_id")
	_, err = other.ReportAttention(t.Context(), &sensoctov1.ReportAttentionRequest{TabId: "tab-0001", Events: []*sensoctov1.AttentionEvent{
		event(id, "", sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS),
	}})
	wantCode(t, "someone else's private sensor", err, connect.CodeNotFound, "events[0].sensor_id")
	_, err = owner.ReportAttention(t.Context(), &sensoctov1.ReportAttentionRequest{TabId: "tab-0001", Events: []*sensoctov1.AttentionEvent{
		event(id, "", sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_UNSPECIFIED),
	}})
	wantCode(t, "an unspecified kind", err, connect.CodeInvalidArgument, "kind")
}

func testGet(t *testing.T, owner, other sensoctov1connect.AttentionServiceClient, id string) {
	res, err := owner.GetAttention(t.Context(), &sensoctov1.GetAttentionRequest{SensorId: id})
	if err != nil {
		t.Fatal(err)
	}
	a := res.GetAttention()
	if a.GetSensorId() != id || a.GetLevel() != sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH {
		t.Fatalf("attention %v, want HIGH (the hover reported above; the refused batch left no pin)", a)
	}
	for _, aa := range a.GetAttributes() {
		if aa.GetPinned() != 0 {
			t.Fatalf("attribute %v pinned: a refused batch was half applied", aa)
		}
	}
	_, err = other.GetAttention(t.Context(), &sensoctov1.GetAttentionRequest{SensorId: id})
	wantCode(t, "someone else's private sensor", err, connect.CodeNotFound, "")
}

func testWatch(t *testing.T, owner sensoctov1connect.AttentionServiceClient, id string) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := owner.WatchAttention(ctx, &sensoctov1.WatchAttentionRequest{SensorIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !w.Receive() {
		t.Fatalf("no first state: %v", w.Err())
	}
	if got := w.Msg().GetAttention(); len(got) != 1 || got[0].GetSensorId() != id {
		t.Fatalf("first state %v, want the sensor's", got)
	}
	if _, err := owner.ReportAttention(t.Context(), &sensoctov1.ReportAttentionRequest{TabId: "tab-0001", Events: []*sensoctov1.AttentionEvent{
		event(id, "hr", sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_PIN),
	}}); err != nil {
		t.Fatal(err)
	}
	for {
		if !w.Receive() {
			t.Fatalf("watch ended before the pin: %v", w.Err())
		}
		for _, a := range w.Msg().GetAttention() {
			for _, aa := range a.GetAttributes() {
				if a.GetSensorId() == id && aa.GetAttributeId() == "hr" && aa.GetPinned() == 1 {
					return
				}
			}
		}
	}
}

func testRevocation(t *testing.T, f *fixture, p rpctest.Protocol, id string) {
	user := "revoked-" + p.Name
	c := f.client(p, user)
	mine := id + "-rev"
	f.sensor(t, user, mine)
	w, err := c.WatchAttention(t.Context(), &sensoctov1.WatchAttentionRequest{SensorIds: []string{mine}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !w.Receive() {
		t.Fatalf("no first state: %v", w.Err())
	}
	f.srv.Revocations.TokensRevoked(f.viewers[user].TokenID)
	for w.Receive() {
	}
	wantCode(t, "a watch after its token was revoked", w.Err(), connect.CodeUnauthenticated, "")
}
