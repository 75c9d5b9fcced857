package app_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// Access ends when it ends: for every stream kind, losing access to a sensor (its
// owner makes it private or deletes it) ends delivery of that sensor before the call
// that changed it returns, while the other sensors of the stream go on; losing the
// credential (sign-out, token revocation) ends the stream before the revoking call
// returns. Each test publishes after the change and checks that nothing published
// after it arrives (a leak would arrive with, or before, the data of the sensor kept).

// streamReader reads a server stream in a goroutine the test owns.
type streamReader[T any] struct {
	ch   chan *T
	done chan error
}

func readStream[T any](t *testing.T, open func(ctx context.Context) (*connect.ServerStreamForClient[T], error)) *streamReader[T] {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s, err := open(ctx)
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	r := &streamReader[T]{ch: make(chan *T, 1024), done: make(chan error, 1)}
	go func() {
		defer close(r.ch)
		for s.Receive() {
			select {
			case r.ch <- s.Msg():
			case <-ctx.Done():
			}
		}
		r.done <- s.Err()
		_ = s.Close()
	}()
	t.Cleanup(func() { cancel(); err := <-r.done; r.done <- err })
	return r
}

// next returns the next message, or nil when the stream ended; it fails at the deadline.
func (r *streamReader[T]) next(t *testing.T) *T {
	t.Helper()
	select {
	case m := <-r.ch:
		return m
	case <-time.After(testDeadline):
		t.Fatalf("no message within %s", testDeadline)
	}
	return nil
}

// err returns the error the stream ended with (after next returned nil).
func (r *streamReader[T]) err() error {
	err := <-r.done
	r.done <- err
	return err
}

// party is a signed-in guest with its clients.
type party struct {
	token     string
	sensors   sensoctov1connect.SensorServiceClient
	attention sensoctov1connect.AttentionServiceClient
	auth      sensoctov1connect.AuthServiceClient
	system    sensoctov1connect.SystemServiceClient
}

func newParty(t *testing.T, url string) party {
	t.Helper()
	return partyWith(url, signInGuest(t, url))
}

func partyWith(url, token string) party {
	c := withToken(h2cClient(), token)
	return party{
		token:     token,
		sensors:   sensoctov1connect.NewSensorServiceClient(c, url),
		attention: sensoctov1connect.NewAttentionServiceClient(c, url),
		auth:      sensoctov1connect.NewAuthServiceClient(c, url),
		system:    sensoctov1connect.NewSystemServiceClient(c, url),
	}
}

// apiToken creates an API token of p's user and returns a party using it.
func (p party) apiToken(t *testing.T, url string, scope sensoctov1.TokenScope) (party, string) {
	t.Helper()
	res, err := p.auth.CreateApiToken(t.Context(), &sensoctov1.CreateApiTokenRequest{Name: "access-test", Scope: scope})
	if err != nil {
		t.Fatalf("CreateApiToken: %v", err)
	}
	return partyWith(url, res.GetSecret()), res.GetToken().GetTokenId()
}

func (p party) registerPublic(t *testing.T, id string) {
	t.Helper()
	_, err := p.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{
		SensorId: id, Visibility: sensoctov1.Visibility_VISIBILITY_PUBLIC,
		Attributes: []*sensoctov1.Attribute{{AttributeId: "hr", AttributeType: "heartrate"}},
	})
	if err != nil {
		t.Fatalf("RegisterSensor %s: %v", id, err)
	}
}

func (p party) publish(t *testing.T, id string, v float64) {
	t.Helper()
	if _, err := p.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("hr", 0, v)}}); err != nil {
		t.Fatalf("Publish %s: %v", id, err)
	}
}

// loseAccess ends the viewer's access to sensor id, as its owner, in the named way.
func loseAccess(t *testing.T, how string, owner party, id string) {
	t.Helper()
	var err error
	switch how {
	case "UpdateSensor":
		_, err = owner.sensors.UpdateSensor(t.Context(), &sensoctov1.UpdateSensorRequest{SensorId: id, Visibility: sensoctov1.Visibility_VISIBILITY_PRIVATE})
	case "RegisterSensor":
		_, err = owner.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: id, Visibility: sensoctov1.Visibility_VISIBILITY_PRIVATE})
	case "DeleteSensor":
		_, err = owner.sensors.DeleteSensor(t.Context(), &sensoctov1.DeleteSensorRequest{SensorId: id})
	default:
		t.Fatalf("unknown way %q", how)
	}
	if err != nil {
		t.Fatalf("%s: %v", how, err)
	}
}

