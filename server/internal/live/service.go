package live

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/loadmon"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// Options are the parts a Service composes. All but Bus and Logger are required.
type Options struct {
	Sensors   *sensors.Service
	Hub       *hub.Hub
	Tracker   *attention.Tracker
	Publisher *backpressure.Publisher
	Monitor   *loadmon.Monitor
	// Bus carries what must cross nodes; nil: a bus of this node alone.
	Bus    bus.Bus
	Logger zerolog.Logger
}

// Service runs the live path's use cases. All methods are safe for concurrent use.
type Service struct {
	sensors   *sensors.Service
	hub       *hub.Hub
	tracker   *attention.Tracker
	publisher *backpressure.Publisher
	monitor   *loadmon.Monitor
	remote    remote
	log       zerolog.Logger
	// attSub and loadSub feed Run's bridges; taken in New, so that no change made
	// between New and Run is missed.
	attSub  *attention.Subscription
	loadSub *loadmon.Subscription
}

// Guard is what a session needs of its stream's guard (authz.StreamGuard, which also
// ends the session's context when the credential ends): the viewer, and which of the
// sensors named it may still see.
type Guard interface {
	Viewer() authz.Viewer
	// Watch checks that the viewer may see every id now and calls lost(id) once the
	// viewer may no longer see it; Allows(id) is false from then on.
	Watch(src authz.AccessSource, ids []string, lost func(id string)) error
	Allows(id string) bool
}

// New returns a Service over the parts in o, and starts publishing back-pressure
// configs on the bus while another node is interested (sensor events are the hub's:
// the wiring passes OnHubEvent as hub.Options.OnEvent).
func New(o Options) (*Service, error) {
	if o.Sensors == nil || o.Hub == nil || o.Tracker == nil || o.Publisher == nil || o.Monitor == nil {
		return nil, fmt.Errorf("live: Sensors, Hub, Tracker, Publisher and Monitor are required")
	}
	b := o.Bus
	if b == nil {
		l, err := bus.NewLocal("local")
		if err != nil {
			return nil, fmt.Errorf("live: in-process bus: %w", err)
		}
		b = l
	}
	s := &Service{
		sensors: o.Sensors, hub: o.Hub, tracker: o.Tracker, publisher: o.Publisher, monitor: o.Monitor,
		log: o.Logger,
	}
	s.remote.bus, s.remote.solo, s.remote.hub, s.remote.log, s.remote.follows = b, bus.IsSolo(b), o.Hub, o.Logger, make(map[string]*follow)
	s.remote.sensors = o.Sensors
	s.remote.attFollows, s.remote.ownAttention = make(map[string]*attentionFollow), make(map[string]attention.SensorAttention)
	s.remote.sessions = make(map[string]*sessionFollow)
	s.remote.hist.asks = make(map[uint64]*pendingAsk)
	if !s.remote.solo {
		sub, err := b.Subscribe(bus.KindHistoryAnswer, "node:"+b.NodeID(), bus.MaxQueue)
		if err != nil {
			return nil, fmt.Errorf("live: history answers: %w", err)
		}
		s.remote.hist.answers = sub
	}
	s.publisher.OnChange(s.remote.backpressure)
	if !s.remote.solo {
		s.sensors.OnRegistryChange(s.remote.registryChanged)
	}
	s.attSub = s.tracker.Subscribe()
	s.loadSub = s.monitor.Subscribe()
	return s, nil
}

// Run runs the loops of the live path until ctx ends: attention lease sweeps, load
// sampling, load into back-pressure and ring retention, and the attention bridge. Call
// it once.
func (s *Service) Run(ctx context.Context) error {
	attSub, loadSub := s.attSub, s.loadSub
	defer attSub.Close()
	defer loadSub.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.tracker.Run(ctx) })
	g.Go(func() error { return s.monitor.Run(ctx) })
	g.Go(func() error {
		return s.publisher.FollowLoad(ctx, loadSub, func(sn loadmon.Snapshot) {
			s.hub.SetLoadFactor(sn.Level.RetentionFactor())
		})
	})
	g.Go(func() error { return s.bridgeAttention(ctx, attSub) })
	g.Go(func() error { return s.refreshAttention(ctx) })
	g.Go(func() error { return s.remote.collectAnswers(ctx) })
	g.Go(func() error {
		t := time.NewTicker(HoldIdle / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case now := <-t.C:
				s.remote.releaseIdle(now)
			}
		}
	})
	g.Go(func() error { return s.followRegistry(ctx) })
	g.Go(func() error { return s.announceConnected(ctx) })
	if err := g.Wait(); err != nil {
		return fmt.Errorf("live path: %w", err)
	}
	return nil
}

// bridgeAttention is the attention → back-pressure loop: every change of a sensor's
// attention sets its back-pressure input (the publisher pushes a new config to its
// connector sessions only when the advice changed), a change of level is announced to
// the sensor's watchers as EventAttention, and the change goes on the bus while
// another node follows the sensor's attention.
func (s *Service) bridgeAttention(ctx context.Context, sub *attention.Subscription) error {
	for {
		changes, err := sub.Next(ctx)
		if err != nil {
			return nil //nolint:nilerr // ends with ctx
		}
		for _, c := range changes {
			// With the other nodes' levels, and to them (remoteattention.go).
			s.attentionChanged(c)
			if c.Level != c.Previous {
				_ = s.hub.Notify(c.SensorID, hub.EventAttention) // not live: nobody watches
			}
		}
	}
}

// AttentionLevel is a sensor's attention level (for the sensors a handler shows): of
// the whole cluster while this node follows the sensor's attention, else this node's.
func (s *Service) AttentionLevel(sensorID string) attention.Level { return s.clusterLevel(sensorID) }

// loadMultiplier is the load monitor's multiplier of watcher windows.
func (s *Service) loadMultiplier() float64 { return s.monitor.Snapshot().Multiplier }
