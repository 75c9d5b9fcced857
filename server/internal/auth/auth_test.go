package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/auth"
	"github.com/sensocto/sensocto/server/internal/authz"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name, remote, xff, realIP, want string
	}{
		{"direct", "203.0.113.9:5555", "", "", "203.0.113.9"},
		{"untrusted peer's header ignored", "203.0.113.9:5555", "198.51.100.1", "", "203.0.113.9"},
		{"trusted proxy", "10.1.2.3:80", "198.51.100.1", "", "198.51.100.1"},
		{"spoofed left-most entry ignored", "10.1.2.3:80", "1.2.3.4, 198.51.100.1", "", "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:80", "198.51.100.1, 10.9.9.9", "", "198.51.100.1"},
		{"all hops trusted", "10.1.2.3:80", "10.2.2.2", "", "10.1.2.3"},
		{"malformed hop", "10.1.2.3:80", "198.51.100.1, garbage", "", "10.1.2.3"},
		{"x-real-ip", "10.1.2.3:80", "", "198.51.100.7", "198.51.100.7"},
		{"ipv6 trusted", "[::1]:80", "2001:db8::1", "", "2001:db8::1"},
		{"mapped v4", "[::ffff:203.0.113.9]:80", "", "", "203.0.113.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.remote
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if c.realIP != "" {
				r.Header.Set("X-Real-IP", c.realIP)
			}
			if got := auth.ClientIP(r, trusted); got.String() != c.want {
				t.Errorf("ClientIP = %s, want %s", got, c.want)
			}
		})
	}
}

// kind returns the error kind, or "ok".
func kind(err error) string {
	if err == nil {
		return "ok"
	}
	return apperr.KindOf(err).String()
}

type fakeResolver map[string]authz.Resolution

func (f fakeResolver) Resolve(_ context.Context, secret string) (authz.Resolution, error) {
	if r, ok := f[secret]; ok {
		return r, nil
	}
	return authz.Resolution{}, apperr.Unauthenticated("invalid credential")
}

func TestMiddlewareAndAuthorize(t *testing.T) {
	t.Parallel()
	full := authz.Viewer{UserID: uuid.New(), Scope: authz.ScopeFull, Kind: authz.KindSession}
	pub := authz.Viewer{UserID: uuid.New(), Scope: authz.ScopePublish, Kind: authz.KindAPI}
	res := fakeResolver{
		"sst_good": {Viewer: full, ExpiresAt: time.Now().Add(time.Hour), Renewed: true},
		"sat_pub":  {Viewer: pub},
	}
	getMe := sensoctov1connect.AuthServiceGetMeProcedure
	publish := sensoctov1connect.SensorServicePublishProcedure
	signIn := sensoctov1connect.AuthServiceSignInProcedure
	cases := []struct {
		name, header, cookie, procedure, want string
	}{
		{"nobody, protected", "", "", getMe, "unauthenticated"},
		{"nobody, public", "", "", signIn, "ok"},
		{"nobody, health", "", "", "/grpc.health.v1.Health/Check", "ok"},
		{"bearer", "Bearer sst_good", "", getMe, "ok"},
		{"bearer lower-case scheme", "bearer sst_good", "", getMe, "ok"},
		{"cookie", "", "sst_good", getMe, "ok"},
		{"bad bearer, protected", "Bearer nope", "", getMe, "unauthenticated"},
		{"bad bearer wins over good cookie", "Bearer nope", "sst_good", getMe, "unauthenticated"},
		{"bad cookie, public", "", "nope", signIn, "ok"},
		{"basic auth is refused", "Basic dXNlcjpwYXNz", "", getMe, "unauthenticated"},
		{"publish scope, publish", "Bearer sat_pub", "", publish, "ok"},
		{"publish scope, GetMe", "Bearer sat_pub", "", getMe, "permission_denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := "handler not reached"
			var setCookie []string
			h := auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = kind(auth.Authorize(r.Context(), c.procedure))
			}), auth.MiddlewareOptions{Resolver: res})
			r := httptest.NewRequest(http.MethodPost, c.procedure, strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			if c.cookie != "" {
				r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: c.cookie})
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			setCookie = w.Result().Header.Values("Set-Cookie")
			if c.want != "ok" {
				// Refused by the middleware itself, as a Connect error, before the
				// handler (and its decoding of the body).
				var body struct{ Code string }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || got != "handler not reached" {
					t.Fatalf("refusal: handler %s, body %q", got, w.Body.String())
				}
				got = body.Code
			}
			if got != c.want {
				t.Errorf("Authorize = %s, want %s", got, c.want)
			}
			if c.cookie == "sst_good" && c.header == "" && len(setCookie) == 0 {
				t.Error("a renewed session from a cookie did not re-send the cookie")
			}
			if c.cookie == "nope" && len(setCookie) == 0 {
				t.Error("a stale cookie was not cleared")
			}
		})
	}
}

