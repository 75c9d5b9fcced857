// Package route gives every room document one owning node in a cluster. The node that
// holds the document's lease ("roomdoc.<room id>", package lease) loads it
// (roomdoc.Manager) and applies every sync message; any other node forwards its
// clients' SyncRoomState calls to the owner and relays the owner's sync messages for
// its clients' WatchRoom streams, over the bus (bus.KindRoomDoc, keyed "node:<id>" of
// the receiving node, so messages between two nodes keep their order). When the owner
// dies its lease runs out; the next call on any node takes the lease, the document is
// loaded from the database (every change acknowledged to a client was stored before
// the acknowledgement), and the streams relayed from the old owner end with
// Unavailable so that their clients reconnect and sync again.
//
// On a single node the router owns every document (a lease of its own process is
// always granted) and calls the Manager directly.
package route

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/lease"
	"github.com/sensocto/sensocto/server/internal/roomdoc"
)

// Limits of the router.
const (
	// RequestTimeout bounds a forwarded call's wait for the owner's answer.
	RequestTimeout = 5 * time.Second
	// RelayQueue bounds the owner's sync messages waiting for a relayed stream; a
	// stream that falls further behind ends (its client reconnects).
	RelayQueue = 64
	// MaxPending bounds the forwarded calls waiting for answers on one node.
	MaxPending = 4096
	// MaxServing bounds the other nodes' sync calls an owner serves at once, and
	// MaxPending the relayed streams it serves; beyond them, calls are answered
	// Unavailable at once.
	MaxServing = 256
	// idleRelease is how long an owned document's lease is kept without use.
	idleRelease = 5 * time.Minute
)

// ErrMoved ends the relayed or local streams of a document whose owner changed.
var ErrMoved = apperr.Unavailable(time.Second, "the room's shared document moved to another server; reconnect")

// Subscription is a peer's channel of the server's sync messages (see
// roomdoc.Subscription); Err says why it ended (nil: by the stream's Close or the
// room's end, ErrMoved: the document's owner changed).
type Subscription interface {
	Ready() <-chan struct{}
	Done() <-chan struct{}
	Next() []byte
	Close()
	Err() error
}

// Options configure a Router.
type Options struct {
	Docs *roomdoc.Manager
	// Bus reaches the other nodes (nil: a single node, which owns every document).
	Bus bus.Bus
	// Leases decide the owners (nil: a store of this process alone).
	Leases *lease.Store
	Logger zerolog.Logger
}

// Router sends each room document's calls to its owner. Run must be running.
type Router struct {
	docs   *roomdoc.Manager
	bus    bus.Bus
	leases *lease.Store
	log    zerolog.Logger
	inbox  bus.Subscription
	// serve holds a token per call of another node being served (MaxServing)
	serve chan struct{}

	mu      sync.Mutex
	owned   map[uuid.UUID]*owned              // documents this node owns
	pending map[uint64]chan wire              // forwarded calls waiting for answers
	relays  map[uint64]*relay                 // streams of this node relayed from an owner
	serving map[servingKey]context.CancelFunc // other nodes' streams this owner serves
	nextID  uint64
	// ctx ends when Run ends: the loss-watchers of leases end with it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type owned struct {
	lease    *lease.Lease
	lastUsed time.Time
	subs     int // open streams (local and served)
}

type servingKey struct {
	node string
	id   uint64
}

// wire is a KindRoomDoc message.
type wire struct {
	Op   string    `json:"op"` // sync, attach, detach (to the owner); answer, push, ended (from it)
	ID   uint64    `json:"id"`
	Room uuid.UUID `json:"room"`
	User uuid.UUID `json:"user,omitempty"`
	Peer string    `json:"peer,omitempty"`
	Msg  []byte    `json:"msg,omitempty"`
	Err  *wireErr  `json:"err,omitempty"`
}

type wireErr struct {
	Kind    apperr.Kind `json:"kind"`
	Message string      `json:"message"`
}

