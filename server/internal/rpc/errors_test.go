package rpc_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/rpc"
)

func TestConnectError(t *testing.T) {
	t.Parallel()
	secret := errors.New("password=hunter2")
	passthrough := connect.NewError(connect.CodeAborted, errors.New("conflict"))
	tests := []struct {
		name    string
		err     error
		code    connect.Code
		message string
	}{
		{"not found", apperr.NotFound("sensor %q not found", "s1"), connect.CodeNotFound, `sensor "s1" not found`},
		{"wrapped app error", fmt.Errorf("get: %w", apperr.PermissionDenied("not a member")), connect.CodePermissionDenied, "not a member"},
		{"invalid", apperr.InvalidArgument("name", "too long"), connect.CodeInvalidArgument, "invalid argument: name: too long"},
		{"already exists", apperr.AlreadyExists("room exists"), connect.CodeAlreadyExists, "room exists"},
		{"unauthenticated", apperr.Unauthenticated("sign in"), connect.CodeUnauthenticated, "sign in"},
		{"precondition", apperr.FailedPrecondition("not recording"), connect.CodeFailedPrecondition, "not recording"},
		{"aborted", apperr.Aborted("retry"), connect.CodeAborted, "retry"},
		{"exhausted", apperr.ResourceExhausted(0, "slow down"), connect.CodeResourceExhausted, "slow down"},
		{"unavailable", apperr.Wrap(apperr.KindUnavailable, secret, "database unavailable"), connect.CodeUnavailable, "database unavailable"},
		{"unimplemented", apperr.Unimplemented("later"), connect.CodeUnimplemented, "later"},
		{"empty message uses kind", &apperr.Error{Kind: apperr.KindNotFound}, connect.CodeNotFound, "not found"},
		{"internal app error hides cause", apperr.Internal(secret), connect.CodeInternal, "internal error"},
		{"plain error", fmt.Errorf("query: %w", secret), connect.CodeInternal, "internal error"},
		{"canceled", fmt.Errorf("read: %w", context.Canceled), connect.CodeCanceled, "request canceled"},
		{"deadline", context.DeadlineExceeded, connect.CodeDeadlineExceeded, "deadline exceeded"},
		{"connect error passes", passthrough, connect.CodeAborted, "conflict"},
		{"wrapped connect error passes", fmt.Errorf("call: %w", passthrough), connect.CodeAborted, "conflict"},
		{"app error wins over inner connect error", apperr.Wrap(apperr.KindUnavailable, passthrough, "upstream down"), connect.CodeUnavailable, "upstream down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := rpc.ConnectError(tt.err)
			if got.Code() != tt.code || got.Message() != tt.message {
				t.Errorf("ConnectError(%v) = %v %q, want %v %q", tt.err, got.Code(), got.Message(), tt.code, tt.message)
			}
			if strings.Contains(got.Message(), "hunter2") {
				t.Errorf("message %q leaks the cause", got.Message())
			}
			if cause := rpc.Cause(got); !errors.Is(cause, tt.err) && !errors.Is(tt.err, cause) {
				t.Errorf("Cause = %v, want the original error %v", cause, tt.err)
			}
		})
	}
	if rpc.ConnectError(nil) != nil {
		t.Error("ConnectError(nil) != nil")
	}
}

func TestConnectErrorDetails(t *testing.T) {
	t.Parallel()
	err := apperr.InvalidArguments(
		apperr.FieldViolation{Field: "name", Description: "must not be empty"},
		apperr.FieldViolation{Field: "attributes[0].id", Description: "too long"},
	)
	br := badRequest(t, rpc.ConnectError(err))
	if got := violationsString(br); got != "name: must not be empty|attributes[0].id: too long" {
		t.Errorf("violations = %q", got)
	}

	ce := rpc.ConnectError(apperr.ResourceExhausted(1500*time.Millisecond, "slow down"))
	ri := retryInfo(t, ce)
	if got := ri.GetRetryDelay().AsDuration(); got != 1500*time.Millisecond {
		t.Errorf("retry delay = %v", got)
	}
	if got := ce.Meta().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (rounded up)", got)
	}
}

func badRequest(t *testing.T, ce *connect.Error) *errdetails.BadRequest {
	t.Helper()
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatalf("detail value: %v", err)
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			return br
		}
	}
	t.Fatalf("no BadRequest detail in %v", ce)
	return nil
}

func retryInfo(t *testing.T, ce *connect.Error) *errdetails.RetryInfo {
	t.Helper()
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatalf("detail value: %v", err)
		}
		if ri, ok := v.(*errdetails.RetryInfo); ok {
			return ri
		}
	}
	t.Fatalf("no RetryInfo detail in %v", ce)
	return nil
}

func violationsString(br *errdetails.BadRequest) string {
	parts := make([]string, 0, len(br.GetFieldViolations()))
	for _, v := range br.GetFieldViolations() {
		parts = append(parts, v.GetField()+": "+v.GetDescription())
	}
	return strings.Join(parts, "|")
}

// pgState is an error carrying a SQLSTATE, as pgconn.PgError does.
type pgState string

func (s pgState) Error() string    { return "pg error " + string(s) }
func (s pgState) SQLState() string { return string(s) }

// A database outage is Unavailable with RetryInfo, never Internal, however the domain
// wrapped the driver's error; the cause (host, port) stays out of the message.
func TestConnectErrorDatabaseOutage(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect 10.0.0.7:5432: %w", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
	}{
		{"dial refused", fmt.Errorf("load token: %w", refused)},
		{"bad conn", fmt.Errorf("query: %w", driver.ErrBadConn)},
		{"conn done", fmt.Errorf("commit: %w", sql.ErrConnDone)},
		{"admin shutdown", fmt.Errorf("query: %w", pgState("57P01"))},
		{"connection exception", fmt.Errorf("query: %w", pgState("08006"))},
		{"internal around outage", apperr.Internal(fmt.Errorf("load: %w", refused))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ce := rpc.ConnectError(tt.err)
			if ce.Code() != connect.CodeUnavailable {
				t.Fatalf("ConnectError(%v) = %v, want unavailable", tt.err, ce.Code())
			}
			if strings.Contains(ce.Message(), "10.0.0.7") || strings.Contains(ce.Message(), "5432") {
				t.Errorf("message %q leaks the cause", ce.Message())
			}
			if d := retryInfo(t, ce).GetRetryDelay().AsDuration(); d != apperr.DefaultRetryAfter {
				t.Errorf("retry delay = %v, want %v", d, apperr.DefaultRetryAfter)
			}
			if ce.Meta().Get("Retry-After") == "" {
				t.Error("no Retry-After header")
			}
		})
	}
	// Errors that are not outages stay what they were.
	if c := rpc.ConnectError(fmt.Errorf("query: %w", pgState("23505"))).Code(); c != connect.CodeInternal {
		t.Errorf("unique violation = %v, want internal", c)
	}
	// An Unavailable of the domain's own keeps its message and gets a retry hint.
	ce := rpc.ConnectError(apperr.Wrap(apperr.KindUnavailable, errors.New("smtp"), "could not send"))
	if ce.Message() != "could not send" || retryInfo(t, ce).GetRetryDelay().AsDuration() != apperr.DefaultRetryAfter {
		t.Errorf("domain unavailable = %q %v", ce.Message(), ce.Details())
	}
}
