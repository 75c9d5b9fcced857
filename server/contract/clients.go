package contract

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// protocol is one of the three wire protocols every RPC is checked over.
type protocol struct {
	name string
	opts []connect.ClientOption
}

// protocols are Connect with JSON (what browsers and curl speak), gRPC and gRPC-Web.
var protocols = []protocol{
	{name: "connect", opts: []connect.ClientOption{connect.WithProtoJSON()}},
	{name: "grpc", opts: []connect.ClientOption{connect.WithGRPC()}},
	{name: "grpc-web", opts: []connect.ClientOption{connect.WithGRPCWeb()}},
}

// noProtocol marks checks that are not about one protocol.
var noProtocol = protocol{}

// api is the generated clients of every service, over one protocol, as one caller.
type api struct {
	auth      sensoctov1connect.AuthServiceClient
	sensors   sensoctov1connect.SensorServiceClient
	attention sensoctov1connect.AttentionServiceClient
	simulator sensoctov1connect.SimulatorServiceClient
	system    sensoctov1connect.SystemServiceClient
	rooms     sensoctov1connect.RoomServiceClient
}

// client returns the clients over p that send token as a bearer credential ("" for none).
func (s *suite) client(p protocol, token string) *api {
	opts := append([]connect.ClientOption{}, p.opts...)
	if token != "" {
		opts = append(opts, connect.WithInterceptors(Bearer(token)))
	}
	h, u := s.cfg.HTTPClient, s.cfg.URL
	return &api{
		auth:      sensoctov1connect.NewAuthServiceClient(h, u, opts...),
		sensors:   sensoctov1connect.NewSensorServiceClient(h, u, opts...),
		attention: sensoctov1connect.NewAttentionServiceClient(h, u, opts...),
		simulator: sensoctov1connect.NewSimulatorServiceClient(h, u, opts...),
		system:    sensoctov1connect.NewSystemServiceClient(h, u, opts...),
		rooms:     sensoctov1connect.NewRoomServiceClient(h, u, opts...),
	}
}

// Bearer returns a client interceptor that sends token as a bearer credential
// ("Authorization: Bearer <token>") on every call and stream.
func Bearer(token string) connect.Interceptor { return bearer(token) }

// bearer sets "Authorization: Bearer <token>" on every call.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// user is an account the suite acts as.
type user struct {
	id, token string
	// own is true when the suite created the account (and may sign it out).
	own bool
}

// expectCode checks that err is a Connect error with the wanted code.
func expectCode(err error, want connect.Code) error {
	if err == nil {
		return fmt.Errorf("code %s, got success", want)
	}
	if got := connect.CodeOf(err); got != want {
		return fmt.Errorf("code %s, got %s (%w)", want, got, err)
	}
	return nil
}

// expectFieldViolation checks that err is InvalidArgument with a google.rpc.BadRequest
// detail naming field.
func expectFieldViolation(err error, field string) error {
	if e := expectCode(err, connect.CodeInvalidArgument); e != nil {
		return e
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return fmt.Errorf("a Connect error, got %T", err)
	}
	var fields []string
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			return fmt.Errorf("decodable error details, got %w", derr)
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				if fv.GetField() == field {
					return nil
				}
				fields = append(fields, fv.GetField())
			}
		}
	}
	return fmt.Errorf("a google.rpc.BadRequest field violation naming %q, got violations %q (%w)", field, fields, err)
}

// must returns err with what was being done, for setup steps inside a check.
func must(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s to succeed, got %s: %w", what, connect.CodeOf(err), err)
}

// ecgAttribute and heartrateAttribute are the attributes of the suite's sensors.
var (
	ecgAttribute       = &sensoctov1.Attribute{AttributeId: "ecg", AttributeType: "ecg", Unit: "mV", SampleRateHz: 250}
	heartrateAttribute = &sensoctov1.Attribute{AttributeId: "heartrate", AttributeType: "heartrate", Unit: "bpm"}
)
