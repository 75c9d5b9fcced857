package app_test

import (
	"fmt"
	"testing"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// TestTokenScopesCannotWidenAccess calls every RPC and field that changes who sees a
// sensor or its data, with each kind of credential of the owner: the session, a
// full-scope API token and a publish-scope API token. A publish token may create a
// (private) sensor and declare attributes, nothing that widens access; a refused call
// changes nothing.
func TestTokenScopesCannotWidenAccess(t *testing.T) {
	t.Parallel()
	const (
		unset   = sensoctov1.Visibility_VISIBILITY_UNSPECIFIED
		private = sensoctov1.Visibility_VISIBILITY_PRIVATE
		public  = sensoctov1.Visibility_VISIBILITY_PUBLIC
		denied  = connect.CodePermissionDenied
	)
	type scope int
	const (
		session scope = iota
		full
		publish
	)
	scopeNames := []string{"session", "full-token", "publish-token"}
	// one says what each scope gets: session, full token, publish token.
	type one [3]connect.Code
	all := one{ok, ok, ok}
	fullOnly := one{ok, ok, denied}

	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, map[string]string{"SENSOCTO_AUTH_RATE_LIMIT": "10000"})
			owner := newParty(t, srv.url)
			fullP, _ := owner.apiToken(t, srv.url, sensoctov1.TokenScope_TOKEN_SCOPE_FULL)
			publishP, _ := owner.apiToken(t, srv.url, sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH)
			as := []party{session: owner, full: fullP, publish: publishP}

			// existing registers a sensor of the owner (by session) with a visibility.
			existing := func(t *testing.T, vis sensoctov1.Visibility) string {
				t.Helper()
				id := newSensorID("scope")
				if _, err := owner.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: id, Visibility: vis}); err != nil {
					t.Fatalf("register: %v", err)
				}
				return id
			}
			// visibility returns the stored visibility (VISIBILITY_UNSPECIFIED: no such sensor).
			visibility := func(t *testing.T, id string) sensoctov1.Visibility {
				t.Helper()
				res, err := owner.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id})
				if connect.CodeOf(err) == connect.CodeNotFound {
					return unset
				}
				if err != nil {
					t.Fatalf("GetSensor: %v", err)
				}
				return res.GetSensor().GetVisibility()
			}
			recording := func(t *testing.T, id string) bool {
				t.Helper()
				res, err := owner.sensors.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id})
				if err != nil {
					t.Fatalf("GetSensor: %v", err)
				}
				return res.GetSensor().GetRecording()
			}

			type row struct {
				name string
				want one
				// call makes the call as p on a fresh sensor and returns its error and a
				// check that the state is as allowed (applied when ok, unchanged when not).
				call func(t *testing.T, p party) (func(t *testing.T, applied bool), error)
			}
			register := func(before, vis sensoctov1.Visibility) func(t *testing.T, p party) (func(t *testing.T, applied bool), error) {
				return func(t *testing.T, p party) (func(t *testing.T, applied bool), error) {
					id := newSensorID("scope-new")
					if before != unset {
						id = existing(t, before)
					}
					_, err := p.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{
						SensorId: id, Visibility: vis,
						Attributes: []*sensoctov1.Attribute{{AttributeId: "hr", AttributeType: "heartrate"}},
					})
					return func(t *testing.T, applied bool) {
						want := before
						if applied {
							want = vis
							if want == unset {
								want = before
							}
							if want == unset {
								want = private // a new sensor's default
							}
						}
						if got := visibility(t, id); got != want {
							t.Errorf("visibility afterwards = %s, want %s", got, want)
						}
					}, err
				}
			}
			rows := []row{
				{"RegisterSensor new, visibility unset", all, register(unset, unset)},
				{"RegisterSensor new, visibility private", all, register(unset, private)},
				{"RegisterSensor new, visibility public", fullOnly, register(unset, public)},
				{"RegisterSensor private sensor, visibility unset", all, register(private, unset)},
				{"RegisterSensor private sensor, visibility private", all, register(private, private)},
				{"RegisterSensor private sensor, visibility public", fullOnly, register(private, public)},
				{"RegisterSensor public sensor, visibility public", all, register(public, public)},
				{"RegisterSensor public sensor, visibility private", fullOnly, register(public, private)},
				{"UpdateSensor visibility public", fullOnly, func(t *testing.T, p party) (func(*testing.T, bool), error) {
					id := existing(t, private)
					_, err := p.sensors.UpdateSensor(t.Context(), &sensoctov1.UpdateSensorRequest{SensorId: id, Visibility: public})
					return func(t *testing.T, applied bool) {
						if got, want := visibility(t, id) == public, applied; got != want {
							t.Errorf("public afterwards = %v, want %v", got, want)
						}
					}, err
				}},
				{"UpdateSensor visibility private", fullOnly, func(t *testing.T, p party) (func(*testing.T, bool), error) {
					id := existing(t, public)
					_, err := p.sensors.UpdateSensor(t.Context(), &sensoctov1.UpdateSensorRequest{SensorId: id, Visibility: private})
					return func(t *testing.T, applied bool) {
						if got, want := visibility(t, id) == private, applied; got != want {
							t.Errorf("private afterwards = %v, want %v", got, want)
						}
					}, err
				}},
				{"SetRecording enabled", fullOnly, func(t *testing.T, p party) (func(*testing.T, bool), error) {
					id := existing(t, public)
					_, err := p.sensors.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: true})
					return func(t *testing.T, applied bool) {
						if got := recording(t, id); got != applied {
							t.Errorf("recording afterwards = %v, want %v", got, applied)
						}
					}, err
				}},
				{"DeleteSensor", fullOnly, func(t *testing.T, p party) (func(*testing.T, bool), error) {
					id := existing(t, public)
					_, err := p.sensors.DeleteSensor(t.Context(), &sensoctov1.DeleteSensorRequest{SensorId: id})
					return func(t *testing.T, applied bool) {
						if gone := visibility(t, id) == unset; gone != applied {
							t.Errorf("deleted = %v, want %v", gone, applied)
						}
					}, err
				}},
				{"CreateApiToken scope full", fullOnly, func(t *testing.T, p party) (func(*testing.T, bool), error) {
					_, err := p.auth.CreateApiToken(t.Context(), &sensoctov1.CreateApiTokenRequest{Name: "widen", Scope: sensoctov1.TokenScope_TOKEN_SCOPE_FULL})
					return func(*testing.T, bool) {}, err
				}},
			}
			for _, r := range rows {
				for sc := range []scope{session, full, publish} {
					t.Run(fmt.Sprintf("%s as %s", r.name, scopeNames[sc]), func(t *testing.T) {
						check, err := r.call(t, as[sc])
						want := r.want[sc]
						if got := connect.CodeOf(err); (err == nil) != (want == ok) || (err != nil && got != want) {
							t.Fatalf("got %v, want %s", err, codeName(want))
						}
						check(t, err == nil)
					})
				}
			}
		})
	}
}
