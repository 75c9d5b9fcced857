package app_test

import (
	"context"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/simulator"
)

// simTick is the generation period of the tests' manual clocks.
const simTick = 50 * time.Millisecond

func simClient(url, token string) sensoctov1connect.SimulatorServiceClient {
	return sensoctov1connect.NewSimulatorServiceClient(withToken(h2cClient(), token), url)
}

// startStoppableServer is startServer on the database at dbURL, with a stop function
// (idempotent, also run at cleanup) so a test can restart the app on the same database.
func startStoppableServer(t *testing.T, dbURL string, env map[string]string, opts ...app.Option) (*server, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	url := "http://" + ln.Addr().String()
	vars := map[string]string{
		"SENSOCTO_DATA_DIR": t.TempDir(), "SENSOCTO_DATABASE_URL": dbURL,
		"SENSOCTO_LOG_LEVEL": "warn", "SENSOCTO_LOG_FORMAT": "json", "SENSOCTO_PUBLIC_URL": url,
	}
	maps.Copy(vars, env)
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		cancel()
		t.Fatalf("load config: %v", err)
	}
	opts = append([]app.Option{app.WithPasswordParams(accounts.TestPasswordParams)}, opts...)
	a, err := app.New(ctx, cfg, dbtest.Logger(t), opts...)
	if err != nil {
		cancel()
		t.Fatalf("new app: %v", err)
	}
	s := &server{url: url, done: make(chan error, 1), stop: cancel, app: a}
	go func() { s.done <- a.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-s.done
			if err := a.Close(); err != nil {
				t.Errorf("close app: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

// signUp registers a user and returns its session token.
func signUp(t *testing.T, url, email string) string {
	t.Helper()
	res, err := sensoctov1connect.NewAuthServiceClient(h2cClient(), url).SignUp(t.Context(), &sensoctov1.SignUpRequest{Email: email, Password: password})
	if err != nil {
		t.Fatalf("SignUp %s: %v", email, err)
	}
	return res.GetSession().GetToken()
}

func signIn(t *testing.T, url, email string) string {
	t.Helper()
	res, err := sensoctov1connect.NewAuthServiceClient(h2cClient(), url).SignIn(t.Context(), &sensoctov1.SignInRequest{Email: email, Password: password})
	if err != nil {
		t.Fatalf("SignIn %s: %v", email, err)
	}
	return res.GetSession().GetToken()
}

// findRun returns the run of scenario in runs, or nil.
func findRun(runs []*sensoctov1.Run, scenario string) *sensoctov1.Run {
	for _, r := range runs {
		if r.GetScenarioName() == scenario {
			return r
		}
	}
	return nil
}

func TestSimulatorScenariosAndRuns(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil)
			ctx := t.Context()
			me := simClient(srv.url, signInGuest(t, srv.url))
			someone := simClient(srv.url, signInGuest(t, srv.url))

			list, err := me.ListScenarios(ctx, &sensoctov1.ListScenariosRequest{})
			if err != nil {
				t.Fatalf("ListScenarios: %v", err)
			}
			builtins, err := simulator.LoadLibrary("")
			if err != nil {
				t.Fatalf("load built-ins: %v", err)
			}
			if got, want := len(list.GetScenarios()), len(builtins.Names()); got != want || want < 7 {
				t.Fatalf("ListScenarios lists %d scenarios, want the %d built-ins", got, want)
			}
			for i, sc := range list.GetScenarios() {
				want := builtins.Names()[i]
				if sc.GetName() != want {
					t.Errorf("scenario %d is %q, want %q (sorted by name)", i, sc.GetName(), want)
				}
				if sc.GetSensorCount() == 0 || sc.GetAttributeCount() < sc.GetSensorCount() || sc.GetTotalSampleRateHz() <= 0 ||
					sc.GetSource() != "builtin" || sc.GetDescription() == "" {
					t.Errorf("scenario %s: %v", sc.GetName(), sc)
				}
				if sc.GetName() == "single_person" && (sc.GetSensorCount() != 1 || sc.GetAttributeCount() != 6) {
					t.Errorf("single_person counts %d sensors and %d attributes, want 1 and 6", sc.GetSensorCount(), sc.GetAttributeCount())
				}
			}

			start, err := me.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: "gps_tracking", Seed: 7})
			if err != nil {
				t.Fatalf("StartScenario: %v", err)
			}
			run := start.GetRun()
			if run.GetStatus() != sensoctov1.RunStatus_RUN_STATUS_RUNNING || len(run.GetSensorIds()) != 3 || run.GetStartedAt() == nil {
				t.Fatalf("started run: %v", run)
			}
			for _, id := range run.GetSensorIds() {
				if !strings.HasPrefix(id, "sim.") || !strings.Contains(id, ".gps_tracking.") {
					t.Errorf("sensor id %q is not sim.<owner>.gps_tracking.<sensor>", id)
				}
			}
			if _, err := me.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: "gps_tracking"}); connect.CodeOf(err) != connect.CodeAlreadyExists {
				t.Fatalf("second StartScenario: %v, want already_exists", err)
			}
			// Another user may run the same scenario: their sensors have other ids.
			if _, err := someone.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: "gps_tracking"}); err != nil {
				t.Fatalf("another user's StartScenario: %v", err)
			}
			if _, err := me.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: "no_such_scenario"}); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("StartScenario of an unknown scenario: %v, want not_found", err)
			}
			runs, err := me.ListRuns(ctx, &sensoctov1.ListRunsRequest{RunningOnly: true})
			if err != nil {
				t.Fatalf("ListRuns: %v", err)
			}
			if len(runs.GetRuns()) != 1 || runs.GetRuns()[0].GetRunId() != run.GetRunId() {
				t.Fatalf("ListRuns shows %v, want only my run %s", runs.GetRuns(), run.GetRunId())
			}

			stop, err := me.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: "gps_tracking"})
			if err != nil {
				t.Fatalf("StopScenario: %v", err)
			}
			if r := stop.GetRun(); r.GetStatus() != sensoctov1.RunStatus_RUN_STATUS_STOPPED || r.GetStoppedAt() == nil || r.GetRunId() != run.GetRunId() {
				t.Fatalf("stopped run: %v", r)
			}
			if _, err := me.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: "gps_tracking"}); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("second StopScenario: %v, want not_found", err)
			}
			runs, err = me.ListRuns(ctx, &sensoctov1.ListRunsRequest{})
			if err != nil {
				t.Fatalf("ListRuns: %v", err)
			}
			if r := findRun(runs.GetRuns(), "gps_tracking"); r == nil || r.GetStatus() != sensoctov1.RunStatus_RUN_STATUS_STOPPED {
				t.Fatalf("ListRuns after stop: %v", runs.GetRuns())
			}
			// The other user's run was not touched.
			if _, err := someone.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: "gps_tracking"}); err != nil {
				t.Fatalf("the other user's StopScenario: %v", err)
			}
		})
	}
}

