// Package system owns the server's view of itself: build and runtime figures, database
// reachability and the counts of what it stores, collected into one Status snapshot that
// many readers share.
package system

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/server/internal/apperr"
)

// Status is one snapshot of the server.
type Status struct {
	Version   string
	GoVersion string
	// Node is an opaque id of the process (no host name or process id; see NodeID).
	Node      string
	StartedAt time.Time
	SampledAt time.Time
	Uptime    time.Duration
	Runtime   Runtime
	Database  Database
	Counts    Counts
	Load      Load
	// Recording is nil when the server does not record (Options.Recording unset).
	Recording *Recording
	// Nodes are the live nodes of the cluster, this one first (only this one on a
	// single server).
	Nodes []Node
}

// Node is one live node of the cluster and its load, as it last reported it.
type Node struct {
	ID string
	// Self marks the node that answered.
	Self             bool
	LoadLevel        int
	Score            float64
	ConnectedSensors int64
	Watchers         int64
	// LastSeen is when the answering node last heard from it (SampledAt for itself).
	LastSeen time.Time
}

// Recording is the recorder's state, in samples (a value counts one, a block its
// samples); the counts are since the process started.
type Recording struct {
	QueuedSamples     uint64
	QueueBoundSamples uint64
	WrittenSamples    uint64
	DroppedSamples    uint64
	WriteRetries      uint64
	// Retrying is set while the last write failed; LastError is its error.
	Retrying  bool
	LastError string
	// LastFlushAt is when a batch was last written (zero before the first);
	// LastFlushLag how long its oldest sample had waited in the queue.
	LastFlushAt  time.Time
	LastFlushLag time.Duration
	// OldestQueuedAge is how long the oldest waiting sample has waited (0: none).
	OldestQueuedAge time.Duration
}

// Load is the load monitor's state.
type Load struct {
	// Level is loadmon's level (0 normal … 3 critical).
	Level            int
	Score            float64
	MemoryProtection bool
	Multiplier       float64
}

// Live is what the real-time core reports: load and live counts.
type Live struct {
	LoadLevel        int
	Score            float64
	MemoryProtection bool
	Multiplier       float64
	ConnectedSensors int64
	Watchers         int64
}

// Runtime holds Go runtime and process figures.
type Runtime struct {
	Goroutines       int64
	HeapAllocBytes   uint64
	HeapSysBytes     uint64
	RSSBytes         uint64
	MemoryLimitBytes uint64 // 0: no limit
	GCCycles         uint32
	NumCPU           int
	CPUFraction      float64 // of all usable CPUs over the last interval, 0..1
}

// Database describes the relational store.
type Database struct {
	Dialect   string
	Reachable bool
	Error     string
	Ping      time.Duration
}

// Counts are numbers of stored things.
type Counts struct {
	Users   int64
	Sensors int64
	Rooms   int64
	// ConnectedSensors and Watchers come from the real-time core (Options.Live).
	ConnectedSensors int64
	Watchers         int64
}

// Pinger checks that the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options configure a Service.
type Options struct {
	Version   string
	GoVersion string
	Dialect   string
	DB        Pinger
	Ent       *ent.Client
	// MaxAge is how long a snapshot is shared between readers before a new one is
	// taken; 0 means DefaultMaxAge.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Live, when set, reports the real-time core's load and live counts.
	Live func() Live
	// Recording, when set, reports the recorder's queue and counts. It must not
	// block (it reads counters).
	Recording func() Recording
	// NodeID names this node ("" generates one; cluster mode passes the bus's).
	NodeID string
	// Peers, when set, lists the other live nodes of the cluster. It must not block.
	Peers func() []Node
}

// DefaultMaxAge is shorter than the shortest WatchStatus interval (250 ms), so every
// message of a status stream carries a new snapshot.
const DefaultMaxAge = 200 * time.Millisecond

// Service collects Status snapshots. Concurrent readers within MaxAge share one snapshot,
// so many status watchers cost one collection per interval.
type Service struct {
	opts    Options
	started time.Time
	node    string

	mu       sync.Mutex
	last     Status
	haveLast bool
	cpu      cpuSampler
}

// New returns a Service; the process start is taken as now.
func New(opts Options) *Service {
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{
		opts:    opts,
		started: opts.Now(),
		node:    cmp.Or(opts.NodeID, newNodeID()),
	}
}

// newNodeID returns an opaque id of this process ("node-" and 8 random hex digits). The
// status is shown to every signed-in user, so it names no host and no process id; the
// server logs the id with both at start (see NodeID).
func newNodeID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "node-" + hex.EncodeToString(b[:])
}

