package backpressure

import (
	"sync"
	"time"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/latest"
	"github.com/sensocto/sensocto/server/internal/loadmon"
)

// Publisher holds the inputs of every sensor's Config, recomputes a sensor's
// Config when one of its inputs changes, and pushes it to that sensor's
// subscribers only when the advice (any field but Timestamp) changed.
//
// Pushing never blocks: each Subscription has a one-slot mailbox that always
// holds the latest Config (an unread older one is overwritten). All methods
// are safe for concurrent use.
type Publisher struct {
	now func() time.Time

	mu       sync.Mutex
	onChange func(sensorID string, cfg Config)
	load     loadmon.Level
	memProt  bool
	sensors  map[string]*sensorState
}

type sensorState struct {
	att     attention.Level
	battery Battery
	cfg     Config
	subs    map[*Subscription]struct{}
}

// NewPublisher returns a Publisher at normal load without memory protection.
// now is the clock (time.Now when nil).
func NewPublisher(now func() time.Time) *Publisher {
	if now == nil {
		now = time.Now
	}
	return &Publisher{now: now, sensors: make(map[string]*sensorState)}
}

// state returns the sensor's state, creating it with its current Config.
// p.mu must be held.
func (p *Publisher) state(sensorID string) *sensorState {
	s, ok := p.sensors[sensorID]
	if !ok {
		s = &sensorState{}
		s.cfg = Compute(p.input(s), p.now())
		p.sensors[sensorID] = s
	}
	return s
}

func (p *Publisher) input(s *sensorState) Input {
	return Input{Attention: s.att, Load: p.load, MemoryProtection: p.memProt, Battery: s.battery}
}

// recompute updates s's Config and pushes it when it changed. p.mu must be held.
func (p *Publisher) recompute(id string, s *sensorState, now time.Time) {
	cfg := Compute(p.input(s), now)
	if cfg.Equal(s.cfg) {
		return
	}
	s.cfg = cfg
	for sub := range s.subs {
		sub.put(cfg)
	}
	if p.onChange != nil {
		p.onChange(id, cfg)
	}
}

// forgetIfIdle drops a sensor's state when it holds nothing worth keeping.
// p.mu must be held.
func (p *Publisher) forgetIfIdle(id string, s *sensorState) {
	if len(s.subs) == 0 && s.att == attention.LevelNone && !s.battery.Known {
		delete(p.sensors, id)
	}
}

// OnChange makes f be called with every sensor's new Config when its advice changed
// (whether or not it has subscribers), e.g. to forward it to other nodes. f runs under
// the publisher's lock: it must be quick and must not call the publisher.
func (p *Publisher) OnChange(f func(sensorID string, cfg Config)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onChange = f
}

// Current returns the sensor's current Config.
func (p *Publisher) Current(sensorID string) Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sensors[sensorID]; ok {
		return s.cfg
	}
	return Compute(Input{Load: p.load, MemoryProtection: p.memProt}, p.now())
}

// SetAttention records the sensor's attention level.
func (p *Publisher) SetAttention(sensorID string, level attention.Level) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state(sensorID)
	s.att = level
	p.recompute(sensorID, s, p.now())
	p.forgetIfIdle(sensorID, s)
}

// SetSensorBattery records the sensor's own battery state (from its battery
// attribute).
func (p *Publisher) SetSensorBattery(sensorID string, b Battery) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state(sensorID)
	s.battery = b
	p.recompute(sensorID, s, p.now())
	p.forgetIfIdle(sensorID, s)
}

// SetLoad records the system load level and memory protection, and recomputes
// every sensor's Config.
func (p *Publisher) SetLoad(level loadmon.Level, memoryProtection bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if level == p.load && memoryProtection == p.memProt {
		return
	}
	p.load, p.memProt = level, memoryProtection
	now := p.now()
	for id, s := range p.sensors {
		p.recompute(id, s, now)
	}
}

// Forget drops a deleted sensor's inputs and closes its subscriptions.
func (p *Publisher) Forget(sensorID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sensors[sensorID]
	if !ok {
		return
	}
	for sub := range s.subs {
		sub.closeLocked()
	}
	delete(p.sensors, sensorID)
}

// Subscribe returns a Subscription to the sensor's Config; its mailbox already
// holds the current Config. Close it when done.
func (p *Publisher) Subscribe(sensorID string) *Subscription {
	return p.SubscribeNotify(sensorID, nil)
}

// SubscribeNotify is Subscribe for a subscriber without a goroutine waiting on the
// mailbox: notify (when not nil) is called after every Config put in the mailbox and
// once when the subscription ends (Done closed), under the publisher's lock: it must be
// quick and must not call the publisher. It is not called for the Config the mailbox
// holds on return.
func (p *Publisher) SubscribeNotify(sensorID string, notify func()) *Subscription {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state(sensorID)
	if s.subs == nil {
		s.subs = make(map[*Subscription]struct{})
	}
	sub := &Subscription{p: p, sensorID: sensorID, ch: make(chan Config, 1), done: make(chan struct{})}
	s.subs[sub] = struct{}{}
	sub.put(s.cfg)
	sub.notify = notify
	return sub
}

// Subscribers returns the number of open subscriptions of a sensor.
func (p *Publisher) Subscribers(sensorID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sensors[sensorID]; ok {
		return len(s.subs)
	}
	return 0
}

// Subscription receives one sensor's Config changes.
type Subscription struct {
	p        *Publisher
	sensorID string
	ch       chan Config
	done     chan struct{}
	notify   func()
	closed   bool // guarded by p.mu
}

// C returns the mailbox: it holds at most the latest Config not yet read.
func (s *Subscription) C() <-chan Config { return s.ch }

// Done is closed when the subscription ends (Close, or the sensor was
// forgotten).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// put overwrites the mailbox with cfg without blocking (the publisher is the
// only writer, under p.mu).
func (s *Subscription) put(cfg Config) {
	latest.Put(s.ch, cfg)
	if s.notify != nil {
		s.notify()
	}
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if st, ok := s.p.sensors[s.sensorID]; ok {
		delete(st.subs, s)
		s.p.forgetIfIdle(s.sensorID, st)
	}
	s.closeLocked()
}

func (s *Subscription) closeLocked() {
	if !s.closed {
		s.closed = true
		close(s.done)
		if s.notify != nil {
			s.notify()
		}
	}
}
