package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/token"
	"github.com/sensocto/sensocto/ent/user"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// Me returns the calling user.
func (s *Service) Me(ctx context.Context) (User, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return User{}, err
	}
	u, err := s.db.User.Get(ctx, v.UserID)
	if ent.IsNotFound(err) {
		s.cache.forgetUsers(v.UserID)
		s.opts.Revocations.UsersDeleted(v.UserID)
		return User{}, apperr.Unauthenticated("account no longer exists")
	}
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", err)
	}
	return toUser(u), nil
}

// UpdateMe changes the caller's display name (nil: unchanged) and preferences (nil:
// unchanged; otherwise replaced, at most MaxPreferencesBytes as JSON, and their version
// bumped). With ifPrefsVersion the change is a compare-and-set: it is made only while
// the stored preferences version equals *ifPrefsVersion, in the same UPDATE, and
// otherwise refused as Aborted with nothing changed.
func (s *Service) UpdateMe(ctx context.Context, displayName *string, prefs map[string]any, ifPrefsVersion *uint64) (User, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return User{}, err
	}
	upd := s.db.User.UpdateOneID(v.UserID)
	if displayName != nil {
		name := strings.TrimSpace(*displayName)
		if name == "" {
			return User{}, apperr.InvalidArgument("display_name", "must not be blank")
		}
		upd.SetDisplayName(name)
	}
	if prefs != nil {
		b, err := json.Marshal(prefs)
		if err != nil {
			return User{}, apperr.InvalidArgument("preferences", "cannot be encoded as JSON")
		}
		if len(b) > MaxPreferencesBytes {
			return User{}, apperr.InvalidArgument("preferences", fmt.Sprintf("at most %d bytes encoded, got %d", MaxPreferencesBytes, len(b)))
		}
		upd.SetPreferences(prefs).AddPreferencesVersion(1)
		if ifPrefsVersion != nil {
			if *ifPrefsVersion > math.MaxInt64 {
				return User{}, apperr.Aborted("preferences changed since version %d was read", *ifPrefsVersion)
			}
			upd.Where(user.PreferencesVersion(int64(*ifPrefsVersion)))
		}
	}
	u, err := upd.Save(ctx)
	if ent.IsNotFound(err) {
		if ifPrefsVersion != nil && prefs != nil {
			if ok, xerr := s.db.User.Query().Where(user.ID(v.UserID)).Exist(ctx); xerr == nil && ok {
				return User{}, apperr.Aborted("preferences changed since version %d was read: read them again", *ifPrefsVersion)
			}
		}
		return User{}, apperr.Unauthenticated("account no longer exists")
	}
	if err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	if displayName != nil {
		s.cache.forgetUsers(v.UserID) // the Viewer carries the name
	}
	return toUser(u), nil
}

// SignOut revokes the token used for this call; it is refused from the next call on.
func (s *Service) SignOut(ctx context.Context) error {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return err
	}
	if err := s.db.Token.UpdateOneID(v.TokenID).Where(token.RevokedAtIsNil()).SetRevokedAt(s.now()).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("revoke token: %w", err)
	}
	s.cache.forgetToken(v.TokenID)
	s.opts.Revocations.TokensRevoked(v.TokenID)
	if v.IsGuest {
		return s.endGuest(ctx, v.UserID)
	}
	return nil
}

// endGuest expires a guest that has just revoked a credential when none is left: a
// guest cannot sign in again, so the account is over. Its expiry is set to now (the
// sweeper deletes it and what it owns) and OnGuestSignedOut stops what it left running.
func (s *Service) endGuest(ctx context.Context, id uuid.UUID) error {
	now := s.now()
	live, err := s.db.Token.Query().Where(token.UserID(id), token.RevokedAtIsNil(),
		token.Or(token.ExpiresAtIsNil(), token.ExpiresAtGT(now)),
		token.KindIn(token.KindSession, token.KindAPI)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("find the guest's credentials: %w", err)
	}
	if live {
		return nil // an API token still acts for it
	}
	if err := s.db.User.UpdateOneID(id).Where(user.IsGuest(true)).SetGuestExpiresAt(now).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("expire guest: %w", err)
	}
	s.cache.forgetUsers(id)
	if s.opts.OnGuestSignedOut != nil {
		s.opts.OnGuestSignedOut(ctx, id)
	}
	return nil
}

// CreateAPIToken creates an API token for the caller and returns it with its secret,
// which is never shown again. expiresIn 0 means it never expires.
func (s *Service) CreateAPIToken(ctx context.Context, name string, scope authz.Scope, expiresIn time.Duration) (APIToken, string, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return APIToken{}, "", err
	}
	var sc token.Scope
	switch scope {
	case authz.ScopePublish:
		sc = token.ScopePublish
	case authz.ScopeFull:
		sc = token.ScopeFull
	default:
		return APIToken{}, "", apperr.InvalidArgument("scope", "must be publish or full")
	}
	if v.Scope != authz.ScopeFull {
		return APIToken{}, "", apperr.PermissionDenied("this token may not create tokens")
	}
	n, err := s.db.Token.Query().Where(token.UserID(v.UserID), token.KindEQ(token.KindAPI), token.RevokedAtIsNil()).Count(ctx)
	if err != nil {
		return APIToken{}, "", fmt.Errorf("count tokens: %w", err)
	}
	if n >= MaxAPITokens {
		return APIToken{}, "", apperr.FailedPrecondition("you have %d API tokens, the most allowed; revoke one first", n)
	}
	secret, hash, err := newSecret(prefixAPI)
	if err != nil {
		return APIToken{}, "", err
	}
	create := s.db.Token.Create().SetHash(hash).SetKind(token.KindAPI).SetScope(sc).
		SetName(strings.TrimSpace(name)).SetUserID(v.UserID).SetPrefix(displayPrefix(secret))
	if expiresIn > 0 {
		create.SetExpiresAt(s.now().Add(expiresIn))
	}
	t, err := create.Save(ctx)
	if err != nil {
		return APIToken{}, "", fmt.Errorf("create token: %w", err)
	}
	return toAPIToken(t), secret, nil
}

// ListAPITokens lists the caller's API tokens that are not revoked, newest first.
func (s *Service) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := s.db.Token.Query().
		Where(token.UserID(v.UserID), token.KindEQ(token.KindAPI), token.RevokedAtIsNil()).
		Order(ent.Desc(token.FieldCreatedAt), ent.Desc(token.FieldID)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]APIToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, toAPIToken(t))
	}
	return out, nil
}

// RevokeAPIToken revokes one of the caller's API tokens at once. Another user's token,
// or an unknown id, is NotFound; revoking twice is fine.
func (s *Service) RevokeAPIToken(ctx context.Context, id uuid.UUID) error {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return err
	}
	t, err := s.db.Token.Query().Where(token.ID(id), token.KindEQ(token.KindAPI)).Only(ctx)
	if ent.IsNotFound(err) {
		return apperr.NotFound("API token not found")
	}
	if err != nil {
		return fmt.Errorf("find token: %w", err)
	}
	if t.UserID == nil {
		return apperr.NotFound("API token not found")
	}
	if err := authz.CheckSelf(v, *t.UserID); err != nil {
		return apperr.NotFound("API token not found")
	}
	if t.RevokedAt == nil {
		if err := s.db.Token.UpdateOneID(id).Where(token.RevokedAtIsNil()).SetRevokedAt(s.now()).Exec(ctx); err != nil && !ent.IsNotFound(err) {
			return fmt.Errorf("revoke token: %w", err)
		}
	}
	s.cache.forgetToken(id)
	s.opts.Revocations.TokensRevoked(id)
	return nil
}