// endCredential ends the credential of viewer in the named way: its session signs out,
// or the viewer's session revokes the API token tokenID.
func endCredential(t *testing.T, how string, session party, tokenID string) {
	t.Helper()
	var err error
	switch how {
	case "SignOut":
		_, err = session.auth.SignOut(t.Context(), &sensoctov1.SignOutRequest{})
	case "RevokeApiToken":
		_, err = session.auth.RevokeApiToken(t.Context(), &sensoctov1.RevokeApiTokenRequest{TokenId: tokenID})
	}
	if err != nil {
		t.Fatalf("%s: %v", how, err)
	}
}

// viewerCredential returns the credential a viewer's stream uses for a way of ending
// it: its session for SignOut, a full-scope API token for RevokeApiToken.
func viewerCredential(t *testing.T, url, how string) (streamer, session party, tokenID string) {
	t.Helper()
	session = newParty(t, url)
	if how == "RevokeApiToken" {
		streamer, tokenID = session.apiToken(t, url, sensoctov1.TokenScope_TOKEN_SCOPE_FULL)
		return streamer, session, tokenID
	}
	return session, session, ""
}

var (
	accessLosses     = []string{"UpdateSensor", "RegisterSensor", "DeleteSensor"}
	credentialLosses = []string{"SignOut", "RevokeApiToken"}
)

func TestAccessLossEndsDeliveryAtOnce(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, map[string]string{"SENSOCTO_AUTH_RATE_LIMIT": "10000"})
			t.Run("Watch", func(t *testing.T) {
				for _, how := range accessLosses {
					t.Run(how, func(t *testing.T) { testWatchAccessLoss(t, srv.url, how) })
				}
				for _, how := range credentialLosses {
					t.Run(how, func(t *testing.T) { testWatchCredentialLoss(t, srv.url, how) })
				}
			})
			t.Run("WatchAttention", func(t *testing.T) {
				for _, how := range accessLosses {
					t.Run(how, func(t *testing.T) { testWatchAttentionAccessLoss(t, srv.url, how) })
				}
				for _, how := range credentialLosses {
					t.Run(how, func(t *testing.T) { testWatchAttentionCredentialLoss(t, srv.url, how) })
				}
			})
			t.Run("WatchStatus", func(t *testing.T) {
				for _, how := range credentialLosses {
					t.Run(how, func(t *testing.T) { testWatchStatusCredentialLoss(t, srv.url, how) })
				}
			})
			t.Run("WatchBackpressure", func(t *testing.T) {
				for _, how := range credentialLosses {
					t.Run(how, func(t *testing.T) { testWatchBackpressureCredentialLoss(t, srv.url, how) })
				}
			})
			t.Run("Stream", func(t *testing.T) {
				for _, how := range credentialLosses {
					t.Run(how, func(t *testing.T) { testStreamCredentialLoss(t, srv.url, how) })
				}
			})
		})
	}
}

func focus(t *testing.T, p party, tab string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		report(t, p.attention, tab, id, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS)
	}
}

// numbers returns the values of sensor id in a Watch delivery.
func numbers(res *sensoctov1.WatchResponse, id string) []float64 {
	var out []float64
	for _, d := range res.GetData() {
		if d.GetSensorId() == id {
			for _, m := range d.GetMeasurements() {
				out = append(out, m.GetNumber())
			}
		}
	}
	return out
}

func removed(res *sensoctov1.WatchResponse, id string) bool {
	for _, ev := range res.GetEvents() {
		if ev.GetKind() == sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_REMOVED && ev.GetSensor().GetSensorId() == id {
			return true
		}
	}
	return false
}

