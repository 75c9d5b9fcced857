package rpc_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/rpc"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

func TestUnaryErrorsThroughClients(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		code    connect.Code // 0 means success
		message string
	}{
		{"ok", 0, ""},
		{"notfound", connect.CodeNotFound, `thing "notfound" not found`},
		{"internal", connect.CodeInternal, "internal error"},
		{"panic", connect.CodeInternal, "internal error"},
		{"busy", connect.CodeResourceExhausted, "too many requests"},
		{"reserved", connect.CodeInvalidArgument, "invalid argument: name: is reserved"},
		{"connect", connect.CodeAborted, "conflict, try again"},
		{"deadline", connect.CodeDeadlineExceeded, "deadline exceeded"},
	}
	for _, p := range protocols {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				env := newTestEnv(t)
				res, err := env.client(procUnary, p.opt).CallUnary(t.Context(), connect.NewRequest(newReq(tt.name, 1)))
				code := "ok"
				if tt.code == 0 {
					if err != nil {
						t.Fatalf("CallUnary: %v", err)
					}
					if got := nameOf(res.Msg); got != "hello ok" {
						t.Errorf("response name = %q", got)
					}
				} else {
					code = tt.code.String()
					var ce *connect.Error
					if !errors.As(err, &ce) || ce.Code() != tt.code || ce.Message() != tt.message {
						t.Fatalf("error = %v, want %v %q", err, tt.code, tt.message)
					}
				}
				if got := env.counter(t, procUnary, code); got != 1 {
					t.Errorf("requests_total{code=%q} = %v, want 1", code, got)
				}
				if got := env.metric(t, "sensocto_rpc_duration_seconds", map[string]string{"procedure": procUnary, "code": code}); got != 1 {
					t.Errorf("duration_seconds count{code=%q} = %v, want 1", code, got)
				}
				// One log line for the call, with the code.
				logs := env.logs.String()
				if n := strings.Count(logs, `"message":"rpc"`); n != 1 {
					t.Errorf("%d rpc log lines, want 1:\n%s", n, logs)
				}
				if !strings.Contains(logs, `"code":"`+code+`"`) || !strings.Contains(logs, `"procedure":"`+procUnary+`"`) {
					t.Errorf("log lacks code %q or procedure:\n%s", code, logs)
				}
			})
		}
	}
}

func TestUnaryDetailsThroughClients(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t)
			c := env.client(procUnary, p.opt)

			_, err := c.CallUnary(t.Context(), connect.NewRequest(newReq("busy", 1)))
			var ce *connect.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v", err)
			}
			if d := retryInfo(t, ce).GetRetryDelay().AsDuration(); d.Milliseconds() != 1500 {
				t.Errorf("retry delay = %v", d)
			}

			_, err = c.CallUnary(t.Context(), connect.NewRequest(newReq("", 101)))
			if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
				t.Fatalf("error = %v, want InvalidArgument", err)
			}
			if !strings.Contains(ce.Message(), "name: ") || !strings.Contains(ce.Message(), "count: ") {
				t.Errorf("message %q does not name both fields", ce.Message())
			}
			got := violationsString(badRequest(t, ce))
			if !strings.HasPrefix(got, "name: must be at least 1 characters") || !strings.Contains(got, "|count: must be less than or equal to 100") {
				t.Errorf("violations = %q", got)
			}
			if n := env.counter(t, procUnary, "invalid_argument"); n != 1 {
				t.Errorf("requests_total{invalid_argument} = %v", n)
			}
		})
	}
}

