package sensorsrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/hub"
)

// ackInterval is the shortest time between two acks of a session: acks of batches
// arriving faster are coalesced into one. A connector at HIGH attention sends a batch
// every 100 ms; acking each would double the messages of the session.
const ackInterval = 250 * time.Millisecond

// acks accumulates what the receiving side accepted until the sender acks it.
type acks struct {
	mu       sync.Mutex
	seq      uint64
	accepted uint64
	total    uint64
	pending  bool
	signal   chan struct{}
}

// add records an accepted batch. Only the first batch after an ack wakes the sender,
// which then acks at once or arms its timer; later ones ride along.
func (a *acks) add(seq uint64, n int) {
	a.mu.Lock()
	a.seq = seq
	a.accepted += uint64(n) //nolint:gosec // G115: n is a count
	a.total += uint64(n)    //nolint:gosec // G115: as above
	wake := !a.pending
	a.pending = true
	a.mu.Unlock()
	if wake {
		select {
		case a.signal <- struct{}{}:
		default:
		}
	}
}

func (a *acks) take() (*sensoctov1.StreamAck, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.pending {
		return nil, false
	}
	ack := &sensoctov1.StreamAck{Sequence: a.seq, Accepted: a.accepted, TotalAccepted: a.total}
	a.accepted, a.pending = 0, false
	return ack, true
}

// Stream runs a connector session. The first batch names the sensor (every later
// one must name the same); the session gets the current back-pressure config first,
// then every change, and coalesced acks. It ends when the client closes its side, on
// a refused batch (with that error, after the ack of the batches accepted before it),
// when the sensor is deleted, or when the credential ends (authz.StreamGuard: a batch
// arriving after a revocation is refused, not ingested).
//
// This goroutine (the handler's) owns all sends; a receiving goroutine ingests
// batches. The receiver ends when the client closes its side or when the handler
// returns (the request body is closed then, which ends a pending Receive).
func (h *Handler) Stream(ctx context.Context, stream *connect.BidiStream[sensoctov1.StreamRequest, sensoctov1.StreamResponse]) error {
	g, err := authz.GuardStream(ctx)
	if err != nil {
		return err
	}
	defer g.Close()
	first, err := stream.Receive()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("receive first batch: %w", err)
	}
	id := first.GetSensorId()
	if err := hub.CheckSensorID(id); err != nil { // StreamRequest is validated here, not by protovalidate
		return err
	}
	if err := h.sensors.CheckPublish(ctx, g.Viewer(), id); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	sub := h.publisher.Subscribe(id)
	defer sub.Close()
	detach := h.sensors.Attach(id)
	defer detach()

	a := &acks{signal: make(chan struct{}, 1)}
	recvErr := make(chan error, 1)
	go func() { recvErr <- h.receive(g, id, first, stream, a) }()

	ackTimer := time.NewTimer(time.Hour)
	ackTimer.Stop()
	defer ackTimer.Stop()
	var lastAck time.Time
	sendAck := func() error {
		ack, ok := a.take()
		if !ok {
			return nil
		}
		lastAck = time.Now()
		if err := stream.Send(&sensoctov1.StreamResponse{Message: &sensoctov1.StreamResponse_Ack{Ack: ack}}); err != nil {
			return fmt.Errorf("send ack: %w", err)
		}
		return nil
	}
	done := g.Context().Done()
	for {
		select {
		case <-done:
			return g.Err() // nil when the client went away
		case cfg := <-sub.C():
			if err := stream.Send(&sensoctov1.StreamResponse{Message: &sensoctov1.StreamResponse_Backpressure{Backpressure: toConfig(cfg)}}); err != nil {
				return fmt.Errorf("send back-pressure config: %w", err)
			}
		case <-sub.Done():
			return apperr.NotFound("sensor %s was deleted", id)
		case <-a.signal:
			if wait := ackInterval - time.Since(lastAck); wait > 0 {
				ackTimer.Reset(wait)
				continue
			}
			if err := sendAck(); err != nil {
				return err
			}
		case <-ackTimer.C:
			if err := sendAck(); err != nil {
				return err
			}
		case err := <-recvErr:
			// Ack what was accepted first: the client learns which batches got in
			// before the one refused (or before it closed its side).
			if aerr := sendAck(); aerr != nil {
				return aerr
			}
			return err
		}
	}
}

// receive ingests the session's batches until the client closes its side (nil) or a
// batch is refused (its error).
func (h *Handler) receive(g *authz.StreamGuard, id string, req *sensoctov1.StreamRequest, stream *connect.BidiStream[sensoctov1.StreamRequest, sensoctov1.StreamResponse], a *acks) error {
	for {
		if !g.Valid() {
			return g.Err() // revoked: not one more batch
		}
		if req.GetSensorId() != id {
			return apperr.InvalidArgument("sensor_id", "every batch of a session must name the sensor of its first batch")
		}
		n, err := h.ingest(id, req.GetMeasurements(), req.GetBlocks())
		if err != nil {
			return err
		}
		a.add(req.GetSequence(), n)
		req, err = stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("receive batch: %w", err)
		}
	}
}

// WatchBackpressure streams a sensor's config: the current one, then every change,
// until the client goes, the sensor is deleted or the credential ends.
func (h *Handler) WatchBackpressure(ctx context.Context, req *sensoctov1.WatchBackpressureRequest, stream *connect.ServerStream[sensoctov1.WatchBackpressureResponse]) error {
	g, err := authz.GuardStream(ctx)
	if err != nil {
		return err
	}
	defer g.Close()
	id := req.GetSensorId()
	if err := h.sensors.CheckPublish(ctx, g.Viewer(), id); err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			// The usual cause: a connector that opens this before RegisterSensor has
			// answered. The order is the client's to keep (see the RPC's comment).
			return apperr.NotFound("sensor %s is not registered: call RegisterSensor first, then WatchBackpressure", id)
		}
		return fmt.Errorf("watch back-pressure: %w", err)
	}
	sub := h.publisher.Subscribe(id)
	defer sub.Close()
	done := g.Context().Done()
	for {
		select {
		case <-done:
			return g.Err() // nil when the client went away
		case <-sub.Done():
			return apperr.NotFound("sensor %s was deleted", id)
		case cfg := <-sub.C():
			if !g.Valid() {
				return g.Err()
			}
			if err := stream.Send(&sensoctov1.WatchBackpressureResponse{Backpressure: toConfig(cfg)}); err != nil {
				return fmt.Errorf("send back-pressure config: %w", err)
			}
		}
	}
}