// New returns a Router and opens its end of the bus.
func New(o Options) (*Router, error) {
	if o.Leases == nil {
		l, err := lease.NewMemory(0).Store("local")
		if err != nil {
			return nil, err
		}
		o.Leases = l
	}
	r := &Router{
		docs: o.Docs, bus: o.Bus, leases: o.Leases, log: o.Logger,
		owned: map[uuid.UUID]*owned{}, pending: map[uint64]chan wire{}, relays: map[uint64]*relay{},
		serving: map[servingKey]context.CancelFunc{}, serve: make(chan struct{}, MaxServing),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if r.bus != nil {
		sub, err := r.bus.Subscribe(bus.KindRoomDoc, nodeKey(r.bus.NodeID()), bus.MaxQueue)
		if err != nil {
			return nil, fmt.Errorf("room documents: %w", err)
		}
		r.inbox = sub
	}
	return r, nil
}

func nodeKey(node string) string { return "node:" + node }

func leaseName(room uuid.UUID) string { return "roomdoc." + room.String() }

// owner returns "" when this node owns room's document (taking its lease if nobody
// holds it), else the owner's node id.
func (r *Router) owner(ctx context.Context, room uuid.UUID) (string, error) {
	r.mu.Lock()
	if o := r.owned[room]; o != nil {
		o.lastUsed = time.Now()
		r.mu.Unlock()
		return "", nil
	}
	r.mu.Unlock()
	for range 3 {
		l, err := r.leases.Acquire(ctx, leaseName(room))
		if err == nil {
			r.adopt(room, l)
			return "", nil
		}
		if !errors.Is(err, lease.ErrHeld) {
			return "", apperr.Wrap(apperr.KindUnavailable, err, "the room's shared document is unavailable; try again")
		}
		holder, err := r.leases.Holder(ctx, leaseName(room))
		if err != nil {
			return "", apperr.Wrap(apperr.KindUnavailable, err, "the room's shared document is unavailable; try again")
		}
		if holder != "" && holder != r.leases.NodeID() {
			if r.bus != nil && !r.bus.Interested(bus.KindRoomDoc, nodeKey(holder)) {
				// The holder left the bus (it died): its lease runs out within the TTL.
				return "", apperr.Unavailable(time.Second, "the room's shared document is changing servers; try again")
			}
			return holder, nil
		}
		// Freed meanwhile (or this node's own lease in another Router): try again.
	}
	return "", apperr.Unavailable(time.Second, "the room's shared document is changing servers; try again")
}

// adopt records a lease just taken and follows its loss.
func (r *Router) adopt(room uuid.UUID, l *lease.Lease) {
	r.mu.Lock()
	r.owned[room] = &owned{lease: l, lastUsed: time.Now()}
	ctx := r.ctx
	r.mu.Unlock()
	if ctx.Err() != nil {
		return // Run ended: the store releases the lease
	}
	// The document is loaded from the database on its first use here: whatever an
	// earlier owner of this node held in memory is stale.
	r.docs.Forget(room)
	r.wg.Go(func() {
		select {
		case <-l.Lost():
		case <-ctx.Done():
			return
		}
		r.mu.Lock()
		if o := r.owned[room]; o != nil && o.lease == l {
			delete(r.owned, room)
		}
		r.mu.Unlock()
		// Another node may own it now: this node's copy and its streams end.
		r.docs.Forget(room)
		r.log.Info().Stringer("room_id", room).Msg("room document lease lost; its streams here end")
	})
}

// Sync applies a peer's sync message at the document's owner and returns the reply
// (roomdoc.Manager.Sync).
func (r *Router) Sync(ctx context.Context, user, room uuid.UUID, peer string, msg []byte) ([]byte, error) {
	node, err := r.owner(ctx, room)
	if err != nil {
		return nil, err
	}
	if node == "" || r.bus == nil {
		return r.docs.Sync(ctx, user, room, peer, msg)
	}
	ans, err := r.call(ctx, node, wire{Op: "sync", Room: room, User: user, Peer: peer, Msg: msg})
	if err != nil {
		return nil, err
	}
	return ans.Msg, nil
}

// Attach makes a stream the channel of a peer's sync messages (roomdoc.Manager.Attach),
// at the owner.
func (r *Router) Attach(ctx context.Context, user, room uuid.UUID, peer string) (Subscription, error) {
	node, err := r.owner(ctx, room)
	if err != nil {
		return nil, err
	}
	if node == "" || r.bus == nil {
		sub, err := r.docs.Attach(ctx, user, room, peer)
		if err != nil {
			return nil, err
		}
		r.useSub(room, 1)
		return &localSub{Subscription: sub, r: r, room: room}, nil
	}
	rl := &relay{r: r, room: room, owner: node, ready: make(chan struct{}, 1), done: make(chan struct{})}
	r.mu.Lock()
	if len(r.relays) >= MaxPending {
		r.mu.Unlock()
		return nil, apperr.Unavailable(time.Second, "too many relayed room streams on this server")
	}
	r.nextID++
	rl.id = r.nextID
	r.relays[rl.id] = rl // before the attach: pushes may arrive before the answer
	r.mu.Unlock()
	if _, err := r.callID(ctx, node, rl.id, wire{Op: "attach", Room: room, User: user, Peer: peer}); err != nil {
		r.mu.Lock()
		delete(r.relays, rl.id)
		r.mu.Unlock()
		return nil, err
	}
	return rl, nil
}

// localSub is a subscription at this node's Manager; it ends with ErrMoved when the
// Manager dropped the document because the lease was lost.
type localSub struct {
	*roomdoc.Subscription
	r    *Router
	room uuid.UUID
	once sync.Once
}

func (s *localSub) Close() {
	s.Subscription.Close()
	s.once.Do(func() { s.r.useSub(s.room, -1) })
}

func (s *localSub) Err() error {
	select {
	case <-s.Done():
	default:
		return nil
	}
	s.r.mu.Lock()
	_, still := s.r.owned[s.room]
	s.r.mu.Unlock()
	if !still {
		return ErrMoved
	}
	return nil
}

func (r *Router) useSub(room uuid.UUID, d int) {
	r.mu.Lock()
	if o := r.owned[room]; o != nil {
		o.subs += d
		o.lastUsed = time.Now()
	}
	r.mu.Unlock()
}

// call sends a request to node and waits for its answer.
func (r *Router) call(ctx context.Context, node string, w wire) (wire, error) {
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.mu.Unlock()
	return r.callID(ctx, node, id, w)
}

func (r *Router) callID(ctx context.Context, node string, id uint64, w wire) (wire, error) {
	ch := make(chan wire, 1)
	r.mu.Lock()
	if len(r.pending) >= MaxPending {
		r.mu.Unlock()
		return wire{}, apperr.Unavailable(time.Second, "too many room document calls waiting on this server")
	}
	r.pending[id] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
	}()
	w.ID = id
	if err := r.send(node, w); err != nil {
		return wire{}, apperr.Wrap(apperr.KindUnavailable, err, "the room's shared document is unavailable; try again")
	}
	t := time.NewTimer(RequestTimeout)
	defer t.Stop()
	// A dead owner's lease runs out before RequestTimeout: stop waiting then.
	check := time.NewTicker(r.leases.TTL() / 3)
	defer check.Stop()
	for {
		select {
		case ans := <-ch:
			if ans.Err != nil {
				return wire{}, ans.Err.toError()
			}
			return ans, nil
		case <-check.C:
			if h, err := r.leases.Holder(ctx, leaseName(w.Room)); err == nil && h != node {
				return wire{}, ErrMoved
			}
		case <-t.C:
			return wire{}, apperr.Unavailable(time.Second, "the server holding the room's shared document did not answer; try again")
		case <-ctx.Done():
			return wire{}, ctx.Err()
		}
	}
}

