package accounts_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/user"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/mail"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	svc     *accounts.Service
	db      *ent.Client
	clock   *clock
	mailbox *mail.Mailbox
	deleted atomic.Int64
}

func newFixture(t testing.TB, dialect string, opts ...func(*accounts.Options)) *fixture {
	t.Helper()
	db := dbtest.Open(t, dialect)
	f := &fixture{db: db.Client, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, mailbox: mail.NewMailbox(10)}
	o := accounts.Options{
		Ent:            db.Client,
		Logger:         dbtest.Logger(t),
		Now:            f.clock.Now,
		PublicURL:      "http://sensocto.test",
		Mailer:         f.mailbox,
		Password:       accounts.TestPasswordParams,
		RatePerMinute:  1000,
		OnUsersDeleted: func(ids []uuid.UUID) { f.deleted.Add(int64(len(ids))) },
	}
	for _, fn := range opts {
		fn(&o)
	}
	svc, err := accounts.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

// as resolves secret as the middleware would and returns a context carrying the Viewer.
func (f *fixture) as(t *testing.T, secret string) context.Context {
	t.Helper()
	res, err := f.svc.Resolve(t.Context(), secret)
	if err != nil {
		t.Fatalf("resolve %.8s…: %v", secret, err)
	}
	return authz.WithViewer(t.Context(), res.Viewer)
}

func wantKind(t *testing.T, what string, err error, want apperr.Kind) {
	t.Helper()
	if got := apperr.KindOf(err); err == nil || got != want {
		t.Fatalf("%s: error %v (kind %v), want %v", what, err, got, want)
	}
}

func TestGuestExpiryAndActivity(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect)
			g, err := f.svc.SignInGuest(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			if !g.User.IsGuest || g.User.DisplayName == "" || !g.User.GuestExpiresAt.Equal(f.clock.Now().Add(accounts.DefaultGuestTTL)) {
				t.Fatalf("guest = %+v", g.User)
			}
			// Activity after 1h extends the guest's life to 1h + TTL.
			f.clock.Advance(time.Hour)
			if _, err := f.svc.Resolve(t.Context(), g.Secret); err != nil {
				t.Fatalf("resolve after 1h: %v", err)
			}
			f.clock.Advance(accounts.DefaultGuestTTL - time.Minute)
			if _, err := f.svc.Resolve(t.Context(), g.Secret); err != nil {
				t.Fatalf("resolve within the extended life: %v", err)
			}
			// No activity for longer than the TTL: refused on the next call, even
			// before the sweeper ran.
			f.clock.Advance(accounts.DefaultGuestTTL + time.Second)
			_, err = f.svc.Resolve(t.Context(), g.Secret)
			wantKind(t, "resolve of an expired guest", err, apperr.KindUnauthenticated)
		})
	}
}

func TestSweeperDeletesExpiredGuestsAndWhatTheyOwn(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect)
			ctx := t.Context()
			old, err := f.svc.SignInGuest(ctx, "old")
			if err != nil {
				t.Fatal(err)
			}
			reg, err := f.svc.SignUp(ctx, "keeper@example.com", "long-enough-password", "")
			if err != nil {
				t.Fatal(err)
			}
			f.db.Sensor.Create().SetID("old-hr").SetName("hr").SetOwnerID(old.User.ID).SaveX(ctx)
			room := f.db.Room.Create().SetName("old's room").SetOwnerID(old.User.ID).SaveX(ctx)
			f.db.RoomMembership.Create().SetRoomID(room.ID).SetUserID(reg.User.ID).SaveX(ctx)
			keepRoom := f.db.Room.Create().SetName("kept").SetOwnerID(reg.User.ID).SaveX(ctx)
			f.db.RoomMembership.Create().SetRoomID(keepRoom.ID).SetUserID(old.User.ID).SaveX(ctx)
			f.db.Sensor.Create().SetID("kept-hr").SetName("hr").SetOwnerID(reg.User.ID).SaveX(ctx)

			f.clock.Advance(accounts.DefaultGuestTTL - time.Minute)
			young, err := f.svc.SignInGuest(ctx, "young")
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(2 * time.Minute)
			n, err := f.svc.SweepGuests(ctx)
			if err != nil || n != 1 || f.deleted.Load() != 1 {
				t.Fatalf("SweepGuests = %d, %v (hook saw %d); want 1 deleted", n, err, f.deleted.Load())
			}
			if f.db.User.Query().Where(user.ID(old.User.ID)).ExistX(ctx) {
				t.Error("expired guest still exists")
			}
			if !f.db.User.Query().Where(user.ID(young.User.ID)).ExistX(ctx) {
				t.Error("live guest deleted")
			}
			if n := f.db.Sensor.Query().CountX(ctx); n != 1 {
				t.Errorf("%d sensors left, want only the registered user's", n)
			}
			if n := f.db.Room.Query().CountX(ctx); n != 1 {
				t.Errorf("%d rooms left, want only the registered user's", n)
			}
			if n := f.db.RoomMembership.Query().CountX(ctx); n != 0 {
				t.Errorf("%d memberships left, want 0", n)
			}
			_, err = f.svc.Resolve(ctx, old.Secret)
			wantKind(t, "resolve of a swept guest", err, apperr.KindUnauthenticated)
		})
	}
}