func TestSimulatorDemoScenario(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, map[string]string{"SENSOCTO_DEMO_SCENARIO": "single_person"})
			token := signInGuest(t, srv.url)
			sim := simClient(srv.url, token)
			ctx := t.Context()
			var demo *sensoctov1.Run
			simWaitFor(t, "the demo run", func() bool {
				runs, err := sim.ListRuns(ctx, &sensoctov1.ListRunsRequest{RunningOnly: true})
				if err != nil {
					t.Fatalf("ListRuns: %v", err)
				}
				demo = findRun(runs.GetRuns(), "single_person")
				return demo != nil
			})
			if demo.GetOwnerId() != accounts.SystemUserID.String() || len(demo.GetSensorIds()) != 1 || demo.GetSensorIds()[0] != "sim.single_person.person_1" {
				t.Fatalf("demo run: %v", demo)
			}
			if _, err := sim.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: "single_person"}); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("a visitor's StopScenario of the demo: %v, want not_found (they run no such scenario)", err)
			}
			// Every visitor sees the demo's public sensor, with data.
			sensors := sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), token), srv.url)
			simWaitFor(t, "the demo sensor with data", func() bool {
				res, err := sensors.GetSensor(ctx, &sensoctov1.GetSensorRequest{SensorId: "sim.single_person.person_1"})
				return err == nil && res.GetSensor().GetConnected()
			})
			// Nobody can claim a simulated sensor's id.
			_, err := sensors.RegisterSensor(ctx, &sensoctov1.RegisterSensorRequest{SensorId: "sim.single_person.person_2"})
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("RegisterSensor of a sim. id: %v, want invalid_argument", err)
			}
			// A visitor may run the same scenario privately.
			if _, err = sim.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: "single_person"}); err != nil {
				t.Fatalf("a visitor's StartScenario of the demo's scenario: %v", err)
			}
		})
	}
}

func TestSimulatorRunSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dbURL := dbtest.URL(t, dialect)
			fast := app.WithSimulatorFlushInterval(20 * time.Millisecond)
			srv, stop := startStoppableServer(t, dbURL, nil, fast)
			const email = "runner@example.com"
			sim := simClient(srv.url, signUp(t, srv.url, email))
			ctx := t.Context()
			start, err := sim.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: "single_person", Seed: 42})
			if err != nil {
				t.Fatalf("StartScenario: %v", err)
			}
			simWaitFor(t, "samples sent", func() bool {
				runs, err := sim.ListRuns(ctx, &sensoctov1.ListRunsRequest{RunningOnly: true})
				return err == nil && findRun(runs.GetRuns(), "single_person").GetSamplesSent() > 0
			})
			stop()

			srv2, _ := startStoppableServer(t, dbURL, nil, fast)
			sim2 := simClient(srv2.url, signIn(t, srv2.url, email))
			runs, err := sim2.ListRuns(ctx, &sensoctov1.ListRunsRequest{RunningOnly: true})
			if err != nil {
				t.Fatalf("ListRuns after restart: %v", err)
			}
			r := findRun(runs.GetRuns(), "single_person")
			if r == nil || r.GetRunId() != start.GetRun().GetRunId() || r.GetSamplesSent() == 0 {
				t.Fatalf("after restart the runs are %v, want run %s running with its samples", runs.GetRuns(), start.GetRun().GetRunId())
			}
			// It really runs again: starting it is refused, and it stops.
			if _, err := sim2.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: "single_person"}); connect.CodeOf(err) != connect.CodeAlreadyExists {
				t.Fatalf("StartScenario after restart: %v, want already_exists", err)
			}
			stopped, err := sim2.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: "single_person"})
			if err != nil {
				t.Fatalf("StopScenario after restart: %v", err)
			}
			if stopped.GetRun().GetRunId() != start.GetRun().GetRunId() || stopped.GetRun().GetSamplesSent() < r.GetSamplesSent() {
				t.Fatalf("stopped %v, want run %s with at least %d samples", stopped.GetRun(), start.GetRun().GetRunId(), r.GetSamplesSent())
			}
		})
	}
}

// batchCounter counts the batches simulated sensors published.
type batchCounter struct {
	mu      sync.Mutex
	batches map[string]int
	values  map[string]int
}

func newBatchCounter() *batchCounter {
	return &batchCounter{batches: map[string]int{}, values: map[string]int{}}
}

func (c *batchCounter) hook(id string, n int) {
	c.mu.Lock()
	c.batches[id]++
	c.values[id] += n
	c.mu.Unlock()
}

func (c *batchCounter) get(id string) (batches, values int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.batches[id], c.values[id]
}

// advance moves the manual clock by d, tick by tick (each tick is handed to every
// sensor goroutine before Advance returns).
func advance(clock *simulator.ManualClock, d time.Duration) {
	for range int(d / simTick) {
		clock.Advance(simTick)
	}
}

// batchesOver counts id's batches over d of simulated time.
func batchesOver(clock *simulator.ManualClock, c *batchCounter, id string, d time.Duration) int {
	before, _ := c.get(id)
	advance(clock, d)
	after, _ := c.get(id)
	return after - before
}

