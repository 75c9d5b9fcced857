package authz

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/bus"
)

// RecheckEvery is how often, on average, a guarded stream resolves its credential again
// even when nothing was announced: it catches expiry (a token's or a guest's), which
// happens without an event, and changes made by another node.
const RecheckEvery = 5 * time.Second

// recheckDelay is the wait before a guard's next periodic check: RecheckEvery on
// average, spread by ±25 %, so the guards of streams opened together (10,000 sensors
// after a restart) do not all check in the same instant every RecheckEvery.
func recheckDelay() time.Duration {
	return RecheckEvery*3/4 + rand.N(RecheckEvery/2) //nolint:gosec // G404: a spread, not a secret
}

// Revocations announces that credentials ended or changed, so that the streams opened
// with them react at once instead of at their next periodic check. The accounts domain
// calls it after revoking a token, deleting users or changing them; every StreamGuard
// of a request whose middleware was given it listens. A nil *Revocations is valid and
// announces nothing. Across nodes the announcements travel over the bus
// (bus.KindRevocations, see Relay): the streams of this node end before an
// announcement returns, those of other nodes as soon as the message arrives.
type Revocations struct {
	mu      sync.Mutex
	byToken map[uuid.UUID]map[*StreamGuard]struct{}
	byUser  map[uuid.UUID]map[*StreamGuard]struct{}
	// bus is where announcements go to other nodes while Relay runs.
	bus atomic.Pointer[bus.Bus]
	// forget is told what other nodes announced, before this node's streams end.
	forget atomic.Pointer[Forgetter]
}

// Forgetter drops what a node cached of credentials that another node ended or
// changed (the accounts domain's credential cache): tokens revoked, users deleted or
// changed. It is called from Relay's loop and must not wait.
type Forgetter func(tokens, users []uuid.UUID)

// ForgetRemote makes Relay call f with every announcement of another node, before it
// ends this node's streams: a credential revoked on another node is refused here at
// once, not after a cache timeout.
func (r *Revocations) ForgetRemote(f Forgetter) { r.forget.Store(&f) }

func (r *Revocations) forgetRemote(tokens, users []uuid.UUID) {
	if f := r.forget.Load(); f != nil {
		(*f)(tokens, users)
	}
}

// What a revocation message on the bus says (its one byte of data); its key is the
// token's or the user's id.
const (
	revokedToken byte = 1 + iota
	deletedUser
	changedUser
)

// Relay connects r to the other nodes of b until ctx ends: what r is told is published
// while another node follows revocations (one message per id, asked of
// bus.Bus.Interested first, so a single node publishes nothing), and what other nodes
// announce is applied to this node's streams. Call it once; announcements made before
// it runs stay on this node.
func (r *Revocations) Relay(ctx context.Context, b bus.Bus) error {
	r.bus.Store(&b)
	defer r.bus.Store(nil)
	sub, err := b.Subscribe(bus.KindRevocations, "", 0)
	if err != nil {
		return fmt.Errorf("follow revocations: %w", err)
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-sub.C():
			if !ok {
				return nil // the bus closed
			}
			id, err := uuid.Parse(m.Key)
			if err != nil || len(m.Data) != 1 {
				continue // not ours to understand: at most once, dropped
			}
			ids := []uuid.UUID{id}
			switch m.Data[0] {
			case revokedToken:
				r.forgetRemote(ids, nil)
				r.endTokens(ids)
			case deletedUser:
				r.forgetRemote(nil, ids)
				r.endUsers(ids)
			case changedUser:
				r.forgetRemote(nil, ids)
				r.kickUsers(ids)
			}
		}
	}
}

// announce publishes an announcement to the other nodes that follow revocations.
func (r *Revocations) announce(what byte, ids []uuid.UUID) {
	p := r.bus.Load()
	if p == nil {
		return
	}
	b := *p
	for _, id := range ids {
		key := id.String()
		if b.Interested(bus.KindRevocations, key) {
			// At most once: a message that cannot go (the bus closing) is lost, and the
			// other node's guards notice at their next RecheckEvery.
			_ = b.Publish(bus.Message{Kind: bus.KindRevocations, Key: key, Data: []byte{what}})
		}
	}
}

// NewRevocations returns an empty announcer.
func NewRevocations() *Revocations {
	return &Revocations{
		byToken: make(map[uuid.UUID]map[*StreamGuard]struct{}),
		byUser:  make(map[uuid.UUID]map[*StreamGuard]struct{}),
	}
}

func (r *Revocations) add(g *StreamGuard) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	addTo(r.byToken, g.viewer.TokenID, g)
	addTo(r.byUser, g.viewer.UserID, g)
}

func (r *Revocations) remove(g *StreamGuard) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	removeFrom(r.byToken, g.viewer.TokenID, g)
	removeFrom(r.byUser, g.viewer.UserID, g)
}

