// Package accounts owns users and their credentials: guest accounts and their expiry
// (with the sweeper that deletes expired guests and what only they own), password
// sign-up and sign-in (argon2id), magic links, linking OpenID identities, session and
// API tokens (random secrets of which only a SHA-256 is stored), and resolving a secret
// into an authz.Viewer through an in-memory cache, so the hot path makes no database
// round trip. The OpenID protocol itself (redirects, code exchange) lives with the HTTP
// handlers; this package receives the verified identity.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/mail"
	"github.com/sensocto/sensocto/server/internal/ratelimit"
)

// Defaults of Options.
const (
	DefaultGuestTTL      = 2 * time.Hour
	DefaultSessionTTL    = 14 * 24 * time.Hour
	DefaultMagicLinkTTL  = 15 * time.Minute
	DefaultCacheTTL      = 30 * time.Second
	DefaultMaxStale      = 15 * time.Minute
	DefaultCacheSize     = 100_000
	DefaultRatePerMinute = 10
	// MaxPreferencesBytes bounds a user's preferences (JSON-encoded).
	MaxPreferencesBytes = 16 << 10
	// MaxAPITokens bounds the live API tokens per user.
	MaxAPITokens = 100

	// sessionRenewEvery throttles session renewal: a session is extended at most once
	// per this interval.
	sessionRenewEvery = time.Hour
	// lastUsedEvery throttles the last_used_at write of API tokens.
	lastUsedEvery = 5 * time.Minute
	// magicPerEmail and magicEmailEvery limit links to one address: a burst of 3, then
	// one per 5 minutes.
	magicPerEmail   = 3
	magicEmailEvery = 5 * time.Minute
	// signInPerEmail and signInEmailEvery limit password attempts on one account,
	// whatever the IP: a burst of 10, then one per minute.
	signInPerEmail   = 10
	signInEmailEvery = time.Minute
)

// Options configures a Service.
type Options struct {
	// Ent is the database client.
	Ent *ent.Client
	// Logger logs what the service does on its own (sweeps, mail failures).
	Logger zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PublicURL is the web app's base URL, for links in email (no trailing slash).
	PublicURL string
	// Mailer sends magic links. Nil: magic links cannot be delivered, so they are not
	// offered (Methods) and RequestMagicLink is refused.
	Mailer mail.Mailer
	// EmailDelivery says Mailer reaches real inboxes (a mail server is configured), as
	// opposed to only the development mailbox.
	EmailDelivery bool
	// GuestTTL is how long a guest lives without activity (0: DefaultGuestTTL).
	GuestTTL time.Duration
	// SessionTTL is how long a session lives without use (0: DefaultSessionTTL).
	SessionTTL time.Duration
	// CacheTTL is how long a resolved token is trusted without asking the database
	// (0: DefaultCacheTTL). Revocations on this node take effect at once; on another
	// node within CacheTTL.
	CacheTTL time.Duration
	// MaxStale is how long past CacheTTL a resolved token is still trusted while the
	// database cannot be reached (0: DefaultMaxStale), so an outage does not sign
	// everyone out or end open streams. Revocations and deletions known to this node
	// still apply at once; tokens never resolved before the outage get Unavailable.
	MaxStale time.Duration
	// CacheSize bounds the resolved-token cache (0: DefaultCacheSize).
	CacheSize int
	// Password are the argon2id parameters (zero: DefaultPasswordParams).
	Password PasswordParams
	// RatePerMinute is the per-IP limit of each sign-in RPC (0: DefaultRatePerMinute),
	// allowed as a burst and refilled evenly over a minute.
	RatePerMinute int
	// OIDCProviderName is shown as "Sign in with …" when OpenID sign-in is configured.
	OIDCProviderName string
	// DevMailbox says the development mailbox is enabled.
	DevMailbox bool
	// Revocations, when set, is told of every revoked token and deleted user, so open
	// streams of those credentials end at once (authz.StreamGuard).
	Revocations *authz.Revocations
	// OnUsersDeleted, when set, is called after the sweeper deleted users (and by the
	// database's cascades what they owned), so in-memory state can forget them.
	OnUsersDeleted func(ids []uuid.UUID)
	// OnGuestSignedOut, when set, is called after a guest signed out its last
	// credential: nobody can sign into the account again (it expired at once and the
	// sweeper deletes it), so what it left running (simulator runs) can stop.
	OnGuestSignedOut func(ctx context.Context, id uuid.UUID)
}

