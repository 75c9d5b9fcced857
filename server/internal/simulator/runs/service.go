// Package runs owns the simulator's runs as a use case: the scenario library
// (built-ins and SENSOCTO_SCENARIO_DIR), starting and stopping runs of a user
// (several at once, one per scenario and owner), their records in the
// simulator_runs table with samples-sent counts flushed periodically, restoring
// the runs that were running when the server stopped, and the demo run of the
// built-in system user. Simulated sensors are ordinary connectors of the run's
// owner (connector.go): registered through the sensor registry, published through
// its ingest path, and obeying back-pressure.
//
// In cluster mode every run is leased (package lease) to one node: the node that
// holds the lease "sim.<owner>.<scenario>" runs it, renews the lease while it runs,
// and stops it at once when the lease is lost. Every node looks for runs recorded
// running that no node holds (ClaimInterval) and takes them over, so a run whose node
// died goes on elsewhere within the lease TTL plus ClaimInterval, and no run ever has
// two nodes at once. A run stopped through another node is recorded stopped there;
// its node sees that on its next look and stops it.
//
// Authorization: every signed-in user may list scenarios and start and stop their
// own runs. The system user's runs (the demo) are visible to everyone (their
// sensors are public) but only the server stops them; other users' runs are
// invisible.
package runs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/simulatorrun"
	"github.com/sensocto/sensocto/ent/user"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/lease"
	"github.com/sensocto/sensocto/server/internal/sensors"
	"github.com/sensocto/sensocto/server/internal/simulator"
	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

// DefaultFlushInterval is how often samples-sent counts are written.
const DefaultFlushInterval = 10 * time.Second

// DefaultClaimInterval is how often a node looks for runs that no node runs (their
// node died) and for its runs that were stopped through another node.
const DefaultClaimInterval = time.Second

// Status of a run.
type Status string

// The run statuses.
const (
	StatusRunning Status = "running"
	StatusStopped Status = "stopped"
	StatusFailed  Status = "failed"
)

// Run is a run as a caller sees it.
type Run struct {
	ID          uuid.UUID
	Scenario    string
	Status      Status
	OwnerID     uuid.UUID
	SensorIDs   []string
	SamplesSent uint64
	StartedAt   time.Time
	StoppedAt   time.Time // zero while running
	Error       string
}

// Options configure a Service.
type Options struct {
	Ent          *ent.Client
	Library      *scenario.Library
	Sensors      *sensors.Service
	Backpressure *backpressure.Publisher
	Logger       zerolog.Logger
	// SystemUserID is the user whose runs everybody sees (the demo); uuid.Nil: none.
	SystemUserID uuid.UUID
	// Clock and Tick drive the engine (tests use a manual clock); defaults: the wall
	// clock and simulator.DefaultTick.
	Clock simulator.Clock
	Tick  time.Duration
	// FlushInterval is how often samples-sent counts are written (DefaultFlushInterval
	// when 0).
	FlushInterval time.Duration
	// OnPublish, when set, is called after every batch ingested (tests count batches).
	OnPublish func(sensorID string, values int)
	// Leases gives each run to one node (nil: a store of this process alone, where
	// every run is granted).
	Leases *lease.Store
	// ClaimInterval is how often the node looks for runs no node runs
	// (DefaultClaimInterval when 0).
	ClaimInterval time.Duration
}

// Service runs scenarios. Its runs' goroutines belong to it: Run restores the runs
// of the previous process, flushes counts, and when its context ends stops every run
// (leaving them "running" in the database, so the next start restores them).
type Service struct {
	o   Options
	log zerolog.Logger

	ctx    context.Context // parent of every run; cancelled when Run ends
	cancel context.CancelFunc
	wg     sync.WaitGroup // one supervisor per active run

	// restored is closed once Run has restarted the previous process's runs; Start and
	// Stop wait for it, so a run started meanwhile is never mistaken by restore for a
	// duplicate record of itself.
	restored chan struct{}

	mu     sync.Mutex
	active map[runKey]*active
	closed bool
}

type runKey struct {
	owner    uuid.UUID
	scenario string
}

// active is a run in progress.
type active struct {
	id        uuid.UUID
	key       runKey
	run       *simulator.Run
	sensorIDs []string
	base      uint64 // samples sent by earlier processes (restored runs)
	startedAt time.Time
	stopping  bool // Stop was called: the stopper writes the final record
	lease     *lease.Lease
	ended     chan struct{} // closed by the supervisor when the run ended
	launched  time.Time     // wall clock of launch (claim leaves newer runs alone)
}

