// Package auth owns authentication as transport: the HTTP middleware that resolves a
// bearer token or session cookie into an authz.Viewer in the request context (with the
// client IP behind trusted proxies and the credential's refusal, as an authz.Request),
// the session cookie, the Connect interceptor that refuses calls without a Viewer
// (PublicProcedures lists the exceptions) or outside a token's scope, and the stream
// limiter (open streams per user and per client IP). The rules themselves, the Viewer
// and the stream guard are package authz, which domains import; handlers and the wiring
// import this package. It knows no domain.
package auth
