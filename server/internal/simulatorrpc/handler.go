// Package simulatorrpc serves sensocto.v1.SimulatorService: it converts between the
// protobuf messages and the simulator runs domain (package simulator/runs), which
// decides who may start, stop and see which runs.
package simulatorrpc

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/simulator/runs"
)

// Handler implements sensoctov1connect.SimulatorServiceHandler.
type Handler struct {
	runs *runs.Service
}

var _ sensoctov1connect.SimulatorServiceHandler = (*Handler)(nil)

// New returns a Handler.
func New(r *runs.Service) *Handler { return &Handler{runs: r} }

// ListScenarios lists the scenario library.
func (h *Handler) ListScenarios(ctx context.Context, _ *sensoctov1.ListScenariosRequest) (*sensoctov1.ListScenariosResponse, error) {
	if _, err := authz.RequireViewer(ctx); err != nil {
		return nil, err
	}
	sums := h.runs.Scenarios()
	res := &sensoctov1.ListScenariosResponse{Scenarios: make([]*sensoctov1.Scenario, 0, len(sums))}
	for _, s := range sums {
		src := "dir"
		if strings.HasPrefix(s.Source, "builtin:") {
			src = "builtin"
		}
		res.Scenarios = append(res.Scenarios, &sensoctov1.Scenario{
			Name: s.Name, Description: s.Description,
			SensorCount: uint32(s.Sensors), AttributeCount: uint32(s.Attributes), //nolint:gosec // G115: counts of a parsed file
			TotalSampleRateHz: s.TotalRateHz, Source: src, Title: s.Title,
		})
	}
	return res, nil
}

// StartScenario starts a run of the caller's.
func (h *Handler) StartScenario(ctx context.Context, req *sensoctov1.StartScenarioRequest) (*sensoctov1.StartScenarioResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	r, err := h.runs.Start(ctx, v, req.GetName(), req.GetSeed())
	if err != nil {
		return nil, fmt.Errorf("start scenario: %w", err)
	}
	return &sensoctov1.StartScenarioResponse{Run: toRun(r)}, nil
}

// StopScenario stops the caller's run of a scenario.
func (h *Handler) StopScenario(ctx context.Context, req *sensoctov1.StopScenarioRequest) (*sensoctov1.StopScenarioResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	r, err := h.runs.Stop(ctx, v, req.GetName())
	if err != nil {
		return nil, fmt.Errorf("stop scenario: %w", err)
	}
	return &sensoctov1.StopScenarioResponse{Run: toRun(r)}, nil
}

// ListRuns lists the caller's runs and the demo's.
func (h *Handler) ListRuns(ctx context.Context, req *sensoctov1.ListRunsRequest) (*sensoctov1.ListRunsResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.runs.List(ctx, v, req.GetRunningOnly(), int(req.GetLimit()))
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	res := &sensoctov1.ListRunsResponse{Runs: make([]*sensoctov1.Run, 0, len(list))}
	for _, r := range list {
		res.Runs = append(res.Runs, toRun(r))
	}
	return res, nil
}

func toRun(r runs.Run) *sensoctov1.Run {
	out := &sensoctov1.Run{
		RunId: r.ID.String(), ScenarioName: r.Scenario, SensorIds: r.SensorIDs,
		SamplesSent: r.SamplesSent, Error: r.Error,
	}
	if r.OwnerID != uuid.Nil {
		out.OwnerId = r.OwnerID.String()
	}
	switch r.Status {
	case runs.StatusRunning:
		out.Status = sensoctov1.RunStatus_RUN_STATUS_RUNNING
	case runs.StatusStopped:
		out.Status = sensoctov1.RunStatus_RUN_STATUS_STOPPED
	case runs.StatusFailed:
		out.Status = sensoctov1.RunStatus_RUN_STATUS_FAILED
	}
	if !r.StartedAt.IsZero() {
		out.StartedAt = timestamppb.New(r.StartedAt)
	}
	if !r.StoppedAt.IsZero() {
		out.StoppedAt = timestamppb.New(r.StoppedAt)
	}
	return out
}
