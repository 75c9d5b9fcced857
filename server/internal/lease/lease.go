// Package lease gives a named job (a simulator run, a room document) to exactly one node
// of a cluster at a time, for a limited time that the holder renews. It is a platform
// package: the domains and app ask it, it knows none of them.
//
// A Store hands out leases. Acquire takes a free name for this node or fails with
// ErrHeld; a Lease renews itself every TTL/3 until Release, and its Lost channel closes
// when the node can no longer be sure it holds the name (a renewal refused because
// another node took it, or no successful renewal for TTL). Campaign is the loop most
// callers want: wait for the name, run a function while holding it, run it again when
// the name comes back after a loss.
//
// Two backends: NewMemory (one process: a single node, where every Acquire of a free
// name is granted, and tests that run several nodes in one process) and NewNATS (a
// JetStream key-value bucket whose TTL is the lease TTL; compare-and-set on the key's
// revision makes exactly one holder).
package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// Limits and defaults.
const (
	// MinTTL and MaxTTL bound a store's TTL.
	MinTTL = time.Second
	MaxTTL = 5 * time.Minute
	// DefaultTTL is the TTL when Options give none: a node that dies loses its leases
	// within it.
	DefaultTTL = 3 * time.Second
	// MaxNameBytes bounds a lease name.
	MaxNameBytes = 200
)

// ErrHeld is returned by Acquire when another holder has the name.
var ErrHeld = errors.New("lease held by another node")

// ErrClosed is returned after the store's Close.
var ErrClosed = errors.New("lease store closed")

// errLost is a backend's answer to a renewal or release of a lease that is no longer
// the caller's (another revision, or no key).
var errLost = errors.New("lease lost")

// CheckName checks a lease name: 1 to MaxNameBytes of letters, digits, '-', '_', '.'
// and '=' (a JetStream key; '.' separates tokens, so "sim.run.<id>" is a good name).
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameBytes {
		return apperr.InvalidArgument("name", fmt.Sprintf("1 to %d bytes", MaxNameBytes))
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return apperr.InvalidArgument("name", "no empty token between dots")
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.=", c)
		if !ok {
			return apperr.InvalidArgument("name", fmt.Sprintf("letters, digits and -_.= only (not %q)", c))
		}
	}
	return nil
}

// backend is one kind of storage of leases. Revisions start at 1.
type backend interface {
	// create takes name for holder if nobody holds it (ErrHeld otherwise).
	create(ctx context.Context, name, holder string) (uint64, error)
	// renew extends the lease at rev; errLost when name is not at rev any more.
	renew(ctx context.Context, name, holder string, rev uint64) (uint64, error)
	// release frees the lease at rev (errLost when it is not at rev).
	release(ctx context.Context, name string, rev uint64) error
	// holder returns who holds name ("" for nobody).
	holder(ctx context.Context, name string) (string, error)
	// freed returns a channel that is signalled (best effort) when name is released;
	// stop ends it. A nil channel: the backend cannot tell, callers poll.
	freed(ctx context.Context, name string) (ch <-chan struct{}, stop func())
	close()
}

// Store hands out leases for one node. All methods are safe for concurrent use.
type Store struct {
	be   backend
	node string
	ttl  time.Duration

	mu     sync.Mutex
	closed bool
	held   map[*Lease]struct{}
	wg     sync.WaitGroup
}

func newStore(be backend, node string, ttl time.Duration) (*Store, error) {
	if node == "" {
		return nil, apperr.InvalidArgument("node_id", "a store needs its node's id")
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return nil, apperr.InvalidArgument("ttl", fmt.Sprintf("between %s and %s", MinTTL, MaxTTL))
	}
	return &Store{be: be, node: node, ttl: ttl, held: make(map[*Lease]struct{})}, nil
}

// NodeID is the holder name this store acquires for.
func (s *Store) NodeID() string { return s.node }

// TTL is how long a lease lives without renewal.
func (s *Store) TTL() time.Duration { return s.ttl }

// Holder returns the node holding name, "" when nobody does.
func (s *Store) Holder(ctx context.Context, name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	return s.be.holder(ctx, name)
}

// Acquire takes name for this node, or fails with ErrHeld when another node (or
// another Lease of this node) holds it. The lease renews itself until Release or
// until it is lost.
func (s *Store) Acquire(ctx context.Context, name string) (*Lease, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	sent := time.Now() // the store's TTL starts after this: the lease's deadline counts from here
	rev, err := s.be.create(ctx, name, s.node)
	if err != nil {
		return nil, err
	}
	l := &Lease{s: s, name: name, rev: rev, acquired: sent, renewed: sent, lost: make(chan struct{}), stop: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = s.be.release(context.WithoutCancel(ctx), name, rev)
		return nil, ErrClosed
	}
	s.held[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go l.keep() //nolint:gosec // G118: the renewal loop outlives the Acquire call; the Store owns it (Release, Close)
	return l, nil
}

// Close releases every lease of this store (other nodes may take them at once) and
// waits for their renewal loops. Later calls of Acquire fail with ErrClosed.
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	held := make([]*Lease, 0, len(s.held))
	for l := range s.held {
		held = append(held, l)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.ttl)
	defer cancel()
	for _, l := range held {
		_ = l.Release(ctx)
	}
	s.wg.Wait()
	s.be.close()
}

