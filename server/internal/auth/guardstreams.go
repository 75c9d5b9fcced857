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
	if _, ok := authz.ViewerFrom(ctx); !ok {
		return next(ctx, conn) // a public stream (health, reflection): no credential to follow
	}
	g, err := authz.GuardStream(ctx)
	if err != nil {
		return err
	}
	defer g.Close()
	err = next(g.Context(), guardedConn{StreamingHandlerConn: conn, g: g})
	if gerr := g.Err(); gerr != nil {
		return gerr
	}
	return err
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
