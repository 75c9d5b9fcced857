package auth

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/rpc"
)

// CookieName is the name of the session cookie used by the web app.
const CookieName = "sensocto_session"

// SignedInCookieName is the session cookie's companion for the web app: readable by its
// scripts, holding no credential (the value is "1"), set, renewed and cleared together
// with the session cookie. The app asks who is signed in (GetMe) only when it is there,
// so a visitor who is not signed in makes no call that is refused.
const SignedInCookieName = "sensocto_signed_in"

// MiddlewareOptions configures Middleware.
type MiddlewareOptions struct {
	// Resolver resolves credentials.
	Resolver authz.Resolver
	// TrustedProxies are the networks whose X-Forwarded-For / X-Real-IP headers are
	// believed (see ClientIP).
	TrustedProxies []netip.Prefix
	// SecureCookies forces the Secure attribute (the public URL is https). Requests over
	// TLS get it anyway.
	SecureCookies bool
	// MaxAnonymousBodyBytes caps the body of a request without a valid credential (what
	// the sign-in RPCs, health and reflection need); 0 means DefaultMaxAnonymousBodyBytes.
	MaxAnonymousBodyBytes int64
	// IsProcedure reports whether a path is a served RPC procedure ("/pkg.Service/Method"),
	// which Authorize then gates before the body is read. Nil treats every path of that
	// shape as one; the app passes the procedures it serves, so an unknown one stays a 404.
	IsProcedure func(path string) bool
	// Revocations announces revoked credentials to the streams opened with them (see
	// authz.StreamGuard); nil: streams notice at their periodic recheck.
	Revocations *authz.Revocations
}

// DefaultMaxAnonymousBodyBytes caps the body of a request made without a valid
// credential: a sign-in request is a few hundred bytes.
const DefaultMaxAnonymousBodyBytes = 64 << 10

// errorWriter writes a refusal in the protocol of the request (Connect, gRPC, gRPC-Web).
var errorWriter = connect.NewErrorWriter()

// Middleware is the one authentication step: it resolves the credential of every request
// (the Authorization: Bearer header first, else the session cookie) into a Viewer in the
// request context, and records the client IP. A presented but invalid credential leaves
// no Viewer and records the refusal, so a protected RPC fails with Unauthenticated rather
// than running anonymously.
//
// Nothing heavy happens before authentication: an RPC that Authorize refuses (no or an
// invalid credential for a protected procedure, or outside the token's scope) is answered
// here, in the request's protocol, before its body is read or decoded; and the body of
// any request without a valid credential is capped at MaxAnonymousBodyBytes. The
// interceptor (NewInterceptor) applies the same rule again inside Connect.
func Middleware(next http.Handler, o MiddlewareOptions) http.Handler {
	maxAnon := o.MaxAnonymousBodyBytes
	if maxAnon <= 0 {
		maxAnon = DefaultMaxAnonymousBodyBytes
	}
	isProcedure := o.IsProcedure
	if isProcedure == nil {
		isProcedure = rpcShaped
	}
	m := &middleware{o: o, maxAnon: maxAnon, isProcedure: isProcedure}
	// The handler's frame stays on a stream goroutine's stack for the stream's
	// lifetime (docs/performance.md, "Memory per idle sensor"): the work is in prepare.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r = m.prepare(w, r); r != nil {
			next.ServeHTTP(w, r)
		}
	})
}

type middleware struct {
	o           MiddlewareOptions
	maxAnon     int64
	isProcedure func(path string) bool
}

// prepare authenticates r and returns it with its context, or nil once it answered it
// (refused).
//
//go:noinline
func (m *middleware) prepare(w http.ResponseWriter, r *http.Request) *http.Request {
	o, maxAnon, isProcedure := m.o, m.maxAnon, m.isProcedure
	ri := authz.Request{
		ClientIP:    ClientIP(r, o.TrustedProxies),
		Secure:      o.SecureCookies || r.TLS != nil,
		Revocations: o.Revocations,
		Body:        r.Body,
	}
	ctx := r.Context()
	var viewer *authz.Viewer
	secret, fromCookie := credential(r)
	if secret != "" {
		res, err := o.Resolver.Resolve(ctx, secret)
		switch {
		case err != nil:
			ri.CredentialErr = err
			if apperr.KindOf(err) == apperr.KindUnauthenticated && fromCookie {
				// A stale cookie: tell the browser to drop it and its companion.
				ClearSessionCookies(w.Header(), ri.Secure)
			}
		default:
			viewer = &res.Viewer
			resolver := o.Resolver // the closure holds the resolver, not all of o
			ri.Recheck = func(ctx context.Context) error {
				_, err := resolver.Resolve(ctx, secret)
				return err
			}
			switch {
			case fromCookie && res.Renewed:
				SetSessionCookies(w.Header(), secret, res.ExpiresAt, ri.Secure)
			case fromCookie && !hasCookie(r, SignedInCookieName):
				// A session from before the companion existed, or the browser dropped it.
				http.SetCookie(w, signedInCookie(res.ExpiresAt, ri.Secure))
			}
		}
	}
	if !hasCookie(r, CookieName) && hasCookie(r, SignedInCookieName) {
		// The session cookie expired in the browser: the companion goes too.
		http.SetCookie(w, clearSignedInCookie(ri.Secure))
	}
	ctx = authz.WithCall(ctx, viewer, ri)
	if isProcedure(r.URL.Path) {
		if err := Authorize(ctx, r.URL.Path); err != nil {
			refuse(w, r, err)
			return nil
		}
	}
	if viewer == nil && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > maxAnon {
			refuse(w, r, apperr.New(apperr.KindResourceExhausted, "request body too large without a credential"))
			return nil
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAnon)
	}
	return r.WithContext(ctx)
}