func addTo(m map[uuid.UUID]map[*StreamGuard]struct{}, k uuid.UUID, g *StreamGuard) {
	set := m[k]
	if set == nil {
		set = make(map[*StreamGuard]struct{})
		m[k] = set
	}
	set[g] = struct{}{}
}

func removeFrom(m map[uuid.UUID]map[*StreamGuard]struct{}, k uuid.UUID, g *StreamGuard) {
	if set := m[k]; set != nil {
		delete(set, g)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

func (r *Revocations) collect(m map[uuid.UUID]map[*StreamGuard]struct{}, ids []uuid.UUID) []*StreamGuard {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*StreamGuard
	for _, id := range ids {
		for g := range m[id] {
			out = append(out, g)
		}
	}
	return out
}

// TokensRevoked ends every open stream of this node authenticated with one of the
// tokens before it returns (from then on StreamGuard.Valid is false for them and their
// Context is done), and announces it to the other nodes.
func (r *Revocations) TokensRevoked(ids ...uuid.UUID) {
	if r == nil {
		return
	}
	r.endTokens(ids)
	r.announce(revokedToken, ids)
}

// UsersDeleted ends every open stream of the users on this node before it returns, and
// announces it to the other nodes.
func (r *Revocations) UsersDeleted(ids ...uuid.UUID) {
	if r == nil {
		return
	}
	r.endUsers(ids)
	r.announce(deletedUser, ids)
}

// UsersChanged makes every open stream of the users resolve its credential again soon
// (not before this returns): for changes that may or may not end a credential. Other
// nodes are told too.
func (r *Revocations) UsersChanged(ids ...uuid.UUID) {
	if r == nil {
		return
	}
	r.kickUsers(ids)
	r.announce(changedUser, ids)
}

func (r *Revocations) endTokens(ids []uuid.UUID) {
	for _, g := range r.collect(r.byToken, ids) {
		g.end(apperr.Unauthenticated("credential revoked; sign in again"))
	}
}

func (r *Revocations) endUsers(ids []uuid.UUID) {
	for _, g := range r.collect(r.byUser, ids) {
		g.end(apperr.Unauthenticated("account no longer exists"))
	}
}

func (r *Revocations) kickUsers(ids []uuid.UUID) {
	for _, g := range r.collect(r.byUser, ids) {
		g.kick()
	}
}

// AccessSource is a domain that decides who may see its resources (the sensors domain
// for sensors; rooms plug in through it, since room membership grants sight of a
// sensor) and announces when that ends.
type AccessSource interface {
	// WatchAccess checks that v may see every id now (the error of the first that
	// fails), then calls lost(id) at most once per id as soon as v may no longer see
	// it: before the call that changed access (a visibility change, a deletion, a room
	// change) returns to its caller. lost must be quick and must not call the source.
	// cancel stops watching; it is idempotent.
	WatchAccess(ctx context.Context, v Viewer, ids []string, lost func(id string)) (cancel func(), err error)
}

// StreamGuard is the one credential and access check of a long-lived stream (Stream,
// WatchBackpressure, Watch, WatchAttention, WatchStatus, and WatchRoom next). It ends
// the stream's Context at once when the credential is revoked or its user deleted
// (announced through Revocations), resolves the credential again when its user changed
// and every RecheckEvery (expiry), and, through Watch, tells the stream which of its
// resources the viewer lost.
//
// Package auth's interceptor guards every authenticated stream with one: the handler
// runs with the guard's Context (StreamGuardFrom finds the guard in it), every message
// sent or received after the credential ended is refused, and the stream ends with
// Err. Handlers therefore never check the credential themselves; they use the guard
// only to follow access (Watch, Allows).
type StreamGuard struct {
	viewer  Viewer
	recheck func(context.Context) error
	rev     *Revocations
	ctx     context.Context
	cancel  context.CancelCauseFunc
	ended   atomic.Pointer[error]
	once    sync.Once
	// checks runs the credential checks: a timer, not a goroutine per stream (an idle
	// stream costs no goroutine of its own; see docs/performance.md, "Memory per idle
	// sensor"). checkMu serialises the checks and guards the fields below it.
	checks   *time.Timer
	checkMu  sync.Mutex
	checking bool // a check runs (again set: run one more after it)
	again    bool
	closed   bool
	idle     sync.Cond // signalled when a check ends (Close waits for it)

	mu      sync.Mutex
	cancels []func()
	lost    map[string]bool
	anyLost atomic.Bool
}

// GuardStream starts guarding the stream whose request context is ctx: its caller must
// be authenticated (else the RequireViewer error). Close it when the stream ends.
func GuardStream(ctx context.Context) (*StreamGuard, error) {
	v, err := RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	r := RequestFrom(ctx)
	g := &StreamGuard{viewer: v, recheck: r.Recheck, rev: r.Revocations}
	g.idle.L = &g.checkMu
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	g.ctx = context.WithValue(g.ctx, guardKey{}, g)
	if g.recheck != nil {
		g.checks = time.AfterFunc(recheckDelay(), g.check)
	}
	g.rev.add(g)
	return g, nil
}

type guardKey struct{}

// StreamGuardFrom returns the guard of the stream whose Context is ctx (the context a
// guarded handler runs with): an Internal error when the stream is not guarded (a
// handler mounted without auth's interceptor), the RequireViewer error when the call
// is not authenticated.
func StreamGuardFrom(ctx context.Context) (*StreamGuard, error) {
	if g, ok := ctx.Value(guardKey{}).(*StreamGuard); ok {
		return g, nil
	}
	if _, err := RequireViewer(ctx); err != nil {
		return nil, err
	}
	return nil, apperr.Internal(errors.New("stream handler without a guard: mount it with auth's interceptor"))
}

// kick makes the guard resolve the credential again soon (its user changed).
func (g *StreamGuard) kick() {
	if g.checks == nil {
		return
	}
	g.checkMu.Lock()
	defer g.checkMu.Unlock()
	switch {
	case g.closed:
	case g.checking:
		g.again = true
	default:
		g.checks.Reset(0)
	}
}

// check resolves the credential again; it runs on the guard's timer, at every
// RecheckEvery and soon after a kick. A refusal (Unauthenticated or PermissionDenied)
// ends the stream; any other error (the database is unreachable) leaves it open until
// the next check. Checks never overlap: a kick during a check runs one more after it.
func (g *StreamGuard) check() {
	g.checkMu.Lock()
	if g.closed {
		g.checkMu.Unlock()
		return
	}
	if g.checking {
		g.again = true
		g.checkMu.Unlock()
		return
	}
	g.checking = true
	g.checkMu.Unlock()
	for {
		refused := false
		if err := g.recheck(g.ctx); err != nil {
			if k := apperr.KindOf(err); k == apperr.KindUnauthenticated || k == apperr.KindPermissionDenied {
				g.end(err)
				refused = true
			}
		}
		g.checkMu.Lock()
		if g.again && !refused && !g.closed {
			g.again = false
			g.checkMu.Unlock()
			continue
		}
		g.checking = false
		if !refused && !g.closed {
			g.checks.Reset(recheckDelay())
		}
		g.idle.Broadcast()
		g.checkMu.Unlock()
		return
	}
}

func (g *StreamGuard) end(err error) {
	if g.ended.CompareAndSwap(nil, &err) {
		g.cancel(err)
	}
}

// Viewer is the stream's caller.
func (g *StreamGuard) Viewer() Viewer { return g.viewer }

// Context is done when the stream's request ends or its credential does (then
// context.Cause and Err give the credential's error).
func (g *StreamGuard) Context() context.Context { return g.ctx }

// Valid reports whether the credential is still valid; cheap enough for every batch.
func (g *StreamGuard) Valid() bool { return g.ended.Load() == nil }

// Err returns the credential's error once it ended, else nil (also when the stream
// ended only because the client went away).
func (g *StreamGuard) Err() error {
	if p := g.ended.Load(); p != nil {
		return *p
	}
	return nil
}

// Watch checks that the viewer may see every id now and follows its access to them:
// lost(id) is called (once per id) as soon as the viewer may no longer see it, and
// from then on Allows(id) is false. Everything watched is released by Close.
func (g *StreamGuard) Watch(src AccessSource, ids []string, lost func(id string)) error {
	cancel, err := src.WatchAccess(g.ctx, g.viewer, ids, func(id string) {
		g.mu.Lock()
		if g.lost == nil {
			g.lost = make(map[string]bool)
		}
		g.lost[id] = true
		g.mu.Unlock()
		g.anyLost.Store(true)
		if lost != nil {
			lost(id)
		}
	})
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.cancels = append(g.cancels, cancel)
	g.mu.Unlock()
	return nil
}

// Allows reports whether the viewer has not lost access to id since Watch (an atomic
// load while nothing was lost).
func (g *StreamGuard) Allows(id string) bool {
	if !g.anyLost.Load() {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.lost[id]
}

// Close stops guarding: it stops following access and credential changes and waits
// for a credential check under way. It is idempotent.
func (g *StreamGuard) Close() {
	g.once.Do(func() {
		g.rev.remove(g)
		g.cancel(errGuardClosed)
		if g.checks != nil {
			g.checkMu.Lock()
			g.closed = true
			g.checks.Stop()
			for g.checking {
				g.idle.Wait()
			}
			g.checkMu.Unlock()
		}
		g.mu.Lock()
		cancels := g.cancels
		g.cancels = nil
		g.mu.Unlock()
		for _, c := range cancels {
			c()
		}
	})
}

var errGuardClosed = errors.New("stream guard closed")