func (a *active) samples() uint64 { return a.base + a.run.Stats().SamplesSent }

// New returns a Service; call Run in a goroutine the caller owns.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = simulator.SystemClock()
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.ClaimInterval <= 0 {
		o.ClaimInterval = DefaultClaimInterval
	}
	if o.Leases == nil {
		o.Leases, _ = lease.NewMemory(0).Store("local") // valid arguments: never an error
	}
	s := &Service{o: o, log: o.Logger, active: map[runKey]*active{}, restored: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Logger returns the service's logger.
func (s *Service) Logger() *zerolog.Logger { return &s.log }

// Scenarios returns the library's scenario summaries, sorted by name. Intimate
// scenarios are listed too: no user flag hides them yet.
func (s *Service) Scenarios() []scenario.Summary {
	out := s.o.Library.Summaries()
	slices.SortFunc(out, func(a, b scenario.Summary) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SensorIDs returns the ids the sensors of a scenario get when owner runs it:
// "sim.<scenario>.<sensor>" for the system user, and "sim.<owner hash>.<scenario>.<sensor>"
// for everyone else (the hash is the first 8 hex digits of SHA-256 of the owner id),
// so runs of different owners never clash.
func (s *Service) SensorIDs(owner uuid.UUID, sc *scenario.Scenario) []string {
	f := s.sensorID(owner, sc.Name)
	ids := make([]string, 0, 8)
	for _, se := range sc.Sensors() {
		ids = append(ids, f(se.ID))
	}
	return ids
}

func (s *Service) sensorID(owner uuid.UUID, scenarioName string) func(string) string {
	prefix := sensors.SimulatedIDPrefix + scenarioName + "."
	if owner != s.o.SystemUserID {
		h := sha256.Sum256(owner[:])
		prefix = sensors.SimulatedIDPrefix + hex.EncodeToString(h[:4]) + "." + scenarioName + "."
	}
	return func(key string) string { return prefix + key }
}

// SimulatedSource describes the simulated sensor id of owner (sensors.SimulatedSources):
// its scenario (parsed from the id, see SensorIDs), the scenario's title, the run
// publishing it now and whether that is the demo run.
func (s *Service) SimulatedSource(id string, owner uuid.UUID) sensors.Source {
	rest := strings.TrimPrefix(id, sensors.SimulatedIDPrefix)
	if owner != s.o.SystemUserID || owner == uuid.Nil {
		_, rest, _ = strings.Cut(rest, ".") // the owner hash
	}
	name, _, ok := strings.Cut(rest, ".")
	if !ok {
		return sensors.Source{}
	}
	src := sensors.Source{Scenario: name, ScenarioTitle: scenario.Title(name), Demo: owner == s.o.SystemUserID && owner != uuid.Nil}
	if sc, found := s.o.Library.Get(name); found {
		src.ScenarioTitle = sc.Title()
	}
	s.mu.Lock()
	if a := s.active[runKey{owner: owner, scenario: name}]; a != nil && a.run != nil && !a.stopping {
		src.RunID = a.id.String()
	}
	s.mu.Unlock()
	return src
}

// Start starts the scenario name as v with seed (0: a random one). Starting a
// scenario v is already running is AlreadyExists; an unknown name is NotFound.
func (s *Service) Start(ctx context.Context, v authz.Viewer, name string, seed uint64) (Run, error) {
	if err := s.waitRestored(ctx); err != nil {
		return Run{}, err
	}
	sc, ok := s.o.Library.Get(name)
	if !ok {
		return Run{}, apperr.NotFound("scenario %q not found", name)
	}
	if seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	key := runKey{owner: v.UserID, scenario: name}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Run{}, apperr.Unavailable(time.Second, "the simulator is shutting down")
	}
	if _, running := s.active[key]; running {
		s.mu.Unlock()
		return Run{}, apperr.AlreadyExists("scenario %q is already running", name)
	}
	// Reserve the key so a concurrent Start of the same scenario is refused.
	a := &active{key: key}
	s.active[key] = a
	s.mu.Unlock()

	// The lease refuses a Start of a scenario that another node runs for v.
	l, err := s.o.Leases.Acquire(ctx, leaseName(key))
	if err != nil {
		s.release(key, a)
		if errors.Is(err, lease.ErrHeld) {
			return Run{}, apperr.AlreadyExists("scenario %q is already running", name)
		}
		return Run{}, fmt.Errorf("lease simulator run: %w", err)
	}
	a.lease = l
	// A run of the key recorded running whose node died: this node takes it over
	// instead of starting a second one.
	if row, err := s.o.Ent.SimulatorRun.Query().Where(simulatorrun.StatusEQ(simulatorrun.StatusRunning),
		simulatorrun.OwnerID(v.UserID), simulatorrun.Scenario(name)).First(ctx); err == nil {
		s.release(key, a)
		s.releaseLease(a)
		s.adopt(ctx, row, "", false)
		return Run{}, apperr.AlreadyExists("scenario %q is already running", name)
	} else if !ent.IsNotFound(err) {
		s.release(key, a)
		s.releaseLease(a)
		return Run{}, fmt.Errorf("look for a running simulator run: %w", err)
	}

	ids := s.SensorIDs(v.UserID, sc)
	now := s.o.Clock.Now()
	row, err := s.o.Ent.SimulatorRun.Create().
		SetScenario(name).SetStatus(simulatorrun.StatusRunning).SetOwnerID(v.UserID).
		SetStartedAt(now).SetSensorCount(len(ids)).
		SetConfig(map[string]any{"seed": strconv.FormatUint(seed, 10), "sensor_ids": toAny(ids)}).
		Save(ctx)
	if err != nil {
		s.release(key, a)
		s.releaseLease(a)
		return Run{}, fmt.Errorf("save simulator run: %w", err)
	}
	if err := s.launch(a, row.ID, v, sc, seed, 0, now, ids); err != nil {
		s.release(key, a)
		s.finish(context.WithoutCancel(ctx), row.ID, StatusFailed, 0, err)
		s.releaseLease(a)
		return Run{}, err
	}
	return s.toRun(row.ID, a), nil
}

// waitRestored waits until Run has restored the previous process's runs.
func (s *Service) waitRestored(ctx context.Context) error {
	select {
	case <-s.restored:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for simulator runs to be restored: %w", ctx.Err())
	}
}

// leaseName names the lease of a run key: one node runs a scenario for an owner.
func leaseName(k runKey) string {
	name := k.scenario
	if lease.CheckName("x."+name) != nil { // scenario names are ids; hash anything else
		h := sha256.Sum256([]byte(name))
		name = hex.EncodeToString(h[:8])
	}
	return "sim." + k.owner.String() + "." + name
}

// releaseLease frees a's lease (another node may take the run at once).
func (s *Service) releaseLease(a *active) {
	if a.lease == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Leases.TTL())
	defer cancel()
	if err := a.lease.Release(ctx); err != nil {
		s.log.Warn().Err(err).Str("scenario", a.key.scenario).Msg("release simulator run lease (it expires)")
	}
}

func (s *Service) release(key runKey, a *active) {
	s.mu.Lock()
	if s.active[key] == a {
		delete(s.active, key)
	}
	s.mu.Unlock()
}

// launch starts the engine for a reserved active entry and its supervisor.
func (s *Service) launch(a *active, id uuid.UUID, v authz.Viewer, sc *scenario.Scenario, seed, base uint64, startedAt time.Time, ids []string) error {
	idOf := s.sensorID(v.UserID, sc.Name)
	names := map[string]string{}
	for key, title := range sc.SensorTitles() {
		names[idOf(key)] = title
	}
	conn := newConnector(s.o.Sensors, s.o.Backpressure, v, v.UserID == s.o.SystemUserID, s.o.OnPublish)
	conn.names = names
	r, err := simulator.Start(s.ctx, sc, conn, simulator.Options{
		Seed: seed, Clock: s.o.Clock, Tick: s.o.Tick, SensorID: idOf,
	})
	if err != nil {
		return fmt.Errorf("start scenario %s: %w", sc.Name, err)
	}
	s.mu.Lock()
	a.id, a.run, a.sensorIDs, a.base, a.startedAt = id, r, ids, base, startedAt
	a.ended, a.launched = make(chan struct{}), time.Now()
	s.mu.Unlock()
	s.wg.Go(func() { s.supervise(a) })
	if a.lease != nil {
		s.wg.Go(func() {
			select {
			case <-a.lease.Lost():
				s.lose(a)
			case <-a.ended:
			}
		})
	}
	s.log.Info().Str("scenario", sc.Name).Stringer("owner", v.UserID).Stringer("run", id).Int("sensors", len(ids)).Msg("simulator run started")
	return nil
}

// supervise waits for a run to end and records how it ended, unless Stop does (or
// the lease was lost: the run is another node's now).
func (s *Service) supervise(a *active) {
	err := a.run.Wait()
	defer close(a.ended)
	s.mu.Lock()
	stopping := a.stopping
	if !stopping {
		s.release0(a)
		a.stopping = true // the lease's release below is no loss
	}
	s.mu.Unlock()
	if stopping {
		return
	}
	defer s.releaseLease(a) // after the count is saved: the next node starts from it
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err != nil {
		s.log.Error().Err(err).Str("scenario", a.key.scenario).Msg("simulator run failed")
		s.finish(ctx, a.id, StatusFailed, a.samples(), err)
		return
	}
	// Ended by shutdown: keep it running in the database so the next start (or
	// another node) restores it.
	s.flushOne(ctx, a)
}

// lose stops a run whose lease was lost (this node lost NATS for the lease TTL, or
// another node holds it): another node may run it now, so this one writes nothing.
func (s *Service) lose(a *active) {
	s.mu.Lock()
	if a.stopping {
		s.mu.Unlock()
		return
	}
	a.stopping = true
	s.release0(a)
	s.mu.Unlock()
	a.run.Stop()
	s.log.Warn().Str("scenario", a.key.scenario).Stringer("run", a.id).Msg("simulator run stopped here: its lease was lost (another node takes it over)")
}

// stoppedElsewhere stops a run recorded stopped through another node; it saves only
// the samples sent here.
func (s *Service) stoppedElsewhere(ctx context.Context, a *active) {
	s.mu.Lock()
	if a.stopping {
		s.mu.Unlock()
		return
	}
	a.stopping = true
	s.release0(a)
	s.mu.Unlock()
	a.run.Stop()
	_ = a.run.Wait()
	if err := s.o.Ent.SimulatorRun.UpdateOneID(a.id).SetSamplesSent(clampInt64(a.samples())).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		s.log.Warn().Err(err).Stringer("run", a.id).Msg("save simulator samples sent")
	}
	s.releaseLease(a)
	s.log.Info().Str("scenario", a.key.scenario).Stringer("run", a.id).Msg("simulator run stopped through another node")
}

