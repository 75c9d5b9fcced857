package authz

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// RecheckEvery is how often a guarded stream resolves its credential again even when
// nothing was announced: it catches expiry (a token's or a guest's), which happens
// without an event, and changes made by another node.
const RecheckEvery = 5 * time.Second

// Revocations announces, inside this process, that credentials ended or changed, so
// that the streams opened with them react at once instead of at their next periodic
// check. The accounts domain calls it after revoking a token, deleting users or
// changing them; every StreamGuard of a request whose middleware was given it listens.
// A nil *Revocations is valid and announces nothing. (Across nodes the same
// announcements are to travel over the bus seam; until then another node notices
// within the credential cache's lifetime and RecheckEvery.)
type Revocations struct {
	mu      sync.Mutex
	byToken map[uuid.UUID]map[*StreamGuard]struct{}
	byUser  map[uuid.UUID]map[*StreamGuard]struct{}
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

// TokensRevoked ends every open stream authenticated with one of the tokens before it
// returns: from then on StreamGuard.Valid is false for them and their Context is done.
func (r *Revocations) TokensRevoked(ids ...uuid.UUID) {
	if r == nil {
		return
	}
	for _, g := range r.collect(r.byToken, ids) {
		g.end(apperr.Unauthenticated("credential revoked; sign in again"))
	}
}

// UsersDeleted ends every open stream of the users before it returns.
func (r *Revocations) UsersDeleted(ids ...uuid.UUID) {
	if r == nil {
		return
	}
	for _, g := range r.collect(r.byUser, ids) {
		g.end(apperr.Unauthenticated("account no longer exists"))
	}
}

// UsersChanged makes every open stream of the users resolve its credential again soon
// (not before this returns): for changes that may or may not end a credential.
func (r *Revocations) UsersChanged(ids ...uuid.UUID) {
	if r == nil {
		return
	}
	for _, g := range r.collect(r.byUser, ids) {
		select {
		case g.kick <- struct{}{}:
		default:
		}
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
// resources the viewer lost. Handlers select on Context().Done() and return Err();
// ingest paths check Valid() (an atomic load) before accepting data.
type StreamGuard struct {
	viewer  Viewer
	recheck func(context.Context) error
	rev     *Revocations
	ctx     context.Context
	cancel  context.CancelCauseFunc
	kick    chan struct{}
	ended   atomic.Pointer[error]
	wg      sync.WaitGroup
	once    sync.Once

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
	g := &StreamGuard{viewer: v, recheck: r.Recheck, rev: r.Revocations, kick: make(chan struct{}, 1)}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	g.rev.add(g)
	if g.recheck != nil {
		g.wg.Go(g.run)
	}
	return g, nil
}

// run resolves the credential again on every announcement of a change and every
// RecheckEvery. A refusal (Unauthenticated or PermissionDenied) ends the stream; any
// other error (the database is unreachable) leaves it open until the next check.
func (g *StreamGuard) run() {
	t := time.NewTicker(RecheckEvery)
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		case <-g.kick:
		}
		if err := g.recheck(g.ctx); err != nil {
			if k := apperr.KindOf(err); k == apperr.KindUnauthenticated || k == apperr.KindPermissionDenied {
				g.end(err)
				return
			}
		}
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
// for the guard's goroutine. It is idempotent.
func (g *StreamGuard) Close() {
	g.once.Do(func() {
		g.rev.remove(g)
		g.cancel(errGuardClosed)
		g.wg.Wait()
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
