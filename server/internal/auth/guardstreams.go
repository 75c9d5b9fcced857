package auth

import (
	"context"

	"connectrpc.com/connect"

	"github.com/sensocto/sensocto/server/internal/authz"
)

// guardStream is the one re-validation of a stream's credential, applied by the
// interceptor (NewInterceptor) to every authenticated stream: Stream,
// WatchBackpressure, Watch, WatchAttention, WatchStatus and any stream to come. The
// handler runs with the guard's context (done at once when the credential is revoked
// or its user deleted, and when a periodic re-check refuses it) and finds the guard
// with authz.StreamGuardFrom; a message sent or received once the credential ended is
// refused with its error (a batch arriving after a revocation is never ingested); and
// the stream ends with the credential's error, whatever the handler returned then.
// Handlers therefore never check the credential themselves.
func guardStream(ctx context.Context, conn connect.StreamingHandlerConn, next connect.StreamingHandlerFunc) error {
	// This frame stays on a stream goroutine's stack for the stream's lifetime
	// (docs/performance.md, "Memory per idle sensor"): the work is in openGuard.
	g, gctx, gconn, err := openGuard(ctx, conn)
	if err != nil {
		return err
	}
	if g == nil {
		return next(ctx, conn) // a public stream (health, reflection): no credential to follow
	}
	defer g.Close()
	err = next(gctx, gconn)
	if gerr := g.Err(); gerr != nil {
		return gerr
	}
	return err
}

// openGuard guards the stream of an authenticated call: its guard, the context and
// connection the handler gets; no guard for a public stream.
//
//go:noinline
func openGuard(ctx context.Context, conn connect.StreamingHandlerConn) (*authz.StreamGuard, context.Context, connect.StreamingHandlerConn, error) {
	if _, ok := authz.ViewerFrom(ctx); !ok {
		return nil, nil, nil, nil
	}
	g, err := authz.GuardStream(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return g, g.Context(), guardedConn{StreamingHandlerConn: conn, g: g}, nil
}

// guardedConn refuses messages once the stream's credential ended (an atomic load per
// message).
type guardedConn struct {
	connect.StreamingHandlerConn
	g *authz.StreamGuard
}

func (c guardedConn) Send(msg any) error {
	if !c.g.Valid() {
		return c.g.Err()
	}
	return c.StreamingHandlerConn.Send(msg)
}

func (c guardedConn) Receive(msg any) error {
	if err := c.StreamingHandlerConn.Receive(msg); err != nil {
		return err // io.EOF must stay recognisable
	}
	if !c.g.Valid() {
		return c.g.Err()
	}
	return nil
}
