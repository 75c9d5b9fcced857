package app_test

import (
	"testing"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// matrixScenario is the scenario the matrix rows start: the smallest built-in.
const matrixScenario = "gps_tracking"

func (m *matrix) simulatorAs(who caller) sensoctov1connect.SimulatorServiceClient {
	return sensoctov1connect.NewSimulatorServiceClient(withToken(h2cClient(), m.tokens[who]), m.url)
}

func init() {
	rows := map[string]matrixRow{
		// Any signed-in user may list scenarios and runs (their own and the demo's).
		sensoctov1connect.SimulatorServiceListScenariosProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.simulatorAs(who).ListScenarios(t.Context(), &sensoctov1.ListScenariosRequest{})
			return err
		}},
		sensoctov1connect.SimulatorServiceListRunsProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.simulatorAs(who).ListRuns(t.Context(), &sensoctov1.ListRunsRequest{})
			return err
		}},
		// Any signed-in user may start a run of their own (stopped again at once).
		sensoctov1connect.SimulatorServiceStartScenarioProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.simulatorAs(who).StartScenario(t.Context(), &sensoctov1.StartScenarioRequest{Name: matrixScenario})
			if err == nil {
				if _, serr := m.simulatorAs(who).StopScenario(t.Context(), &sensoctov1.StopScenarioRequest{Name: matrixScenario}); serr != nil {
					t.Errorf("stop the run just started: %v", serr)
				}
			}
			return err
		}},
		// Only the owner stops a run; others do not see it.
		sensoctov1connect.SimulatorServiceStopScenarioProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.simulatorAs(owner).StartScenario(t.Context(), &sensoctov1.StartScenarioRequest{Name: matrixScenario})
			if err != nil && connect.CodeOf(err) != connect.CodeAlreadyExists {
				t.Fatalf("start the owner's run: %v", err)
			}
			_, err = m.simulatorAs(who).StopScenario(t.Context(), &sensoctov1.StopScenarioRequest{Name: matrixScenario})
			return err
		}},
	}
	for proc, row := range rows {
		matrixRows[proc] = row
	}
}
