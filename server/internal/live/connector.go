package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
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
// Receive is called by one goroutine at a time (the first batch is received by the
// session's set-up goroutine, the rest by RunConnector's caller); the sends come from
// short-lived goroutines of the session, one at a time, possibly while Receive waits.
type ConnectorConn interface {
	// Receive waits for the connector's next batch: io.EOF once it closed its side.
	// A batch is the session's until its next Receive, which may reuse its memory.
	Receive() (StreamBatch, error)
	SendConfig(backpressure.Config) error
	SendAck(Ack) error
	// Abort makes a pending Receive, and every later one, return an error soon. The
	// session calls it, from any goroutine and possibly more than once, when it ends
	// for a reason of the server's: its context ended, the sensor was deleted, or a
	// send failed.
	Abort()
}

// Acks are coalesced: a session acks at most once per ackEvery of the config it last
// sent, four of its batch windows, at least ackInterval and at most maxAckInterval. A
// connector at HIGH attention sends a batch every 100 ms, at MEDIUM every 500 ms, at
// NONE every 5 s: acking each would double the messages of the session, and a
// connector told to send rarely needs its acks no more often than it sends (the
// protocol lets one ack cover several batches: StreamAck in proto/sensocto/v1/sensor.proto).
const (
	ackInterval    = 250 * time.Millisecond
	maxAckInterval = 10 * time.Second
	ackWindows     = 4
)

// ackEvery is how often at most a session advised cfg is acked.
func ackEvery(cfg backpressure.Config) time.Duration {
	if cfg.Paused {
		return maxAckInterval
	}
	d := ackWindows * time.Duration(cfg.RecommendedBatchWindowMS) * time.Millisecond
	return min(max(d, ackInterval), maxAckInterval)
}

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
// why). v is read before the first batch is ingested, not after.
//
// The calling goroutine receives and ingests batches; it is the session's only
// goroutine while nothing is to be sent (an idle session costs one goroutine, see
// docs/performance.md). The set-up (the first batch and its checks, the subscription,
// the first config) runs on a goroutine of its own while the caller waits, so that
// its deep calls never grow the caller's stack: an idle session waits at the bottom
// of a stack of under 3 KB, which the runtime then keeps at 4 KB instead of 8 KB
// (docs/performance.md, "Memory per idle sensor"). Config changes and due acks are
// sent by short-lived goroutines (the publisher's notification, the ack timer), one
// at a time; when the server ends the session, conn.Abort wakes the receiving
// goroutine.
func (s *Service) RunConnector(ctx context.Context, v *authz.Viewer, conn ConnectorConn) error {
	// This frame stays on the session goroutine's stack while it waits: the work is
	// in setUp, take and endSession.
	se, err := s.setUp(ctx, v, conn)
	if se == nil {
		return err
	}
	for err == nil {
		var in StreamBatch
		if in, err = conn.Receive(); err != nil {
			err = receiveErr(err)
			break
		}
		err = s.take(se, in)
	}
	return s.endSession(ctx, se, err)
}

// setUp opens the session on a goroutine of its own (see RunConnector) and waits for
// it: the session with the error of its first batch, or no session (the error, nil
// when ctx ended or the connector closed at once).
//
//go:noinline
func (s *Service) setUp(ctx context.Context, v *authz.Viewer, conn ConnectorConn) (*session, error) {
	o := &opening{s: s, ctx: ctx, v: *v, conn: conn}
	o.wg.Add(1)
	go o.run()
	o.wg.Wait()
	if o.panicked != nil {
		panic(o.panicked) // on the handler's goroutine, where the RPC's recovery is
	}
	return o.se, o.err
}

// opening is a session being set up.
type opening struct {
	s    *Service
	ctx  context.Context
	v    authz.Viewer
	conn ConnectorConn
	wg   sync.WaitGroup
	se   *session
	err  error
	// panicked is a panic of the set-up, with its stack.
	panicked error
}

func (o *opening) run() {
	defer o.wg.Done()
	defer func() {
		if p := recover(); p != nil {
			o.panicked = fmt.Errorf("session set-up: %v\n%s", p, debug.Stack())
		}
	}()
	// From here on ctx's end wakes the receiving goroutine (endSession stops it).
	stopAbort := context.AfterFunc(o.ctx, o.conn.Abort)
	var first StreamBatch
	o.se, first, o.err = o.s.openSession(o.ctx, &o.v, o.conn)
	if o.se == nil {
		stopAbort()
		return
	}
	o.se.stopAbort = stopAbort
	o.err = o.s.take(o.se, first)
}

