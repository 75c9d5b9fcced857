// Package natsbus is the cluster implementation of bus.Bus: one node's end of the bus
// over NATS core (github.com/nats-io/nats.go), used when SENSOCTO_NATS_URL is set. It
// passes the contract suite bus/bustest (natsbus_test.go, against the real NATS of
// SENSOCTO_TEST_NATS_URL).
//
// Subjects. Everything a cluster sends lives under its prefix (SENSOCTO_NATS_PREFIX,
// default "sensocto"), so clusters, and tests, sharing one NATS server never meet:
//
//	<prefix>.bus.<kind>.<key>     a message (kind: bus.Kind.String; key: base64url of the key)
//	<prefix>.interest.<verb>      the interest protocol below
//
// The key is encoded as unpadded base64url: an id may hold '.', '*', '>' or spaces,
// none of which may appear in a subject token, and base64url never produces them (nor
// the "*" a subscription of every key uses).
//
// Echo. The connection is made with NoEcho, so the server never delivers a node's own
// messages back to it; every message also carries its node id in the Sensocto-Origin
// header (the receiver reads Message.Origin from it and drops its own, should a
// connection be shared).
//
// Interest. Interested must be cheap and true only while another node subscribes, so
// nodes tell each other what they subscribe to: a delta on every change (first
// subscription of a kind and key, last one closed), each numbered by the node's
// interest version; a beat with the version every Heartbeat; a full list on request
// (when a receiver missed a delta: the version it holds is not the one before, or a
// beat names another version) and on Close a leave. A node not heard for InterestTTL
// is forgotten with its interest, so a dead node costs nothing after that. All of it
// goes through one subscription, so a node's messages are applied in order. A node
// subscribes to the data subject before it announces the interest (on the same
// connection, so the server has the subscription before anyone hears of it): a
// message published after Interested turned true is delivered.
//
// Queues. Each bus.Subscription has its own bounded queue (a channel): the NATS
// handler never waits for it and counts what a full queue drops. NATS's own pending
// buffer before the handler is bounded too (a slow consumer's overflow is counted as
// dropped as well). Publish writes into the connection's buffer, which nats.go flushes
// in the background; while the connection is down it goes into the reconnect buffer
// (nats.go's default, 8 MB), and Publish fails once that is full.
//
// Reconnects: nats.go reconnects for ever (every 250 ms) and subscribes again; after a
// reconnect the node asks every node for its full interest list, as at start (deltas
// may have been lost meanwhile), and the beats catch what is still missing.
package natsbus

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/bus"
)