func (r *Router) send(node string, w wire) error {
	data, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return r.bus.Publish(bus.Message{Kind: bus.KindRoomDoc, Key: nodeKey(node), Data: data})
}

func errWire(err error) *wireErr {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &wireErr{Kind: apperr.KindUnavailable, Message: "the room's shared document did not answer in time; try again"}
	}
	if ae, ok := apperr.As(err); ok {
		return &wireErr{Kind: ae.Kind, Message: ae.PublicMessage()}
	}
	return &wireErr{Kind: apperr.KindInternal, Message: "internal error"}
}

func (e *wireErr) toError() error {
	if e.Kind <= apperr.KindUnknown || e.Kind > apperr.KindInternal || e.Kind == apperr.KindInternal {
		return apperr.Internal(fmt.Errorf("room document owner: %s", e.Message))
	}
	return apperr.New(e.Kind, "%s", e.Message)
}

// Run serves other nodes' calls and relays, checks relayed streams' owners and
// releases idle leases, until ctx ends.
func (r *Router) Run(ctx context.Context) error {
	defer r.wg.Wait()
	defer r.cancel()
	if r.inbox != nil {
		defer r.inbox.Close()
	}
	var inbox <-chan bus.Message
	if r.inbox != nil {
		inbox = r.inbox.C()
	}
	check := time.NewTicker(r.leases.TTL() / 3)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			r.shutdown()
			return nil
		case m, ok := <-inbox:
			if !ok {
				inbox = nil
				continue
			}
			r.handle(ctx, m)
		case <-check.C:
			r.checkRelays(ctx)
			r.releaseIdle(ctx)
		}
	}
}