func TestGuestUpgradeKeepsWhatItOwns(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect)
			ctx := t.Context()
			g, err := f.svc.SignInGuest(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			f.db.Sensor.Create().SetID("phone").SetName("phone").SetOwnerID(g.User.ID).SaveX(ctx)
			f.db.Room.Create().SetName("mine").SetOwnerID(g.User.ID).SaveX(ctx)
			up, err := f.svc.SignUp(f.as(t, g.Secret), " Upgraded@Example.com ", "long-enough-password", "")
			if err != nil {
				t.Fatal(err)
			}
			if up.User.ID != g.User.ID || up.User.IsGuest || up.User.Email != "upgraded@example.com" || !up.User.HasPassword || !up.User.GuestExpiresAt.IsZero() {
				t.Fatalf("upgraded user = %+v, want the guest's id, registered, email normalised", up.User)
			}
			if up.User.DisplayName != g.User.DisplayName {
				t.Errorf("display name %q changed from %q", up.User.DisplayName, g.User.DisplayName)
			}
			if n := f.db.Sensor.Query().CountX(ctx) + f.db.Room.Query().CountX(ctx); n != 2 {
				t.Errorf("upgrade lost owned rows: %d left", n)
			}
			_, err = f.svc.Resolve(ctx, g.Secret)
			wantKind(t, "the guest session after upgrade", err, apperr.KindUnauthenticated)
			res, err := f.svc.Resolve(ctx, up.Secret)
			if err != nil || res.Viewer.IsGuest {
				t.Fatalf("new session = %+v, %v", res.Viewer, err)
			}
			f.clock.Advance(24 * time.Hour)
			if n, _ := f.svc.SweepGuests(ctx); n != 0 {
				t.Error("the sweeper deleted an upgraded guest")
			}
			if _, err := f.svc.SignIn(ctx, "upgraded@example.com", "long-enough-password"); err != nil {
				t.Errorf("sign in after upgrade: %v", err)
			}
		})
	}
}

func TestPasswordSignUpAndSignIn(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect)
			ctx := t.Context()
			s, err := f.svc.SignUp(ctx, "Ada@Example.com", "analytical-engine", "Ada")
			if err != nil {
				t.Fatal(err)
			}
			if s.User.Email != "ada@example.com" || s.User.DisplayName != "Ada" {
				t.Errorf("user = %+v", s.User)
			}
			_, err = f.svc.SignUp(ctx, "ada@example.com ", "another-password", "")
			wantKind(t, "duplicate sign-up", err, apperr.KindAlreadyExists)

			if _, err := f.svc.SignIn(ctx, " ADA@example.com", "analytical-engine"); err != nil {
				t.Errorf("sign in: %v", err)
			}
			_, errWrong := f.svc.SignIn(ctx, "ada@example.com", "difference-engine")
			_, errUnknown := f.svc.SignIn(ctx, "nobody@example.com", "analytical-engine")
			wantKind(t, "wrong password", errWrong, apperr.KindUnauthenticated)
			wantKind(t, "unknown email", errUnknown, apperr.KindUnauthenticated)
			if errWrong.Error() != errUnknown.Error() {
				t.Errorf("errors differ: %q vs %q", errWrong, errUnknown)
			}
		})
	}
}

