package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/token"
	"github.com/sensocto/sensocto/ent/user"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/mail"
)

// ipKey is the rate-limit key of the calling client.
func ipKey(ctx context.Context) string {
	if ip := authz.ClientIPFrom(ctx); ip.IsValid() {
		return ip.String()
	}
	return "unknown"
}

// newSession creates a session token for u.
func (s *Service) newSession(ctx context.Context, c *ent.Client, u *ent.User) (Session, error) {
	secret, hash, err := newSecret(prefixSession)
	if err != nil {
		return Session{}, err
	}
	exp := s.now().Add(s.opts.SessionTTL)
	if _, err := c.Token.Create().SetHash(hash).SetKind(token.KindSession).SetScope(token.ScopeFull).
		SetUserID(u.ID).SetExpiresAt(exp).Save(ctx); err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return Session{Secret: secret, ExpiresAt: exp, User: toUser(u)}, nil
}

// SignInGuest creates a guest account named displayName (empty: generated) and signs it
// in. Guests expire after GuestTTL without activity.
func (s *Service) SignInGuest(ctx context.Context, displayName string) (Session, error) {
	if err := s.limitGuest.Check(ipKey(ctx), "guest sign-in"); err != nil {
		return Session{}, err
	}
	name := strings.TrimSpace(displayName)
	if name == "" {
		name = guestName()
	}
	var sess Session
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		u, err := tx.User.Create().SetDisplayName(name).SetIsGuest(true).
			SetGuestExpiresAt(s.now().Add(s.opts.GuestTTL)).SetLastSeenAt(s.now()).Save(ctx)
		if err != nil {
			return fmt.Errorf("create guest: %w", err)
		}
		sess, err = s.newSession(ctx, tx.Client(), u)
		return err
	})
	return sess, err
}

// SignUp creates an account with email and password and signs it in. Called by a guest,
// it upgrades that guest in place, keeping everything it owns, and replaces the guest's
// session. An address already in use is AlreadyExists.
func (s *Service) SignUp(ctx context.Context, email, password, displayName string) (Session, error) {
	if err := s.limitSignUp.Check(ipKey(ctx), "sign-up"); err != nil {
		return Session{}, err
	}
	email = normalizeEmail(email)
	name := strings.TrimSpace(displayName)
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return Session{}, fmt.Errorf("hash password: %w", err)
	}
	v, signedIn := authz.ViewerFrom(ctx)
	var sess Session
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		var u *ent.User
		var err error
		if signedIn && v.IsGuest {
			upd := tx.User.UpdateOneID(v.UserID).Where(user.IsGuest(true)).
				SetEmail(email).SetPasswordHash(hash).SetIsGuest(false).ClearGuestExpiresAt()
			if name != "" {
				upd.SetDisplayName(name)
			}
			u, err = upd.Save(ctx)
			if err == nil && v.Kind == authz.KindSession {
				err = tx.Token.UpdateOneID(v.TokenID).SetRevokedAt(s.now()).Exec(ctx)
			}
		} else {
			if name == "" {
				name = nameFromEmail(email)
			}
			u, err = tx.User.Create().SetEmail(email).SetPasswordHash(hash).SetDisplayName(name).Save(ctx)
		}
		switch {
		case ent.IsConstraintError(err):
			return apperr.AlreadyExists("an account with this email address exists; sign in instead")
		case ent.IsNotFound(err):
			return apperr.Unauthenticated("guest account expired; sign in again")
		case err != nil:
			return fmt.Errorf("save user: %w", err)
		}
		sess, err = s.newSession(ctx, tx.Client(), u)
		return err
	})
	if err != nil {
		return Session{}, err
	}
	if signedIn && v.IsGuest {
		s.cache.forgetUsers(v.UserID)
		if v.Kind == authz.KindSession {
			s.opts.Revocations.TokensRevoked(v.TokenID) // the guest's session was revoked above
		}
	}
	return sess, nil
}

// SignIn signs in with email and password. An unknown address, an account without a
// password and a wrong password all give the same Unauthenticated error after the same
// amount of hashing work.
func (s *Service) SignIn(ctx context.Context, email, password string) (Session, error) {
	if err := s.limitSignIn.Check(ipKey(ctx), "sign-in"); err != nil {
		return Session{}, err
	}
	email = normalizeEmail(email)
	if err := s.limitSignInEmail.Check(email, "sign-in"); err != nil {
		return Session{}, err
	}
	u, err := s.db.User.Query().Where(user.Email(email), user.IsGuest(false)).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return Session{}, fmt.Errorf("find user: %w", err)
	}
	stored := ""
	if u != nil && u.PasswordHash != nil {
		stored = *u.PasswordHash
	}
	ok, err := s.hasher.verify(ctx, stored, password)
	if err != nil && !errors.Is(err, errBadHash) {
		return Session{}, fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		return Session{}, apperr.Unauthenticated("wrong email or password")
	}
	return s.newSession(ctx, s.db, u)
}