// Lease is a name held by this node. Its renewal loop runs until Release or loss.
type Lease struct {
	s    *Store
	name string

	mu       sync.Mutex
	rev      uint64
	acquired time.Time
	renewed  time.Time // when the last successful create or renewal was sent
	ended    bool
	lost     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
}

// Name is the lease's name.
func (l *Lease) Name() string { return l.name }

// Lost is closed when the lease ends: lost to another node, not renewed for its TTL,
// or released.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Release frees the name at once (another node's Campaign takes it without waiting for
// the TTL) and stops the renewals. It is idempotent.
func (l *Lease) Release(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return nil
	}
	l.ended = true
	rev := l.rev
	close(l.lost)
	l.mu.Unlock()
	err := l.s.be.release(ctx, l.name, rev)
	if errors.Is(err, errLost) {
		return nil // already someone else's or gone: nothing to free
	}
	return err
}

// end marks the lease lost (once).
func (l *Lease) end() {
	l.mu.Lock()
	if !l.ended {
		l.ended = true
		close(l.lost)
	}
	l.mu.Unlock()
}

// keep renews the lease every TTL/3 until it is released or lost. A renewal refused by
// the store ends it at once. When the store cannot be reached, the lease ends at its
// deadline: TTL after the last successful renewal was sent, which is no later than the
// store lets it expire, so a node never believes it holds a name that another node
// may already have taken.
func (l *Lease) keep() {
	s := l.s
	defer func() {
		s.mu.Lock()
		delete(s.held, l)
		s.mu.Unlock()
		s.wg.Done()
	}()
	every := s.ttl / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	l.mu.Lock()
	deadline := time.NewTimer(time.Until(l.renewed.Add(s.ttl)))
	l.mu.Unlock()
	defer deadline.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.lost:
			return
		case <-deadline.C:
			l.end()
			return
		case <-tick.C:
		}
		l.mu.Lock()
		rev := l.rev
		l.mu.Unlock()
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		newRev, err := s.be.renew(ctx, l.name, s.node, rev)
		cancel()
		switch {
		case errors.Is(err, errLost):
			l.end()
			return
		case err != nil:
			continue // the store is unreachable now: try again until the deadline
		}
		l.mu.Lock()
		if !l.ended {
			l.rev, l.renewed = newRev, sent
		}
		l.mu.Unlock()
		deadline.Reset(time.Until(sent.Add(s.ttl)))
	}
}

// Campaign runs fn while this node holds name, until ctx ends: it waits for the name
// (polling every TTL/4, and at once when the holder releases it), calls fn with a
// context that ends when the lease is lost, and releases the name when fn returns. When
// fn returns nil the campaign is over (the job is done); an error from fn, or the loss
// of the lease, puts the node back in the running. It returns ctx's error, or nil when
// fn finished.
func (s *Store) Campaign(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if err := CheckName(name); err != nil {
		return err
	}
	poll := s.ttl / 4
	freed, stop := s.be.freed(ctx, name)
	defer stop()
	for {
		l, err := s.Acquire(ctx, name)
		switch {
		case err == nil:
			done, ferr := l.run(ctx, fn)
			if done {
				return ferr
			}
		case errors.Is(err, ErrClosed):
			return err
		}
		if err := waitFree(ctx, freed, poll); err != nil {
			return err
		}
	}
}

// run calls fn under the lease; done reports that fn finished its job.
func (l *Lease) run(ctx context.Context, fn func(ctx context.Context) error) (done bool, err error) {
	fctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-l.lost:
			cancel()
		case <-fctx.Done():
		}
	}()
	err = fn(fctx)
	lostFirst := false
	select {
	case <-l.lost:
		lostFirst = true
	default:
	}
	cancel()
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), l.s.ttl)
	_ = l.Release(rctx)
	rcancel()
	if ctx.Err() != nil {
		return true, ctx.Err()
	}
	return err == nil && !lostFirst, nil
}

// waitFree waits up to poll, or less when freed says the name was released.
func waitFree(ctx context.Context, freed <-chan struct{}, poll time.Duration) error {
	t := time.NewTimer(poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-freed:
	}
	return ctx.Err()
}

// Abandon stops every renewal without releasing anything, as a node that dies does:
// other nodes get the names when the TTL runs out, and this store's leases are lost
// (what runs under them stops). Later calls of Acquire fail with ErrClosed. Tests of
// takeover use it; a node never needs it.
func (s *Store) Abandon() {
	s.mu.Lock()
	s.closed = true
	held := make([]*Lease, 0, len(s.held))
	for l := range s.held {
		held = append(held, l)
	}
	s.mu.Unlock()
	for _, l := range held {
		l.stopOnce.Do(func() { close(l.stop) })
		l.end() // what it ran dies with it
	}
	s.wg.Wait()
}
