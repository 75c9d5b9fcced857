package auth

import (
	"context"
	"strings"

	"connectrpc.com/connect"

	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// PublicProcedures are the only procedures callable without a credential: the sign-in
// RPCs. Everything else, in every service present and future, needs a Viewer.
var PublicProcedures = []string{
	sensoctov1connect.AuthServiceGetAuthConfigProcedure,
	sensoctov1connect.AuthServiceSignInGuestProcedure,
	sensoctov1connect.AuthServiceSignUpProcedure,
	sensoctov1connect.AuthServiceSignInProcedure,
	sensoctov1connect.AuthServiceRequestMagicLinkProcedure,
	sensoctov1connect.AuthServiceVerifyMagicLinkProcedure,
	sensoctov1connect.AuthServiceBeginOidcSignInProcedure,
}

// PublicServices are service prefixes callable without a credential: gRPC health and
// server reflection (they reveal no user data).
var PublicServices = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// PublishProcedures are what a token with authz.ScopePublish may call: what a connector needs
// to register sensors and send their data. ScopeFull may call everything.
var PublishProcedures = []string{
	sensoctov1connect.SensorServiceRegisterSensorProcedure,
	sensoctov1connect.SensorServicePublishProcedure,
	sensoctov1connect.SensorServiceStreamProcedure,
	sensoctov1connect.SensorServiceWatchBackpressureProcedure,
}

// IsPublic reports whether procedure may be called without a credential.
func IsPublic(procedure string) bool {
	for _, p := range PublicProcedures {
		if p == procedure {
			return true
		}
	}
	for _, s := range PublicServices {
		if strings.HasPrefix(procedure, s) {
			return true
		}
	}
	return false
}

// ScopeAllows reports whether a credential of scope s may call procedure.
func ScopeAllows(s authz.Scope, procedure string) bool {
	switch s {
	case authz.ScopeFull:
		return true
	case authz.ScopePublish:
		for _, p := range PublishProcedures {
			if p == procedure {
				return true
			}
		}
	}
	return false
}

// Authorize is the per-procedure gate applied to every call: a public procedure passes
// (a refused credential is then ignored, so a stale cookie never blocks signing in);
// otherwise the call needs a Viewer whose token scope allows the procedure.
func Authorize(ctx context.Context, procedure string) error {
	if IsPublic(procedure) {
		return nil
	}
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return err
	}
	if !ScopeAllows(v.Scope, procedure) {
		return apperr.PermissionDenied("this token's scope (%s) does not allow %s", v.Scope, procedure)
	}
	return nil
}

// NewInterceptor returns the handler interceptor that applies Authorize to every unary
// call and stream before the handler (and before request validation) runs, and guards
// every authenticated stream with an authz.StreamGuard for its lifetime (guardStream).
func NewInterceptor() connect.Interceptor { return interceptor{} }

type interceptor struct{}

func (interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient {
			if err := Authorize(ctx, req.Spec().Procedure); err != nil {
				return nil, err
			}
		}
		return next(ctx, req)
	}
}

func (interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := authorizeStream(ctx, conn); err != nil {
			return err
		}
		return guardStream(ctx, conn, next)
	}
}

// authorizeStream is out of line: the interceptor's frame stays on a stream
// goroutine's stack for the stream's lifetime (docs/performance.md, "Memory per idle
// sensor").
//
//go:noinline
func authorizeStream(ctx context.Context, conn connect.StreamingHandlerConn) error {
	return Authorize(ctx, conn.Spec().Procedure)
}