// NodeID is the opaque id this process reports as Status.Node.
func (s *Service) NodeID() string { return s.node }

// publicDBError describes a database failure without its details (address, user,
// database name), which only the server log gets.
func publicDBError(err error) string {
	if apperr.IsUnavailable(err) {
		return "database unreachable"
	}
	return "database query failed"
}

// StartedAt is when the Service (the process) started.
func (s *Service) StartedAt() time.Time { return s.started }

// Status returns a snapshot no older than MaxAge. Only one caller collects at a time.
func (s *Service) Status(ctx context.Context) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if s.haveLast && now.Sub(s.last.SampledAt) < s.opts.MaxAge {
		return s.last, nil
	}
	st, err := s.collect(ctx, now)
	if err != nil {
		return Status{}, err
	}
	s.last, s.haveLast = st, true
	return st, nil
}

func (s *Service) collect(ctx context.Context, now time.Time) (Status, error) {
	st := Status{
		Version:   s.opts.Version,
		GoVersion: s.opts.GoVersion,
		Node:      s.node,
		StartedAt: s.started,
		SampledAt: now,
		Uptime:    now.Sub(s.started),
		Runtime:   s.runtimeFigures(now),
		Database:  Database{Dialect: s.opts.Dialect},
	}
	if s.opts.DB != nil {
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		t0 := time.Now()
		err := s.opts.DB.Ping(pingCtx)
		st.Database.Ping = time.Since(t0)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return Status{}, fmt.Errorf("ping database: %w", ctx.Err())
			}
			st.Database.Error = publicDBError(err)
		} else {
			st.Database.Reachable = true
		}
	}
	if st.Database.Reachable && s.opts.Ent != nil {
		counts, err := s.counts(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return Status{}, fmt.Errorf("count rows: %w", ctx.Err())
			}
			st.Database.Error = publicDBError(err)
		}
		st.Counts = counts
	}
	if s.opts.Live != nil {
		l := s.opts.Live()
		st.Load = Load{Level: l.LoadLevel, Score: l.Score, MemoryProtection: l.MemoryProtection, Multiplier: l.Multiplier}
		st.Counts.ConnectedSensors, st.Counts.Watchers = l.ConnectedSensors, l.Watchers
	}
	if s.opts.Recording != nil {
		rec := s.opts.Recording()
		st.Recording = &rec
	}
	st.Nodes = []Node{{
		ID: s.node, Self: true, LoadLevel: st.Load.Level, Score: st.Load.Score,
		ConnectedSensors: st.Counts.ConnectedSensors, Watchers: st.Counts.Watchers, LastSeen: now,
	}}
	if s.opts.Peers != nil {
		peers := s.opts.Peers()
		slices.SortFunc(peers, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
		st.Nodes = append(st.Nodes, peers...)
	}
	return st, nil
}

func (s *Service) counts(ctx context.Context) (Counts, error) {
	var c Counts
	users, err := s.opts.Ent.User.Query().Count(ctx)
	if err != nil {
		return c, fmt.Errorf("count users: %w", err)
	}
	sensors, err := s.opts.Ent.Sensor.Query().Count(ctx)
	if err != nil {
		return c, fmt.Errorf("count sensors: %w", err)
	}
	rooms, err := s.opts.Ent.Room.Query().Count(ctx)
	if err != nil {
		return c, fmt.Errorf("count rooms: %w", err)
	}
	return Counts{Users: int64(users), Sensors: int64(sensors), Rooms: int64(rooms)}, nil
}

var runtimeSamples = []string{
	"/sched/goroutines:goroutines",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/total:bytes",
	"/gc/cycles/total:gc-cycles",
}

func (s *Service) runtimeFigures(now time.Time) Runtime {
	samples := make([]metrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		samples[i].Name = name
	}
	metrics.Read(samples)
	u64 := func(i int) uint64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return samples[i].Value.Uint64()
		}
		return 0
	}
	r := Runtime{
		Goroutines:     int64(min(u64(0), 1<<62)), //nolint:gosec // G115: bounded above
		HeapAllocBytes: u64(1),
		HeapSysBytes:   u64(2),
		GCCycles:       uint32(min(u64(3), uint64(^uint32(0)))),
		NumCPU:         runtime.GOMAXPROCS(0),
		RSSBytes:       readRSS(),
	}
	if limit := debug.SetMemoryLimit(-1); limit > 0 && limit < 1<<62 {
		r.MemoryLimitBytes = uint64(limit)
	}
	r.CPUFraction = s.cpu.sample(now, r.NumCPU)
	return r
}
