// Package auth owns authentication and authorization as a platform concern: the Viewer
// (who is calling, resolved from exactly one credential), the context helpers that carry
// it, the HTTP middleware that resolves a bearer token or session cookie into a Viewer,
// the Connect interceptor that refuses calls without one (PublicProcedures lists the
// exceptions) or outside a token's scope, the session cookie, the client IP behind
// trusted proxies, per-key rate limiting, and the authorization rules over sensors and
// rooms as pure functions (policy.go), and the one guard of long-lived streams
// (guard.go: StreamGuard ends a stream at once when its credential is revoked, announced
// through Revocations, and tells it which resources its viewer lost, through an
// AccessSource). It knows no domain: package accounts implements Resolver and feeds
// Revocations; package sensors implements AccessSource.
package auth

import (
	"context"
	"net/netip"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// Scope is what a credential may do.
type Scope string

// The scopes. Session tokens are always ScopeFull.
const (
	// ScopePublish may only register sensors and publish their data (connectors).
	ScopePublish Scope = "publish"
	// ScopeFull acts as the user in everything.
	ScopeFull Scope = "full"
)

// TokenKind is the kind of credential a Viewer authenticated with.
type TokenKind string

// The credential kinds accepted as bearer or cookie.
const (
	KindSession TokenKind = "session"
	KindAPI     TokenKind = "api"
)

// Viewer is the authenticated caller. Identity comes only from the credential, never from
// a request field.
type Viewer struct {
	// UserID is the calling user.
	UserID uuid.UUID
	// IsGuest says the user is a guest account.
	IsGuest bool
	// TokenID is the id of the token used for this call (revoked by SignOut).
	TokenID uuid.UUID
	// Kind is the kind of that token.
	Kind TokenKind
	// Scope limits what the token may do.
	Scope Scope
	// DisplayName is the user's name as it was when the token was resolved (it may lag
	// a rename by the cache lifetime).
	DisplayName string
}

type viewerKey struct{}

type requestInfoKey struct{}

// requestInfo is what the middleware learned about the HTTP request, for handlers that
// cannot see it (Connect simple handlers) and for the interceptor.
type requestInfo struct {
	clientIP netip.Addr
	secure   bool
	// credErr is set when a credential was presented but is not valid.
	credErr error
	// recheck resolves the request's credential again (nil without one).
	recheck func(context.Context) error
	// revocations announces revoked credentials to stream guards (may be nil).
	revocations *Revocations
}

// WithViewer returns ctx carrying v.
func WithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// ViewerFrom returns the Viewer in ctx, if the call is authenticated.
func ViewerFrom(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(viewerKey{}).(Viewer)
	return v, ok
}

// RequireViewer returns the Viewer in ctx or an Unauthenticated error.
func RequireViewer(ctx context.Context) (Viewer, error) {
	if v, ok := ViewerFrom(ctx); ok {
		return v, nil
	}
	if err := CredentialError(ctx); err != nil {
		return Viewer{}, err
	}
	return Viewer{}, apperr.Unauthenticated("sign in first")
}

// CredentialError returns the error of a credential that was presented but refused
// (invalid, expired or revoked), or nil.
func CredentialError(ctx context.Context) error {
	if ri, ok := ctx.Value(requestInfoKey{}).(requestInfo); ok {
		return ri.credErr
	}
	return nil
}

// ClientIPFrom returns the client address the middleware determined (see ClientIP), or
// the zero Addr outside an HTTP request.
func ClientIPFrom(ctx context.Context) netip.Addr {
	ri, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	return ri.clientIP
}

// IsSecure reports whether the request arrived over TLS or the server's public URL is
// https, so cookies get the Secure attribute.
func IsSecure(ctx context.Context) bool {
	ri, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	return ri.secure
}

// WithRequestInfo returns ctx as the middleware would set it, for tests and for code that
// runs outside HTTP (the simulator acting as a user).
func WithRequestInfo(ctx context.Context, clientIP netip.Addr, secure bool) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, requestInfo{clientIP: clientIP, secure: secure})
}
