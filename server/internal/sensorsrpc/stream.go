package sensorsrpc

import (
	"context"
	"io"
	"net/http"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/live"
)

// Stream runs a connector session (live.Service.RunConnector): batches in, the
// back-pressure config and coalesced acks out. Its credential is guarded by auth's
// interceptor: a batch arriving after a revocation is refused, not ingested. The app
// serves it on its own route (StreamRoute).
func (h *Handler) Stream(ctx context.Context, stream *connect.BidiStream[sensoctov1.StreamRequest, sensoctov1.StreamResponse]) error {
	c, v, err := newConnectorConn(ctx, stream)
	if err != nil {
		return err
	}
	return h.live.RunConnector(ctx, v, c)
}

// StreamRoute is Stream's own route, to mount beside the service's (its path is the
// more specific): the frames of the generated service's handler and of a method
// value would stay on every session's stack for its lifetime, which an idle session
// keeps under 3 KB so that its goroutine needs 4 KB of stack, not 8 KB
// (docs/performance.md, "Memory per idle sensor"). opts are the service's.
func (h *Handler) StreamRoute(opts ...connect.HandlerOption) (string, http.Handler) {
	// The body of Stream, in the closure itself (no frame between connect and it).
	run := func(ctx context.Context, stream *connect.BidiStream[sensoctov1.StreamRequest, sensoctov1.StreamResponse]) error {
		c, v, err := newConnectorConn(ctx, stream)
		if err != nil {
			return err
		}
		return h.live.RunConnector(ctx, v, c)
	}
	return sensoctov1connect.SensorServiceStreamProcedure, connect.NewBidiStreamHandler(
		sensoctov1connect.SensorServiceStreamProcedure, run,
		connect.WithSchema(sensoctov1.File_sensocto_v1_sensor_proto.Services().ByName("SensorService").Methods().ByName("Stream")),
		connect.WithHandlerOptions(opts...),
		connect.WithCodec(streamCodec{}), // after opts: it replaces "proto" (ingestcodec.go)
	)
}

// newConnectorConn is out of line: Stream's frame stays on the session goroutine's
// stack for the session's lifetime (docs/performance.md, "Memory per idle sensor").
// The viewer is the session's to read while it sets up; nothing keeps it after.
//
//go:noinline
func newConnectorConn(ctx context.Context, stream *connect.BidiStream[sensoctov1.StreamRequest, sensoctov1.StreamResponse]) (*connectorConn, *authz.Viewer, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &connectorConn{stream: stream, body: authz.RequestFrom(ctx).Body}, &v, nil
}

// connectorConn adapts a Stream to live.ConnectorConn.
type connectorConn struct {
	// req is the request of the batch last received, given back to the pool at the
	// next Receive (the session has ingested it by then: live.ConnectorConn).
	req    *sensoctov1.StreamRequest
	stream *connect.BidiStream[sensoctov1.StreamRequest, sensoctov1.StreamResponse]
	// body is the request's body (auth's middleware puts it in the context): Receive
	// waits on it for the next message, and closing it makes a pending Receive return
	// (over HTTP/2, which a bidirectional stream needs).
	body io.ReadCloser
}

// Abort ends a pending Receive by closing the request's body; without one (outside
// HTTP) the session ends at the connector's next message or when it goes.
func (c *connectorConn) Abort() {
	if c.body != nil {
		_ = c.body.Close() // closing an HTTP/2 request body only breaks its pipe
	}
}

// Receive waits for the next message, then lets connect read it. The wait is a read
// of nothing from the request's body: the HTTP/2 server's request body
// (golang.org/x/net/http2, as net/http's bundled copy) blocks on an empty read until
// data (or the end, or an error) arrives, and takes nothing from it. An idle session so waits without connect's read buffer (~0.8 KB) and a new
// request message, and a few hundred bytes higher on its stack (RunConnector). A body
// that returns at once only loses that: connect's Receive then waits as before.
func (c *connectorConn) Receive() (live.StreamBatch, error) {
	if c.req != nil { // the batch before was ingested: its request goes back to the pool
		putRequest(c.req)
		c.req = nil
	}
	if c.body != nil {
		_, _ = c.body.Read(nil) // what it says, connect's Receive says again
	}
	req := getRequest() // a batch has arrived (or the stream ended): idle sessions hold none
	if err := c.stream.Conn().Receive(req); err != nil {
		putRequest(req)
		return nil, err // io.EOF must stay recognisable; the session wraps the rest
	}
	c.req = req
	return streamBatch{req}, nil
}

func (c *connectorConn) SendConfig(cfg backpressure.Config) error {
	return c.stream.Send(&sensoctov1.StreamResponse{Message: &sensoctov1.StreamResponse_Backpressure{Backpressure: toConfig(cfg)}})
}

func (c *connectorConn) SendAck(a live.Ack) error {
	return c.stream.Send(&sensoctov1.StreamResponse{Message: &sensoctov1.StreamResponse_Ack{
		Ack: &sensoctov1.StreamAck{Sequence: a.Sequence, Accepted: a.Accepted, TotalAccepted: a.TotalAccepted},
	}})
}

// streamBatch is a Stream request as a live.StreamBatch (one pointer: it goes into
// the interface without an allocation).
type streamBatch struct{ req *sensoctov1.StreamRequest }

func (b streamBatch) SensorID() string { return b.req.GetSensorId() }

func (b streamBatch) Sequence() uint64 { return b.req.GetSequence() }

func (b streamBatch) Decode(hb *hub.Batch) error {
	return toBatch(hb, b.req.GetMeasurements(), b.req.GetBlocks())
}

// WatchBackpressure streams a sensor's config: the current one, then every change,
// until the client goes, the sensor is deleted or the credential ends.
func (h *Handler) WatchBackpressure(ctx context.Context, req *sensoctov1.WatchBackpressureRequest, stream *connect.ServerStream[sensoctov1.WatchBackpressureResponse]) error {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return err
	}
	return h.live.RunBackpressureWatch(ctx, v, req.GetSensorId(), func(cfg backpressure.Config) error {
		return stream.Send(&sensoctov1.WatchBackpressureResponse{Backpressure: toConfig(cfg)})
	})
}