// take ingests a batch of the session.
func (s *Service) take(se *session, in StreamBatch) error {
	if in.SensorID() != se.id {
		return apperr.InvalidArgument("sensor_id", "every batch of a session must name the sensor of its first batch")
	}
	n, err := s.ingest(se.id, in)
	if err != nil {
		return err
	}
	se.accepted(in.Sequence(), n)
	return nil
}

// receiveErr is what a failed Receive ends the session with: nil once the connector
// closed its side.
//
//go:noinline
func receiveErr(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("receive batch: %w", err)
}

// openSession receives the first batch, checks it, subscribes to the sensor's
// config and sends it. A nil session: the session is over (with the error, nil when
// ctx ended or the connector closed at once).
//
//go:noinline
func (s *Service) openSession(ctx context.Context, v *authz.Viewer, conn ConnectorConn) (*session, StreamBatch, error) {
	first, err := conn.Receive()
	if ctx.Err() != nil || errors.Is(err, io.EOF) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("receive first batch: %w", err)
	}
	id := first.SensorID()
	if err := hub.CheckSensorID(id); err != nil {
		return nil, nil, err
	}
	if err := s.sensors.CheckPublish(ctx, *v, id); err != nil {
		return nil, nil, fmt.Errorf("stream: %w", err)
	}
	se := &session{id: id, conn: conn}
	se.unfollow = s.followAttention(id) // the other nodes' viewers count too
	se.release = s.claimSession(id, se.moved)
	// The session's first message is the current config (Subscribe put it in the
	// mailbox), sent here before anything else can be: sendMu is held until it is.
	se.sendMu.Lock()
	se.sub = s.publisher.SubscribeNotify(id, se.notify)
	se.detach = s.sensors.Attach(id)
	select {
	case cfg := <-se.sub.C():
		se.ackEvery = ackEvery(cfg)
		if err = conn.SendConfig(cfg); err != nil {
			se.sendFailed = true
			err = fmt.Errorf("send back-pressure config: %w", err)
		}
	case <-se.sub.Done():
		err = apperr.NotFound("sensor %s was deleted", id)
	}
	se.sendMu.Unlock()
	if err != nil {
		se.close()
		return nil, nil, err
	}
	return se, first, nil
}

// endSession ends a session whose receiving ended with err: it stops the session's
// sends (waiting for one under way), then acks what was accepted, so that the client
// learns which batches got in before the one refused (or before it closed its side).
//
//go:noinline
func (s *Service) endSession(ctx context.Context, se *session, err error) error {
	se.stopAbort()
	se.close()
	if ctx.Err() != nil {
		return nil
	}
	endErr := se.endErr()
	if ack, ok := se.takeAck(); ok && !se.sendFailed {
		if aerr := se.conn.SendAck(ack); aerr != nil && endErr == nil {
			return fmt.Errorf("send ack: %w", aerr)
		}
	}
	if endErr != nil {
		return endErr
	}
	return err
}

// session is the state of a connector session shared by its receiving goroutine and
// its sends. Nothing is allocated for acks until the first batch is accepted.
type session struct {
	id   string
	conn ConnectorConn
	sub  *backpressure.Subscription
	// detach ends the sensor's count of open sessions (sensors.Service.Attach),
	// unfollow the following of its attention on other nodes, release the claim of
	// the sensor's session (sessionmove.go).
	detach, unfollow, release func()
	// stopAbort stops calling conn.Abort when the session's context ends.
	stopAbort func() bool
	// sendMu serialises the sends; taken before mu when both are.
	sendMu sync.Mutex

	mu sync.Mutex
	// Acks not yet sent: the last sequence, values since the last ack and in all.
	seq, acc, total uint64
	pending         bool
	lastAck         time.Time
	ackEvery        time.Duration // of the config last sent
	// timer sends a due ack (created at the first ack); armed while it is pending.
	timer *time.Timer
	armed bool
	// kicked: a goroutine to send a new config was started and has not begun.
	kicked bool
	closed bool // the session's sends are over
	// sendFailed: a send failed (nothing more is sent); written before stop, read
	// after close.
	sendFailed bool
	ending     bool  // the server ends the session (why: end)
	end        error // nil when its context ended
}

// notify is the publisher's notification (under its lock): a new config is in the
// mailbox, or the subscription ended. A goroutine sends it.
func (se *session) notify() {
	se.mu.Lock()
	defer se.mu.Unlock()
	if se.closed || se.kicked {
		return
	}
	se.kicked = true
	go se.flush(true)
}

