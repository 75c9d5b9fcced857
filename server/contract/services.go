package contract

import (
	"context"
	"fmt"
	"sort"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// tabID is a tab id (8 to 64 of [A-Za-z0-9_-]) unique to this run.
func (s *suite) tabID(name string) string { return "contract-" + s.run + "-" + name }

// attentionChecks covers AttentionService over p.
func (s *suite) attentionChecks(ctx context.Context, p protocol, a user) {
	c := s.client(p, a.token)
	id := s.sensorID("att", p.name)
	if _, err := s.registerOwned(ctx, a, &sensoctov1.RegisterSensorRequest{SensorId: id, Attributes: []*sensoctov1.Attribute{heartrateAttribute}}); err != nil {
		s.fail(p, []string{sensoctov1connect.AttentionServiceReportAttentionProcedure}, "a sensor to report attention on", must("RegisterSensor", err))
		return
	}
	tab := s.tabID("att-" + p.name)
	s.check(ctx, p, []string{sensoctov1connect.AttentionServiceReportAttentionProcedure, sensoctov1connect.AttentionServiceGetAttentionProcedure},
		"a lease for the report, and the sensor at MEDIUM attention while in view",
		func(ctx context.Context) error {
			res, err := c.attention.ReportAttention(ctx, &sensoctov1.ReportAttentionRequest{TabId: tab, Events: []*sensoctov1.AttentionEvent{
				{SensorId: id, AttributeId: "heartrate", Kind: sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_ENTER},
			}})
			if err != nil {
				return must("ReportAttention", err)
			}
			if res.GetLeaseMs() == 0 {
				return fmt.Errorf("lease_ms > 0, got 0")
			}
			got, err := c.attention.GetAttention(ctx, &sensoctov1.GetAttentionRequest{SensorId: id})
			if err != nil {
				return must("GetAttention", err)
			}
			if got.GetAttention().GetSensorId() != id || got.GetAttention().GetLevel() != sensoctov1.AttentionLevel_ATTENTION_LEVEL_MEDIUM {
				return fmt.Errorf("%s at MEDIUM, got %v", id, got.GetAttention())
			}
			return nil
		})
	s.check(ctx, p, []string{sensoctov1connect.AttentionServiceWatchAttentionProcedure}, "the watched sensor's attention as the first message", func(ctx context.Context) error {
		st, err := c.attention.WatchAttention(ctx, &sensoctov1.WatchAttentionRequest{SensorIds: []string{id}})
		if err != nil {
			return must("WatchAttention", err)
		}
		defer func() { _ = st.Close() }()
		if !st.Receive() {
			return fmt.Errorf("a first message, got the end: %w", st.Err())
		}
		for _, sa := range st.Msg().GetAttention() {
			if sa.GetSensorId() == id {
				return nil
			}
		}
		return fmt.Errorf("attention of %s, got %v", id, st.Msg())
	})
	_, _ = c.attention.ReportAttention(ctx, &sensoctov1.ReportAttentionRequest{TabId: tab, Events: []*sensoctov1.AttentionEvent{
		{SensorId: id, AttributeId: "heartrate", Kind: sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_LEAVE},
	}})
}

// simulatorChecks covers SimulatorService over p: the smallest scenario is started as a,
// listed, stopped, and its sensors deleted.
func (s *suite) simulatorChecks(ctx context.Context, p protocol, a user) {
	c := s.client(p, a.token)
	var scenario string
	s.check(ctx, p, []string{sensoctov1connect.SimulatorServiceListScenariosProcedure}, "at least one scenario with a name and sensors", func(ctx context.Context) error {
		res, err := c.simulator.ListScenarios(ctx, &sensoctov1.ListScenariosRequest{})
		if err != nil {
			return must("ListScenarios", err)
		}
		list := res.GetScenarios()
		if len(list) == 0 {
			return fmt.Errorf("a scenario, got none")
		}
		sort.SliceStable(list, func(i, j int) bool { return list[i].GetSensorCount() < list[j].GetSensorCount() })
		if list[0].GetName() == "" || list[0].GetSensorCount() == 0 {
			return fmt.Errorf("a named scenario with sensors, got %v", list[0])
		}
		scenario = list[0].GetName()
		return nil
	})
	procs := []string{sensoctov1connect.SimulatorServiceStartScenarioProcedure, sensoctov1connect.SimulatorServiceListRunsProcedure, sensoctov1connect.SimulatorServiceStopScenarioProcedure}
	if scenario == "" {
		s.fail(p, procs, "a scenario to start", fmt.Errorf("ListScenarios gave none"))
		return
	}
	s.check(ctx, p, procs, "a RUNNING run listed by ListRuns, then STOPPED", func(ctx context.Context) error {
		started, err := c.simulator.StartScenario(ctx, &sensoctov1.StartScenarioRequest{Name: scenario, Seed: 1})
		if err != nil {
			return must("StartScenario "+scenario, err)
		}
		run := started.GetRun()
		for _, id := range run.GetSensorIds() {
			s.deleteAtEnd(a, id)
		}
		s.cleanup(func(ctx context.Context) {
			_, _ = s.client(protocols[0], a.token).simulator.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: scenario})
		})
		if run.GetStatus() != sensoctov1.RunStatus_RUN_STATUS_RUNNING || run.GetScenarioName() != scenario || len(run.GetSensorIds()) == 0 {
			return fmt.Errorf("a RUNNING run of %s with sensors, got %v", scenario, run)
		}
		runs, err := c.simulator.ListRuns(ctx, &sensoctov1.ListRunsRequest{RunningOnly: true})
		if err != nil {
			return must("ListRuns", err)
		}
		found := false
		for _, r := range runs.GetRuns() {
			found = found || r.GetRunId() == run.GetRunId()
		}
		if !found {
			return fmt.Errorf("ListRuns(running_only) to include run %s", run.GetRunId())
		}
		stopped, err := c.simulator.StopScenario(ctx, &sensoctov1.StopScenarioRequest{Name: scenario})
		if err != nil {
			return must("StopScenario", err)
		}
		if stopped.GetRun().GetStatus() != sensoctov1.RunStatus_RUN_STATUS_STOPPED {
			return fmt.Errorf("status STOPPED, got %v", stopped.GetRun().GetStatus())
		}
		return nil
	})
}