func TestSessionRenewalAndRevocation(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect)
			ctx := t.Context()
			s, err := f.svc.SignUp(ctx, "grace@example.com", "cobol-is-fine", "")
			if err != nil {
				t.Fatal(err)
			}
			res, err := f.svc.Resolve(ctx, s.Secret)
			if err != nil || res.Renewed {
				t.Fatalf("first use = %+v, %v; want valid, not renewed", res, err)
			}
			f.clock.Advance(2 * time.Hour)
			res, err = f.svc.Resolve(ctx, s.Secret)
			if err != nil || !res.Renewed || !res.ExpiresAt.Equal(f.clock.Now().Add(accounts.DefaultSessionTTL)) {
				t.Fatalf("use after 2h = %+v, %v; want renewed to now+14d", res, err)
			}
			f.clock.Advance(time.Minute)
			if res, _ := f.svc.Resolve(ctx, s.Secret); res.Renewed {
				t.Error("renewed again within the hour")
			}
			// Unused for longer than the session lifetime: refused.
			f.clock.Advance(accounts.DefaultSessionTTL)
			_, err = f.svc.Resolve(ctx, s.Secret)
			wantKind(t, "expired session", err, apperr.KindUnauthenticated)

			// API tokens: revocation is immediate, despite the cache.
			s2, err := f.svc.SignIn(ctx, "grace@example.com", "cobol-is-fine")
			if err != nil {
				t.Fatal(err)
			}
			me := f.as(t, s2.Secret)
			tok, secret, err := f.svc.CreateAPIToken(me, "connector", authz.ScopePublish, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.svc.Resolve(ctx, secret)
			if err != nil || got.Viewer.Scope != authz.ScopePublish || got.Viewer.Kind != authz.KindAPI {
				t.Fatalf("API token resolves to %+v, %v", got.Viewer, err)
			}
			list, err := f.svc.ListAPITokens(me)
			if err != nil || len(list) != 1 || list[0].Prefix == "" || list[0].Name != "connector" {
				t.Fatalf("ListAPITokens = %+v, %v", list, err)
			}
			other, _ := f.svc.SignInGuest(ctx, "")
			err = f.svc.RevokeAPIToken(f.as(t, other.Secret), tok.ID)
			wantKind(t, "revoking another user's token", err, apperr.KindNotFound)
			if err := f.svc.RevokeAPIToken(me, tok.ID); err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.Resolve(ctx, secret)
			wantKind(t, "revoked API token", err, apperr.KindUnauthenticated)
			if err := f.svc.SignOut(me); err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.Resolve(ctx, s2.Secret)
			wantKind(t, "signed-out session", err, apperr.KindUnauthenticated)
		})
	}
}

func TestMagicLink(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect)
			ctx := t.Context()
			if err := f.svc.RequestMagicLink(ctx, "Linus@Example.com", "/rooms"); err != nil {
				t.Fatal(err)
			}
			msgs := f.mailbox.List()
			if len(msgs) != 1 || msgs[0].To != "linus@example.com" {
				t.Fatalf("mailbox = %+v", msgs)
			}
			const prefix = "http://sensocto.test/signin/magic?secret="
			link := msgs[0].Link
			if len(link) <= len(prefix) || link[:len(prefix)] != prefix {
				t.Fatalf("link %q does not point at the web app", link)
			}
			secret := link[len(prefix):]

			// Many concurrent uses: exactly one wins.
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					s, returnTo, err := f.svc.VerifyMagicLink(ctx, secret)
					if err == nil {
						wins.Add(1)
						if s.User.Email != "linus@example.com" || returnTo != "/rooms" {
							t.Errorf("verify = %+v, %q", s.User, returnTo)
						}
						return
					}
					if k := apperr.KindOf(err); k != apperr.KindUnauthenticated {
						t.Errorf("losing verify: %v", err)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d verifications succeeded, want exactly 1", wins.Load())
			}
			// A second link signs in the same (now existing) user.
			if err := f.svc.RequestMagicLink(ctx, "linus@example.com", ""); err != nil {
				t.Fatal(err)
			}
			secret2 := f.mailbox.List()[0].Link[len(prefix):]
			f.clock.Advance(accounts.DefaultMagicLinkTTL + time.Second)
			_, _, err := f.svc.VerifyMagicLink(ctx, secret2)
			wantKind(t, "expired link", err, apperr.KindUnauthenticated)
			if n := f.db.User.Query().CountX(ctx); n != 1 {
				t.Errorf("%d users, want 1", n)
			}
			// Per-address limit: a burst of 3 links, then refused with a retry hint.
			var last error
			for range 5 {
				last = f.svc.RequestMagicLink(ctx, "flood@example.com", "")
			}
			wantKind(t, "magic link flood", last, apperr.KindResourceExhausted)
			if e, _ := apperr.As(last); e.RetryAfter <= 0 {
				t.Errorf("no retry hint: %v", last)
			}
		})
	}
}