// watchBoth opens a viewer's Watch of two public sensors of owner, focused so data is
// delivered at once, and reads until value 1 of both arrived.
func watchBoth(t *testing.T, owner, viewer party, lost, kept string) *streamReader[sensoctov1.WatchResponse] {
	t.Helper()
	owner.registerPublic(t, lost)
	owner.registerPublic(t, kept)
	focus(t, viewer, "viewer-tab", lost, kept)
	w := readStream(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchResponse], error) {
		return viewer.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{lost, kept}, SkipRecent: true, TabId: "viewer-tab"})
	})
	owner.publish(t, lost, 1)
	owner.publish(t, kept, 1)
	seen := map[string]bool{}
	for !seen[lost] || !seen[kept] {
		res := w.next(t)
		if res == nil {
			t.Fatalf("Watch ended: %v", w.err())
		}
		for _, id := range []string{lost, kept} {
			seen[id] = seen[id] || len(numbers(res, id)) > 0
		}
	}
	return w
}

func testWatchAccessLoss(t *testing.T, url, how string) {
	owner, viewer := newParty(t, url), newParty(t, url)
	lost, kept := newSensorID("watch-lost"), newSensorID("watch-kept")
	w := watchBoth(t, owner, viewer, lost, kept)
	loseAccess(t, how, owner, lost)
	if how != "DeleteSensor" {
		owner.publish(t, lost, 2)
	}
	owner.publish(t, kept, 2)
	gotRemoved := false
	for {
		res := w.next(t)
		if res == nil {
			t.Fatalf("Watch ended: %v; it should go on for %s", w.err(), kept)
		}
		gotRemoved = gotRemoved || removed(res, lost)
		for _, v := range numbers(res, lost) {
			if v == 2 {
				t.Fatalf("value 2 of %s, published after %s made it invisible, was delivered", lost, how)
			}
		}
		if vs := numbers(res, kept); len(vs) > 0 && vs[len(vs)-1] == 2 {
			break
		}
	}
	if !gotRemoved {
		t.Fatalf("no REMOVED event for %s before the kept sensor's next value", lost)
	}
}

func testWatchCredentialLoss(t *testing.T, url, how string) {
	owner := newParty(t, url)
	viewer, session, tokenID := viewerCredential(t, url, how)
	lost, kept := newSensorID("watch-cred"), newSensorID("watch-cred-kept")
	w := watchBoth(t, owner, viewer, lost, kept)
	endCredential(t, how, session, tokenID)
	owner.publish(t, kept, 2)
	for {
		res := w.next(t)
		if res == nil {
			break
		}
		if vs := numbers(res, kept); len(vs) > 0 && vs[len(vs)-1] == 2 {
			t.Fatalf("a value published after %s was delivered", how)
		}
	}
	if err := w.err(); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("Watch after %s ended with %v, want unauthenticated", how, err)
	}
}

// attentionOf returns the attention levels of sensor id in a WatchAttention message.
func attentionOf(res *sensoctov1.WatchAttentionResponse, id string) []*sensoctov1.SensorAttention {
	var out []*sensoctov1.SensorAttention
	for _, a := range res.GetAttention() {
		if a.GetSensorId() == id {
			out = append(out, a)
		}
	}
	return out
}

// watchAttentionBoth opens a viewer's WatchAttention of two public sensors of owner.
func watchAttentionBoth(t *testing.T, owner, viewer party, lost, kept string) *streamReader[sensoctov1.WatchAttentionResponse] {
	t.Helper()
	owner.registerPublic(t, lost)
	owner.registerPublic(t, kept)
	w := readStream(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchAttentionResponse], error) {
		return viewer.attention.WatchAttention(ctx, &sensoctov1.WatchAttentionRequest{SensorIds: []string{lost, kept}})
	})
	if first := w.next(t); len(attentionOf(first, lost)) != 1 || len(attentionOf(first, kept)) != 1 {
		t.Fatalf("first WatchAttention message: %v", first)
	}
	return w
}

// awaitKeptFocus reads WatchAttention until kept is HIGH, failing on any change of
// lost on the way (a change of lost made after access ended).
func awaitKeptFocus(t *testing.T, w *streamReader[sensoctov1.WatchAttentionResponse], lost, kept, how string) {
	t.Helper()
	for {
		res := w.next(t)
		if res == nil {
			t.Fatalf("WatchAttention ended: %v; it should go on for %s", w.err(), kept)
		}
		if len(attentionOf(res, lost)) > 0 {
			t.Fatalf("attention of %s, changed after %s, was delivered: %v", lost, how, res)
		}
		for _, a := range attentionOf(res, kept) {
			if a.GetLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH {
				return
			}
		}
	}
}

