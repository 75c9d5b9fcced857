package app_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent/simulatorrun"
	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/simulator"
)

// TestSimulatedSensorsTellApart runs the demo and a guest's runs of the same and of
// other scenarios: every simulated sensor is named "<scenario title> · <person>",
// names are unique per owner, and each sensor says its owner and source (scenario,
// run, demo) through ListSensors, GetSensor and Watch events; a browser and an API
// sensor say theirs.
func TestSimulatedSensorsTellApart(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, map[string]string{"SENSOCTO_DEMO_SCENARIO": "single_person"})
			ctx := t.Context()
			token := signInGuest(t, srv.url)
			sim := simClient(srv.url, token)
			sensors := sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), token), srv.url)

			var demoRun *sensoctov1.Run
			simWaitFor(t, "the demo run", func() bool {
				runs, err := sim.ListRuns(ctx, &sensoctov1.ListRunsRequest{RunningOnly: true})
				if err != nil {
					t.Fatalf("ListRuns: %v", err)
				}
				demoRun = findRun(runs.GetRuns(), "single_person")
				return demoRun != nil
			})
			mine := map[string]*sensoctov1.Run{}
			for _, name := range []string{"single_person", "small_group"} {
				res, err := sim.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: name, Seed: 3})
				if err != nil {
					t.Fatalf("StartScenario %s: %v", name, err)
				}
				mine[name] = res.GetRun()
			}
			if _, err := sensors.RegisterSensor(ctx, &sensoctov1.RegisterSensorRequest{SensorId: "tell-apart-browser", Name: "My phone", SensorType: "browser"}); err != nil {
				t.Fatalf("RegisterSensor browser: %v", err)
			}
			if _, err := sensors.RegisterSensor(ctx, &sensoctov1.RegisterSensorRequest{SensorId: "tell-apart-api", Name: "Polar", SensorType: "polar_h10"}); err != nil {
				t.Fatalf("RegisterSensor api: %v", err)
			}

			var list []*sensoctov1.Sensor
			simWaitFor(t, "every simulated sensor listed", func() bool {
				res, err := sensors.ListSensors(ctx, &sensoctov1.ListSensorsRequest{PageSize: 500})
				if err != nil {
					t.Fatalf("ListSensors: %v", err)
				}
				list = res.GetSensors()
				return len(list) == 1+1+5+2 // demo, my single_person, my small_group, browser, api
			})
			type who struct{ name, owner string }
			seen := map[who]string{}
			for _, s := range list {
				k := who{s.GetName(), s.GetOwnerName()}
				if other, dup := seen[k]; dup {
					t.Errorf("sensors %s and %s are both %q of %q", other, s.GetSensorId(), k.name, k.owner)
				}
				seen[k] = s.GetSensorId()
				if s.GetOwnerName() == "" {
					t.Errorf("sensor %s has no owner name", s.GetSensorId())
				}
			}
			byID := map[string]*sensoctov1.Sensor{}
			for _, s := range list {
				byID[s.GetSensorId()] = s
			}

			demo := byID["sim.single_person.person_1"]
			if demo.GetName() != "Single person · Person 1" {
				t.Errorf("demo sensor is named %q, want %q", demo.GetName(), "Single person · Person 1")
			}
			if src := demo.GetSource(); src.GetKind() != sensoctov1.SensorSourceKind_SENSOR_SOURCE_KIND_SIMULATOR ||
				src.GetScenario() != "single_person" || src.GetScenarioTitle() != "Single person" || !src.GetDemo() ||
				src.GetRunId() != demoRun.GetRunId() {
				t.Errorf("demo sensor's source is %v, want the demo run %s of single_person", src, demoRun.GetRunId())
			}
			for name, run := range mine {
				for _, id := range run.GetSensorIds() {
					s := byID[id]
					if s == nil {
						t.Fatalf("my sensor %s is not listed", id)
					}
					if src := s.GetSource(); src.GetKind() != sensoctov1.SensorSourceKind_SENSOR_SOURCE_KIND_SIMULATOR ||
						src.GetScenario() != name || src.GetDemo() || src.GetRunId() != run.GetRunId() {
						t.Errorf("sensor %s's source is %v, want my run %s of %s", id, src, run.GetRunId(), name)
					}
					if s.GetOwnerName() == demo.GetOwnerName() || s.GetOwnerId() == demo.GetOwnerId() {
						t.Errorf("sensor %s has the demo's owner %q", id, s.GetOwnerName())
					}
				}
			}
			// Same scenario, same person: the same name, told apart by owner and run.
			same := byID[mine["single_person"].GetSensorIds()[0]]
			if same.GetName() != demo.GetName() {
				t.Errorf("my single_person sensor is named %q, want %q like the demo's", same.GetName(), demo.GetName())
			}
			wantGroup := map[string]bool{}
			for i := 1; i <= 5; i++ {
				wantGroup["Small group · Person "+string(rune('0'+i))] = true
			}
			for _, id := range mine["small_group"].GetSensorIds() {
				if n := byID[id].GetName(); !wantGroup[n] {
					t.Errorf("small_group sensor %s is named %q, want one of %v", id, n, wantGroup)
				}
				delete(wantGroup, byID[id].GetName())
			}
			if k := byID["tell-apart-browser"].GetSource().GetKind(); k != sensoctov1.SensorSourceKind_SENSOR_SOURCE_KIND_BROWSER {
				t.Errorf("browser sensor's source kind is %v", k)
			}
			if k := byID["tell-apart-api"].GetSource().GetKind(); k != sensoctov1.SensorSourceKind_SENSOR_SOURCE_KIND_API {
				t.Errorf("api sensor's source kind is %v", k)
			}

			// GetSensor says the same; after the run stops the sensor has no run.
			id := mine["small_group"].GetSensorIds()[0]
			got, err := sensors.GetSensor(ctx, &sensoctov1.GetSensorRequest{SensorId: id})
			if err != nil || got.GetSensor().GetSource().GetRunId() != mine["small_group"].GetRunId() {
				t.Fatalf("GetSensor %s: %v, %v", id, got.GetSensor().GetSource(), err)
			}
			// A Watch event carries the source too (a rename is an UPDATED event).
			w := openWatch(t, sensors, &sensoctov1.WatchRequest{SensorIds: []string{"tell-apart-api"}})
			if _, err := sensors.UpdateSensor(ctx, &sensoctov1.UpdateSensorRequest{SensorId: "tell-apart-api", Name: new("Polar H10")}); err != nil {
				t.Fatalf("UpdateSensor: %v", err)
			}
			ev := w.event(t, sensoctov1.SensorEventKind_SENSOR_EVENT_KIND_UPDATED)
			if ev.GetSensor().GetSource().GetKind() != sensoctov1.SensorSourceKind_SENSOR_SOURCE_KIND_API {
				t.Errorf("watch event's sensor source is %v", ev.GetSensor().GetSource())
			}
			if _, err := sim.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: "small_group"}); err != nil {
				t.Fatalf("StopScenario: %v", err)
			}
			got, err = sensors.GetSensor(ctx, &sensoctov1.GetSensorRequest{SensorId: id})
			if err != nil || got.GetSensor().GetSource().GetRunId() != "" || got.GetSensor().GetSource().GetScenario() != "small_group" {
				t.Fatalf("GetSensor %s after its run stopped: %v, %v; want scenario small_group and no run", id, got.GetSensor().GetSource(), err)
			}

			// Only the server stops the demo, and the refusal says so.
			_, err = sim.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: "single_person"})
			if err != nil {
				t.Fatalf("StopScenario of my own single_person: %v", err)
			}
			_, err = sim.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: "single_person"})
			var ce *connect.Error
			if connect.CodeOf(err) != connect.CodeNotFound || !errorsAs(err, &ce) || ce.Message() != demoRefusal {
				t.Fatalf("StopScenario of the demo: %v, want not_found %q", err, demoRefusal)
			}
		})
	}
}