func TestRateLimitPerIP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite", func(o *accounts.Options) { o.RatePerMinute = 2 })
	a := authz.WithRequest(t.Context(), authz.Request{ClientIP: netip.MustParseAddr("198.51.100.1")})
	b := authz.WithRequest(t.Context(), authz.Request{ClientIP: netip.MustParseAddr("198.51.100.2")})
	for range 2 {
		if _, err := f.svc.SignInGuest(a, ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.svc.SignInGuest(a, "")
	wantKind(t, "third guest from one IP", err, apperr.KindResourceExhausted)
	if _, err := f.svc.SignInGuest(b, ""); err != nil {
		t.Errorf("another IP is limited: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	if _, err := f.svc.SignInGuest(a, ""); err != nil {
		t.Errorf("after the refill interval: %v", err)
	}
}

func TestSignInOIDC(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect)
			ctx := t.Context()
			existing, err := f.svc.SignUp(ctx, "hedy@example.com", "frequency-hopping", "")
			if err != nil {
				t.Fatal(err)
			}
			iss := "https://id.example.com"
			cases := []struct {
				name   string
				id     accounts.Identity
				wantID uuid.UUID // uuid.Nil: a new user
				want   apperr.Kind
			}{
				{"verified email links", accounts.Identity{Issuer: iss, Subject: "s1", Email: "Hedy@example.com", EmailVerified: true}, existing.User.ID, 0},
				{"then by subject", accounts.Identity{Issuer: iss, Subject: "s1", Email: "changed@example.com"}, existing.User.ID, 0},
				{"unverified email does not link", accounts.Identity{Issuer: iss, Subject: "s2", Email: "hedy@example.com"}, uuid.Nil, 0},
				{"other subject, same verified email", accounts.Identity{Issuer: iss, Subject: "s3", Email: "hedy@example.com", EmailVerified: true}, uuid.Nil, apperr.KindPermissionDenied},
				{"no subject", accounts.Identity{Issuer: iss}, uuid.Nil, apperr.KindUnauthenticated},
			}
			for _, c := range cases {
				s, err := f.svc.SignInOIDC(ctx, c.id)
				if c.want != 0 {
					wantKind(t, c.name, err, c.want)
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if c.wantID != uuid.Nil && s.User.ID != c.wantID {
					t.Errorf("%s: signed in %v, want %v", c.name, s.User.ID, c.wantID)
				}
				if c.wantID == uuid.Nil && (s.User.ID == existing.User.ID || s.User.Email != "") {
					t.Errorf("%s: got %+v, want a new user without email", c.name, s.User)
				}
			}
		})
	}
}

func TestUpdateMe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "sqlite")
	g, err := f.svc.SignInGuest(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := f.as(t, g.Secret)
	name := "Renamed"
	u, err := f.svc.UpdateMe(ctx, &name, map[string]any{"theme": "dark"}, nil)
	if err != nil || u.DisplayName != "Renamed" || u.Preferences["theme"] != "dark" {
		t.Fatalf("UpdateMe = %+v, %v", u, err)
	}
	res, _ := f.svc.Resolve(t.Context(), g.Secret)
	if res.Viewer.DisplayName != "Renamed" {
		t.Errorf("cached viewer name %q after rename", res.Viewer.DisplayName)
	}
	big := map[string]any{"x": string(make([]byte, accounts.MaxPreferencesBytes))}
	_, err = f.svc.UpdateMe(ctx, nil, big, nil)
	wantKind(t, "oversized preferences", err, apperr.KindInvalidArgument)
	_, err = f.svc.Me(t.Context())
	if !errors.Is(err, apperr.KindUnauthenticated) {
		t.Errorf("Me without viewer = %v", err)
	}
}

// TestUpdatePreferencesCompareAndSet: two writers that read the same version cannot
// both replace the preferences; the loser is refused as Aborted and changes nothing.
func TestUpdatePreferencesCompareAndSet(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect)
			g, err := f.svc.SignInGuest(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			ctx := f.as(t, g.Secret)
			read, err := f.svc.Me(ctx)
			if err != nil {
				t.Fatal(err)
			}
			v := read.PreferencesVersion
			first, err := f.svc.UpdateMe(ctx, nil, map[string]any{"pins": []any{"a"}}, &v)
			if err != nil {
				t.Fatalf("first writer: %v", err)
			}
			if first.PreferencesVersion != v+1 {
				t.Errorf("version after a change %d, want %d", first.PreferencesVersion, v+1)
			}
			name := "Loser"
			_, err = f.svc.UpdateMe(ctx, &name, map[string]any{"pins": []any{"b"}}, &v)
			wantKind(t, "second writer with a stale version", err, apperr.KindAborted)
			now, err := f.svc.Me(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if pins := now.Preferences["pins"].([]any); len(pins) != 1 || pins[0] != "a" || now.DisplayName == name {
				t.Errorf("after the refused change: %+v, want the first writer's pins and no rename", now)
			}
			// Re-read, re-apply: accepted.
			v = now.PreferencesVersion
			if _, err := f.svc.UpdateMe(ctx, nil, map[string]any{"pins": []any{"a", "b"}}, &v); err != nil {
				t.Fatalf("retry with the current version: %v", err)
			}
			// Without a version the change is unconditional (and still bumps it).
			u, err := f.svc.UpdateMe(ctx, nil, map[string]any{}, nil)
			if err != nil || u.PreferencesVersion != v+2 {
				t.Fatalf("unconditional change: %+v, %v", u.PreferencesVersion, err)
			}
		})
	}
}