// Service is the accounts domain.
type Service struct {
	db     *ent.Client
	log    zerolog.Logger
	now    func() time.Time
	opts   Options
	hasher *hasher
	cache  *tokenCache
	mailer mail.Mailer

	limitSignUp, limitSignIn, limitGuest, limitMagic, limitVerify *ratelimit.Limiter
	// per address: magic links sent, and password attempts (guessing spread over
	// many IPs).
	limitMagicEmail, limitSignInEmail *ratelimit.Limiter
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Ent == nil {
		return nil, errors.New("accounts: no database client")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.GuestTTL <= 0 {
		o.GuestTTL = DefaultGuestTTL
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.MaxStale <= 0 {
		o.MaxStale = DefaultMaxStale
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.Password == (PasswordParams{}) {
		o.Password = DefaultPasswordParams
	}
	if o.RatePerMinute <= 0 {
		o.RatePerMinute = DefaultRatePerMinute
	}
	h, err := newHasher(o.Password, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	mailer := o.Mailer
	if mailer == nil {
		mailer = mail.Log{Logger: o.Logger} // never used: RequestMagicLink refuses first
	}
	perIP := func() *ratelimit.Limiter {
		return ratelimit.New(o.RatePerMinute, time.Minute/time.Duration(o.RatePerMinute), 0, o.Now)
	}
	return &Service{
		db:               o.Ent,
		log:              o.Logger,
		now:              o.Now,
		opts:             o,
		hasher:           h,
		cache:            newTokenCache(o.CacheSize),
		mailer:           mailer,
		limitSignUp:      perIP(),
		limitSignIn:      perIP(),
		limitGuest:       perIP(),
		limitMagic:       perIP(),
		limitVerify:      perIP(),
		limitMagicEmail:  ratelimit.New(magicPerEmail, magicEmailEvery, 0, o.Now),
		limitSignInEmail: ratelimit.New(signInPerEmail, signInEmailEvery, 0, o.Now),
	}, nil
}

// User is an account as its owner sees it.
type User struct {
	ID          uuid.UUID
	Email       string
	DisplayName string
	IsGuest     bool
	// GuestExpiresAt is zero for registered users.
	GuestExpiresAt time.Time
	HasPassword    bool
	OIDCIssuer     string
	Preferences    map[string]any
	// PreferencesVersion is bumped by every change of Preferences.
	PreferencesVersion uint64
	CreatedAt          time.Time
}

// Session is a signed-in session: its secret (shown once) and its user.
type Session struct {
	Secret    string
	ExpiresAt time.Time
	User      User
}

// APIToken describes an API token without its secret.
type APIToken struct {
	ID        uuid.UUID
	Name      string
	Scope     authz.Scope
	CreatedAt time.Time
	// ExpiresAt and LastUsedAt are zero when unset.
	ExpiresAt  time.Time
	LastUsedAt time.Time
	// Prefix is the start of the secret, to recognise it.
	Prefix string
}

// Methods are the sign-in methods offered.
type Methods struct {
	Guest, Password, MagicLink bool
	OIDCProviderName           string
	DevMailbox                 bool
	// EmailDelivery: sign-in mails reach real inboxes (a mail server is configured).
	EmailDelivery bool
}

// Methods returns the sign-in methods this server offers.
func (s *Service) Methods() Methods {
	return Methods{
		Guest: true, Password: true,
		// Offered only when the link can reach the user: by mail or in the dev mailbox.
		MagicLink:        s.opts.Mailer != nil,
		OIDCProviderName: s.opts.OIDCProviderName,
		DevMailbox:       s.opts.DevMailbox,
		EmailDelivery:    s.opts.EmailDelivery,
	}
}

func toUser(u *ent.User) User {
	out := User{
		ID:          u.ID,
		DisplayName: u.DisplayName,
		IsGuest:     u.IsGuest,
		HasPassword: u.PasswordHash != nil && *u.PasswordHash != "",
		Preferences: u.Preferences,
		CreatedAt:   u.CreatedAt,
		// NonNegative in the schema.
		PreferencesVersion: uint64(u.PreferencesVersion), //nolint:gosec // G115: never negative
	}
	if u.Email != nil {
		out.Email = *u.Email
	}
	if u.GuestExpiresAt != nil {
		out.GuestExpiresAt = *u.GuestExpiresAt
	}
	if u.OidcIssuer != nil {
		out.OIDCIssuer = *u.OidcIssuer
	}
	if out.Preferences == nil {
		out.Preferences = map[string]any{}
	}
	return out
}

func toAPIToken(t *ent.Token) APIToken {
	out := APIToken{ID: t.ID, Name: t.Name, Scope: authz.Scope(t.Scope), CreatedAt: t.CreatedAt, Prefix: t.Prefix}
	if t.ExpiresAt != nil {
		out.ExpiresAt = *t.ExpiresAt
	}
	if t.LastUsedAt != nil {
		out.LastUsedAt = *t.LastUsedAt
	}
	return out
}