// demoRefusal is the message of StopScenario of the demo run by a visitor.
const demoRefusal = `you run no scenario "single_person"; its demo run is shared by every visitor and only the server stops it`

func errorsAs(err error, target **connect.Error) bool { return errors.As(err, target) }

// event reads deliveries until one carries an event of kind, failing at the deadline.
func (w *watcher) event(t *testing.T, kind sensoctov1.SensorEventKind) *sensoctov1.SensorEvent {
	t.Helper()
	for {
		for _, ev := range w.next(t).GetEvents() {
			if ev.GetKind() == kind {
				return ev
			}
		}
	}
}

// TestSignInMethodsSayWhetherEmailArrives: GetAuthConfig offers magic links only when
// the link can reach the user (a mail server, or the dev mailbox), says which, and a
// magic link asked for anyway is refused with a message saying why.
func TestSignInMethodsSayWhetherEmailArrives(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                     string
		env                      map[string]string
		magic, delivery, mailbox bool
	}{
		{"nothing", nil, false, false, false},
		{"dev mailbox", map[string]string{"SENSOCTO_DEV": "true"}, true, false, true},
		{"smtp", map[string]string{"SENSOCTO_SMTP_URL": "smtp://127.0.0.1:1", "SENSOCTO_SMTP_FROM": "sensocto@example.com"}, true, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "sqlite", tc.env)
			c := sensoctov1connect.NewAuthServiceClient(h2cClient(), srv.url) // no credential
			res, err := c.GetAuthConfig(t.Context(), &sensoctov1.GetAuthConfigRequest{})
			if err != nil {
				t.Fatalf("GetAuthConfig: %v", err)
			}
			if res.GetMagicLinkEnabled() != tc.magic || res.GetEmailDeliveryEnabled() != tc.delivery || res.GetDevMailboxEnabled() != tc.mailbox {
				t.Fatalf("GetAuthConfig = %v, want magic link %v, email delivery %v, dev mailbox %v", res, tc.magic, tc.delivery, tc.mailbox)
			}
			if tc.magic {
				return
			}
			_, err = c.RequestMagicLink(t.Context(), &sensoctov1.RequestMagicLinkRequest{Email: "newcomer@example.com"})
			var ce *connect.Error
			if !errorsAs(err, &ce) || ce.Code() != connect.CodeFailedPrecondition || !strings.Contains(ce.Message(), "SENSOCTO_SMTP_URL") {
				t.Fatalf("RequestMagicLink without mail: %v, want failed_precondition naming SENSOCTO_SMTP_URL", err)
			}
		})
	}
}

