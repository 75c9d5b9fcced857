// Package rpctest serves one Connect handler in process for its tests, in the style of
// the connect-go examples: a real HTTP server on a loopback port (HTTP/1.1 and
// unencrypted HTTP/2), the handler mounted with the same interceptors the app uses
// (rpc.HandlerOptions with auth's interceptor: errors, validation, scopes) behind the
// real auth.Middleware, and clients of every protocol the server speaks to run each
// case through (Protocols: Connect and gRPC). Credentials are bearer tokens that a
// fixed table (Tokens) resolves to viewers, so a handler is tested alone, without the
// accounts domain. Only tests import it.
package rpctest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/contract"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/auth"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/rpc"
)

// Protocol is a way of calling the server: its name and the client options that select it.
type Protocol struct {
	Name string
	Opts []connect.ClientOption
}

// Protocols are the protocols every handler test runs through: Connect (the web app's,
// with JSON) and gRPC (binary protobuf, the connectors' and grpcurl's).
var Protocols = []Protocol{
	{Name: "connect", Opts: []connect.ClientOption{connect.WithProtoJSON()}},
	{Name: "grpc", Opts: []connect.ClientOption{connect.WithGRPC()}},
}

// Server is one handler served in process.
type Server struct {
	// URL is the server's base URL.
	URL string
	// Revocations ends the streams of revoked tokens (TokensRevoked), as the accounts
	// domain does in the app.
	Revocations *authz.Revocations
	client      *http.Client
}

// Tokens maps bearer tokens to the viewers they authenticate.
type Tokens map[string]authz.Viewer

// Resolve implements authz.Resolver over the table.
func (t Tokens) Resolve(_ context.Context, secret string) (authz.Resolution, error) {
	if v, ok := t[secret]; ok {
		return authz.Resolution{Viewer: v}, nil
	}
	return authz.Resolution{}, apperr.Unauthenticated("invalid credential")
}

// Serve starts a server for the handler that mount returns (a generated
// New<Service>Handler given the options), with credentials resolved by resolver (a
// Tokens table, or the accounts domain for AuthService), and stops it when the test
// ends.
func Serve(t testing.TB, resolver authz.Resolver, mount func(opts ...connect.HandlerOption) (string, http.Handler)) *Server {
	t.Helper()
	opts, err := rpc.HandlerOptions(zerolog.Nop(), nil, auth.NewInterceptor())
	if err != nil {
		t.Fatal(err)
	}
	path, h := mount(opts...)
	mux := http.NewServeMux()
	mux.Handle(path, h)
	rev := authz.NewRevocations()
	url, client := ServeH2C(t, auth.Middleware(mux, auth.MiddlewareOptions{Resolver: resolver, Revocations: rev}))
	return &Server{URL: url, Revocations: rev, client: client}
}

// ServeH2C serves h on a loopback port over HTTP/1.1 and unencrypted HTTP/2 until the
// test ends, and returns its URL and a client that speaks HTTP/2 to it (as gRPC needs).
func ServeH2C(t testing.TB, h http.Handler) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return srv.URL, &http.Client{Transport: tr}
}

// HTTPClient returns the client to build generated clients with (HTTP/2 without TLS,
// which gRPC needs and Connect accepts).
func (s *Server) HTTPClient() *http.Client { return s.client }

// As returns the client options of p that call as the holder of token ("" calls
// without a credential).
func (p Protocol) As(token string) []connect.ClientOption {
	opts := append([]connect.ClientOption(nil), p.Opts...)
	if token != "" {
		opts = append(opts, connect.WithInterceptors(contract.Bearer(token)))
	}
	return opts
}

// Code returns the Connect code of err (0 for nil), for comparing outcomes.
func Code(err error) connect.Code {
	if err == nil {
		return 0
	}
	return connect.CodeOf(err)
}
