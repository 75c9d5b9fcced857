package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/logging"
)

// DefaultMaxMessageBytes caps the size of one received message (a unary
// request or one message of a stream).
const DefaultMaxMessageBytes = 4 << 20

// HandlerOptions builds the options every service handler is created with.
// Call it once and pass the result to every NewXServiceHandler: it registers
// the metrics on reg (nil means no metrics) and compiles the validator.
//
// Interceptors run in this order, outermost first:
//
//  1. metrics and 2. logging: they see the final Connect code of every call,
//     including panics and validation failures;
//  3. error mapping (ConnectError): whatever happens below becomes a
//     *connect.Error with a safe message, so the outer two record real codes;
//  4. panic recovery: a panic becomes Internal and its stack is logged;
//  5. the inner interceptors given, in order (authorization: a caller without
//     a credential is refused before its request is even validated);
//  6. validation with protovalidate: a bad request becomes an
//     apperr InvalidArgument error, mapped by 3 with its field violations.
//
// JSON requests are decoded strictly: an unknown (misspelled) field is an
// InvalidArgument naming it, not silently dropped (see strictJSONCodec).
func HandlerOptions(logger zerolog.Logger, reg prometheus.Registerer, inner ...connect.Interceptor) ([]connect.HandlerOption, error) {
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("create validator: %w", err)
	}
	outer := []connect.Interceptor{}
	if reg != nil {
		m, err := NewMetricsInterceptor(reg)
		if err != nil {
			return nil, err
		}
		outer = append(outer, m)
	}
	outer = append(outer, NewLoggingInterceptor(logger), NewErrorInterceptor())
	return append([]connect.HandlerOption{
		connect.WithInterceptors(outer...),
		connect.WithRecover(recoverFunc(logger)),
		connect.WithInterceptors(append(append([]connect.Interceptor(nil), inner...), NewValidateInterceptor(validator))...),
		connect.WithReadMaxBytes(DefaultMaxMessageBytes),
		connect.WithCompressMinBytes(CompressMinBytes),
	}, strictJSONCodecs()...), nil
}

// CompressMinBytes is the smallest response that is compressed when the client
// accepts it. Connect compresses every message by default; for the small answers of
// the hot path (Publish acks, back-pressure configs) setting up a gzip writer costs
// more than the bytes saved (it was 15 % of the CPU of a Publish-heavy load).
const CompressMinBytes = 1024

// recoverFunc logs a handler's panic with its stack and turns it into an
// Internal error whose cause names the panic.
func recoverFunc(logger zerolog.Logger) func(context.Context, connect.Spec, http.Header, any) error {
	return func(_ context.Context, spec connect.Spec, _ http.Header, p any) error {
		logger.Error().
			Str("procedure", spec.Procedure).
			Str("panic", fmt.Sprint(p)).
			Str("stack", string(debug.Stack())).
			Msg("rpc handler panicked")
		return connect.NewError(connect.CodeInternal, &publicError{
			msg:   internalMessage,
			cause: fmt.Errorf("panic: %v", p),
		})
	}
}

// errorInterceptor applies ConnectError to every handler error.
type errorInterceptor struct{}

// NewErrorInterceptor returns the interceptor that maps handler errors with
// ConnectError.
func NewErrorInterceptor() connect.Interceptor { return errorInterceptor{} }

func (errorInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		if err != nil && !req.Spec().IsClient {
			return nil, ConnectError(err)
		}
		return res, err
	}
}

func (errorInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (errorInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := next(ctx, conn); err != nil {
			return ConnectError(err)
		}
		return nil
	}
}

// validateInterceptor validates every message a handler receives.
type validateInterceptor struct {
	validator protovalidate.Validator
}

// NewValidateInterceptor returns an interceptor that validates each request
// message a handler receives (the unary request, and every message received
// on a stream) with v. Invalid input fails with an apperr InvalidArgument
// error naming every field path.
func NewValidateInterceptor(v protovalidate.Validator) connect.Interceptor {
	return &validateInterceptor{validator: v}
}

func (i *validateInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient {
			if err := i.validate(req.Any()); err != nil {
				return nil, err
			}
		}
		return next(ctx, req)
	}
}

func (i *validateInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *validateInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, &validatingConn{StreamingHandlerConn: conn, i: i})
	}
}

// domainValidated are the ingest messages that protovalidate leaves to the domain
// as a whole. hub.Ingest checks a whole batch against the same rules and caps as
// the wire contract and names the item and field ("measurements[3].number",
// "blocks[0].samples[7]"); the handlers check the envelope's sensor_id with
// hub.CheckSensorID (a byte loop, equal to the proto's pattern, which a test
// checks) and nothing else in these messages has a rule. protovalidate's reflection,
// CEL and regular expressions would cost more than the ingest itself: about 3 µs
// per measurement and 1 µs per sample, and ~12 % of a Publish call's server CPU
// for the sensor_id pattern alone (its regular expression grows the handler's
// stack on every call), against 0.3 µs and 0.04 µs for ingest.
var domainValidated = map[protoreflect.FullName]bool{
	"sensocto.v1.PublishRequest": true,
	"sensocto.v1.StreamRequest":  true,
}