// release0 removes a from the active map; s.mu must be held.
func (s *Service) release0(a *active) {
	if s.active[a.key] == a {
		delete(s.active, a.key)
	}
}

func (s *Service) finish(ctx context.Context, id uuid.UUID, st Status, samples uint64, cause error) {
	up := s.o.Ent.SimulatorRun.UpdateOneID(id).SetStatus(simulatorrun.Status(st)).
		SetStoppedAt(s.o.Clock.Now()).SetSamplesSent(clampInt64(samples))
	if cause != nil {
		msg := cause.Error()
		if len(msg) > 1000 {
			msg = msg[:1000]
		}
		up.SetError(msg)
	}
	if err := up.Exec(ctx); err != nil {
		s.log.Error().Err(err).Stringer("run", id).Msg("save simulator run status")
	}
}

func (s *Service) flushOne(ctx context.Context, a *active) {
	if err := s.o.Ent.SimulatorRun.UpdateOneID(a.id).SetSamplesSent(clampInt64(a.samples())).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		s.log.Warn().Err(err).Stringer("run", a.id).Msg("save simulator samples sent")
	}
}

// Stop stops v's run of scenario name and returns it. When v runs none of that name it
// is NotFound, whoever else runs one (another user, or the server's demo, which nobody
// stops through the API): the proto's "NotFound when it is not running", for the
// caller's runs; for a scenario the demo runs, the message says who stops that one.
func (s *Service) Stop(ctx context.Context, v authz.Viewer, name string) (Run, error) {
	if err := s.waitRestored(ctx); err != nil {
		return Run{}, err
	}
	key := runKey{owner: v.UserID, scenario: name}
	s.mu.Lock()
	a := s.active[key]
	if a == nil || a.run == nil || a.stopping {
		_, demo := s.active[runKey{owner: s.o.SystemUserID, scenario: name}]
		s.mu.Unlock()
		// Another node may run it: record it stopped, and that node stops it at its
		// next look (ClaimInterval).
		n, err := s.o.Ent.SimulatorRun.Update().
			Where(simulatorrun.StatusEQ(simulatorrun.StatusRunning), simulatorrun.OwnerID(v.UserID), simulatorrun.Scenario(name)).
			SetStatus(simulatorrun.StatusStopped).SetStoppedAt(s.o.Clock.Now()).Save(ctx)
		if err != nil {
			return Run{}, fmt.Errorf("stop simulator run: %w", err)
		}
		if n > 0 {
			row, err := s.o.Ent.SimulatorRun.Query().Where(simulatorrun.OwnerID(v.UserID), simulatorrun.Scenario(name)).
				Order(ent.Desc(simulatorrun.FieldStoppedAt), ent.Desc(simulatorrun.FieldID)).First(ctx)
			if err != nil {
				return Run{}, fmt.Errorf("load stopped simulator run: %w", err)
			}
			s.log.Info().Str("scenario", name).Stringer("owner", v.UserID).Stringer("run", row.ID).Msg("simulator run of another node stopped")
			return s.fromRow(row), nil
		}
		if demo && s.o.SystemUserID != uuid.Nil {
			return Run{}, apperr.NotFound("you run no scenario %q; its demo run is shared by every visitor and only the server stops it", name)
		}
		return Run{}, apperr.NotFound("you run no scenario %q", name)
	}
	a.stopping = true
	s.release0(a)
	s.mu.Unlock()
	a.run.Stop()
	_ = a.run.Wait() // a Register error would have ended the run already; it is stopped now either way
	s.finish(context.WithoutCancel(ctx), a.id, StatusStopped, a.samples(), nil)
	s.releaseLease(a)
	s.log.Info().Str("scenario", name).Stringer("owner", v.UserID).Stringer("run", a.id).Msg("simulator run stopped")
	row, err := s.o.Ent.SimulatorRun.Get(ctx, a.id)
	if err != nil {
		return Run{}, fmt.Errorf("load stopped simulator run: %w", err)
	}
	return s.fromRow(row), nil
}