// handle dispatches one message from another node.
func (r *Router) handle(ctx context.Context, m bus.Message) {
	var w wire
	if err := json.Unmarshal(m.Data, &w); err != nil {
		r.log.Warn().Err(err).Str("node", m.Origin).Msg("a room document message that does not decode")
		return
	}
	switch w.Op {
	case "answer":
		r.mu.Lock()
		ch := r.pending[w.ID]
		r.mu.Unlock()
		if ch != nil {
			select {
			case ch <- w:
			default:
			}
		}
	case "push", "ended":
		r.mu.Lock()
		rl := r.relays[w.ID]
		r.mu.Unlock()
		if rl != nil && rl.owner == m.Origin {
			switch {
			case w.Op == "push":
				rl.push(w.Msg)
			case w.Err != nil:
				rl.end(ErrMoved)
			default:
				rl.end(nil)
			}
		}
	case "sync":
		// Served in its own goroutine (a slow document must not hold the inbox), at
		// most MaxServing at once.
		select {
		case r.serve <- struct{}{}:
		default:
			r.busy(m.Origin, w)
			return
		}
		r.wg.Go(func() {
			defer func() { <-r.serve }()
			r.serveSync(ctx, m.Origin, w)
		})
	case "attach":
		r.mu.Lock()
		full := len(r.serving) >= MaxPending
		r.mu.Unlock()
		if full {
			r.busy(m.Origin, w)
			return
		}
		r.wg.Go(func() { r.serveAttach(ctx, m.Origin, w) })
	case "detach":
		r.mu.Lock()
		cancel := r.serving[servingKey{m.Origin, w.ID}]
		r.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	}
}

// busy answers a call this node has no room to serve now.
func (r *Router) busy(to string, w wire) {
	err := apperr.Unavailable(time.Second, "the server holding the room's shared document is busy; try again")
	_ = r.send(to, wire{Op: "answer", ID: w.ID, Room: w.Room, Err: errWire(err)})
}

// mine reports whether this node owns room now.
func (r *Router) mine(room uuid.UUID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.owned[room]
	if o != nil {
		o.lastUsed = time.Now()
	}
	return o != nil
}

func (r *Router) serveSync(ctx context.Context, from string, w wire) {
	ans := wire{Op: "answer", ID: w.ID, Room: w.Room}
	if !r.mine(w.Room) {
		ans.Err = errWire(ErrMoved)
	} else {
		cctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		msg, err := r.docs.Sync(cctx, w.User, w.Room, w.Peer, w.Msg)
		cancel()
		ans.Msg, ans.Err = msg, errWire(err)
	}
	if err := r.send(from, ans); err != nil {
		r.log.Warn().Err(err).Str("node", from).Msg("answer a forwarded room document sync")
	}
}