func TestInternalCauseLoggedNotSent(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	for _, name := range []string{"internal", "panic"} {
		_, err := env.client(procUnary, connect.WithGRPC()).CallUnary(t.Context(), connect.NewRequest(newReq(name, 1)))
		if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "boom") {
			t.Errorf("%s: error %v leaks the cause", name, err)
		}
	}
	logs := env.logs.String()
	if n := strings.Count(logs, "hunter2"); n != 1 {
		t.Errorf("cause logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"error":"panic: boom"`) || !strings.Contains(logs, `"stack":"goroutine`) {
		t.Errorf("panic not logged with stack:\n%s", logs)
	}
	if !strings.Contains(logs, `"level":"error"`) {
		t.Errorf("internal errors not logged at error level:\n%s", logs)
	}
}

func TestHandlerContextLogger(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	if _, err := env.client(procUnary, connect.WithGRPC()).CallUnary(t.Context(), connect.NewRequest(newReq("ok", 1))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(env.logs.String(), `"procedure":"`+procUnary+`","message":"handler ran"`) {
		t.Errorf("handler's context logger lacks the procedure:\n%s", env.logs.String())
	}
}

func TestClientStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		names []string
		code  connect.Code
		want  string // response name or error message substring
	}{
		{"ok", []string{"a", "b"}, 0, "a,b"},
		{"invalid second message", []string{"a", ""}, connect.CodeInvalidArgument, "name: must be at least 1 characters"},
		{"app error", []string{"a", "notfound"}, connect.CodeNotFound, "not found"},
	}
	for _, p := range protocols[:2] { // gRPC-Web has no client streaming in browsers, but connect-go supports it; keep to two.
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				env := newTestEnv(t)
				stream := env.client(procClientStream, p.opt).CallClientStream(t.Context())
				for _, n := range tt.names {
					if err := stream.Send(newReq(n, 1)); err != nil && !errors.Is(err, io.EOF) {
						t.Fatalf("Send: %v", err)
					}
				}
				res, err := stream.CloseAndReceive()
				if tt.code == 0 {
					if err != nil || nameOf(res.Msg) != tt.want {
						t.Fatalf("CloseAndReceive = %v, %v; want %q", res, err, tt.want)
					}
					return
				}
				if connect.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error = %v, want %v containing %q", err, tt.code, tt.want)
				}
				if tt.code == connect.CodeInvalidArgument {
					var ce *connect.Error
					errors.As(err, &ce)
					if got := violationsString(badRequest(t, ce)); !strings.HasPrefix(got, "name: ") {
						t.Errorf("violations = %q", got)
					}
				}
				if n := env.counter(t, procClientStream, tt.code.String()); n != 1 {
					t.Errorf("requests_total = %v, want 1", n)
				}
			})
		}
	}
}

func TestServerStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		req      string
		received int
		code     connect.Code
	}{
		{"ok", "ok", 2, 0},
		{"invalid request", "", 0, connect.CodeInvalidArgument},
		{"error after messages", "notfound", 2, connect.CodeNotFound},
		{"internal", "internal", 2, connect.CodeInternal},
	}
	for _, p := range protocols {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				env := newTestEnv(t)
				stream, err := env.client(procServerStream, p.opt).CallServerStream(t.Context(), connect.NewRequest(newReq(tt.req, 1)))
				if err != nil {
					t.Fatalf("CallServerStream: %v", err)
				}
				n := 0
				for stream.Receive() {
					n++
				}
				err = stream.Err()
				if n != tt.received || connect.CodeOf(err) != tt.code && (tt.code != 0 || err != nil) {
					t.Fatalf("received %d, err %v; want %d, code %v", n, err, tt.received, tt.code)
				}
				if tt.code == connect.CodeInternal && !strings.HasSuffix(err.Error(), ": internal error") {
					t.Errorf("error %q, want the generic message", err)
				}
				if err := stream.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		}
	}
}

func TestBidiStream(t *testing.T) {
	t.Parallel()
	for _, p := range protocols[:2] { // bidi needs HTTP/2: Connect and gRPC
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t)
			stream := env.client(procBidi, p.opt).CallBidiStream(t.Context())
			if err := stream.Send(newReq("a", 1)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			res, err := stream.Receive()
			if err != nil || nameOf(res) != "echo a" {
				t.Fatalf("Receive = %v, %v; want echo a", res, err)
			}
			if err := stream.Send(newReq("a", 500)); err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("Send: %v", err)
			}
			_, err = stream.Receive()
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "count: must be less than or equal to 100") {
				t.Fatalf("error = %v, want InvalidArgument naming count", err)
			}
			_ = stream.CloseRequest()
			_ = stream.CloseResponse()
			if n := env.counter(t, procBidi, "invalid_argument"); n != 1 {
				t.Errorf("requests_total = %v", n)
			}
		})
	}
}

func TestStreamsInFlightGauge(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	gauge := func() float64 {
		return env.metric(t, "sensocto_rpc_streams_in_flight", map[string]string{"procedure": procServerStream})
	}
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := env.client(procServerStream, connect.WithGRPC()).CallServerStream(ctx, connect.NewRequest(newReq("block", 1)))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "gauge 1", func() bool { return gauge() == 1 })
	cancel()
	for stream.Receive() {
	}
	testkit.WaitFor(t, "gauge 0", func() bool { return gauge() == 0 })
	testkit.WaitFor(t, "canceled call counted", func() bool { return env.counter(t, procServerStream, "canceled") == 1 })
	_ = stream.Close()
}

func TestHandlerOptionsRegistersOnce(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := rpc.HandlerOptions(zerolog.Nop(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := rpc.HandlerOptions(zerolog.Nop(), reg); err == nil {
		t.Error("second HandlerOptions on one registry succeeded; want a registration error")
	}
	if _, err := rpc.HandlerOptions(zerolog.Nop(), nil); err != nil {
		t.Errorf("HandlerOptions without metrics: %v", err)
	}
}
