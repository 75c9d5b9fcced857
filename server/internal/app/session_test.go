package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/auth"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// testClock is a settable clock for the app.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestRefusedOnTheNextCall checks that a revoked API token, a signed-out session and an
// expired guest are refused by the very next call.
func TestRefusedOnTheNextCall(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			clock := &testClock{t: time.Now()}
			srv := startServer(t, dialect, map[string]string{"SENSOCTO_GUEST_TTL": "2h"}, app.WithClock(clock.now))
			ctx := t.Context()
			authAs := func(token string) sensoctov1connect.AuthServiceClient {
				return sensoctov1connect.NewAuthServiceClient(withToken(http.DefaultClient, token), srv.url)
			}
			getMe := func(token string) error {
				_, err := authAs(token).GetMe(ctx, &sensoctov1.GetMeRequest{})
				return err
			}
			wantUnauthenticated := func(what string, err error) {
				t.Helper()
				if connect.CodeOf(err) != connect.CodeUnauthenticated {
					t.Errorf("%s: %v, want unauthenticated", what, err)
				}
			}

			g := signInGuest(t, srv.url)
			tok, err := authAs(g).CreateApiToken(ctx, &sensoctov1.CreateApiTokenRequest{Name: "c", Scope: sensoctov1.TokenScope_TOKEN_SCOPE_FULL})
			if err != nil {
				t.Fatal(err)
			}
			if err := getMe(tok.GetSecret()); err != nil {
				t.Fatalf("GetMe with the API token: %v", err) // now cached
			}
			if _, err := authAs(g).RevokeApiToken(ctx, &sensoctov1.RevokeApiTokenRequest{TokenId: tok.GetToken().GetTokenId()}); err != nil {
				t.Fatal(err)
			}
			wantUnauthenticated("GetMe with a revoked API token", getMe(tok.GetSecret()))

			g2 := signInGuest(t, srv.url)
			if _, err := authAs(g2).SignOut(ctx, &sensoctov1.SignOutRequest{}); err != nil {
				t.Fatal(err)
			}
			wantUnauthenticated("GetMe after SignOut", getMe(g2))

			// The guest stays alive while active...
			clock.advance(90 * time.Minute)
			if err := getMe(g); err != nil {
				t.Fatalf("GetMe of an active guest: %v", err)
			}
			clock.advance(90 * time.Minute)
			if err := getMe(g); err != nil {
				t.Fatalf("GetMe of a guest active 90 minutes ago: %v", err)
			}
			// ...and is refused once idle for longer than the TTL.
			clock.advance(2*time.Hour + time.Second)
			wantUnauthenticated("GetMe of an expired guest", getMe(g))
		})
	}
}