// serveAttach attaches a peer of another node's stream here and relays the sync
// messages due for it until the other node detaches, its node is gone, or the
// document leaves this node.
func (r *Router) serveAttach(ctx context.Context, from string, w wire) {
	ans := wire{Op: "answer", ID: w.ID, Room: w.Room}
	if !r.mine(w.Room) {
		ans.Err = errWire(ErrMoved)
		_ = r.send(from, ans)
		return
	}
	sub, err := r.docs.Attach(ctx, w.User, w.Room, w.Peer)
	if err != nil {
		ans.Err = errWire(err)
		_ = r.send(from, ans)
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	key := servingKey{from, w.ID}
	r.mu.Lock()
	r.serving[key] = cancel
	r.mu.Unlock()
	r.useSub(w.Room, 1)
	defer func() {
		cancel()
		sub.Close()
		r.mu.Lock()
		delete(r.serving, key)
		r.mu.Unlock()
		r.useSub(w.Room, -1)
	}()
	if err := r.send(from, ans); err != nil {
		return
	}
	gone := time.NewTicker(r.leases.TTL())
	defer gone.Stop()
	for {
		select {
		case <-sctx.Done():
			return
		case <-sub.Done():
			end := wire{Op: "ended", ID: w.ID, Room: w.Room}
			if !r.mine(w.Room) {
				end.Err = errWire(ErrMoved) // the stream's client must reconnect
			}
			_ = r.send(from, end)
			return
		case <-gone.C:
			if !r.bus.Interested(bus.KindRoomDoc, nodeKey(from)) {
				return // the stream's node is gone
			}
		case <-sub.Ready():
			if msg := sub.Next(); msg != nil {
				if err := r.send(from, wire{Op: "push", ID: w.ID, Room: w.Room, Msg: msg}); err != nil {
					return
				}
			}
		}
	}
}

// checkRelays ends the relayed streams whose owner no longer holds the document, and
// takes the documents whose owner's lease ran out.
func (r *Router) checkRelays(ctx context.Context) {
	r.mu.Lock()
	list := make([]*relay, 0, len(r.relays))
	for _, rl := range r.relays {
		list = append(list, rl)
	}
	r.mu.Unlock()
	holders := map[uuid.UUID]string{}
	for _, rl := range list {
		h, ok := holders[rl.room]
		if !ok {
			var err error
			h, err = r.leases.Holder(ctx, leaseName(rl.room))
			if err != nil {
				continue
			}
			holders[rl.room] = h
		}
		if h != rl.owner {
			if h == "" {
				// The owner died and its lease ran out: this node, which serves the
				// document's clients, takes it over at once (it loads on first use).
				if _, err := r.owner(ctx, rl.room); err == nil {
					holders[rl.room] = r.leases.NodeID()
				}
			}
			rl.end(ErrMoved)
		}
	}
}

// releaseIdle frees the leases of documents unused for idleRelease.
func (r *Router) releaseIdle(ctx context.Context) {
	var idle []*lease.Lease
	r.mu.Lock()
	for room, o := range r.owned {
		if o.subs <= 0 && time.Since(o.lastUsed) > idleRelease {
			idle = append(idle, o.lease)
			delete(r.owned, room)
		}
	}
	r.mu.Unlock()
	for _, l := range idle {
		_ = l.Release(ctx)
	}
}

// shutdown ends the relays; the leases go with the lease store.
func (r *Router) shutdown() {
	r.mu.Lock()
	list := make([]*relay, 0, len(r.relays))
	for _, rl := range r.relays {
		list = append(list, rl)
	}
	r.mu.Unlock()
	for _, rl := range list {
		rl.end(ErrMoved)
	}
}

// relay is a stream of this node whose peer is attached at another node (the owner).
type relay struct {
	r     *Router
	id    uint64
	room  uuid.UUID
	owner string
	ready chan struct{}
	done  chan struct{}

	mu    sync.Mutex
	queue [][]byte
	ended bool
	err   error
}

func (rl *relay) push(msg []byte) {
	rl.mu.Lock()
	if rl.ended {
		rl.mu.Unlock()
		return
	}
	if len(rl.queue) >= RelayQueue {
		rl.mu.Unlock()
		rl.end(apperr.Unavailable(time.Second, "the room's shared document stream fell behind; reconnect"))
		return
	}
	rl.queue = append(rl.queue, msg)
	rl.mu.Unlock()
	select {
	case rl.ready <- struct{}{}:
	default:
	}
}

func (rl *relay) end(err error) {
	rl.mu.Lock()
	if !rl.ended {
		rl.ended, rl.err = true, err
		close(rl.done)
	}
	rl.mu.Unlock()
}

func (rl *relay) Ready() <-chan struct{} { return rl.ready }
func (rl *relay) Done() <-chan struct{}  { return rl.done }

// Next returns the next relayed message (one per call; Ready is signalled again while
// more wait).
func (rl *relay) Next() []byte {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if len(rl.queue) == 0 {
		return nil
	}
	msg := rl.queue[0]
	rl.queue = rl.queue[1:]
	if len(rl.queue) > 0 {
		select {
		case rl.ready <- struct{}{}:
		default:
		}
	}
	return msg
}

func (rl *relay) Err() error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.err
}

// Close ends the stream's side: the owner detaches the peer.
func (rl *relay) Close() {
	rl.end(nil)
	r := rl.r
	r.mu.Lock()
	_, open := r.relays[rl.id]
	delete(r.relays, rl.id)
	r.mu.Unlock()
	if open {
		_ = r.send(rl.owner, wire{Op: "detach", ID: rl.id, Room: rl.room})
	}
}