func TestRequireViewer(t *testing.T) {
	t.Parallel()
	if _, err := authz.RequireViewer(context.Background()); !errors.Is(err, apperr.KindUnauthenticated) {
		t.Errorf("RequireViewer without viewer = %v", err)
	}
	v := authz.Viewer{UserID: uuid.New()}
	got, err := authz.RequireViewer(authz.WithViewer(context.Background(), v))
	if err != nil || got != v {
		t.Errorf("RequireViewer = %v, %v", got, err)
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	c := auth.SessionCookie("sst_x", time.Now().Add(time.Hour), true)
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge <= 0 {
		t.Errorf("cookie %v lacks HttpOnly/Secure/Lax/Path=/", c)
	}
	if auth.ClearCookie(false).MaxAge >= 0 {
		t.Error("ClearCookie does not expire the cookie")
	}
}

// TestSignedInCookie checks the session cookie's script-readable companion: set and
// cleared with the session cookie, holding no secret, and brought back in line by the
// middleware when the browser has one without the other.
func TestSignedInCookie(t *testing.T) {
	t.Parallel()
	expires := time.Now().Add(time.Hour)
	h := http.Header{}
	auth.SetSessionCookies(h, "sst_secret", expires, true)
	byName := func(h http.Header) map[string]*http.Cookie {
		out := map[string]*http.Cookie{}
		for _, c := range (&http.Response{Header: h}).Cookies() {
			out[c.Name] = c
		}
		return out
	}
	set := byName(h)
	session, hint := set[auth.CookieName], set[auth.SignedInCookieName]
	if session == nil || hint == nil {
		t.Fatalf("SetSessionCookies set %v", h.Values("Set-Cookie"))
	}
	if !session.HttpOnly || session.Value != "sst_secret" {
		t.Errorf("session cookie %v", session)
	}
	if hint.HttpOnly || hint.Value != "1" || !hint.Secure || hint.Path != "/" || hint.SameSite != http.SameSiteLaxMode {
		t.Errorf("companion %v: want readable by scripts, value 1, Secure, Path=/, Lax", hint)
	}
	if d := hint.Expires.Sub(session.Expires); d != 0 || hint.MaxAge != session.MaxAge {
		t.Errorf("companion expires %v (max-age %d), session %v (%d)", hint.Expires, hint.MaxAge, session.Expires, session.MaxAge)
	}
	h = http.Header{}
	auth.ClearSessionCookies(h, false)
	for name, c := range byName(h) {
		if c.MaxAge >= 0 {
			t.Errorf("ClearSessionCookies keeps %s: %v", name, c)
		}
	}
	if len(byName(h)) != 2 {
		t.Errorf("ClearSessionCookies cleared %v", h.Values("Set-Cookie"))
	}

	res := fakeResolver{
		"sst_good":    {Viewer: authz.Viewer{UserID: uuid.New(), Scope: authz.ScopeFull}, ExpiresAt: expires},
		"sst_renewed": {Viewer: authz.Viewer{UserID: uuid.New(), Scope: authz.ScopeFull}, ExpiresAt: expires, Renewed: true},
	}
	mw := auth.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), auth.MiddlewareOptions{Resolver: res})
	cases := []struct {
		name, session string
		hint          bool
		// want: the Set-Cookie per name, "set" or "clear"; absent: not sent.
		want map[string]string
	}{
		{"nobody", "", false, map[string]string{}},
		{"both, in line", "sst_good", true, map[string]string{}},
		{"session without companion", "sst_good", false, map[string]string{auth.SignedInCookieName: "set"}},
		{"companion without session", "", true, map[string]string{auth.SignedInCookieName: "clear"}},
		{"stale session", "nope", true, map[string]string{auth.CookieName: "clear", auth.SignedInCookieName: "clear"}},
		{"renewed", "sst_renewed", true, map[string]string{auth.CookieName: "set", auth.SignedInCookieName: "set"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/lobby", nil)
			if c.session != "" {
				r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: c.session})
			}
			if c.hint {
				r.AddCookie(&http.Cookie{Name: auth.SignedInCookieName, Value: "1"})
			}
			w := httptest.NewRecorder()
			mw.ServeHTTP(w, r)
			got := map[string]string{}
			for name, ck := range byName(w.Result().Header) {
				got[name] = "set"
				if ck.MaxAge < 0 {
					got[name] = "clear"
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("Set-Cookie %v, want %v", got, c.want)
			}
			for name, v := range c.want {
				if got[name] != v {
					t.Errorf("%s: %q, want %q", name, got[name], v)
				}
			}
		})
	}
}