func testWatchAttentionAccessLoss(t *testing.T, url, how string) {
	owner, viewer := newParty(t, url), newParty(t, url)
	lost, kept := newSensorID("att-lost"), newSensorID("att-kept")
	w := watchAttentionBoth(t, owner, viewer, lost, kept)
	loseAccess(t, how, owner, lost)
	if how == "DeleteSensor" {
		// Someone else takes the freed id for a private sensor of theirs.
		owner = newParty(t, url)
		if _, err := owner.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: lost}); err != nil {
			t.Fatalf("register the freed id: %v", err)
		}
	}
	focus(t, owner, "owner-tab-1", lost)
	focus(t, owner, "owner-tab-1", kept)
	awaitKeptFocus(t, w, lost, kept, how)
}

func testWatchAttentionCredentialLoss(t *testing.T, url, how string) {
	owner := newParty(t, url)
	viewer, session, tokenID := viewerCredential(t, url, how)
	lost, kept := newSensorID("att-cred"), newSensorID("att-cred-kept")
	w := watchAttentionBoth(t, owner, viewer, lost, kept)
	endCredential(t, how, session, tokenID)
	focus(t, owner, "owner-tab-1", kept)
	for {
		res := w.next(t)
		if res == nil {
			break
		}
		if len(attentionOf(res, kept)) > 0 {
			t.Fatalf("an attention change made after %s was delivered: %v", how, res)
		}
	}
	if err := w.err(); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("WatchAttention after %s ended with %v, want unauthenticated", how, err)
	}
}

func testWatchStatusCredentialLoss(t *testing.T, url, how string) {
	viewer, session, tokenID := viewerCredential(t, url, how)
	// One snapshot a minute: only an immediate end can end it within the test.
	w := readStream(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchStatusResponse], error) {
		return viewer.system.WatchStatus(ctx, &sensoctov1.WatchStatusRequest{IntervalMs: 60_000})
	})
	if w.next(t) == nil {
		t.Fatalf("WatchStatus ended: %v", w.err())
	}
	endCredential(t, how, session, tokenID)
	if res := w.next(t); res != nil {
		t.Fatalf("a status after %s: %v", how, res)
	}
	if err := w.err(); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("WatchStatus after %s ended with %v, want unauthenticated", how, err)
	}
}

// connectorCredential returns the owner's session and the credential its connector
// streams with: the session itself for SignOut, a publish-scope token otherwise.
func connectorCredential(t *testing.T, url, how string) (connector, session party, tokenID string) {
	t.Helper()
	session = newParty(t, url)
	if how == "RevokeApiToken" {
		connector, tokenID = session.apiToken(t, url, sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH)
		return connector, session, tokenID
	}
	return session, session, ""
}

func testWatchBackpressureCredentialLoss(t *testing.T, url, how string) {
	connector, session, tokenID := connectorCredential(t, url, how)
	id := newSensorID("bp-cred")
	register(t, connector.sensors, id)
	cf := watchConfigs(t, connector.sensors, id)
	cf.await(t, "WatchBackpressure", sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE)
	// A viewer who stays signed in raises the attention after the credential ended.
	viewer := session
	if how == "SignOut" {
		viewer = partyWith(url, signInGuest(t, url))
		if _, err := session.sensors.UpdateSensor(t.Context(), &sensoctov1.UpdateSensorRequest{SensorId: id, Visibility: sensoctov1.Visibility_VISIBILITY_PUBLIC}); err != nil {
			t.Fatalf("make the sensor public: %v", err)
		}
	}
	endCredential(t, how, session, tokenID)
	focus(t, viewer, "viewer-tab", id)
	for cfg := range cf.ch {
		if cfg.GetAttentionLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH {
			t.Fatalf("a config made after %s was delivered", how)
		}
	}
	if err := cf.ended(t); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("WatchBackpressure after %s ended with %v, want unauthenticated", how, err)
	}
}