// validate returns nil for a valid message (or one that is not a protobuf
// message), an apperr InvalidArgument error listing the violations, or an
// Internal error when the rules themselves cannot be evaluated.
func (i *validateInterceptor) validate(msg any) error {
	m, ok := msg.(proto.Message)
	if !ok || domainValidated[m.ProtoReflect().Descriptor().FullName()] {
		return nil
	}
	err := i.validator.Validate(m)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return apperr.Internal(fmt.Errorf("validate %s: %w", m.ProtoReflect().Descriptor().FullName(), err))
	}
	violations := make([]apperr.FieldViolation, 0, len(verr.Violations))
	for _, v := range verr.Violations {
		desc := v.Proto.GetMessage()
		if desc == "" {
			desc = "violates rule " + v.Proto.GetRuleId()
		}
		violations = append(violations, apperr.FieldViolation{
			Field:       protovalidate.FieldPathString(v.Proto.GetField()),
			Description: desc,
		})
	}
	return apperr.InvalidArguments(violations...)
}

type validatingConn struct {
	connect.StreamingHandlerConn
	i *validateInterceptor
}

func (c *validatingConn) Receive(msg any) error {
	if err := c.StreamingHandlerConn.Receive(msg); err != nil {
		return err
	}
	return c.i.validate(msg)
}

// loggingInterceptor logs every call once, when it ends.
type loggingInterceptor struct {
	logger zerolog.Logger
	// byProcedure holds the logger of each procedure (*zerolog.Logger), built once: a
	// logger's With() allocates a 500-byte buffer, too much for every call. Only
	// procedures this server serves reach an interceptor, so it stays small.
	byProcedure sync.Map
}

// NewLoggingInterceptor returns an interceptor that puts a logger carrying the
// procedure into the handler's context (see logging.FromContext) and logs
// each call when it ends: procedure, code, duration and peer, at debug for
// success, warn for errors, and error for Internal, Unknown and DataLoss, with
// the internal cause of the error (see Cause). This is the one place where a
// request's error is logged.
func NewLoggingInterceptor(logger zerolog.Logger) connect.Interceptor {
	return &loggingInterceptor{logger: logger}
}

// procedureLogger returns the logger of a procedure.
func (i *loggingInterceptor) procedureLogger(procedure string) *zerolog.Logger {
	if l, ok := i.byProcedure.Load(procedure); ok {
		return l.(*zerolog.Logger) //nolint:forcetypeassert // only *zerolog.Logger is stored
	}
	l := i.logger.With().Str("procedure", procedure).Logger()
	v, _ := i.byProcedure.LoadOrStore(procedure, &l)
	return v.(*zerolog.Logger) //nolint:forcetypeassert // as above
}

func (i *loggingInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		l := i.procedureLogger(req.Spec().Procedure)
		res, err := next(logging.WithLogger(ctx, l), req)
		logCall(l, req.Spec(), req.Peer(), start, err)
		return res, err
	}
}

func (i *loggingInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler keeps the frame of a stream's goroutine small: it stays on the
// stack for the stream's lifetime (docs/performance.md, "Memory per idle sensor").
func (i *loggingInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		ctx, l := i.withLogger(ctx, conn)
		err := next(ctx, conn)
		logStream(l, conn, start, err)
		return err
	}
}

//go:noinline
func (i *loggingInterceptor) withLogger(ctx context.Context, conn connect.StreamingHandlerConn) (context.Context, *zerolog.Logger) {
	l := i.procedureLogger(conn.Spec().Procedure)
	return logging.WithLogger(ctx, l), l
}

//go:noinline
func logStream(l *zerolog.Logger, conn connect.StreamingHandlerConn, start time.Time, err error) {
	logCall(l, conn.Spec(), conn.Peer(), start, err)
}

func logCall(l *zerolog.Logger, spec connect.Spec, peer connect.Peer, start time.Time, err error) {
	var e *zerolog.Event
	switch code := connect.CodeOf(err); {
	case err == nil:
		e = l.Debug()
	case code == connect.CodeInternal || code == connect.CodeUnknown || code == connect.CodeDataLoss:
		e = l.Error()
	default:
		e = l.Warn()
	}
	e = e.Str("code", codeLabel(err)).
		Dur("duration", time.Since(start)).
		Str("peer", peer.Addr).
		Str("protocol", peer.Protocol)
	if spec.StreamType != connect.StreamTypeUnary {
		e = e.Str("stream", streamTypeName(spec.StreamType))
	}
	if err != nil {
		e = e.AnErr("error", Cause(err))
	}
	e.Msg("rpc")
}

func codeLabel(err error) string {
	if err == nil {
		return "ok"
	}
	return connect.CodeOf(err).String()
}

func streamTypeName(t connect.StreamType) string {
	switch t {
	case connect.StreamTypeClient:
		return "client"
	case connect.StreamTypeServer:
		return "server"
	case connect.StreamTypeBidi:
		return "bidi"
	default:
		return "unary"
	}
}