type revocable struct {
	fakeResolver
	mu      sync.Mutex
	revoked error
	calls   int
}

func (r *revocable) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *revocable) set(err error) {
	r.mu.Lock()
	r.revoked = err
	r.mu.Unlock()
}

func (r *revocable) Resolve(ctx context.Context, secret string) (authz.Resolution, error) {
	r.mu.Lock()
	err := r.revoked
	r.calls++
	r.mu.Unlock()
	if err != nil {
		return authz.Resolution{}, err
	}
	return r.fakeResolver.Resolve(ctx, secret)
}

// guarded runs f inside an authenticated request with a StreamGuard, as a stream
// handler would.
func guarded(t *testing.T, res authz.Resolver, rev *authz.Revocations, f func(g *authz.StreamGuard)) {
	t.Helper()
	h := auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, err := authz.GuardStream(r.Context())
		if err != nil {
			t.Errorf("GuardStream: %v", err)
			return
		}
		defer g.Close()
		f(g)
	}), auth.MiddlewareOptions{Resolver: res, Revocations: rev})
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Authorization", "Bearer sst_good")
	h.ServeHTTP(httptest.NewRecorder(), r)
}

// waitDone waits (with a deadline) for the guard's context to end.
func waitDone(t *testing.T, g *authz.StreamGuard) {
	t.Helper()
	select {
	case <-g.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the guard did not end")
	}
}