func testStreamCredentialLoss(t *testing.T, url, how string) {
	connector, session, tokenID := connectorCredential(t, url, how)
	id := newSensorID("stream-cred")
	register(t, connector.sensors, id, &sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st, err := connector.sensors.Stream(ctx)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	defer func() { _ = st.CloseResponse() }()
	send := func(seq uint64, v float64) error {
		return st.Send(&sensoctov1.StreamRequest{SensorId: id, Sequence: seq, Measurements: []*sensoctov1.Measurement{num("hr", 0, v)}})
	}
	if err := send(1, 1); err != nil {
		t.Fatalf("send: %v", err)
	}
	for { // until batch 1 is acknowledged
		res, err := st.Receive()
		if err != nil {
			t.Fatalf("Stream before %s: %v", how, err)
		}
		if res.GetAck().GetSequence() == 1 {
			break
		}
	}
	endCredential(t, how, session, tokenID)
	_ = send(2, 2) // may fail: the server may have ended the stream already
	_ = st.CloseRequest()
	for {
		res, err := st.Receive()
		if err != nil {
			if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("Stream after %s ended with %v, want unauthenticated", how, err)
			}
			break
		}
		if res.GetAck().GetTotalAccepted() > 1 {
			t.Fatalf("a batch sent after %s was accepted: %v", how, res)
		}
	}
	// Nothing of batch 2 reached the sensor (read as a signed-in owner).
	reader := session
	if how == "SignOut" {
		if _, err := connector.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id}); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("the signed-out session still works: %v", err)
		}
		return // the owner has no other credential; the ack check above covers it
	}
	h, err := reader.sensors.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "hr"})
	if err != nil {
		t.Fatalf("GetHistory: %v", err)
	}
	for _, p := range h.GetPoints() {
		if p.GetNumber() == 2 {
			t.Fatalf("value 2, sent after %s, was stored: %v", how, h.GetPoints())
		}
	}
}

// TestSweptGuestsSensorsLeaveWatches: when the sweeper deletes an expired guest (and
// with it, in the database, its sensors), the watchers of its public sensor get
// REMOVED at once, as for DeleteSensor, and the id is free for a new sensor whose data
// they do not get.
func TestSweptGuestsSensorsLeaveWatches(t *testing.T) {
	t.Parallel()
	clock := &testClock{t: time.Now()}
	srv := startServer(t, "sqlite", map[string]string{"SENSOCTO_GUEST_TTL": "2h", "SENSOCTO_AUTH_RATE_LIMIT": "10000"},
		app.WithClock(clock.now), app.WithGuestSweepInterval(20*time.Millisecond))
	guestOwner := newParty(t, srv.url)
	// The viewer is a registered user: the sweep does not touch it.
	res, err := sensoctov1connect.NewAuthServiceClient(h2cClient(), srv.url).SignUp(t.Context(), &sensoctov1.SignUpRequest{Email: "viewer@example.com", Password: "long-enough-password"})
	if err != nil {
		t.Fatalf("SignUp: %v", err)
	}
	viewer := partyWith(srv.url, res.GetSession().GetToken())
	lost, kept := newSensorID("swept"), newSensorID("swept-kept")
	keeper := viewer // the viewer's own public sensor stays
	guestOwner.registerPublic(t, lost)
	keeper.registerPublic(t, kept)
	focus(t, viewer, "viewer-tab", lost, kept)
	w := readStream(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchResponse], error) {
		return viewer.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{lost, kept}, SkipRecent: true, TabId: "viewer-tab"})
	})
	guestOwner.publish(t, lost, 1)
	for got := false; !got; {
		res := w.next(t)
		if res == nil {
			t.Fatalf("Watch ended: %v", w.err())
		}
		got = len(numbers(res, lost)) > 0
	}
	clock.advance(2*time.Hour + time.Minute) // the guest expires and is swept
	for got := false; !got; {
		res := w.next(t)
		if res == nil {
			t.Fatalf("Watch ended: %v", w.err())
		}
		got = removed(res, lost)
	}
	// Someone else takes the freed id (private) and publishes; the viewer's own sensor goes on.
	taker := newParty(t, srv.url)
	if _, err := taker.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: lost}); err != nil {
		t.Fatalf("register the freed id: %v", err)
	}
	taker.publish(t, lost, 2)
	keeper.publish(t, kept, 2)
	for {
		res := w.next(t)
		if res == nil {
			t.Fatalf("Watch ended: %v", w.err())
		}
		if len(numbers(res, lost)) > 0 {
			t.Fatalf("data of the new owner of %s was delivered: %v", lost, res)
		}
		if vs := numbers(res, kept); len(vs) > 0 && vs[len(vs)-1] == 2 {
			break
		}
	}
}