// StopOwner stops every run of owner and records them stopped (a guest that signed
// out: nobody can see or stop its runs any more). It returns how many it stopped.
func (s *Service) StopOwner(ctx context.Context, owner uuid.UUID) int {
	var list []*active
	s.mu.Lock()
	for k, a := range s.active {
		if k.owner == owner && a.run != nil && !a.stopping {
			a.stopping = true
			delete(s.active, k)
			list = append(list, a)
		}
	}
	s.mu.Unlock()
	for _, a := range list {
		a.run.Stop()
		_ = a.run.Wait() // stopped now either way
		s.finish(context.WithoutCancel(ctx), a.id, StatusStopped, a.samples(), nil)
		s.releaseLease(a)
		s.log.Info().Str("scenario", a.key.scenario).Stringer("owner", owner).Stringer("run", a.id).Msg("simulator run stopped: its owner is gone")
	}
	// Runs of the owner on other nodes: recorded stopped, their nodes stop them.
	n, err := s.o.Ent.SimulatorRun.Update().
		Where(simulatorrun.StatusEQ(simulatorrun.StatusRunning), simulatorrun.OwnerID(owner)).
		SetStatus(simulatorrun.StatusStopped).SetStoppedAt(s.o.Clock.Now()).Save(ctx)
	if err != nil {
		s.log.Error().Err(err).Stringer("owner", owner).Msg("stop the owner's simulator runs on other nodes")
	}
	return len(list) + n
}

