package apperr

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"syscall"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, KindUnknown},
		{"plain", io.EOF, KindInternal},
		{"not found", NotFound("sensor %q not found", "s1"), KindNotFound},
		{"wrapped", fmt.Errorf("get sensor: %w", NotFound("x")), KindNotFound},
		{"invalid", InvalidArgument("name", "must not be empty"), KindInvalidArgument},
		{"already exists", AlreadyExists("x"), KindAlreadyExists},
		{"permission", PermissionDenied("x"), KindPermissionDenied},
		{"unauthenticated", Unauthenticated("x"), KindUnauthenticated},
		{"precondition", FailedPrecondition("x"), KindFailedPrecondition},
		{"aborted", Aborted("x"), KindAborted},
		{"unimplemented", Unimplemented("x"), KindUnimplemented},
		{"exhausted", ResourceExhausted(time.Second, "x"), KindResourceExhausted},
		{"unavailable", Unavailable(0, "x"), KindUnavailable},
		{"internal", Internal(io.EOF), KindInternal},
		{"wrap", Wrap(KindUnavailable, io.EOF, "db down"), KindUnavailable},
		{"zero kind", &Error{}, KindInternal},
		{"canceled", fmt.Errorf("read: %w", context.Canceled), KindCanceled},
		{"deadline", context.DeadlineExceeded, KindDeadlineExceeded},
		{"app error wins over ctx cause", Wrap(KindUnavailable, context.Canceled, "x"), KindUnavailable},
		{"connection refused", fmt.Errorf("load: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), KindUnavailable},
		{"bad conn", fmt.Errorf("query: %w", driver.ErrBadConn), KindUnavailable},
		{"internal around outage", Internal(fmt.Errorf("q: %w", sql.ErrConnDone)), KindUnavailable},
		{"app kind wins over outage", NotFound("x %w", driver.ErrBadConn), KindNotFound},
		{"canceled wins over outage", fmt.Errorf("%w: %w", context.Canceled, driver.ErrBadConn), KindCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	t.Parallel()
	cause := errors.New("disk on fire")
	e := Wrap(KindInternal, cause, "could not save")
	if !errors.Is(e, cause) {
		t.Error("errors.Is(e, cause) = false")
	}
	if !errors.Is(fmt.Errorf("save: %w", e), KindInternal) {
		t.Error("errors.Is(wrapped, KindInternal) = false")
	}
	if errors.Is(e, KindNotFound) {
		t.Error("errors.Is(e, KindNotFound) = true")
	}
	if got, want := e.Error(), "internal: could not save: disk on fire"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := e.PublicMessage(); got != "could not save" {
		t.Errorf("PublicMessage() = %q", got)
	}
	if got := Internal(cause).PublicMessage(); got != "internal" {
		t.Errorf("Internal PublicMessage() = %q", got)
	}

	nf := NotFound("sensor %q not found: %w", "s1", cause)
	if nf.Message != `sensor "s1" not found: disk on fire` || !errors.Is(nf, cause) {
		t.Errorf("NotFound with %%w = %+v", nf)
	}

	ex := ResourceExhausted(3*time.Second, "slow down")
	if ex.RetryAfter != 3*time.Second || ex.Message != "slow down" {
		t.Errorf("ResourceExhausted = %+v", ex)
	}
}

func TestInvalidArguments(t *testing.T) {
	t.Parallel()
	e := InvalidArguments(
		FieldViolation{Field: "name", Description: "must not be empty"},
		FieldViolation{Field: "attributes[1].id", Description: "too long"},
	)
	if e.Kind != KindInvalidArgument {
		t.Errorf("Kind = %v", e.Kind)
	}
	if want := "invalid argument: name: must not be empty; attributes[1].id: too long"; e.Message != want {
		t.Errorf("Message = %q, want %q", e.Message, want)
	}
	if want := []FieldViolation{{"name", "must not be empty"}, {"attributes[1].id", "too long"}}; !reflect.DeepEqual(e.Violations, want) {
		t.Errorf("Violations = %v", e.Violations)
	}
	got, ok := As(fmt.Errorf("x: %w", e))
	if !ok || got != e {
		t.Errorf("As = %v, %v", got, ok)
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for k := KindUnknown; k <= KindInternal; k++ {
		if s := k.String(); s == "" || s[0] == 'k' {
			t.Errorf("Kind(%d).String() = %q", int(k), s)
		}
	}
	if s := Kind(99).String(); s != "kind(99)" {
		t.Errorf("Kind(99).String() = %q", s)
	}
}
