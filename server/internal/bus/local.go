package bus

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// Network connects Local nodes inside one process. A single server is a Network of one
// node, on which nothing is ever interested (no other node subscribes), so nothing is
// published; tests join several nodes to one Network to run a cluster in one process.
type Network struct {
	mu    sync.RWMutex
	nodes map[string]*Local
	// subs holds the open subscriptions by kind, then key ("" for every key).
	subs [kindEnd]map[string]map[*localSub]struct{}
	// total counts the open subscriptions per kind, for Interested's fast answer.
	total [kindEnd]atomic.Int64
}

// NewNetwork returns an empty in-process network.
func NewNetwork() *Network {
	n := &Network{nodes: make(map[string]*Local)}
	for k := range n.subs {
		n.subs[k] = make(map[string]map[*localSub]struct{})
	}
	return n
}

// Join adds a node named id (unique in the network, 1 to MaxNodeIDBytes bytes).
func (n *Network) Join(id string) (*Local, error) {
	if id == "" || len(id) > MaxNodeIDBytes {
		return nil, apperr.InvalidArgument("node_id", fmt.Sprintf("1 to %d bytes", MaxNodeIDBytes))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.nodes[id]; dup {
		return nil, apperr.AlreadyExists("node %q already joined this network", id)
	}
	l := &Local{net: n, id: id, subs: make(map[*localSub]struct{})}
	n.nodes[id] = l
	return l, nil
}

// NewLocal returns the only node of a new Network: the bus of a single server. Nobody
// else can join its network, so it is Solo.
func NewLocal(id string) (*Local, error) {
	l, err := NewNetwork().Join(id)
	if err != nil {
		return nil, err
	}
	l.solo = true
	return l, nil
}

// Solo reports whether the node is alone for good (made by NewLocal): no message
// will ever come from another node, so owners need not even subscribe.
func (l *Local) Solo() bool { return l.solo }

// IsSolo reports whether b is a bus on which no other node will ever be (a single
// server's, NewLocal).
func IsSolo(b Bus) bool {
	s, ok := b.(interface{ Solo() bool })
	return ok && s.Solo()
}

// Local is a node of an in-process Network. It implements Bus.
type Local struct {
	net  *Network
	id   string
	solo bool
	// own counts this node's open subscriptions per kind: the others' are total - own.
	own [kindEnd]atomic.Int64

	// guarded by net.mu
	closed bool
	subs   map[*localSub]struct{}
}

var _ Bus = (*Local)(nil)

// NodeID names the node.
func (l *Local) NodeID() string { return l.id }

// Publish implements Bus: the payload is copied once for all receivers, and a receiver
// whose queue is full drops it.
func (l *Local) Publish(m Message) error {
	if err := CheckMessage(&m); err != nil {
		return err
	}
	n := l.net
	n.mu.RLock()
	defer n.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	m.Origin = l.id
	copied := false
	for _, set := range [2]map[*localSub]struct{}{n.subs[m.Kind][m.Key], n.subs[m.Kind][""]} {
		for s := range set {
			if s.node == l {
				continue // a node never hears itself
			}
			if !copied {
				m.Data = append([]byte(nil), m.Data...)
				copied = true
			}
			select {
			case s.ch <- m:
			default:
				s.dropped.Add(1)
			}
		}
	}
	return nil
}

// Subscribe implements Bus.
func (l *Local) Subscribe(kind Kind, key string, queue int) (Subscription, error) {
	queue, err := CheckSubscription(kind, key, queue)
	if err != nil {
		return nil, err
	}
	n := l.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.solo {
		// No other node will ever publish to a solo node, so the queue would stay empty:
		// do not allocate it (MaxQueue messages are 4 MiB).
		queue = 0
	}
	s := &localSub{node: l, kind: kind, key: key, ch: make(chan Message, queue)}
	set := n.subs[kind][key]
	if set == nil {
		set = make(map[*localSub]struct{})
		n.subs[kind][key] = set
	}
	set[s] = struct{}{}
	l.subs[s] = struct{}{}
	n.total[kind].Add(1)
	l.own[kind].Add(1)
	return s, nil
}

// Interested implements Bus.
func (l *Local) Interested(kind Kind, key string) bool {
	if !kind.Valid() {
		return false
	}
	n := l.net
	if n.total[kind].Load()-l.own[kind].Load() == 0 {
		return false
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if l.closed {
		return false
	}
	for _, set := range [2]map[*localSub]struct{}{n.subs[kind][key], n.subs[kind][""]} {
		for s := range set {
			if s.node != l {
				return true
			}
		}
	}
	return false
}

// Close implements Bus: the node leaves its network.
func (l *Local) Close() error {
	n := l.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for s := range l.subs {
		s.closeLocked()
	}
	delete(n.nodes, l.id)
	return nil
}

// localSub is a subscription of a Local node.
type localSub struct {
	node    *Local
	kind    Kind
	key     string
	ch      chan Message
	dropped atomic.Uint64
	closed  bool // guarded by node.net.mu
}

func (s *localSub) C() <-chan Message { return s.ch }

func (s *localSub) Dropped() uint64 { return s.dropped.Load() }

func (s *localSub) Close() {
	n := s.node.net
	n.mu.Lock()
	defer n.mu.Unlock()
	s.closeLocked()
}

// closeLocked removes the subscription and closes its channel. net.mu must be held.
func (s *localSub) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	n := s.node.net
	if set := n.subs[s.kind][s.key]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(n.subs[s.kind], s.key)
		}
	}
	delete(s.node.subs, s)
	n.total[s.kind].Add(-1)
	s.node.own[s.kind].Add(-1)
	close(s.ch)
}