// TestWatchBackpressureBeforeRegister: a connector that asks for back-pressure before
// registering its sensor is told to register first.
func TestWatchBackpressureBeforeRegister(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	c := sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), signInGuest(t, srv.url)), srv.url)
	s, err := c.WatchBackpressure(t.Context(), &sensoctov1.WatchBackpressureRequest{SensorId: "sense-early"})
	if err != nil {
		t.Fatalf("WatchBackpressure: %v", err)
	}
	if s.Receive() {
		t.Fatalf("WatchBackpressure of an unregistered sensor sent %v", s.Msg())
	}
	var ce *connect.Error
	if !errorsAs(s.Err(), &ce) || ce.Code() != connect.CodeNotFound || !strings.Contains(ce.Message(), "call RegisterSensor first") {
		t.Fatalf("WatchBackpressure of an unregistered sensor: %v, want not_found telling to call RegisterSensor first", s.Err())
	}
	_ = s.Close()
	if _, err := c.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: "sense-early"}); err != nil {
		t.Fatalf("RegisterSensor: %v", err)
	}
	s, err = c.WatchBackpressure(t.Context(), &sensoctov1.WatchBackpressureRequest{SensorId: "sense-early"})
	if err != nil {
		t.Fatalf("WatchBackpressure: %v", err)
	}
	defer func() { _ = s.Close() }()
	if !s.Receive() || s.Msg().GetBackpressure() == nil {
		t.Fatalf("WatchBackpressure after RegisterSensor: no config (%v)", s.Err())
	}
}

// TestGuestRunsStopWhenTheGuestGoes: a guest's simulator runs stop (and are recorded
// stopped, so a restart does not bring them back) when it signs out, and when it
// expires.
func TestGuestRunsStopWhenTheGuestGoes(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dbURL := dbtest.URL(t, dialect)
			simClock := simulator.NewManualClock(time.Now())
			counter := newBatchCounter()
			accClock := &testClock{t: time.Now()}
			srv, _ := startStoppableServer(t, dbURL, map[string]string{"SENSOCTO_GUEST_TTL": "2h"},
				app.WithSimulatorClock(simClock, simTick), app.WithSimulatorPublishHook(counter.hook),
				app.WithClock(accClock.now), app.WithGuestSweepInterval(20*time.Millisecond))
			ctx := t.Context()
			const span = 20 * time.Second
			startRun := func(token string) (runID, sensorID string) {
				t.Helper()
				res, err := simClient(srv.url, token).StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: "single_person", Seed: 5})
				if err != nil {
					t.Fatalf("StartScenario: %v", err)
				}
				id := res.GetRun().GetSensorIds()[0]
				simWaitFor(t, "the guest's sensor publishing", func() bool { return batchesOver(simClock, counter, id, span) > 0 })
				return res.GetRun().GetRunId(), id
			}

			// Signing out: stopped before SignOut answers, and recorded stopped.
			leaver := signInGuest(t, srv.url)
			runID, sensorID := startRun(leaver)
			auth := sensoctov1connect.NewAuthServiceClient(withToken(h2cClient(), leaver), srv.url)
			if _, err := auth.SignOut(ctx, &sensoctov1.SignOutRequest{}); err != nil {
				t.Fatalf("SignOut: %v", err)
			}
			if n := batchesOver(simClock, counter, sensorID, span); n != 0 {
				t.Fatalf("the signed-out guest's sensor sent %d batches in %s", n, span)
			}
			db := dbtest.OpenURL(t, dbURL)
			row, err := db.Client.SimulatorRun.Get(ctx, uuid.MustParse(runID))
			if err != nil {
				t.Fatalf("load the run: %v", err)
			}
			if row.Status != simulatorrun.StatusStopped || row.StoppedAt == nil {
				t.Fatalf("the signed-out guest's run is %s, want stopped", row.Status)
			}

			// Expiring: the sweeper deletes the guest and its runs stop.
			stayer := signInGuest(t, srv.url)
			_, sensorID = startRun(stayer)
			accClock.advance(3 * time.Hour)
			simWaitFor(t, "the expired guest's sensor to stop", func() bool { return batchesOver(simClock, counter, sensorID, span) == 0 })
		})
	}
}