// refuse answers r with err: in the RPC protocol of the request when it is one, else as
// plain HTTP.
func refuse(w http.ResponseWriter, r *http.Request, err error) {
	ce := rpc.ConnectError(err)
	if errorWriter.IsSupported(r) {
		_ = errorWriter.Write(w, r, ce) // the client went away; nothing to do
		return
	}
	status := http.StatusUnauthorized
	switch ce.Code() {
	case connect.CodePermissionDenied:
		status = http.StatusForbidden
	case connect.CodeResourceExhausted:
		status = http.StatusRequestEntityTooLarge
	case connect.CodeUnavailable:
		status = http.StatusServiceUnavailable
	}
	http.Error(w, ce.Message(), status)
}

// rpcShaped reports whether path has the shape of an RPC procedure,
// /package.Service/Method (the first segment holds a dot, there is no third segment).
// Other paths (the web app, /healthz, /export/…) are not RPCs.
func rpcShaped(path string) bool {
	service, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return ok && strings.HasPrefix(path, "/") && strings.Contains(service, ".") && method != "" && !strings.Contains(method, "/")
}

// credential returns the bearer token, or else the session cookie's value.
func credential(r *http.Request) (secret string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token), false
		}
		// Another scheme is not ours; an empty secret would read as anonymous, so
		// hand the resolver something it refuses.
		return h, false
	}
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// SessionCookie is the httpOnly, SameSite=Lax session cookie carrying secret until
// expires.
func SessionCookie(secret string, expires time.Time, secure bool) *http.Cookie {
	return &http.Cookie{ //nolint:gosec // G124: Secure is set when served over TLS or an https public URL; plain-HTTP development needs it off
		Name:     CookieName,
		Value:    secret,
		Path:     "/",
		Expires:  expires,
		MaxAge:   max(int(time.Until(expires).Seconds()), 1),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// signedInCookie is the script-readable companion of a session cookie expiring at
// expires (SignedInCookieName).
func signedInCookie(expires time.Time, secure bool) *http.Cookie {
	return &http.Cookie{ //nolint:gosec // G124: as SessionCookie; HttpOnly is off on purpose, the value is no secret
		Name:     SignedInCookieName,
		Value:    "1",
		Path:     "/",
		Expires:  expires,
		MaxAge:   max(int(time.Until(expires).Seconds()), 1),
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// clearSignedInCookie deletes the companion cookie.
func clearSignedInCookie(secure bool) *http.Cookie {
	return &http.Cookie{ //nolint:gosec // G124: as signedInCookie
		Name:     SignedInCookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// SetSessionCookies adds to h the session cookie carrying secret until expires and its
// script-readable companion (SignedInCookieName).
func SetSessionCookies(h http.Header, secret string, expires time.Time, secure bool) {
	h.Add("Set-Cookie", SessionCookie(secret, expires, secure).String())
	h.Add("Set-Cookie", signedInCookie(expires, secure).String())
}

// ClearSessionCookies adds to h the deletion of the session cookie and its companion.
func ClearSessionCookies(h http.Header, secure bool) {
	h.Add("Set-Cookie", ClearCookie(secure).String())
	h.Add("Set-Cookie", clearSignedInCookie(secure).String())
}

// hasCookie reports whether r carries a non-empty cookie name.
func hasCookie(r *http.Request, name string) bool {
	c, err := r.Cookie(name)
	return err == nil && c.Value != ""
}

// ClearCookie deletes the session cookie.
func ClearCookie(secure bool) *http.Cookie {
	return &http.Cookie{ //nolint:gosec // G124: as SessionCookie
		Name:     CookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}
