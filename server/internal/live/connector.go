package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// Incoming is a batch of a connector as it arrived, converted into the hub's form only
// once the caller may publish to its sensor.
type Incoming interface {
	SensorID() string
	// Decode appends the batch's items to b (see hub.Ingest for who owns what); an
	// item that cannot be converted is an InvalidArgument naming it.
	Decode(b *hub.Batch) error
}

// StreamBatch is a batch of a connector session, numbered by the connector.
type StreamBatch interface {
	Incoming
	Sequence() uint64
}

// Ack acknowledges the batches a session accepted since the previous ack.
type Ack struct {
	// Sequence is the sequence number of the last batch accepted.
	Sequence uint64
	// Accepted counts the values accepted since the previous ack; TotalAccepted since
	// the session began.
	Accepted, TotalAccepted uint64
}

// ConnectorConn is the transport of a connector session (sensorsrpc adapts a Stream).
// Receive is called by one goroutine and the sends by another.
type ConnectorConn interface {
	// Receive waits for the connector's next batch: io.EOF once it closed its side. It
	// must return once the session's RunConnector returned.
	Receive() (StreamBatch, error)
	SendConfig(backpressure.Config) error
	SendAck(Ack) error
}

// ackInterval is the shortest time between two acks of a session: acks of batches
// arriving faster are coalesced into one. A connector at HIGH attention sends a batch
// every 100 ms; acking each would double the messages of the session.
const ackInterval = 250 * time.Millisecond

// batchPool reuses the containers of ingest batches: the hub copies what it keeps,
// so a Batch's slices may be reused once Ingest returns.
var batchPool = sync.Pool{New: func() any { return new(hub.Batch) }}

func getBatch() *hub.Batch { return batchPool.Get().(*hub.Batch) }

func putBatch(b *hub.Batch) {
	if cap(b.Measurements) > 1<<14 || cap(b.Blocks) > 1<<12 {
		return // a rare huge batch: let it go rather than pin its memory
	}
	clear(b.Measurements) // drop references to text, structs, extras and samples
	clear(b.Blocks)
	b.Measurements, b.Blocks = b.Measurements[:0], b.Blocks[:0]
	batchPool.Put(b)
}

// Register declares or updates a sensor of v and returns it with its current
// back-pressure config. Ids with the simulator's prefix are refused.
func (s *Service) Register(ctx context.Context, v authz.Viewer, in sensors.RegisterInput) (sensors.Sensor, backpressure.Config, error) {
	if sensors.IsSimulatedID(in.ID) {
		return sensors.Sensor{}, backpressure.Config{}, apperr.InvalidArgument("sensor_id", "ids starting with "+sensors.SimulatedIDPrefix+" are reserved for simulated sensors")
	}
	sn, err := s.sensors.Register(ctx, v, in)
	if err != nil {
		return sensors.Sensor{}, backpressure.Config{}, fmt.Errorf("register sensor: %w", err)
	}
	return sn, s.publisher.Current(sn.ID), nil
}

// Publish ingests one batch of a sensor v may publish to and returns the values
// accepted and the sensor's current back-pressure config. The sensor id is checked
// here: ingest messages are not validated by protovalidate (see the ingest rules in
// package rpc's interceptors).
func (s *Service) Publish(ctx context.Context, v authz.Viewer, in Incoming) (int, backpressure.Config, error) {
	id := in.SensorID()
	if err := hub.CheckSensorID(id); err != nil {
		return 0, backpressure.Config{}, err
	}
	if err := s.sensors.CheckPublish(ctx, v, id); err != nil {
		return 0, backpressure.Config{}, fmt.Errorf("publish: %w", err)
	}
	n, err := s.ingest(id, in)
	if err != nil {
		return 0, backpressure.Config{}, err
	}
	return n, s.publisher.Current(id), nil
}

// ingest converts and ingests one batch, reusing a pooled container.
func (s *Service) ingest(id string, in Incoming) (int, error) {
	b := getBatch()
	defer putBatch(b)
	if err := in.Decode(b); err != nil {
		return 0, err
	}
	n, err := s.sensors.Ingest(id, b)
	if err != nil {
		return 0, fmt.Errorf("publish to %s: %w", id, err)
	}
	return n, nil
}