// TestSignInRateLimit checks the per-IP limit answers resource_exhausted with RetryInfo.
func TestSignInRateLimit(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", map[string]string{"SENSOCTO_AUTH_RATE_LIMIT": "2"})
	client := sensoctov1connect.NewAuthServiceClient(http.DefaultClient, srv.url)
	var err error
	for range 3 {
		_, err = client.SignIn(t.Context(), &sensoctov1.SignInRequest{Email: "x@example.com", Password: "whatever"})
	}
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeResourceExhausted {
		t.Fatalf("third SignIn = %v, want resource_exhausted", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range cerr.Details() {
		if v, err := d.Value(); err == nil {
			if r, isRetry := v.(*errdetails.RetryInfo); isRetry {
				retry = r
			}
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("no RetryInfo with a positive delay in %v", cerr.Details())
	}
	// Other methods have their own bucket.
	if _, err := client.SignInGuest(t.Context(), &sensoctov1.SignInGuestRequest{}); err != nil {
		t.Errorf("SignInGuest after SignIn was limited: %v", err)
	}
}

// TestSessionCookie checks the web app's flow: sign-in sets an httpOnly SameSite=Lax
// cookie, later calls authenticate with it alone, and SignOut clears it.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar}
	client := sensoctov1connect.NewAuthServiceClient(browser, srv.url)
	res, err := connect.NewClient[sensoctov1.SignInGuestRequest, sensoctov1.SignInGuestResponse](
		browser, srv.url+sensoctov1connect.AuthServiceSignInGuestProcedure,
	).CallUnary(t.Context(), connect.NewRequest(&sensoctov1.SignInGuestRequest{DisplayName: "Cookie Monster"}))
	if err != nil {
		t.Fatal(err)
	}
	sc := res.Header().Get("Set-Cookie")
	for _, attr := range []string{"sensocto_session=sst_", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(sc, attr) {
			t.Errorf("Set-Cookie %q lacks %s", sc, attr)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("Set-Cookie %q is Secure on a plain-HTTP public URL", sc)
	}
	me, err := client.GetMe(t.Context(), &sensoctov1.GetMeRequest{})
	if err != nil || me.GetUser().GetDisplayName() != "Cookie Monster" || !me.GetUser().GetIsGuest() {
		t.Fatalf("GetMe with the cookie = %v, %v", me, err)
	}
	// The script-readable companion travels with it (the web app asks GetMe only then).
	u, err := url.Parse(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	names := func() map[string]string {
		out := map[string]string{}
		for _, c := range jar.Cookies(u) {
			out[c.Name] = c.Value
		}
		return out
	}
	if got := names(); got[auth.SignedInCookieName] != "1" || !strings.HasPrefix(got[auth.CookieName], "sst_") {
		t.Errorf("cookies after sign-in: %v", got)
	}
	if _, err := client.SignOut(t.Context(), &sensoctov1.SignOutRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 0 {
		t.Errorf("cookies after SignOut: %v, want none", got)
	}
	if _, err := client.GetMe(t.Context(), &sensoctov1.GetMeRequest{}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("GetMe after SignOut = %v, want unauthenticated", err)
	}
}

// TestStreamEndsWhenSignedOut checks that a running stream ends with unauthenticated once
// its session is revoked.
func TestStreamEndsWhenSignedOut(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	token := signInGuest(t, srv.url)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := sensoctov1connect.NewSystemServiceClient(withToken(h2cClient(), token), srv.url, connect.WithGRPC()).
		WatchStatus(ctx, &sensoctov1.WatchStatusRequest{IntervalMs: 250})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stream.Close() }()
	if !stream.Receive() {
		t.Fatalf("no first status: %v", stream.Err())
	}
	if _, err := sensoctov1connect.NewAuthServiceClient(withToken(http.DefaultClient, token), srv.url).
		SignOut(ctx, &sensoctov1.SignOutRequest{}); err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	if connect.CodeOf(stream.Err()) != connect.CodeUnauthenticated {
		t.Errorf("stream ended with %v, want unauthenticated", stream.Err())
	}
}

// TestIdleWatchEndsWhenSignedOut checks that a Watch of a sensor that publishes nothing
// still ends with unauthenticated once its session is revoked: credentials are rechecked
// on a timer, not only when something is delivered.
func TestIdleWatchEndsWhenSignedOut(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	token := signInGuest(t, srv.url)
	c := rtProtocols(srv.url, token)["grpc"]
	id := newSensorID("idle-watch")
	register(t, c.sensors, id)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := c.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{id}, SkipRecent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stream.Close() }()
	if _, err := sensoctov1connect.NewAuthServiceClient(withToken(http.DefaultClient, token), srv.url).
		SignOut(ctx, &sensoctov1.SignOutRequest{}); err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
		if len(stream.Msg().GetData()) > 0 {
			t.Fatalf("unexpected data: %v", stream.Msg())
		}
	}
	if connect.CodeOf(stream.Err()) != connect.CodeUnauthenticated {
		t.Errorf("watch ended with %v, want unauthenticated", stream.Err())
	}
}
