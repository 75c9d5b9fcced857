package rpc_test

// A small dynamic Connect service used to test the interceptors end to end,
// through real Connect, gRPC and gRPC-Web clients. Its messages are built
// from a descriptor at run time (dynamicpb) so that this platform package
// needs no generated code; the request carries protovalidate rules.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/logging"
	"github.com/sensocto/sensocto/server/internal/rpc"
	"github.com/sensocto/sensocto/server/internal/rpc/rpctest"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

const (
	procUnary        = "/rpctest.v1.TestService/Unary"
	procClientStream = "/rpctest.v1.TestService/ClientStream"
	procServerStream = "/rpctest.v1.TestService/ServerStream"
	procBidi         = "/rpctest.v1.TestService/Bidi"
)

var testService = mustTestService()

func mustTestService() protoreflect.ServiceDescriptor {
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	i32 := descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	nameRules := &descriptorpb.FieldOptions{}
	proto.SetExtension(nameRules, validate.E_Field, validate.FieldRules_builder{
		String: validate.StringRules_builder{MinLen: proto.Uint64(1), MaxLen: proto.Uint64(20)}.Build(),
	}.Build())
	countRules := &descriptorpb.FieldOptions{}
	proto.SetExtension(countRules, validate.E_Field, validate.FieldRules_builder{
		Int32: validate.Int32Rules_builder{Lte: proto.Int32(100)}.Build(),
	}.Build())
	method := func(name string, client, server bool) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{
			Name: proto.String(name), InputType: proto.String(".rpctest.v1.Req"), OutputType: proto.String(".rpctest.v1.Res"),
			ClientStreaming: proto.Bool(client), ServerStreaming: proto.Bool(server),
		}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("rpctest/v1/test.proto"),
		Package:    proto.String("rpctest.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"buf/validate/validate.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("Req"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("name"), JsonName: proto.String("name"), Number: proto.Int32(1), Type: str, Label: opt, Options: nameRules},
				{Name: proto.String("count"), JsonName: proto.String("count"), Number: proto.Int32(2), Type: i32, Label: opt, Options: countRules},
			}},
			{Name: proto.String("Res"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("name"), JsonName: proto.String("name"), Number: proto.Int32(1), Type: str, Label: opt},
			}},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("TestService"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Unary", false, false), method("ClientStream", true, false),
				method("ServerStream", false, true), method("Bidi", true, true),
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		panic(fmt.Sprintf("build test descriptor: %v", err))
	}
	return fd.Services().Get(0)
}

type msg = dynamicpb.Message

func methodDesc(procedure string) protoreflect.MethodDescriptor {
	name := procedure[strings.LastIndex(procedure, "/")+1:]
	return testService.Methods().ByName(protoreflect.Name(name))
}

func newReq(name string, count int32) *msg {
	m := dynamicpb.NewMessage(testService.Methods().Get(0).Input())
	m.Set(m.Descriptor().Fields().ByName("name"), protoreflect.ValueOfString(name))
	m.Set(m.Descriptor().Fields().ByName("count"), protoreflect.ValueOfInt32(count))
	return m
}

func newRes(name string) *msg {
	m := dynamicpb.NewMessage(testService.Methods().Get(0).Output())
	m.Set(m.Descriptor().Fields().ByName("name"), protoreflect.ValueOfString(name))
	return m
}

func nameOf(m *msg) string {
	return m.Get(m.Descriptor().Fields().ByName("name")).String()
}

// initMsg makes connect allocate dynamic messages of the method's types.
func initMsg(spec connect.Spec, m any) error {
	md, ok := spec.Schema.(protoreflect.MethodDescriptor)
	if !ok {
		return errors.New("no method schema")
	}
	desc := md.Input()
	if spec.IsClient {
		desc = md.Output()
	}
	*m.(*msg) = *dynamicpb.NewMessage(desc)
	return nil
}