// RunConnector runs a connector session of v until it ends. The first batch names the
// sensor (every later one must name the same); the session gets the current
// back-pressure config first, then every change, and coalesced acks. It ends when the
// connector closes its side (nil), on a refused batch (with that error, after the ack
// of the batches accepted before it), when the sensor is deleted (NotFound), or when
// ctx ends (nil: the guard's interceptor gives the credential's error when that is
// why).
//
// The calling goroutine owns all sends; a receiving goroutine ingests batches and
// ends with the session (conn.Receive returns then).
func (s *Service) RunConnector(ctx context.Context, v authz.Viewer, conn ConnectorConn) error {
	first, err := conn.Receive()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("receive first batch: %w", err)
	}
	id := first.SensorID()
	if err := hub.CheckSensorID(id); err != nil {
		return err
	}
	if err := s.sensors.CheckPublish(ctx, v, id); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	sub := s.publisher.Subscribe(id)
	defer sub.Close()
	defer s.followAttention(id)() // the other nodes' viewers count too
	moved, release := s.claimSession(id)
	defer release()
	detach := s.sensors.Attach(id)
	defer detach()
	// The session's first message is the current config (Subscribe put it in the
	// mailbox), before any ack: sent here, not raced against acks in the loop below.
	select {
	case cfg := <-sub.C():
		if err := conn.SendConfig(cfg); err != nil {
			return fmt.Errorf("send back-pressure config: %w", err)
		}
	case <-sub.Done():
		return apperr.NotFound("sensor %s was deleted", id)
	case <-ctx.Done():
		return nil
	}

	a := &acks{signal: make(chan struct{}, 1)}
	recvErr := make(chan error, 1)
	go func() { recvErr <- s.receive(id, first, conn, a) }()

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
		if err := conn.SendAck(ack); err != nil {
			return fmt.Errorf("send ack: %w", err)
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case cfg := <-sub.C():
			if err := conn.SendConfig(cfg); err != nil {
				return fmt.Errorf("send back-pressure config: %w", err)
			}
		case <-sub.Done():
			return apperr.NotFound("sensor %s was deleted", id)
		case <-moved:
			// Ack what was accepted first, as when the connector closes.
			if err := sendAck(); err != nil {
				return err
			}
			return apperr.Aborted("session moved to another node: a newer session of sensor %s started there", id)
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

// receive ingests the session's batches until the connector closes its side (nil) or
// a batch is refused (its error).
func (s *Service) receive(id string, in StreamBatch, conn ConnectorConn, a *acks) error {
	for {
		if in.SensorID() != id {
			return apperr.InvalidArgument("sensor_id", "every batch of a session must name the sensor of its first batch")
		}
		n, err := s.ingest(id, in)
		if err != nil {
			return err
		}
		a.add(in.Sequence(), n)
		in, err = conn.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("receive batch: %w", err)
		}
	}
}

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

func (a *acks) take() (Ack, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.pending {
		return Ack{}, false
	}
	ack := Ack{Sequence: a.seq, Accepted: a.accepted, TotalAccepted: a.total}
	a.accepted, a.pending = 0, false
	return ack, true
}

// RunBackpressureWatch sends a sensor's back-pressure config to a connector that
// watches it beside unary Publish calls: the current one, then every change, until ctx
// ends (nil) or the sensor is deleted (NotFound).
func (s *Service) RunBackpressureWatch(ctx context.Context, v authz.Viewer, sensorID string, send func(backpressure.Config) error) error {
	if err := s.sensors.CheckPublish(ctx, v, sensorID); err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			// The usual cause: a connector that opens this before RegisterSensor has
			// answered. The order is the client's to keep (see the RPC's comment).
			return apperr.NotFound("sensor %s is not registered: call RegisterSensor first, then WatchBackpressure", sensorID)
		}
		return fmt.Errorf("watch back-pressure: %w", err)
	}
	sub := s.publisher.Subscribe(sensorID)
	defer sub.Close()
	defer s.followAttention(sensorID)() // the other nodes' viewers count too
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Done():
			return apperr.NotFound("sensor %s was deleted", sensorID)
		case cfg := <-sub.C():
			if err := send(cfg); err != nil {
				return fmt.Errorf("send back-pressure config: %w", err)
			}
		}
	}
}
