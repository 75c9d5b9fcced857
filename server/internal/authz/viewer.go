// Package authz owns authorization as pure rules over who is calling, with no transport
// in it (it imports neither Connect, nor gen/, nor net/http): the Viewer (the caller,
// resolved from exactly one credential) and the context helpers that carry it and what
// the transport learned about the request (Request: client IP, TLS, the credential's
// refusal, how to resolve it again); token scopes and kinds; the Resolver a credential
// store implements; the rules over sensors, rooms and accounts as pure functions
// (policy.go); and the one guard of long-lived streams (guard.go: StreamGuard ends a
// stream at once when its credential is revoked, announced through Revocations, and
// tells it which resources its viewer lost, through an AccessSource). Domains import
// it; package auth, the transport side, fills the context from HTTP and Connect. It
// knows no domain: package accounts implements Resolver and feeds Revocations; package
// sensors implements AccessSource.
package authz

import (
	"context"
	"io"
	"net/netip"
	"time"

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

type requestKey struct{}

// Request is what the transport (package auth's middleware) learned about the request,
// for code that cannot see it (Connect simple handlers, domains) and for StreamGuard.
type Request struct {
	// ClientIP is the client's address behind trusted proxies (zero outside HTTP).
	ClientIP netip.Addr
	// Secure says the request arrived over TLS or the public URL is https.
	Secure bool
	// CredentialErr is set when a credential was presented but is not valid.
	CredentialErr error
	// Recheck resolves the request's credential again (nil without one).
	Recheck func(context.Context) error
	// Revocations announces revoked credentials to stream guards (may be nil).
	Revocations *Revocations
	// Body is the request's body (nil outside HTTP). Closing it makes a pending read of
	// the request return at once (HTTP/2; bidirectional streams need it), so a stream
	// the server ends is not left waiting for the client's next message (see
	// live.ConnectorConn.Abort); a connector session also waits on it for its next
	// message (sensorsrpc's connectorConn.Receive).
	Body io.ReadCloser
}

// WithRequest returns ctx carrying r: the middleware sets it for every request; tests
// and code that runs outside HTTP (the simulator acting as a user) may set it too.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, &r)
}

// RequestFrom returns the Request in ctx (the zero Request outside HTTP).
func RequestFrom(ctx context.Context) Request {
	if r, ok := ctx.Value(requestKey{}).(*Request); ok {
		return *r
	}
	return Request{}
}

// WithViewer returns ctx carrying v.
func WithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, &v)
}

// ViewerFrom returns the Viewer in ctx, if the call is authenticated.
func ViewerFrom(ctx context.Context) (Viewer, bool) {
	if v, ok := ctx.Value(viewerKey{}).(*Viewer); ok {
		return *v, true
	}
	return Viewer{}, false
}

// WithCall returns ctx carrying r and, when v is not nil, *v, as WithRequest and
// WithViewer would, in one allocation instead of four: the middleware does it for
// every request.
func WithCall(ctx context.Context, v *Viewer, r Request) context.Context {
	c := &callContext{Context: ctx, request: r}
	if v != nil {
		c.viewer, c.hasViewer = *v, true
	}
	return c
}

// callContext is the context WithCall returns; the values are held by pointer, as
// WithRequest and WithViewer hold theirs, so that reading them allocates nothing.
type callContext struct {
	context.Context
	viewer    Viewer
	hasViewer bool
	request   Request
}

func (c *callContext) Value(key any) any {
	switch key.(type) {
	case requestKey:
		return &c.request
	case viewerKey:
		if c.hasViewer {
			return &c.viewer
		}
	}
	return c.Context.Value(key)
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
func CredentialError(ctx context.Context) error { return RequestFrom(ctx).CredentialErr }

// ClientIPFrom returns the client address the middleware determined, or the zero Addr
// outside an HTTP request.
func ClientIPFrom(ctx context.Context) netip.Addr { return RequestFrom(ctx).ClientIP }

// IsSecure reports whether the request arrived over TLS or the server's public URL is
// https, so cookies get the Secure attribute.
func IsSecure(ctx context.Context) bool { return RequestFrom(ctx).Secure }

// Resolution is a credential resolved by a Resolver.
type Resolution struct {
	Viewer Viewer
	// ExpiresAt is when the credential expires unless renewed (zero: never).
	ExpiresAt time.Time
	// Renewed says this use extended a session's lifetime, so a cookie carrying it
	// should be sent again with the new expiry.
	Renewed bool
}

// Resolver turns a secret (bearer token or cookie value) into a Viewer. It returns an
// error of kind Unauthenticated for an unknown, expired or revoked secret, and must be
// cheap on the hot path (a cache, not a database round trip per call).
type Resolver interface {
	Resolve(ctx context.Context, secret string) (Resolution, error)
}