func TestSimulatedSensorFollowsBackpressure(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			clock := simulator.NewManualClock(time.Now())
			counter := newBatchCounter()
			srv := startServer(t, dialect, nil, app.WithSimulatorClock(clock, simTick), app.WithSimulatorPublishHook(counter.hook))
			token := signInGuest(t, srv.url)
			sim := simClient(srv.url, token)
			ctx := t.Context()
			start, err := sim.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: "single_person", Seed: 1})
			if err != nil {
				t.Fatalf("StartScenario: %v", err)
			}
			id := start.GetRun().GetSensorIds()[0]
			const span = 20 * time.Second

			// Unwatched: the sensor gets NONE (5 s, 20) and sends a batch about every 5 s.
			// (The config reaches the engine asynchronously: wait until a span shows it.)
			var unwatched int
			deadline := time.Now().Add(testDeadline)
			for unwatched = batchesOver(clock, counter, id, span); unwatched > int(span/(5*time.Second))+1; unwatched = batchesOver(clock, counter, id, span) {
				if time.Now().After(deadline) {
					t.Fatalf("an unwatched simulated sensor still sends %d batches in %s", unwatched, span)
				}
			}
			if unwatched == 0 {
				t.Fatalf("an unwatched simulated sensor sent nothing in %s", span)
			}

			// Watched with focus: HIGH (100 ms, 1).
			att := sensoctov1connect.NewAttentionServiceClient(withToken(h2cClient(), token), srv.url)
			focus := func() {
				_, err := att.ReportAttention(ctx, &sensoctov1.ReportAttentionRequest{TabId: "sim-tab-0001", Events: []*sensoctov1.AttentionEvent{
					{SensorId: id, Kind: sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_ENTER},
					{SensorId: id, Kind: sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS},
				}})
				if err != nil {
					t.Fatalf("ReportAttention: %v", err)
				}
			}
			focus()
			deadline = time.Now().Add(testDeadline)
			for batchesOver(clock, counter, id, time.Second) < 5 {
				if time.Now().After(deadline) {
					t.Fatalf("a watched simulated sensor did not speed up")
				}
				focus() // renew the lease
			}
			focus()
			watched := batchesOver(clock, counter, id, span)
			t.Logf("batches in %s: unwatched %d, watched %d", span, unwatched, watched)
			if watched < 10*unwatched {
				t.Fatalf("watched the sensor sent %d batches in %s, unwatched %d: want many more when watched", watched, span, unwatched)
			}
		})
	}
}

// TestEveryBuiltinScenarioRunsThroughIngest runs every built-in scenario (the
// reference files among them) for 30 s of simulated time through the real ingest
// path: every sensor publishes, no batch is refused.
func TestEveryBuiltinScenarioRunsThroughIngest(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			clock := simulator.NewManualClock(time.Now())
			counter := newBatchCounter()
			srv := startServer(t, dialect, nil, app.WithSimulatorClock(clock, simTick), app.WithSimulatorPublishHook(counter.hook))
			sim := simClient(srv.url, signInGuest(t, srv.url))
			ctx := t.Context()
			list, err := sim.ListScenarios(ctx, &sensoctov1.ListScenariosRequest{})
			if err != nil {
				t.Fatalf("ListScenarios: %v", err)
			}
			for _, sc := range list.GetScenarios() {
				start, err := sim.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: sc.GetName(), Seed: 3})
				if err != nil {
					t.Fatalf("StartScenario %s: %v", sc.GetName(), err)
				}
				const span = 30 * time.Second
				advance(clock, span)
				runs, err := sim.ListRuns(ctx, &sensoctov1.ListRunsRequest{RunningOnly: true})
				if err != nil {
					t.Fatalf("ListRuns: %v", err)
				}
				r := findRun(runs.GetRuns(), sc.GetName())
				if r == nil || r.GetError() != "" {
					all, _ := sim.ListRuns(ctx, &sensoctov1.ListRunsRequest{})
					t.Fatalf("%s after %s: %v (all runs: %v)", sc.GetName(), span, r, all.GetRuns())
				}
				stopped, err := sim.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: sc.GetName()})
				if err != nil {
					t.Fatalf("StopScenario %s: %v", sc.GetName(), err)
				}
				total := 0
				for _, id := range start.GetRun().GetSensorIds() {
					batches, values := counter.get(id)
					if batches == 0 {
						t.Errorf("%s: sensor %s published nothing in %s", sc.GetName(), id, span)
					}
					total += values
				}
				// Unwatched sensors hold back at most two 5 s windows of data.
				if want := sc.GetTotalSampleRateHz() * span.Seconds() / 2; float64(total) < want {
					t.Errorf("%s: %d values ingested in %s, want at least %.0f", sc.GetName(), total, span, want)
				}
				if uint64(total) != stopped.GetRun().GetSamplesSent() {
					t.Errorf("%s: %d values ingested, the run counts %d", sc.GetName(), total, stopped.GetRun().GetSamplesSent())
				}
			}
		})
	}
}

// simWaitFor polls cond until it holds, failing the test after testDeadline.
func simWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