// ForgetOwners stops the runs of deleted users (the guest sweeper's hook); their
// records went with them. It does not wait for the runs to end.
func (s *Service) ForgetOwners(ids []uuid.UUID) {
	gone := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	var list []*active
	s.mu.Lock()
	for k, a := range s.active {
		if gone[k.owner] && a.run != nil && !a.stopping {
			a.stopping = true
			delete(s.active, k)
			list = append(list, a)
		}
	}
	s.mu.Unlock()
	for _, a := range list {
		a.run.Stop()
	}
}

// List returns v's runs and the system user's, running first, then newest first; at
// most limit (50 when 0). Counts of running runs are live.
func (s *Service) List(ctx context.Context, v authz.Viewer, runningOnly bool, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = 50
	}
	q := s.o.Ent.SimulatorRun.Query().Where(simulatorrun.OwnerIDIn(v.UserID, s.o.SystemUserID))
	if runningOnly {
		q.Where(simulatorrun.StatusEQ(simulatorrun.StatusRunning))
	}
	rows, err := q.Order(ent.Desc(simulatorrun.FieldStartedAt), ent.Desc(simulatorrun.FieldID)).Limit(limit * 2).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list simulator runs: %w", err)
	}
	out := make([]Run, 0, len(rows))
	for _, row := range rows {
		out = append(out, s.fromRow(row))
	}
	// Running first (stable: newest first within each group).
	slices.SortStableFunc(out, func(a, b Run) int {
		ra, rb := a.Status == StatusRunning, b.Status == StatusRunning
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// fromRow converts a record, with the live count when the run is active here.
func (s *Service) fromRow(row *ent.SimulatorRun) Run {
	r := Run{ID: row.ID, Scenario: row.Scenario, Status: Status(row.Status), SamplesSent: uint64(max(row.SamplesSent, 0)), Error: row.Error}
	if row.OwnerID != nil {
		r.OwnerID = *row.OwnerID
	}
	if row.StartedAt != nil {
		r.StartedAt = *row.StartedAt
	}
	if row.StoppedAt != nil {
		r.StoppedAt = *row.StoppedAt
	}
	if ids, ok := row.Config["sensor_ids"].([]any); ok {
		for _, id := range ids {
			if str, ok := id.(string); ok {
				r.SensorIDs = append(r.SensorIDs, str)
			}
		}
	}
	if r.Status == StatusRunning {
		s.mu.Lock()
		a := s.active[runKey{owner: r.OwnerID, scenario: r.Scenario}]
		if a != nil && a.id == row.ID && a.run != nil {
			r.SamplesSent = a.samples()
			if err := a.run.LastPublishError(); err != nil {
				r.Error = err.Error() // the latest failed batch; the run goes on
			}
		}
		s.mu.Unlock()
	}
	return r
}

func (s *Service) toRun(id uuid.UUID, a *active) Run {
	return Run{
		ID: id, Scenario: a.key.scenario, Status: StatusRunning, OwnerID: a.key.owner,
		SensorIDs: a.sensorIDs, SamplesSent: a.samples(), StartedAt: a.startedAt,
	}
}

// Running reports whether owner runs scenario name now.
func (s *Service) Running(owner uuid.UUID, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.active[runKey{owner: owner, scenario: name}]
	return a != nil && a.run != nil && !a.stopping
}

// Run restores the runs that were running when the previous process stopped
// (under the same owner and seed), makes sure the demo scenario (when not empty)
// runs as the system user, flushes samples-sent counts every FlushInterval, and when
// ctx ends stops every run and waits for them. demo must be in the library.
func (s *Service) Run(ctx context.Context, demo string) error {
	defer s.shutdown()
	err := s.restore(ctx, demo)
	close(s.restored)
	if err != nil {
		s.log.Error().Err(err).Msg("restore simulator runs")
	}
	if demo != "" && !s.Running(s.o.SystemUserID, demo) {
		v := authz.Viewer{UserID: s.o.SystemUserID, Scope: authz.ScopeFull}
		if _, err := s.Start(ctx, v, demo, 0); err != nil && apperr.KindOf(err) != apperr.KindAlreadyExists {
			s.log.Error().Err(err).Str("scenario", demo).Msg("start the demo scenario")
		}
	}
	t := time.NewTicker(s.o.FlushInterval)
	defer t.Stop()
	claim := time.NewTicker(s.o.ClaimInterval)
	defer claim.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.flush(ctx)
		case <-claim.C:
			if err := s.claim(ctx, demo); err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("look for simulator runs to take over")
			}
		}
	}
}