// accepted records an accepted batch. The first batch after an ack arms the timer at
// the time the next ack is due (at once when it is); later ones ride along.
func (se *session) accepted(seq uint64, n int) {
	se.mu.Lock()
	defer se.mu.Unlock()
	se.seq = seq
	se.acc += uint64(n)   //nolint:gosec // G115: n is a count
	se.total += uint64(n) //nolint:gosec // G115: as above
	if se.pending {
		return
	}
	se.pending = true
	se.armLocked(time.Now())
}

// armLocked arms the ack timer for the pending ack. se.mu must be held.
func (se *session) armLocked(now time.Time) {
	if se.armed || se.closed {
		return
	}
	se.armed = true
	wait := max(se.lastAck.Add(se.ackEvery).Sub(now), 0)
	if se.timer == nil {
		se.timer = time.AfterFunc(wait, func() { se.flush(false) })
		return
	}
	se.timer.Reset(wait)
}

// flush sends what is to be sent: a new config from the mailbox, and the pending ack
// once it is due (else it arms the timer for it). It runs on a short-lived goroutine:
// started by notify (kick) or by the ack timer.
func (se *session) flush(kick bool) {
	se.sendMu.Lock()
	defer se.sendMu.Unlock()
	se.mu.Lock()
	if kick {
		se.kicked = false
	} else {
		se.armed = false
	}
	if se.closed {
		se.mu.Unlock()
		return
	}
	var cfg backpressure.Config
	haveCfg := false
	select {
	case cfg = <-se.sub.C():
		haveCfg = true
		se.ackEvery = ackEvery(cfg)
	default:
	}
	deleted := false
	select {
	case <-se.sub.Done():
		deleted = true
	default:
	}
	now := time.Now()
	var ack Ack
	haveAck := false
	if se.pending && !deleted {
		if now.Sub(se.lastAck) >= se.ackEvery {
			ack, haveAck = se.takeLocked(now)
		} else {
			se.armLocked(now)
		}
	}
	se.mu.Unlock()
	if deleted {
		se.stop(apperr.NotFound("sensor %s was deleted", se.id))
		return
	}
	if haveCfg {
		if err := se.conn.SendConfig(cfg); err != nil {
			se.sendFailed = true
			se.stop(fmt.Errorf("send back-pressure config: %w", err))
			return
		}
	}
	if haveAck {
		if err := se.conn.SendAck(ack); err != nil {
			se.sendFailed = true
			se.stop(fmt.Errorf("send ack: %w", err))
		}
	}
}

// takeLocked takes the pending ack. se.mu must be held.
func (se *session) takeLocked(now time.Time) (Ack, bool) {
	if !se.pending {
		return Ack{}, false
	}
	ack := Ack{Sequence: se.seq, Accepted: se.acc, TotalAccepted: se.total}
	se.acc, se.pending, se.lastAck = 0, false, now
	return ack, true
}

// takeAck takes the pending ack (the last one of a session).
func (se *session) takeAck() (Ack, bool) {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.takeLocked(time.Now())
}

// moved is called (once, quickly, under the session registry's lock) when a newer
// session of the sensor started on another node: the session acks what it accepted
// and ends with Aborted.
func (se *session) moved() {
	se.stop(apperr.Aborted("session moved to another node: a newer session of sensor %s started there", se.id))
}

// stop ends the session for a reason of the server's (err; the first one counts) and
// wakes its receiving goroutine.
func (se *session) stop(err error) {
	se.mu.Lock()
	if !se.ending {
		se.ending, se.end = true, err
	}
	se.mu.Unlock()
	se.conn.Abort()
}

// endErr is why the server ended the session, nil if it did not.
func (se *session) endErr() error {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.end
}

// close ends the session's sends: it waits for a send under way, and nothing is sent
// by the session's goroutines after it returns (a notification or timer firing later
// finds the session closed). It closes the subscription and detaches the session.
func (se *session) close() {
	se.mu.Lock()
	se.closed = true
	if se.timer != nil {
		se.timer.Stop()
	}
	se.mu.Unlock()
	se.sub.Close() // not under se.mu: it notifies under the publisher's lock
	se.detach()
	se.release()
	se.unfollow()
	se.sendMu.Lock()
	defer se.sendMu.Unlock() // a flush holding it has sent; later ones see closed
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
