// Package livetest builds the live path over a real test database (dbtest: SQLite, or
// PostgreSQL when configured) for tests of the live domain and of its handlers: the
// hub, the attention tracker, the back-pressure publisher, a load monitor at normal
// load, the sensor registry and live.Service, with their loops running until the test
// ends, and users to act as.
package livetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/live"
	"github.com/sensocto/sensocto/server/internal/loadmon"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// Options change the environment.
type Options struct {
	// Bus is the live path's bus (a node of its own when nil).
	Bus bus.Bus
	// Lease is the attention lease (the tracker's default when zero).
	Lease time.Duration
}

// Env is the live path of one test.
type Env struct {
	DB        *database.DB
	Hub       *hub.Hub
	Tracker   *attention.Tracker
	Publisher *backpressure.Publisher
	Monitor   *loadmon.Monitor
	Sensors   *sensors.Service
	Live      *live.Service
}

// New builds the live path on a fresh database of dialect and runs its loops until the
// test ends.
func New(t testing.TB, dialect string, o Options) *Env {
	t.Helper()
	e := &Env{DB: dbtest.Open(t, dialect)}
	logger := dbtest.Logger(t)
	var l *live.Service
	e.Publisher = backpressure.NewPublisher(nil)
	e.Tracker = attention.New(attention.Options{Lease: o.Lease})
	e.Hub = hub.New(hub.Options{
		OnBattery:    func(id string, m hub.Measurement) { l.OnBattery(id, m) },
		OnAttributes: func(id string, attrs []hub.AttributeSpec) { e.Sensors.OnAttributes(id, attrs) },
		OnEvent:      func(ev hub.Event) { l.OnHubEvent(ev) },
	})
	e.Sensors = sensors.New(sensors.Options{Ent: e.DB.Client, Hub: e.Hub, Logger: logger, OnDelete: e.Publisher.Forget})
	e.Monitor = loadmon.New(loadmon.SamplerFunc(func(time.Time) loadmon.Sample { return loadmon.Sample{} }), loadmon.Options{})
	var err error
	l, err = live.New(live.Options{
		Sensors: e.Sensors, Hub: e.Hub, Tracker: e.Tracker, Publisher: e.Publisher, Monitor: e.Monitor,
		Bus: o.Bus, Logger: logger,
	})
	if err != nil {
		t.Fatalf("livetest: %v", err)
	}
	e.Live = l
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := l.Run(ctx); err != nil {
			t.Errorf("livetest: live path: %v", err)
		}
	})
	wg.Go(func() {
		if err := e.Sensors.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("livetest: sensors: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return e
}

// User creates a user and returns it as the Viewer of a full-scope session token.
func (e *Env) User(t testing.TB, name string) authz.Viewer {
	t.Helper()
	u, err := e.DB.Client.User.Create().SetDisplayName(name).Save(t.Context())
	if err != nil {
		t.Fatalf("livetest: create user %s: %v", name, err)
	}
	return authz.Viewer{UserID: u.ID, TokenID: uuid.New(), Kind: authz.KindSession, Scope: authz.ScopeFull, DisplayName: name}
}