// RequestMagicLink sends a single-use sign-in link, valid DefaultMagicLinkTTL, to email.
// It behaves the same whether or not an account exists (the account is created when the
// link is used). Requests are limited per client IP and per address. Without a Mailer it
// is FailedPrecondition.
func (s *Service) RequestMagicLink(ctx context.Context, email, returnTo string) error {
	if s.opts.Mailer == nil {
		return apperr.FailedPrecondition("email sign-in is not available on this server: it has no mail server (SENSOCTO_SMTP_URL) and is not in developer mode (SENSOCTO_DEV); sign in another way")
	}
	if err := s.limitMagic.Check(ipKey(ctx), "magic link"); err != nil {
		return err
	}
	email = normalizeEmail(email)
	if err := s.limitMagicEmail.Check(email, "magic link"); err != nil {
		return err
	}
	secret, hash, err := newSecret(prefixMagicLink)
	if err != nil {
		return err
	}
	create := s.db.Token.Create().SetHash(hash).SetKind(token.KindMagicLink).SetEmail(email).
		SetExpiresAt(s.now().Add(DefaultMagicLinkTTL))
	if returnTo != "" {
		create.SetReturnTo(returnTo)
	}
	if _, err := create.Save(ctx); err != nil {
		return fmt.Errorf("create magic link: %w", err)
	}
	link := s.opts.PublicURL + "/signin/magic?secret=" + url.QueryEscape(secret)
	msg := mail.Message{
		To:      email,
		Subject: "Your Sensocto sign-in link",
		Text: "Open this link to sign in to Sensocto:\n\n" + link +
			"\n\nIt works once and expires in 15 minutes. If you did not ask for it, ignore this email.\n",
		Link: link,
	}
	if err := s.mailer.Send(ctx, msg); err != nil {
		return apperr.Wrap(apperr.KindUnavailable, fmt.Errorf("send magic link: %w", err), "could not send the email; try again later")
	}
	return nil
}

// VerifyMagicLink signs in with a magic link's secret and returns where to go next. The
// link is consumed atomically (one winner under concurrency). The account is created on
// first use; a guest calling it is upgraded in place when the address has no account.
func (s *Service) VerifyMagicLink(ctx context.Context, secret string) (Session, string, error) {
	if err := s.limitVerify.Check(ipKey(ctx), "magic link"); err != nil {
		return Session{}, "", err
	}
	invalid := apperr.Unauthenticated("this sign-in link is invalid, used or expired; ask for a new one")
	if !wellFormed(secret, prefixMagicLink) {
		return Session{}, "", invalid
	}
	hash := hashSecret(secret)
	now := s.now()
	v, signedIn := authz.ViewerFrom(ctx)
	var (
		sess     Session
		returnTo string
		upgraded bool
	)
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		n, err := tx.Token.Update().
			Where(token.Hash(hash), token.KindEQ(token.KindMagicLink), token.RevokedAtIsNil(), token.ExpiresAtGT(now)).
			SetRevokedAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("consume magic link: %w", err)
		}
		if n != 1 {
			return invalid
		}
		t, err := tx.Token.Query().Where(token.Hash(hash)).Only(ctx)
		if err != nil {
			return fmt.Errorf("read magic link: %w", err)
		}
		returnTo = t.ReturnTo
		email := ""
		if t.Email != nil {
			email = *t.Email
		}
		u, err := tx.User.Query().Where(user.Email(email)).Only(ctx)
		switch {
		case ent.IsNotFound(err) && signedIn && v.IsGuest:
			u, err = tx.User.UpdateOneID(v.UserID).Where(user.IsGuest(true)).
				SetEmail(email).SetIsGuest(false).ClearGuestExpiresAt().Save(ctx)
			upgraded = err == nil
		case ent.IsNotFound(err):
			u, err = tx.User.Create().SetEmail(email).SetDisplayName(nameFromEmail(email)).Save(ctx)
		}
		if err != nil {
			return fmt.Errorf("find or create user: %w", err)
		}
		sess, err = s.newSession(ctx, tx.Client(), u)
		return err
	})
	if err != nil {
		return Session{}, "", err
	}
	if upgraded {
		s.cache.forgetUsers(v.UserID)
	}
	return sess, returnTo, nil
}

// Identity is an OpenID identity verified by the HTTP layer (ID token signature, nonce,
// audience) and the userinfo endpoint.
type Identity struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	// Name is a display name suggested by the provider.
	Name string
}

// SignInOIDC signs in with a verified OpenID identity: the user linked to issuer and
// subject; else the user with the same verified email address, which gets linked; else a
// new user.
func (s *Service) SignInOIDC(ctx context.Context, id Identity) (Session, error) {
	if id.Issuer == "" || id.Subject == "" {
		return Session{}, apperr.Unauthenticated("the identity provider returned no subject")
	}
	email := normalizeEmail(id.Email)
	var sess Session
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		u, err := tx.User.Query().Where(user.OidcIssuer(id.Issuer), user.OidcSubject(id.Subject)).Only(ctx)
		if ent.IsNotFound(err) && id.EmailVerified && email != "" {
			u, err = tx.User.Query().Where(user.Email(email)).Only(ctx)
			if err == nil {
				if u.OidcIssuer != nil && (*u.OidcIssuer != id.Issuer || u.OidcSubject == nil || *u.OidcSubject != id.Subject) {
					return apperr.PermissionDenied("this email address belongs to an account linked to another sign-in")
				}
				u, err = u.Update().SetOidcIssuer(id.Issuer).SetOidcSubject(id.Subject).Save(ctx)
			}
		}
		if ent.IsNotFound(err) {
			name := strings.TrimSpace(id.Name)
			if name == "" {
				name = nameFromEmail(email)
			}
			if r := []rune(name); len(r) > 64 {
				name = string(r[:64])
			}
			create := tx.User.Create().SetDisplayName(name).SetOidcIssuer(id.Issuer).SetOidcSubject(id.Subject)
			if id.EmailVerified && email != "" {
				create.SetEmail(email)
			}
			u, err = create.Save(ctx)
		}
		if err != nil {
			return fmt.Errorf("find or create OpenID user: %w", err)
		}
		sess, err = s.newSession(ctx, tx.Client(), u)
		return err
	})
	return sess, err
}
