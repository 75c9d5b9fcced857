// Package apperr owns the application's error kinds: a small, transport-free
// vocabulary (NotFound, InvalidArgument, ...) that domain code uses to say what
// went wrong, together with a message that is safe to show to a caller and the
// internal cause that is only logged. Mapping kinds to wire codes happens in
// exactly one place, package rpc; this package imports no transport.
package apperr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an error by what the caller can do about it. The zero value
// is KindUnknown, which is treated like KindInternal.
type Kind int

// The error kinds. They mirror the gRPC status codes that carry meaning for a
// caller; anything unclassified is Internal.
const (
	KindUnknown Kind = iota
	KindInvalidArgument
	KindNotFound
	KindAlreadyExists
	KindPermissionDenied
	KindUnauthenticated
	KindFailedPrecondition
	KindAborted
	KindOutOfRange
	KindResourceExhausted
	KindUnavailable
	KindUnimplemented
	KindCanceled
	KindDeadlineExceeded
	KindInternal
)

var kindNames = [...]string{
	KindUnknown:            "unknown",
	KindInvalidArgument:    "invalid_argument",
	KindNotFound:           "not_found",
	KindAlreadyExists:      "already_exists",
	KindPermissionDenied:   "permission_denied",
	KindUnauthenticated:    "unauthenticated",
	KindFailedPrecondition: "failed_precondition",
	KindAborted:            "aborted",
	KindOutOfRange:         "out_of_range",
	KindResourceExhausted:  "resource_exhausted",
	KindUnavailable:        "unavailable",
	KindUnimplemented:      "unimplemented",
	KindCanceled:           "canceled",
	KindDeadlineExceeded:   "deadline_exceeded",
	KindInternal:           "internal",
}

// String returns the snake_case name of the kind.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error lets a Kind be used as a sentinel with errors.Is:
//
//	errors.Is(err, apperr.KindNotFound)
func (k Kind) Error() string { return k.String() }

// FieldViolation describes one invalid field of a request. Field is a path in
// the request message such as "sensor.attributes[2].id".
type FieldViolation struct {
	Field       string
	Description string
}

// Error is an application error. Message is safe to return to callers; Cause
// is internal and only logged.
type Error struct {
	Kind Kind
	// Message is shown to the caller. It must not contain secrets or internal
	// details.
	Message string
	// Violations lists invalid request fields (usually with KindInvalidArgument).
	Violations []FieldViolation
	// RetryAfter, when positive, tells the caller when to try again (usually with
	// KindResourceExhausted or KindUnavailable).
	RetryAfter time.Duration
	// Cause is the internal error; it is never shown to the caller.
	Cause error
}

// Error returns the public message followed by the cause, for logs.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for _, v := range e.Violations {
		fmt.Fprintf(&b, "; %s: %s", v.Field, v.Description)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is reports whether target is this error's Kind, so that
// errors.Is(err, apperr.KindNotFound) works through wrapping.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// PublicMessage returns the message safe to show to callers, falling back to
// a generic text for the kind.
func (e *Error) PublicMessage() string {
	if e.Message != "" {
		return e.Message
	}
	return strings.ReplaceAll(e.Kind.String(), "_", " ")
}

// New returns an error of the given kind with a public message formatted from
// format and args. A %w verb records the wrapped error as the internal cause,
// but its text then also appears in the public message: use Wrap to keep a
// cause out of the message.
func New(kind Kind, format string, args ...any) *Error {
	formatted := fmt.Errorf(format, args...)
	e := &Error{Kind: kind, Message: formatted.Error()}
	switch u := formatted.(type) { //nolint:errorlint // inspects the error fmt.Errorf just built, not a wrapped chain
	case interface{ Unwrap() error }:
		e.Cause = u.Unwrap()
	case interface{ Unwrap() []error }:
		e.Cause = errors.Join(u.Unwrap()...)
	}
	return e
}

// Wrap returns an error of the given kind whose internal cause is cause and
// whose public message is publicMsg.
func Wrap(kind Kind, cause error, publicMsg string) *Error {
	return &Error{Kind: kind, Message: publicMsg, Cause: cause}
}

// NotFound returns a KindNotFound error with a formatted public message.
func NotFound(format string, args ...any) *Error { return New(KindNotFound, format, args...) }

// AlreadyExists returns a KindAlreadyExists error with a formatted public message.
func AlreadyExists(format string, args ...any) *Error {
	return New(KindAlreadyExists, format, args...)
}

// PermissionDenied returns a KindPermissionDenied error with a formatted public message.
func PermissionDenied(format string, args ...any) *Error {
	return New(KindPermissionDenied, format, args...)
}

// Unauthenticated returns a KindUnauthenticated error with a formatted public message.
func Unauthenticated(format string, args ...any) *Error {
	return New(KindUnauthenticated, format, args...)
}

// FailedPrecondition returns a KindFailedPrecondition error with a formatted public message.
func FailedPrecondition(format string, args ...any) *Error {
	return New(KindFailedPrecondition, format, args...)
}

// Aborted returns a KindAborted error with a formatted public message.
func Aborted(format string, args ...any) *Error { return New(KindAborted, format, args...) }

// Unimplemented returns a KindUnimplemented error with a formatted public message.
func Unimplemented(format string, args ...any) *Error {
	return New(KindUnimplemented, format, args...)
}

// ResourceExhausted returns a KindResourceExhausted error telling the caller to
// retry after retryAfter (zero for no hint).
func ResourceExhausted(retryAfter time.Duration, format string, args ...any) *Error {
	e := New(KindResourceExhausted, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// Unavailable returns a KindUnavailable error telling the caller to retry after
// retryAfter (zero for no hint).
func Unavailable(retryAfter time.Duration, format string, args ...any) *Error {
	e := New(KindUnavailable, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// Internal wraps cause as a KindInternal error. The caller sees only a generic
// message.
func Internal(cause error) *Error { return &Error{Kind: KindInternal, Cause: cause} }

// InvalidArgument returns a KindInvalidArgument error for one bad field.
func InvalidArgument(field, description string) *Error {
	return InvalidArguments(FieldViolation{Field: field, Description: description})
}

// InvalidArguments returns a KindInvalidArgument error listing every bad field.
// Its public message names each field. A violation with an empty Field
// concerns the request as a whole.
func InvalidArguments(violations ...FieldViolation) *Error {
	parts := make([]string, 0, len(violations))
	for _, v := range violations {
		if v.Field == "" {
			parts = append(parts, v.Description)
			continue
		}
		parts = append(parts, v.Field+": "+v.Description)
	}
	msg := "invalid argument"
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, "; ")
	}
	return &Error{Kind: KindInvalidArgument, Message: msg, Violations: violations}
}

// KindOf returns the Kind of the first *Error in err's chain. Without one,
// context.Canceled and context.DeadlineExceeded map to KindCanceled and
// KindDeadlineExceeded, a dependency that cannot be reached (see IsUnavailable) to
// KindUnavailable, any other non-nil error to KindInternal, and nil to KindUnknown. An
// *Error of KindInternal (or no kind) whose cause is such an outage is
// KindUnavailable too: it is not the program's fault and a retry may succeed.
func KindOf(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		if e.Kind == KindUnknown || e.Kind == KindInternal {
			if IsUnavailable(e.Cause) {
				return KindUnavailable
			}
			return KindInternal
		}
		return e.Kind
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return KindDeadlineExceeded
	case IsUnavailable(err):
		return KindUnavailable
	default:
		return KindInternal
	}
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsNotFound reports whether err is of KindNotFound.
func IsNotFound(err error) bool { return KindOf(err) == KindNotFound }