// flush writes the samples-sent count of every active run.
func (s *Service) flush(ctx context.Context) {
	s.mu.Lock()
	list := make([]*active, 0, len(s.active))
	for _, a := range s.active {
		if a.run != nil && !a.stopping {
			list = append(list, a)
		}
	}
	s.mu.Unlock()
	for _, a := range list {
		s.flushOne(ctx, a)
	}
}

// shutdown stops every run and waits for the supervisors (which save the counts).
func (s *Service) shutdown() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// restore starts again the runs recorded as running that no node runs (at start-up:
// the previous process's).
func (s *Service) restore(ctx context.Context, demo string) error { return s.claim(ctx, demo) }

// claim takes over the runs recorded as running that no node holds, and stops this
// node's runs that were recorded stopped through another node. A run of the system
// user whose scenario is no longer the demo is stopped; one whose scenario left the
// library fails.
func (s *Service) claim(ctx context.Context, demo string) error {
	queried := time.Now()
	rows, err := s.o.Ent.SimulatorRun.Query().
		Where(simulatorrun.StatusEQ(simulatorrun.StatusRunning), simulatorrun.OwnerIDNotNil()).
		Order(ent.Asc(simulatorrun.FieldStartedAt)).All(ctx)
	if err != nil {
		return fmt.Errorf("load running simulator runs: %w", err)
	}
	running := make(map[uuid.UUID]bool, len(rows))
	for _, row := range rows {
		running[row.ID] = true
	}
	var gone []*active
	s.mu.Lock()
	for _, a := range s.active {
		if a.run != nil && !a.stopping && !running[a.id] && a.launched.Before(queried) {
			gone = append(gone, a)
		}
	}
	s.mu.Unlock()
	for _, a := range gone {
		s.stoppedElsewhere(ctx, a)
	}
	for _, row := range rows {
		s.adopt(ctx, row, demo, true)
	}
	return nil
}