// Defaults of Options.
const (
	DefaultPrefix      = "sensocto"
	DefaultHeartbeat   = time.Second
	DefaultInterestTTL = 5 * time.Second
	// OriginHeader carries the publishing node's id.
	OriginHeader = "Sensocto-Origin"
	// pendingMessages bounds NATS's buffer in front of one subject's handler.
	pendingMessages = bus.MaxQueue
	pendingBytes    = 64 << 20
	// fullChunk is how many interest entries one full-list message carries: even keys
	// of MaxKeyBytes escaped to JSON stay under bus.MaxDataBytes.
	fullChunk = 400
	// maxInfoBytes bounds Options.Info's document.
	maxInfoBytes = 4 << 10
)

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$`)

// Options configure a node's bus.
type Options struct {
	// NodeID names the node (1 to bus.MaxNodeIDBytes bytes); "" generates one.
	NodeID string
	// Prefix is the first subject tokens of everything the cluster sends ("" is
	// DefaultPrefix): tokens of letters, digits, '-' and '_', separated by dots.
	Prefix string
	// Heartbeat is how often the node repeats its interest version (0: DefaultHeartbeat).
	Heartbeat time.Duration
	// InterestTTL is how long another node's interest lasts without a word from it
	// (0: DefaultInterestTTL; at least 2 Heartbeats).
	InterestTTL time.Duration
	// Logger logs connection changes and protocol trouble.
	Logger zerolog.Logger
	// Info, when set, is called at every heartbeat for a JSON document (at most
	// 4 KiB) the other nodes see in Peers: membership with the node's load. It must
	// not block.
	Info func() []byte
}

// Bus is one node's end of the bus over NATS. It implements bus.Bus.
type Bus struct {
	nc       *nats.Conn
	ownsConn bool
	id       string
	prefix   string
	beat     time.Duration
	ttl      time.Duration
	log      zerolog.Logger
	info     atomic.Pointer[func() []byte]

	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}

	published, received, dropped atomic.Uint64

	// mu guards the node's subjects and subscriptions, and its interest version;
	// interest messages are published under it, so their order is the version order.
	mu       sync.RWMutex
	subjects map[ikey]*subject
	version  uint64
	control  *nats.Subscription

	// peers is what the other nodes follow.
	peers peerTable
}

var _ bus.Bus = (*Bus)(nil)

// ikey is a kind and a key ("" for every key).
type ikey struct {
	Kind bus.Kind
	Key  string
}

// subject is this node's one NATS subscription of a kind and key, shared by its
// bus.Subscriptions of that kind and key.
type subject struct {
	ns   *nats.Subscription
	subs map[*subscription]struct{}
	// natsDropped is the count of ns.Dropped last read (NATS forgets it on Unsubscribe).
	natsDropped atomic.Uint64
}

// Connect connects to NATS at url with opts (credentials, TLS, reconnect: see
// ConnectOptions) and returns the node's bus, which closes the connection on Close.
func Connect(url string, o Options, natsOpts ...nats.Option) (*Bus, error) {
	o, err := checkOptions(o)
	if err != nil {
		return nil, err
	}
	b := newBus(nil, o)
	all := append([]nats.Option{
		nats.Name("sensocto " + o.NodeID),
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if !b.closed.Load() {
				b.log.Warn().Err(err).Msg("nats disconnected; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("nats reconnected")
			b.resync()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				return // counted as dropped
			}
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			b.log.Warn().Err(err).Str("subject", subj).Msg("nats error")
		}),
	}, natsOpts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	b.nc, b.ownsConn = nc, true
	if err := b.start(); err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

// New returns a node's bus over an open connection, made with nats.NoEcho (else the
// node's own messages travel back to it before being dropped). Close leaves the
// connection open.
func New(nc *nats.Conn, o Options) (*Bus, error) {
	o, err := checkOptions(o)
	if err != nil {
		return nil, err
	}
	b := newBus(nc, o)
	if err := b.start(); err != nil {
		return nil, err
	}
	return b, nil
}

func checkOptions(o Options) (Options, error) {
	if o.NodeID == "" {
		var r [6]byte
		_, _ = rand.Read(r[:])
		o.NodeID = "node-" + hex.EncodeToString(r[:])
	}
	if len(o.NodeID) > bus.MaxNodeIDBytes {
		return o, apperr.InvalidArgument("node_id", fmt.Sprintf("1 to %d bytes", bus.MaxNodeIDBytes))
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !prefixPattern.MatchString(o.Prefix) {
		return o, apperr.InvalidArgument("prefix", "1 to 4 dot-separated tokens of letters, digits, '-' and '_'")
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.InterestTTL <= 0 {
		o.InterestTTL = DefaultInterestTTL
	}
	if o.InterestTTL < 2*o.Heartbeat {
		return o, apperr.InvalidArgument("interest_ttl", "at least two heartbeats")
	}
	return o, nil
}

func newBus(nc *nats.Conn, o Options) *Bus {
	b := &Bus{
		nc: nc, id: o.NodeID, prefix: o.Prefix, beat: o.Heartbeat, ttl: o.InterestTTL,
		log:      o.Logger.With().Str("node", o.NodeID).Logger(),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		subjects: make(map[ikey]*subject),
	}
	b.peers.init()
	if o.Info != nil {
		b.SetInfo(o.Info)
	}
	return b
}

// start follows the interest protocol, asks the others for their lists and starts
// the heartbeat loop.
func (b *Bus) start() error {
	ctl, err := b.nc.Subscribe(b.prefix+".interest.*", b.onControl)
	if err != nil {
		return fmt.Errorf("subscribe to the interest protocol: %w", err)
	}
	_ = ctl.SetPendingLimits(pendingMessages, pendingBytes)
	b.control = ctl
	b.resync()
	go b.loop()
	return nil
}

// SetInfo replaces Options.Info.
func (b *Bus) SetInfo(f func() []byte) { b.info.Store(&f) }

// Conn is the node's NATS connection (for JetStream users of the same connection).
func (b *Bus) Conn() *nats.Conn { return b.nc }

// Prefix is the cluster's subject prefix.
func (b *Bus) Prefix() string { return b.prefix }

// NodeID implements bus.Bus.
func (b *Bus) NodeID() string { return b.id }

// Stats are a node's bus counters since it started.
type Stats struct {
	// Published counts messages sent, Received messages delivered to at least one
	// subscription, Dropped messages a full queue (or NATS's buffer) dropped.
	Published, Received, Dropped uint64
	// Peers is how many other nodes this node has heard from within the TTL.
	Peers int
}

// Stats returns the node's counters.
func (b *Bus) Stats() Stats {
	b.mu.RLock()
	var natsDropped uint64
	for _, s := range b.subjects {
		natsDropped += s.readNATSDropped()
	}
	b.mu.RUnlock()
	return Stats{
		Published: b.published.Load(), Received: b.received.Load(),
		Dropped: b.dropped.Load() + natsDropped, Peers: b.peers.count(),
	}
}

func (b *Bus) dataSubject(kind bus.Kind, key string) string {
	if key == "" {
		return b.prefix + ".bus." + kind.String() + ".*"
	}
	return b.prefix + ".bus." + kind.String() + "." + base64.RawURLEncoding.EncodeToString([]byte(key))
}

// Publish implements bus.Bus. NATS copies the payload into its write buffer.
func (b *Bus) Publish(m bus.Message) error {
	if err := bus.CheckMessage(&m); err != nil {
		return err
	}
	if b.closed.Load() {
		return bus.ErrClosed
	}
	msg := &nats.Msg{Subject: b.dataSubject(m.Kind, m.Key), Data: m.Data, Header: nats.Header{OriginHeader: []string{b.id}}}
	if err := b.nc.PublishMsg(msg); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) && b.closed.Load() {
			return bus.ErrClosed
		}
		return fmt.Errorf("publish %s: %w", m.Kind, err)
	}
	b.published.Add(1)
	return nil
}

// Subscribe implements bus.Bus.
func (b *Bus) Subscribe(kind bus.Kind, key string, queue int) (bus.Subscription, error) {
	queue, err := bus.CheckSubscription(kind, key, queue)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return nil, bus.ErrClosed
	}
	k := ikey{kind, key}
	subj := b.subjects[k]
	if subj == nil {
		subj = &subject{subs: make(map[*subscription]struct{})}
		ns, err := b.nc.Subscribe(b.dataSubject(kind, key), func(msg *nats.Msg) { b.deliver(kind, key, subj, msg) })
		if err != nil {
			return nil, fmt.Errorf("subscribe %s: %w", kind, err)
		}
		_ = ns.SetPendingLimits(pendingMessages, pendingBytes)
		subj.ns = ns
		b.subjects[k] = subj
		// The server has the subscription before this announcement (one connection).
		b.version++
		b.sendLocked(verbDelta, controlMessage{Version: b.version, Add: []entry{{k.Kind, k.Key}}})
	}
	s := &subscription{b: b, k: k, subj: subj, ch: make(chan bus.Message, queue), natsBase: subj.readNATSDropped()}
	subj.subs[s] = struct{}{}
	return s, nil
}

// deliver hands a received message to the subject's subscriptions, never waiting.
func (b *Bus) deliver(kind bus.Kind, key string, subj *subject, msg *nats.Msg) {
	origin := msg.Header.Get(OriginHeader)
	if origin == b.id {
		return
	}
	if key == "" {
		raw, err := base64.RawURLEncoding.DecodeString(lastToken(msg.Subject))
		if err != nil {
			b.log.Warn().Str("subject", msg.Subject).Msg("bus message with an undecodable key dropped")
			return
		}
		key = string(raw)
	}
	m := bus.Message{Kind: kind, Key: key, Data: msg.Data, Origin: origin}
	b.mu.RLock()
	defer b.mu.RUnlock()
	delivered := false
	for s := range subj.subs {
		select {
		case s.ch <- m:
			delivered = true
		default:
			s.dropped.Add(1)
			b.dropped.Add(1)
		}
	}
	if delivered {
		b.received.Add(1)
	}
}

func lastToken(subject string) string {
	for i := len(subject) - 1; i >= 0; i-- {
		if subject[i] == '.' {
			return subject[i+1:]
		}
	}
	return subject
}

// readNATSDropped returns what NATS dropped before the handler (kept after Unsubscribe).
func (s *subject) readNATSDropped() uint64 {
	if s.ns != nil {
		if n, err := s.ns.Dropped(); err == nil && n >= 0 {
			s.natsDropped.Store(uint64(n))
		}
	}
	return s.natsDropped.Load()
}

// Interested implements bus.Bus: an atomic load while no other node follows kind.
func (b *Bus) Interested(kind bus.Kind, key string) bool {
	if !kind.Valid() || b.closed.Load() {
		return false
	}
	return b.peers.interested(kind, key)
}

// Close implements bus.Bus: the node's subscriptions end, the others hear it leave.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed.Swap(true) {
		b.mu.Unlock()
		return nil
	}
	close(b.stop)
	for k, subj := range b.subjects {
		subj.readNATSDropped()
		_ = subj.ns.Unsubscribe()
		for s := range subj.subs {
			s.closeLocked()
		}
		delete(b.subjects, k)
	}
	_ = b.control.Unsubscribe()
	b.sendLocked(verbLeave, controlMessage{})
	b.mu.Unlock()
	<-b.done
	if b.ownsConn {
		// Drain would wait for handlers; the subscriptions are gone: flush the
		// leave, then close.
		_ = b.nc.FlushTimeout(time.Second)
		b.nc.Close()
	}
	return nil
}

// subscription is a bus.Subscription of a Bus.
type subscription struct {
	b        *Bus
	k        ikey
	subj     *subject
	ch       chan bus.Message
	dropped  atomic.Uint64
	natsBase uint64
	closed   bool // guarded by b.mu
}

func (s *subscription) C() <-chan bus.Message { return s.ch }

// Dropped counts what the queue dropped and, since the subscription began, what NATS
// dropped before its subject's handler.
func (s *subscription) Dropped() uint64 {
	n := s.dropped.Load()
	if d := s.subj.readNATSDropped(); d > s.natsBase {
		n += d - s.natsBase
	}
	return n
}

func (s *subscription) Close() {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.closed {
		return
	}
	s.closeLocked()
	if len(s.subj.subs) == 0 && b.subjects[s.k] == s.subj && !b.closed.Load() {
		// Announce first: nobody should send what nobody will read.
		b.version++
		b.sendLocked(verbDelta, controlMessage{Version: b.version, Remove: []entry{{s.k.Kind, s.k.Key}}})
		s.subj.readNATSDropped()
		_ = s.subj.ns.Unsubscribe()
		delete(b.subjects, s.k)
	}
}

// closeLocked ends the subscription (b.mu held).
func (s *subscription) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	delete(s.subj.subs, s)
	close(s.ch)
}
