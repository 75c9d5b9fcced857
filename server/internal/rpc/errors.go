package rpc

import (
	"errors"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// internalMessage is the only text callers see for an unclassified error.
const internalMessage = "internal error"

// publicError is what a *connect.Error built by ConnectError wraps: Error()
// returns only the message safe to send, while Unwrap keeps the internal
// cause for logging.
type publicError struct {
	msg   string
	cause error
}

func (e *publicError) Error() string { return e.msg }
func (e *publicError) Unwrap() error { return e.cause }

// Cause returns the internal error behind a *connect.Error built by
// ConnectError (what the caller must not see but the log should show), or err
// itself when it carries no separate cause.
func Cause(err error) error {
	var pe *publicError
	if errors.As(err, &pe) && pe.cause != nil {
		return pe.cause
	}
	return err
}

var kindCodes = map[apperr.Kind]connect.Code{
	apperr.KindInvalidArgument:    connect.CodeInvalidArgument,
	apperr.KindNotFound:           connect.CodeNotFound,
	apperr.KindAlreadyExists:      connect.CodeAlreadyExists,
	apperr.KindPermissionDenied:   connect.CodePermissionDenied,
	apperr.KindUnauthenticated:    connect.CodeUnauthenticated,
	apperr.KindFailedPrecondition: connect.CodeFailedPrecondition,
	apperr.KindAborted:            connect.CodeAborted,
	apperr.KindOutOfRange:         connect.CodeOutOfRange,
	apperr.KindResourceExhausted:  connect.CodeResourceExhausted,
	apperr.KindUnavailable:        connect.CodeUnavailable,
	apperr.KindUnimplemented:      connect.CodeUnimplemented,
	apperr.KindCanceled:           connect.CodeCanceled,
	apperr.KindDeadlineExceeded:   connect.CodeDeadlineExceeded,
	apperr.KindInternal:           connect.CodeInternal,
}

// CodeOf returns the Connect code for an application error kind; unknown
// kinds are Internal.
func CodeOf(kind apperr.Kind) connect.Code {
	if c, ok := kindCodes[kind]; ok {
		return c
	}
	return connect.CodeInternal
}

// ConnectError is the one function that turns an error into what a caller
// sees. It returns nil for nil.
//
//   - An unwrapped *connect.Error passes through unchanged.
//   - An *apperr.Error anywhere in the chain maps by kind; its public message
//     is the message, field violations become a google.rpc.BadRequest detail
//     and RetryAfter a google.rpc.RetryInfo detail (plus a Retry-After header).
//   - Otherwise a wrapped *connect.Error passes through.
//   - Otherwise context.Canceled and context.DeadlineExceeded become Canceled
//     and DeadlineExceeded.
//   - A dependency that cannot be reached (apperr.IsUnavailable: the database is
//     down) becomes Unavailable with a generic message, also under an apperr
//     Internal error.
//   - Anything else becomes Internal with the message "internal error".
//
// Every Unavailable error carries RetryInfo (apperr.DefaultRetryAfter unless the
// error names its own delay).
//
// The original error stays in the chain (see Cause) for logging, never on the
// wire. Logging it is the logging interceptor's job, once per request.
func ConnectError(err error) *connect.Error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) && ce == err { //nolint:errorlint // exactly a *connect.Error, not one wrapped inside an apperr.
		return ce
	}
	ae, isApp := apperr.As(err)
	if !isApp && errors.As(err, &ce) {
		return ce
	}
	kind := apperr.KindOf(err)
	code := CodeOf(kind)
	// An outage found under an error that did not classify it (a plain wrapped
	// driver error, or an apperr Internal around one) speaks for itself.
	outage := kind == apperr.KindUnavailable && (!isApp || ae.Kind != apperr.KindUnavailable)
	msg := internalMessage
	switch {
	case outage:
		msg = unavailableMessage
	case isApp && ae.Message != "":
		msg = ae.Message
	case kind == apperr.KindCanceled:
		msg = "request canceled"
	case kind == apperr.KindDeadlineExceeded:
		msg = "deadline exceeded"
	case isApp && code != connect.CodeInternal:
		msg = ae.PublicMessage()
	}
	ce = connect.NewError(code, &publicError{msg: msg, cause: err})
	var retryAfter time.Duration
	if isApp {
		retryAfter = ae.RetryAfter
	}
	if kind == apperr.KindUnavailable && retryAfter <= 0 {
		// Unavailable always tells the caller when to come back.
		retryAfter = apperr.DefaultRetryAfter
	}
	addRetry(ce, retryAfter)
	if !isApp || outage {
		return ce
	}
	if len(ae.Violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range ae.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field:       v.Field,
				Description: v.Description,
			})
		}
		addDetail(ce, br)
	}
	return ce
}

// unavailableMessage is what callers see when a dependency (the database) cannot be
// reached and nothing more specific was said.
const unavailableMessage = "temporarily unavailable; retry later"

// addRetry attaches a google.rpc.RetryInfo detail and a Retry-After header (whole
// seconds, rounded up) to ce when d is positive.
func addRetry(ce *connect.Error, d time.Duration) {
	if d <= 0 {
		return
	}
	addDetail(ce, &errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	secs := int64((d + time.Second - 1) / time.Second)
	ce.Meta().Set("Retry-After", strconv.FormatInt(secs, 10))
}

// addDetail attaches m to ce. NewErrorDetail fails only when m cannot be
// marshaled, which cannot happen for the well-known detail types used here.
func addDetail(ce *connect.Error, m proto.Message) {
	if d, err := connect.NewErrorDetail(m); err == nil {
		ce.AddDetail(d)
	}
}
