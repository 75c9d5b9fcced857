package simulatorrpc_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/rpc/rpctest"
	"github.com/sensocto/sensocto/server/internal/sensors"
	"github.com/sensocto/sensocto/server/internal/simulator"
	"github.com/sensocto/sensocto/server/internal/simulator/runs"
	"github.com/sensocto/sensocto/server/internal/simulatorrpc"
)

// TestSimulatorService serves SimulatorService alone over the real simulator runs
// domain (sensors on a hub and SQLite; users from the accounts domain, which also
// resolves their credentials) and walks each RPC through each protocol.
func TestSimulatorService(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	log := dbtest.Logger(t)
	acc, err := accounts.New(accounts.Options{Ent: db.Client, Logger: log, Password: accounts.TestPasswordParams, RatePerMinute: 1000})
	if err != nil {
		t.Fatal(err)
	}
	sensorsSvc := sensors.New(sensors.Options{Ent: db.Client, Hub: hub.New(hub.Options{}), Logger: log})
	lib, err := simulator.LoadLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	svc := runs.New(runs.Options{Ent: db.Client, Library: lib, Sensors: sensorsSvc, Backpressure: backpressure.NewPublisher(nil), Logger: log})
	sensorsSvc.SetSimulatedSources(svc)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(ctx, "") })
	t.Cleanup(func() { cancel(); wg.Wait() })

	srv := rpctest.Serve(t, acc, func(opts ...connect.HandlerOption) (string, http.Handler) {
		return sensoctov1connect.NewSimulatorServiceHandler(simulatorrpc.New(svc), opts...)
	})
	guest := func(t *testing.T) (string, string) {
		t.Helper()
		s, err := acc.SignInGuest(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		return s.Secret, s.User.ID.String()
	}

	for _, p := range rpctest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			client := func(token string) sensoctov1connect.SimulatorServiceClient {
				return sensoctov1connect.NewSimulatorServiceClient(srv.HTTPClient(), srv.URL, p.As(token)...)
			}
			token, userID := guest(t)
			other, _ := guest(t)
			me := client(token)

			list, err := me.ListScenarios(t.Context(), &sensoctov1.ListScenariosRequest{})
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(list.GetScenarios(), func(s *sensoctov1.Scenario) bool { return s.GetName() == "single_person" })
			if i < 0 || list.GetScenarios()[i].GetSensorCount() == 0 || list.GetScenarios()[i].GetSource() != "builtin" {
				t.Fatalf("ListScenarios = %v", list.GetScenarios())
			}

			started, err := me.StartScenario(t.Context(), &sensoctov1.StartScenarioRequest{Name: "single_person", Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			run := started.GetRun()
			if run.GetStatus() != sensoctov1.RunStatus_RUN_STATUS_RUNNING || run.GetOwnerId() != userID || len(run.GetSensorIds()) == 0 {
				t.Fatalf("StartScenario = %v", run)
			}
			if _, err := me.StartScenario(t.Context(), &sensoctov1.StartScenarioRequest{Name: "single_person"}); rpctest.Code(err) != connect.CodeAlreadyExists {
				t.Errorf("a second start: %v", err)
			}
			if _, err := me.StartScenario(t.Context(), &sensoctov1.StartScenarioRequest{Name: "no_such_scenario"}); rpctest.Code(err) != connect.CodeNotFound {
				t.Errorf("an unknown scenario: %v", err)
			}
			if _, err := me.StartScenario(t.Context(), &sensoctov1.StartScenarioRequest{Name: "../x"}); rpctest.Code(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "name") {
				t.Errorf("a malformed name: %v", err)
			}

			mine, err := me.ListRuns(t.Context(), &sensoctov1.ListRunsRequest{RunningOnly: true})
			if err != nil || !slices.ContainsFunc(mine.GetRuns(), func(r *sensoctov1.Run) bool { return r.GetRunId() == run.GetRunId() }) {
				t.Fatalf("ListRuns of the owner = %v, %v", mine, err)
			}
			theirs, err := client(other).ListRuns(t.Context(), &sensoctov1.ListRunsRequest{})
			if err != nil || slices.ContainsFunc(theirs.GetRuns(), func(r *sensoctov1.Run) bool { return r.GetRunId() == run.GetRunId() }) {
				t.Fatalf("ListRuns of another user = %v, %v", theirs, err)
			}
			if _, err := client(other).StopScenario(t.Context(), &sensoctov1.StopScenarioRequest{Name: "single_person"}); rpctest.Code(err) != connect.CodeNotFound {
				t.Errorf("another user stops the run: %v", err)
			}

			stopped, err := me.StopScenario(t.Context(), &sensoctov1.StopScenarioRequest{Name: "single_person"})
			if err != nil || stopped.GetRun().GetStatus() != sensoctov1.RunStatus_RUN_STATUS_STOPPED || stopped.GetRun().GetRunId() != run.GetRunId() {
				t.Fatalf("StopScenario = %v, %v", stopped, err)
			}

			if _, err := client("").ListScenarios(t.Context(), &sensoctov1.ListScenariosRequest{}); rpctest.Code(err) != connect.CodeUnauthenticated {
				t.Errorf("without a credential: %v", err)
			}
			res, err := acc.Resolve(t.Context(), token)
			if err != nil {
				t.Fatal(err)
			}
			_, publish, err := acc.CreateAPIToken(authz.WithViewer(t.Context(), res.Viewer), "connector", authz.ScopePublish, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client(publish).ListRuns(t.Context(), &sensoctov1.ListRunsRequest{}); rpctest.Code(err) != connect.CodePermissionDenied {
				t.Errorf("with a publish token: %v", err)
			}
		})
	}
}