// behave returns what the handler does for a request name.
func behave(ctx context.Context, name string) error {
	switch name {
	case "notfound":
		return fmt.Errorf("get thing: %w", apperr.NotFound("thing %q not found", name))
	case "internal":
		return fmt.Errorf("query db: %w", errors.New("password=hunter2 rejected"))
	case "panic":
		panic("boom")
	case "busy":
		return apperr.ResourceExhausted(1500*time.Millisecond, "too many requests")
	case "reserved":
		return apperr.InvalidArgument("name", "is reserved")
	case "connect":
		return connect.NewError(connect.CodeAborted, errors.New("conflict, try again"))
	case "deadline":
		return fmt.Errorf("wait: %w", context.DeadlineExceeded)
	case "block":
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func testHandlers(opts []connect.HandlerOption) *http.ServeMux {
	withSchema := func(p string) []connect.HandlerOption {
		return append([]connect.HandlerOption{connect.WithSchema(methodDesc(p)), connect.WithRequestInitializer(initMsg)}, opts...)
	}
	mux := http.NewServeMux()
	mux.Handle(procUnary, connect.NewUnaryHandler(procUnary,
		func(ctx context.Context, req *connect.Request[msg]) (*connect.Response[msg], error) {
			if err := behave(ctx, nameOf(req.Msg)); err != nil {
				return nil, err
			}
			logging.FromContext(ctx).Info().Msg("handler ran")
			return connect.NewResponse(newRes("hello " + nameOf(req.Msg))), nil
		}, withSchema(procUnary)...))
	mux.Handle(procClientStream, connect.NewClientStreamHandler(procClientStream,
		func(ctx context.Context, stream *connect.ClientStream[msg]) (*connect.Response[msg], error) {
			var names []string
			for stream.Receive() {
				names = append(names, nameOf(stream.Msg()))
				if err := behave(ctx, nameOf(stream.Msg())); err != nil {
					return nil, err
				}
			}
			if err := stream.Err(); err != nil {
				return nil, fmt.Errorf("receive: %w", err)
			}
			return connect.NewResponse(newRes(strings.Join(names, ","))), nil
		}, withSchema(procClientStream)...))
	mux.Handle(procServerStream, connect.NewServerStreamHandler(procServerStream,
		func(ctx context.Context, req *connect.Request[msg], stream *connect.ServerStream[msg]) error {
			for i := range 2 {
				if err := stream.Send(newRes(fmt.Sprint(i))); err != nil {
					return fmt.Errorf("send: %w", err)
				}
			}
			return behave(ctx, nameOf(req.Msg))
		}, withSchema(procServerStream)...))
	mux.Handle(procBidi, connect.NewBidiStreamHandler(procBidi,
		func(ctx context.Context, stream *connect.BidiStream[msg, msg]) error {
			for {
				req, err := stream.Receive()
				if err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					return fmt.Errorf("receive: %w", err)
				}
				if err := behave(ctx, nameOf(req)); err != nil {
					return err
				}
				if err := stream.Send(newRes("echo " + nameOf(req))); err != nil {
					return fmt.Errorf("send: %w", err)
				}
			}
		}, withSchema(procBidi)...))
	return mux
}

type testEnv struct {
	url  string
	reg  *prometheus.Registry
	logs *testkit.Buffer
	http *http.Client
}

// newTestEnv serves the test service with rpc.HandlerOptions over HTTP/1.1
// and unencrypted HTTP/2.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	logs := &testkit.Buffer{}
	logger := zerolog.New(logs).Level(zerolog.TraceLevel)
	reg := prometheus.NewRegistry()
	opts, err := rpc.HandlerOptions(logger, reg)
	if err != nil {
		t.Fatalf("HandlerOptions: %v", err)
	}
	url, client := rpctest.ServeH2C(t, testHandlers(opts))
	return &testEnv{url: url, reg: reg, logs: logs, http: client}
}

func (e *testEnv) client(procedure string, protocol connect.ClientOption) *connect.Client[msg, msg] {
	return connect.NewClient[msg, msg](e.http, e.url+procedure,
		connect.WithSchema(methodDesc(procedure)), connect.WithResponseInitializer(initMsg), protocol)
}

// counter returns the value of sensocto_rpc_requests_total for the labels.
func (e *testEnv) counter(t *testing.T, procedure, code string) float64 {
	t.Helper()
	return e.metric(t, "sensocto_rpc_requests_total", map[string]string{"procedure": procedure, "code": code})
}

func (e *testEnv) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

var protocols = []struct {
	name string
	opt  connect.ClientOption
}{
	{"connect", connect.WithProtoJSON()},
	{"grpc", connect.WithGRPC()},
	{"grpcweb", connect.WithGRPCWeb()},
}