func TestStreamGuardRevocation(t *testing.T) {
	t.Parallel()
	v := authz.Viewer{UserID: uuid.New(), TokenID: uuid.New(), Scope: authz.ScopeFull}
	res := &revocable{fakeResolver: fakeResolver{"sst_good": {Viewer: v}}}
	t.Run("a revoked token ends the stream before TokensRevoked returns", func(t *testing.T) {
		rev := authz.NewRevocations()
		guarded(t, res, rev, func(g *authz.StreamGuard) {
			if !g.Valid() || g.Err() != nil {
				t.Fatalf("a fresh guard: valid %v, err %v", g.Valid(), g.Err())
			}
			rev.TokensRevoked(uuid.New()) // another token: nothing happens
			if !g.Valid() {
				t.Fatal("another token's revocation ended the stream")
			}
			rev.TokensRevoked(v.TokenID)
			if g.Valid() || g.Context().Err() == nil || !errors.Is(g.Err(), apperr.KindUnauthenticated) {
				t.Fatalf("after revocation: valid %v, ctx %v, err %v", g.Valid(), g.Context().Err(), g.Err())
			}
			if !errors.Is(context.Cause(g.Context()), apperr.KindUnauthenticated) {
				t.Fatalf("cause = %v", context.Cause(g.Context()))
			}
		})
	})
	t.Run("a deleted user's streams end", func(t *testing.T) {
		rev := authz.NewRevocations()
		guarded(t, res, rev, func(g *authz.StreamGuard) {
			rev.UsersDeleted(v.UserID)
			if g.Valid() {
				t.Fatal("the stream of a deleted user is still valid")
			}
		})
	})
	t.Run("a changed user's credential is resolved again", func(t *testing.T) {
		rev := authz.NewRevocations()
		res := &revocable{fakeResolver: res.fakeResolver}
		guarded(t, res, rev, func(g *authz.StreamGuard) {
			res.set(apperr.Unauthenticated("revoked elsewhere"))
			rev.UsersChanged(v.UserID)
			waitDone(t, g)
			if !errors.Is(g.Err(), apperr.KindUnauthenticated) {
				t.Fatalf("err = %v", g.Err())
			}
		})
	})
	t.Run("an unreachable database does not end the stream", func(t *testing.T) {
		rev := authz.NewRevocations()
		res := &revocable{fakeResolver: res.fakeResolver}
		guarded(t, res, rev, func(g *authz.StreamGuard) {
			res.set(apperr.Unavailable(time.Second, "database down"))
			before := res.count()
			rev.UsersChanged(v.UserID)
			deadline := time.Now().Add(10 * time.Second)
			for res.count() == before && time.Now().Before(deadline) {
				runtime.Gosched()
			}
			if res.count() == before {
				t.Fatal("the announcement did not make the guard resolve again")
			}
			if !g.Valid() {
				t.Fatalf("an unreachable database ended the stream: %v", g.Err())
			}
			// A refusal announced after the outage still ends it: the outage did not.
			res.set(apperr.Unauthenticated("revoked"))
			rev.UsersChanged(v.UserID)
			waitDone(t, g)
		})
	})
	t.Run("nil revocations and no request", func(t *testing.T) {
		var rev *authz.Revocations
		rev.TokensRevoked(v.TokenID)
		rev.UsersDeleted(v.UserID)
		rev.UsersChanged(v.UserID)
		if _, err := authz.GuardStream(context.Background()); !errors.Is(err, apperr.KindUnauthenticated) {
			t.Fatalf("GuardStream without a viewer = %v", err)
		}
		g, err := authz.GuardStream(authz.WithViewer(context.Background(), v))
		if err != nil || !g.Valid() {
			t.Fatalf("GuardStream outside HTTP = %v, %v", g, err)
		}
		g.Close()
		g.Close()
	})
}

type fakeAccess struct {
	lost    func(string)
	refused string
}

func (f *fakeAccess) WatchAccess(_ context.Context, _ authz.Viewer, ids []string, lost func(string)) (func(), error) {
	for _, id := range ids {
		if id == f.refused {
			return nil, apperr.NotFound("sensor not found")
		}
	}
	f.lost = lost
	return func() { f.lost = nil }, nil
}

