package attention

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Subscription receives attention changes. It never blocks the tracker and
// never loses the latest state: changes are coalesced per sensor (the latest
// wins, Previous is kept from the first unread one), so it is bounded by the
// number of sensors it follows.
type Subscription struct {
	t      *Tracker
	filter map[string]bool // nil: all sensors
	notify chan struct{}

	mu      sync.Mutex
	pending map[string]Change
	order   []string
}

// Subscribe follows the named sensors (all when none are named). Close it when
// done.
func (t *Tracker) Subscribe(sensorIDs ...string) *Subscription {
	s := &Subscription{t: t, notify: make(chan struct{}, 1), pending: make(map[string]Change)}
	if len(sensorIDs) > 0 {
		s.filter = make(map[string]bool, len(sensorIDs))
		for _, id := range sensorIDs {
			s.filter[id] = true
		}
	}
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	return s
}

func (s *Subscription) put(c Change) {
	if s.filter != nil && !s.filter[c.SensorID] {
		return
	}
	s.mu.Lock()
	if old, ok := s.pending[c.SensorID]; ok {
		c.Previous = old.Previous
	} else {
		s.order = append(s.order, c.SensorID)
	}
	s.pending[c.SensorID] = c
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// C is signalled when changes are pending; then call Drain.
func (s *Subscription) C() <-chan struct{} { return s.notify }

// Drain returns the pending changes in the order the sensors first changed.
func (s *Subscription) Drain() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return nil
	}
	out := make([]Change, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.pending[id])
		delete(s.pending, id)
	}
	s.order = s.order[:0]
	return out
}

// Next waits for changes and returns them.
func (s *Subscription) Next(ctx context.Context) ([]Change, error) {
	for {
		if c := s.Drain(); c != nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for attention changes: %w", ctx.Err())
		case <-s.notify:
		}
	}
}

// Remove stops following one sensor of a subscription made with named sensors: no
// change of it is returned afterwards, including one pending now. (A subscription to
// all sensors is left as it is.)
func (s *Subscription) Remove(sensorID string) {
	if s.filter == nil {
		return
	}
	s.t.mu.Lock() // put runs under the tracker's lock and reads the filter
	delete(s.filter, sensorID)
	s.t.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[sensorID]; ok {
		delete(s.pending, sensorID)
		s.order = slices.DeleteFunc(s.order, func(id string) bool { return id == sensorID })
	}
}

// Close stops the subscription.
func (s *Subscription) Close() {
	s.t.mu.Lock()
	delete(s.t.subs, s)
	s.t.mu.Unlock()
}
