package accounts

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/token"
	"github.com/sensocto/sensocto/ent/user"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
)

var _ authz.Resolver = (*Service)(nil)

func errInvalidToken() error { return apperr.Unauthenticated("invalid, expired or revoked credential") }

// Resolve implements authz.Resolver: it turns a session or API token secret into a
// Viewer. Resolved tokens are cached for CacheTTL, so the hot path costs a hash and a map
// lookup; revocation and guest deletion on this node drop the entry at once. While the
// database cannot be reached a cached token stays valid for up to MaxStale more (asking
// again every staleRetryEvery); a token not in the cache then gets Unavailable. Each use
// renews a session (at most hourly), extends a guest's life (throttled), and records an
// API token's last use (at most every 5 minutes).
func (s *Service) Resolve(ctx context.Context, secret string) (authz.Resolution, error) {
	if !wellFormed(secret, prefixSession, prefixAPI) {
		return authz.Resolution{}, errInvalidToken()
	}
	// The secret is copied to the stack: []byte(secret) is longer than the 32 bytes
	// a conversion keeps off the heap, so it allocated on every call.
	var buf [64]byte
	k := cacheKey(sha256.Sum256(append(buf[:0], secret...)))
	now := s.now()
	e, gen := s.cache.get(k)
	stale := false
	if e == nil || now.Sub(e.loadedAt) >= s.opts.CacheTTL || now.Before(e.loadedAt) {
		if stale = s.servableStale(e, now); !stale {
			loaded, err := s.load(ctx, k, now)
			switch {
			case err == nil:
				s.cache.put(k, loaded, gen)
				e = loaded
			case e != nil && apperr.KindOf(err) == apperr.KindUnavailable && now.Sub(e.loadedAt) < s.opts.CacheTTL+s.opts.MaxStale:
				// The database is down: keep trusting what it said last (bounded by
				// MaxStale) and do not ask again for staleRetryEvery.
				if e.retryAt.Swap(now.Add(staleRetryEvery).UnixNano()) == 0 {
					s.log.Warn().Err(err).Msg("database unreachable; trusting a cached credential until it answers")
				}
				stale = true
			default:
				return authz.Resolution{}, err
			}
		}
	}
	if !e.expiresAt.IsZero() && !now.Before(e.expiresAt) {
		return authz.Resolution{}, apperr.Unauthenticated("credential expired; sign in again")
	}
	if e.viewer.IsGuest && !now.Before(e.guestExpiresAt) {
		return authz.Resolution{}, apperr.Unauthenticated("guest account expired; sign in again")
	}
	res := authz.Resolution{Viewer: e.viewer, ExpiresAt: e.expiresAt}
	if stale {
		return res, nil // no renewal writes while the database is unreachable
	}
	if renewed := s.touch(ctx, k, e, now); renewed != nil {
		res.ExpiresAt = renewed.expiresAt
		res.Renewed = e.viewer.Kind == authz.KindSession && !renewed.expiresAt.Equal(e.expiresAt)
	}
	return res, nil
}

// staleRetryEvery is how often a credential served stale during a database outage asks
// the database again.
const staleRetryEvery = time.Second

// servableStale reports whether e, past its CacheTTL, is being served stale after a
// failed load and the next attempt is not due yet (and MaxStale is not exceeded).
func (s *Service) servableStale(e *cachedToken, now time.Time) bool {
	if e == nil {
		return false
	}
	r := e.retryAt.Load()
	return r != 0 && now.UnixNano() < r && !now.Before(e.loadedAt) && now.Sub(e.loadedAt) < s.opts.CacheTTL+s.opts.MaxStale
}

// load reads the token and its user.
func (s *Service) load(ctx context.Context, k cacheKey, now time.Time) (*cachedToken, error) {
	t, err := s.db.Token.Query().
		Where(token.Hash(k[:]), token.KindIn(token.KindSession, token.KindAPI), token.RevokedAtIsNil()).
		WithUser().
		Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, errInvalidToken()
	case err != nil:
		return nil, fmt.Errorf("load token: %w", err)
	case t.Edges.User == nil:
		return nil, errInvalidToken()
	}
	u := t.Edges.User
	e := &cachedToken{
		viewer: authz.Viewer{
			UserID:      u.ID,
			IsGuest:     u.IsGuest,
			TokenID:     t.ID,
			Kind:        authz.TokenKind(t.Kind),
			Scope:       authz.Scope(t.Scope),
			DisplayName: u.DisplayName,
		},
		loadedAt: now,
	}
	if t.Kind == token.KindSession {
		e.viewer.Scope = authz.ScopeFull
	}
	if t.ExpiresAt != nil {
		e.expiresAt = *t.ExpiresAt
	}
	if t.LastUsedAt != nil {
		e.lastUsedAt = *t.LastUsedAt
	}
	if u.IsGuest && u.GuestExpiresAt != nil {
		e.guestExpiresAt = *u.GuestExpiresAt
	}
	return e, nil
}

// touch writes the throttled renewals due for e, and returns the updated entry, or nil
// when nothing was due (or another request is already writing it). A failed write is
// logged, not fatal: the credential is still valid.
func (s *Service) touch(ctx context.Context, k cacheKey, e *cachedToken, now time.Time) *cachedToken {
	renewSession := e.viewer.Kind == authz.KindSession && e.expiresAt.Sub(now) < s.opts.SessionTTL-sessionRenewEvery
	markUsed := e.viewer.Kind == authz.KindAPI && now.Sub(e.lastUsedAt) >= lastUsedEvery
	extendGuest := e.viewer.IsGuest && e.guestExpiresAt.Sub(now) < s.opts.GuestTTL-s.guestRenewEvery()
	if !renewSession && !markUsed && !extendGuest {
		return nil
	}
	if !e.touching.CompareAndSwap(false, true) {
		return nil
	}
	defer e.touching.Store(false)
	n := &cachedToken{viewer: e.viewer, loadedAt: e.loadedAt, expiresAt: e.expiresAt, guestExpiresAt: e.guestExpiresAt, lastUsedAt: e.lastUsedAt}
	if renewSession || markUsed {
		upd := s.db.Token.UpdateOneID(e.viewer.TokenID).Where(token.RevokedAtIsNil()).SetLastUsedAt(now)
		if renewSession {
			n.expiresAt = now.Add(s.opts.SessionTTL)
			upd.SetExpiresAt(n.expiresAt)
		}
		if err := upd.Exec(ctx); err != nil && !ent.IsNotFound(err) {
			s.log.Warn().Err(err).Msg("renew token")
			return nil
		}
		n.lastUsedAt = now
	}
	if extendGuest {
		n.guestExpiresAt = now.Add(s.opts.GuestTTL)
		err := s.db.User.UpdateOneID(e.viewer.UserID).Where(user.IsGuest(true)).
			SetGuestExpiresAt(n.guestExpiresAt).SetLastSeenAt(now).Exec(ctx)
		if err != nil && !ent.IsNotFound(err) {
			s.log.Warn().Err(err).Msg("extend guest")
			return nil
		}
	}
	s.cache.replace(k, e, n)
	return n
}

// guestRenewEvery throttles the guest-expiry write: a tenth of the TTL, at most 10
// minutes.
func (s *Service) guestRenewEvery() time.Duration {
	return min(s.opts.GuestTTL/10, 10*time.Minute)
}