// systemChecks covers SystemService over p.
func (s *suite) systemChecks(ctx context.Context, p protocol, a user) {
	c := s.client(p, a.token)
	s.check(ctx, p, []string{sensoctov1connect.SystemServiceGetStatusProcedure}, "a status with a version and a reachable database", func(ctx context.Context) error {
		res, err := c.system.GetStatus(ctx, &sensoctov1.GetStatusRequest{})
		if err != nil {
			return must("GetStatus", err)
		}
		if res.GetStatus().GetVersion() == "" || !res.GetStatus().GetDatabase().GetReachable() {
			return fmt.Errorf("a version and a reachable database, got %v", res.GetStatus())
		}
		return nil
	})
	s.check(ctx, p, []string{sensoctov1connect.SystemServiceWatchStatusProcedure}, "a status as the first message", func(ctx context.Context) error {
		st, err := c.system.WatchStatus(ctx, &sensoctov1.WatchStatusRequest{IntervalMs: 1000})
		if err != nil {
			return must("WatchStatus", err)
		}
		defer func() { _ = st.Close() }()
		if !st.Receive() {
			return fmt.Errorf("a first message, got the end: %w", st.Err())
		}
		if st.Msg().GetStatus().GetVersion() == "" {
			return fmt.Errorf("a status with a version, got %v", st.Msg())
		}
		return nil
	})
}

// errorChecks covers the error contract over p: codes, and BadRequest field violations
// naming the field.
func (s *suite) errorChecks(ctx context.Context, p protocol, a, b user) {
	ca, cb, anon := s.client(p, a.token), s.client(p, b.token), s.client(p, "")
	reg := sensoctov1connect.SensorServiceRegisterSensorProcedure
	pub := sensoctov1connect.SensorServicePublishProcedure
	s.check(ctx, p, []string{reg}, "InvalidArgument with a BadRequest violation naming sensor_id for a bad id", func(ctx context.Context) error {
		_, err := ca.sensors.RegisterSensor(ctx, &sensoctov1.RegisterSensorRequest{SensorId: "not a valid id!"})
		return expectFieldViolation(err, "sensor_id")
	})
	s.check(ctx, p, []string{pub}, "InvalidArgument naming blocks[0].sample_rate_hz, and nothing of the batch applied", func(ctx context.Context) error {
		id := s.sensorID("err", p.name)
		if _, err := s.registerOwned(ctx, a, &sensoctov1.RegisterSensorRequest{SensorId: id, Attributes: []*sensoctov1.Attribute{heartrateAttribute}}); err != nil {
			return must("RegisterSensor", err)
		}
		bad := ecgBlock(nowUS(), 4)
		bad.SampleRateHz = 0
		_, err := ca.sensors.Publish(ctx, &sensoctov1.PublishRequest{SensorId: id,
			Measurements: []*sensoctov1.Measurement{number("heartrate", nowUS(), 60)}, Blocks: []*sensoctov1.SampleBlock{bad}})
		if e := expectFieldViolation(err, "blocks[0].sample_rate_hz"); e != nil {
			return e
		}
		h, err := ca.sensors.GetHistory(ctx, &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "heartrate"})
		if err != nil {
			return must("GetHistory", err)
		}
		if h.GetTotalCount() != 0 {
			return fmt.Errorf("no heartrate value from the refused batch, got %d", h.GetTotalCount())
		}
		return nil
	})
	s.check(ctx, p, []string{pub}, "NotFound for a sensor that does not exist", func(ctx context.Context) error {
		_, err := ca.sensors.Publish(ctx, &sensoctov1.PublishRequest{SensorId: s.sensorID("missing"), Measurements: []*sensoctov1.Measurement{number("x", 0, 1)}})
		return expectCode(err, connect.CodeNotFound)
	})
	s.check(ctx, p, []string{sensoctov1connect.AuthServiceGetMeProcedure}, "Unauthenticated without a credential", func(ctx context.Context) error {
		_, err := anon.auth.GetMe(ctx, &sensoctov1.GetMeRequest{})
		return expectCode(err, connect.CodeUnauthenticated)
	})
	s.check(ctx, p, []string{reg, pub}, "another user's sensor id: RegisterSensor AlreadyExists, Publish NotFound", func(ctx context.Context) error {
		id := s.sensorID("own", p.name)
		if _, err := s.registerOwned(ctx, a, &sensoctov1.RegisterSensorRequest{SensorId: id}); err != nil {
			return must("RegisterSensor", err)
		}
		_, err := cb.sensors.RegisterSensor(ctx, &sensoctov1.RegisterSensorRequest{SensorId: id})
		if e := expectCode(err, connect.CodeAlreadyExists); e != nil {
			return fmt.Errorf("RegisterSensor: %w", e)
		}
		_, err = cb.sensors.Publish(ctx, &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{number("x", 0, 1)}})
		if e := expectCode(err, connect.CodeNotFound); e != nil {
			return fmt.Errorf("publishing: %w", e)
		}
		return nil
	})
}