func TestStreamGuardAccess(t *testing.T) {
	t.Parallel()
	v := authz.Viewer{UserID: uuid.New(), TokenID: uuid.New(), Scope: authz.ScopeFull}
	g, err := authz.GuardStream(authz.WithViewer(context.Background(), v))
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeAccess{refused: "hidden"}
	if err := g.Watch(src, []string{"a", "hidden"}, nil); !errors.Is(err, apperr.KindNotFound) {
		t.Fatalf("Watch of a hidden resource = %v", err)
	}
	var lost []string
	if err := g.Watch(src, []string{"a", "b"}, func(id string) { lost = append(lost, id) }); err != nil {
		t.Fatal(err)
	}
	if !g.Allows("a") || !g.Allows("b") {
		t.Fatal("a fresh watch does not allow its resources")
	}
	src.lost("a")
	if g.Allows("a") || !g.Allows("b") || len(lost) != 1 || lost[0] != "a" {
		t.Fatalf("after losing a: allows a %v, b %v, lost %v", g.Allows("a"), g.Allows("b"), lost)
	}
	g.Close()
	if src.lost != nil {
		t.Fatal("Close did not cancel the access watch")
	}
}

// countingBody is a request body that counts what was read of it.
type countingBody struct {
	remaining int64
	read      int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), b.remaining))
	clear(p[:n])
	b.remaining -= int64(n)
	b.read += int64(n)
	return n, nil
}

func (b *countingBody) Close() error { return nil }

// TestNothingHeavyBeforeAuthentication sends 3.75 MB bodies without a valid credential:
// to a protected RPC it is refused before a byte of the body is read; to a public one
// (or another route) at most the anonymous cap is read, whatever the handler tries.
func TestNothingHeavyBeforeAuthentication(t *testing.T) {
	t.Parallel()
	const size = 3_750_000
	res := fakeResolver{"sst_good": {Viewer: authz.Viewer{UserID: uuid.New(), Scope: authz.ScopeFull, Kind: authz.KindSession}}}
	cases := []struct {
		name, path, contentType, authz string
		chunked                        bool
		wantRead                       int64 // at most
		wantCode                       string
		wantHandler                    bool
	}{
		{"protected connect, no credential", sensoctov1connect.SensorServicePublishProcedure, "application/proto", "", false, 0, "unauthenticated", false},
		{"protected connect, bad credential", sensoctov1connect.SensorServicePublishProcedure, "application/json", "Bearer nope", false, 0, "unauthenticated", false},
		{"protected grpc stream, no credential", sensoctov1connect.SensorServiceStreamProcedure, "application/grpc", "", true, 0, "", false},
		{"public sign-in, declared length", sensoctov1connect.AuthServiceSignInProcedure, "application/json", "", false, 0, "resource_exhausted", false},
		{"public sign-in, chunked", sensoctov1connect.AuthServiceSignInProcedure, "application/json", "", true, auth.DefaultMaxAnonymousBodyBytes + 1, "", true},
		{"other route, chunked", "/export/x", "text/csv", "", true, auth.DefaultMaxAnonymousBodyBytes + 1, "", true},
		{"signed in, protected", sensoctov1connect.SensorServicePublishProcedure, "application/proto", "Bearer sst_good", false, size, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reached := false
			h := auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached = true
				_, _ = io.Copy(io.Discard, r.Body) // a handler that reads everything it is given
			}), auth.MiddlewareOptions{Resolver: res})
			body := &countingBody{remaining: size}
			r := httptest.NewRequest(http.MethodPost, c.path, body)
			r.ContentLength = size
			if c.chunked {
				r.ContentLength = -1
			}
			r.Header.Set("Content-Type", c.contentType)
			if c.authz != "" {
				r.Header.Set("Authorization", c.authz)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if body.read > c.wantRead {
				t.Errorf("%d bytes of the body were read, want at most %d", body.read, c.wantRead)
			}
			if reached != c.wantHandler {
				t.Errorf("handler reached = %v, want %v", reached, c.wantHandler)
			}
			if c.wantCode != "" {
				var got struct{ Code string }
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Code != c.wantCode {
					t.Errorf("response %d %q, want code %s", w.Code, w.Body.String(), c.wantCode)
				}
			}
			if c.contentType == "application/grpc" && w.Header().Get("Grpc-Status") != "16" {
				t.Errorf("gRPC refusal: status %d headers %v, want grpc-status 16 (unauthenticated)", w.Code, w.Header())
			}
		})
	}
}