// adopt runs a run recorded as running when no node holds its lease. checkDemo: a
// run of the system user whose scenario is not demo is recorded stopped.
func (s *Service) adopt(ctx context.Context, row *ent.SimulatorRun, demo string, checkDemo bool) {
	owner := *row.OwnerID
	samples := uint64(max(row.SamplesSent, 0))
	key := runKey{owner: owner, scenario: row.Scenario}
	a := &active{key: key}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if cur, dup := s.active[key]; dup {
		s.mu.Unlock()
		if cur.run != nil && cur.id != row.ID && cur.lease != nil {
			s.finish(ctx, row.ID, StatusStopped, samples, nil) // a duplicate record of a run held here
		}
		return
	}
	s.active[key] = a
	s.mu.Unlock()
	l, err := s.o.Leases.Acquire(ctx, leaseName(key))
	if err != nil {
		s.release(key, a)
		if !errors.Is(err, lease.ErrHeld) && !errors.Is(err, lease.ErrClosed) {
			s.log.Warn().Err(err).Stringer("run", row.ID).Msg("lease simulator run")
		}
		return // another node runs it
	}
	a.lease = l
	fail := func(st Status, cause error) {
		s.release(key, a)
		s.finish(ctx, row.ID, st, samples, cause)
		s.releaseLease(a)
	}
	if checkDemo && owner == s.o.SystemUserID && row.Scenario != demo {
		fail(StatusStopped, nil)
		return
	}
	sc, ok := s.o.Library.Get(row.Scenario)
	if !ok {
		fail(StatusFailed, fmt.Errorf("scenario %q is no longer in the library", row.Scenario))
		return
	}
	u, err := s.o.Ent.User.Query().Where(user.ID(owner)).Only(ctx)
	if err != nil {
		fail(StatusFailed, fmt.Errorf("load the run's owner: %w", err))
		return
	}
	if u.IsGuest && u.GuestExpiresAt != nil && !u.GuestExpiresAt.After(s.o.Clock.Now()) {
		fail(StatusStopped, nil) // a guest that expired or signed out
		return
	}
	// The record may have changed while the lease was taken (stopped through another
	// node, or the count of the node that released it): read it again.
	row, err = s.o.Ent.SimulatorRun.Get(ctx, row.ID)
	if err != nil || row.Status != simulatorrun.StatusRunning {
		s.release(key, a)
		s.releaseLease(a)
		return
	}
	samples = uint64(max(row.SamplesSent, 0))
	seed, _ := row.Config["seed"].(string)
	n, err := strconv.ParseUint(seed, 10, 64)
	if err != nil || n == 0 {
		n = 1
	}
	v := authz.Viewer{UserID: owner, IsGuest: u.IsGuest, Scope: authz.ScopeFull, DisplayName: u.DisplayName}
	started := s.o.Clock.Now()
	if row.StartedAt != nil {
		started = *row.StartedAt
	}
	if err := s.launch(a, row.ID, v, sc, n, samples, started, s.SensorIDs(owner, sc)); err != nil {
		fail(StatusFailed, err)
		return
	}
	s.log.Info().Str("scenario", row.Scenario).Stringer("run", row.ID).Str("node", s.o.Leases.NodeID()).Msg("simulator run restored")
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func clampInt64(n uint64) int64 {
	if n > 1<<62 {
		return 1 << 62
	}
	return int64(n) //nolint:gosec // G115: bounded above
}
