package lease

import (
	"context"
	"sync"
	"time"
)

// Memory holds leases in this process: the store of a single node (every Acquire of a
// free name is granted) and of tests that run several nodes in one process (each node
// takes its Store from the same Memory).
type Memory struct {
	mu     sync.Mutex
	now    func() time.Time
	ttl    time.Duration
	leases map[string]memLease
	rev    uint64
	// waiters are told when a name is released
	waiters map[string]map[chan struct{}]struct{}
}

type memLease struct {
	holder  string
	rev     uint64
	expires time.Time
}

// NewMemory returns an empty in-process lease table whose leases live ttl (0:
// DefaultTTL) without renewal.
func NewMemory(ttl time.Duration) *Memory {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	return &Memory{now: time.Now, ttl: ttl, leases: make(map[string]memLease), waiters: make(map[string]map[chan struct{}]struct{})}
}

// Store returns the store of node over this table.
func (m *Memory) Store(node string) (*Store, error) {
	return newStore(memBackend{m}, node, m.ttl)
}

// memBackend is a Memory seen as a backend; close does nothing (the table outlives
// its stores).
type memBackend struct{ m *Memory }

func (b memBackend) live(name string) (memLease, bool) {
	l, ok := b.m.leases[name]
	if ok && !b.m.now().Before(l.expires) {
		delete(b.m.leases, name)
		return memLease{}, false
	}
	return l, ok
}

func (b memBackend) create(_ context.Context, name, holder string) (uint64, error) {
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := b.live(name); ok {
		return 0, ErrHeld
	}
	m.rev++
	m.leases[name] = memLease{holder: holder, rev: m.rev, expires: m.now().Add(m.ttl)}
	return m.rev, nil
}

func (b memBackend) renew(_ context.Context, name, holder string, rev uint64) (uint64, error) {
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := b.live(name)
	if !ok || l.rev != rev {
		return 0, errLost
	}
	m.rev++
	m.leases[name] = memLease{holder: holder, rev: m.rev, expires: m.now().Add(m.ttl)}
	return m.rev, nil
}

func (b memBackend) release(_ context.Context, name string, rev uint64) error {
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := b.live(name)
	if !ok || l.rev != rev {
		return errLost
	}
	delete(m.leases, name)
	for ch := range m.waiters[name] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return nil
}

func (b memBackend) holder(_ context.Context, name string) (string, error) {
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	l, _ := b.live(name)
	return l.holder, nil
}

func (b memBackend) freed(_ context.Context, name string) (<-chan struct{}, func()) {
	m := b.m
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	set := m.waiters[name]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		m.waiters[name] = set
	}
	set[ch] = struct{}{}
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.waiters[name], ch)
		if len(m.waiters[name]) == 0 {
			delete(m.waiters, name)
		}
		m.mu.Unlock()
	}
}

func (memBackend) close() {}
