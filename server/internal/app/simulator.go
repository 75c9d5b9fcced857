package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/simulator"
	"github.com/sensocto/sensocto/server/internal/simulator/runs"
	"github.com/sensocto/sensocto/server/internal/simulatorrpc"
)

// simulatorOptions are the test knobs of the simulator.
type simulatorOptions struct {
	clock     simulator.Clock
	tick      time.Duration
	flush     time.Duration
	onPublish func(sensorID string, values int)
}

// WithSimulatorClock drives simulator runs with clock and tick (tests use a
// simulator.ManualClock).
func WithSimulatorClock(clock simulator.Clock, tick time.Duration) Option {
	return func(o *options) { o.simulator.clock, o.simulator.tick = clock, tick }
}

// WithSimulatorFlushInterval sets how often simulator runs' sample counts are saved.
func WithSimulatorFlushInterval(d time.Duration) Option {
	return func(o *options) { o.simulator.flush = d }
}

// WithSimulatorPublishHook calls f after every batch a simulated sensor published
// (tests count batches).
func WithSimulatorPublishHook(f func(sensorID string, values int)) Option {
	return func(o *options) { o.simulator.onPublish = f }
}

// simulatorWiring is the simulator: the scenario library, the runs service over the
// real-time core's registry and back-pressure, and the demo scenario.
type simulatorWiring struct {
	runs     *runs.Service
	accounts *accounts.Service
	demo     string
}

func (a *App) newSimulator(acc *accounts.Service, rt *realtime) (*simulatorWiring, error) {
	lib, err := simulator.LoadLibrary(a.cfg.ScenarioDir)
	if err != nil {
		// One bad file in the operator's directory must not hide the others.
		a.logger.Error().Err(err).Str("dir", a.cfg.ScenarioDir).Msg("some scenario files were not loaded")
	}
	if a.cfg.DemoScenario != "" {
		if _, found := lib.Get(a.cfg.DemoScenario); !found {
			return nil, fmt.Errorf("SENSOCTO_DEMO_SCENARIO: no scenario %q (have %v)", a.cfg.DemoScenario, lib.Names())
		}
	}
	o := a.opts.simulator
	svc := runs.New(runs.Options{
		Ent: a.db.Client, Library: lib, Sensors: rt.sensors, Backpressure: rt.publisher,
		Logger:       a.logger.With().Str("domain", "simulator").Logger(),
		SystemUserID: accounts.SystemUserID,
		Clock:        o.clock, Tick: o.tick, FlushInterval: o.flush, OnPublish: o.onPublish,
		Leases: a.leases,
	})
	rt.sensors.SetSimulatedSources(svc)
	return &simulatorWiring{runs: svc, accounts: acc, demo: a.cfg.DemoScenario}, nil
}

// mount registers SimulatorService and returns its name.
func (s *simulatorWiring) mount(mount func(string, http.Handler), opts []connect.HandlerOption) []string {
	mount(sensoctov1connect.NewSimulatorServiceHandler(simulatorrpc.New(s.runs), opts...))
	return []string{sensoctov1connect.SimulatorServiceName}
}

// run makes sure the system user exists when a demo scenario is configured (it is
// created only then), then runs the simulator (restoring the runs of the previous
// process and the demo) until ctx ends; every run is stopped then.
func (s *simulatorWiring) run(ctx context.Context) error {
	demo := s.demo
	var demoErr error
	if demo != "" {
		if _, err := s.accounts.EnsureSystemUser(ctx); err != nil {
			demo = "" // restore the users' runs anyway
			demoErr = fmt.Errorf("simulator demo: %w", err)
			s.runs.Logger().Error().Err(demoErr).Msg("the demo scenario does not run")
		}
	}
	if err := s.runs.Run(ctx, demo); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	return demoErr
}
