package natsbus

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sensocto/sensocto/server/internal/bus"
)

// The verbs of the interest protocol (the last token of <prefix>.interest.<verb>).
const (
	verbDelta = "delta" // Version, Add, Remove: one change of the sender's interest
	verbFull  = "full"  // Version, Chunk, Last, Add: the sender's whole interest, in chunks
	verbBeat  = "beat"  // Version: the sender is alive at this version
	verbLeave = "leave" // the sender closed its bus
	verbSync  = "sync"  // Target ("" for everyone): send your full list
)

// controlMessage is the JSON payload of every interest message.
type controlMessage struct {
	Node    string  `json:"node"`
	Version uint64  `json:"v,omitempty"`
	Add     []entry `json:"add,omitempty"`
	Remove  []entry `json:"remove,omitempty"`
	Chunk   int     `json:"chunk,omitempty"`
	Last    bool    `json:"last,omitempty"`
	Target  string  `json:"target,omitempty"`
	// Info is the sender's Options.Info, on beats (membership: a node's load).
	Info json.RawMessage `json:"info,omitempty"`
}

// entry is one kind and key of interest ("" for every key).
type entry struct {
	Kind bus.Kind `json:"k"`
	Key  string   `json:"key,omitempty"`
}

// send publishes an interest message. Deltas, fulls and beats are sent with b.mu held
// so that their order on the wire is the version order.
func (b *Bus) sendLocked(verb string, cm controlMessage) {
	cm.Node = b.id
	data, err := json.Marshal(cm)
	if err == nil {
		err = b.nc.Publish(b.prefix+".interest."+verb, data)
	}
	if err != nil && !b.nc.IsClosed() {
		b.log.Warn().Err(err).Str("verb", verb).Msg("interest message not sent")
	}
}

// fullLocked sends the node's whole interest (b.mu held).
func (b *Bus) fullLocked() {
	cm := controlMessage{Version: b.version}
	for k := range b.subjects {
		cm.Add = append(cm.Add, entry(k))
		if len(cm.Add) == fullChunk {
			b.sendLocked(verbFull, cm)
			cm.Chunk++
			cm.Add = cm.Add[:0]
		}
	}
	cm.Last = true
	b.sendLocked(verbFull, cm)
}

// resync asks every node for its full list (at start and after a reconnect, when
// deltas may have been missed).
func (b *Bus) resync() {
	b.sendLocked(verbSync, controlMessage{})
}

// loop beats and forgets silent nodes until Close.
func (b *Bus) loop() {
	defer close(b.done)
	t := time.NewTicker(b.beat)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			var info json.RawMessage
			if f := b.info.Load(); f != nil {
				if data := (*f)(); len(data) <= maxInfoBytes && json.Valid(data) {
					info = data
				}
			}
			b.mu.RLock()
			if !b.closed.Load() {
				b.sendLocked(verbBeat, controlMessage{Version: b.version, Info: info})
			}
			b.mu.RUnlock()
			for _, id := range b.peers.expire(now.Add(-b.ttl)) {
				b.log.Info().Str("peer", id).Msg("bus peer silent; its interest lapsed")
			}
		}
	}
}

// onControl applies another node's interest message. NATS calls it from one
// goroutine, in the order the messages arrived.
func (b *Bus) onControl(msg *nats.Msg) {
	if b.closed.Load() {
		return
	}
	var cm controlMessage
	if err := json.Unmarshal(msg.Data, &cm); err != nil || cm.Node == "" {
		b.log.Warn().Str("subject", msg.Subject).Msg("malformed interest message dropped")
		return
	}
	if cm.Node == b.id {
		return
	}
	now := time.Now()
	ask := false
	switch lastToken(msg.Subject) {
	case verbDelta:
		ask = b.peers.delta(cm, now)
	case verbFull:
		ask = b.peers.full(cm, now)
	case verbBeat:
		ask = b.peers.beat(cm, now)
	case verbLeave:
		b.peers.leave(cm.Node)
	case verbSync:
		if cm.Target == "" || cm.Target == b.id {
			b.mu.RLock()
			if !b.closed.Load() {
				b.fullLocked()
			}
			b.mu.RUnlock()
		}
	}
	if ask {
		b.sendLocked(verbSync, controlMessage{Target: cm.Node})
	}
}

// peerTable is what the other nodes follow.
type peerTable struct {
	// perKind counts (node, entry) pairs per kind: Interested's fast answer.
	perKind [256]atomic.Int64

	mu    sync.RWMutex
	peers map[string]*peer
	// index counts the nodes following each entry.
	index map[ikey]int
}

type peer struct {
	version uint64
	keys    map[ikey]struct{}
	seen    time.Time
	// stale: a delta was missed; the state waits for a full list.
	stale   bool
	lastAsk time.Time
	// the full list being received
	build      map[ikey]struct{}
	buildV     uint64
	buildChunk int
	// info is the node's last Options.Info.
	info json.RawMessage
}

func (t *peerTable) init() {
	t.peers = make(map[string]*peer)
	t.index = make(map[ikey]int)
}

func (t *peerTable) interested(kind bus.Kind, key string) bool {
	if t.perKind[kind].Load() == 0 {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.index[ikey{kind, key}] > 0 || t.index[ikey{kind, ""}] > 0
}

func (t *peerTable) count() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.peers)
}

// peerLocked returns the node's state, new (version 0, nothing followed) if unknown.
func (t *peerTable) peerLocked(id string, now time.Time) *peer {
	p := t.peers[id]
	if p == nil {
		p = &peer{keys: make(map[ikey]struct{})}
		t.peers[id] = p
	}
	p.seen = now
	return p
}

func (t *peerTable) addLocked(p *peer, k ikey) {
	if _, ok := p.keys[k]; ok || !k.Kind.Valid() {
		return
	}
	p.keys[k] = struct{}{}
	t.index[k]++
	t.perKind[k.Kind].Add(1)
}

func (t *peerTable) removeLocked(p *peer, k ikey) {
	if _, ok := p.keys[k]; !ok {
		return
	}
	delete(p.keys, k)
	if t.index[k]--; t.index[k] <= 0 {
		delete(t.index, k)
	}
	t.perKind[k.Kind].Add(-1)
}

// askLocked reports whether to ask the node for its full list now (once per second
// at most, so a flood of beats or deltas asks once).
func (p *peer) askLocked(now time.Time) bool {
	if now.Sub(p.lastAsk) < time.Second {
		return false
	}
	p.lastAsk = now
	return true
}

// delta applies one change if it follows the version held; else it asks for a full.
func (t *peerTable) delta(cm controlMessage, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peerLocked(cm.Node, now)
	if p.stale || cm.Version != p.version+1 {
		p.stale = true
		return p.askLocked(now)
	}
	p.version = cm.Version
	for _, e := range cm.Add {
		t.addLocked(p, ikey(e))
	}
	for _, e := range cm.Remove {
		t.removeLocked(p, ikey(e))
	}
	return false
}

// full collects a full list; its last chunk replaces the node's state.
func (t *peerTable) full(cm controlMessage, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peerLocked(cm.Node, now)
	if cm.Chunk == 0 {
		p.build, p.buildV, p.buildChunk = make(map[ikey]struct{}), cm.Version, 0
	}
	if p.build == nil || cm.Version != p.buildV || cm.Chunk != p.buildChunk {
		p.build = nil // a chunk was missed: wait for another full
		p.stale = true
		return p.askLocked(now)
	}
	for _, e := range cm.Add {
		p.build[ikey(e)] = struct{}{}
	}
	p.buildChunk++
	if !cm.Last {
		return false
	}
	for k := range p.keys {
		if _, keep := p.build[k]; !keep {
			t.removeLocked(p, k)
		}
	}
	for k := range p.build {
		t.addLocked(p, k)
	}
	p.version, p.stale, p.build = cm.Version, false, nil
	return false
}

// beat keeps the node alive and asks for its list if the version differs.
func (t *peerTable) beat(cm controlMessage, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peerLocked(cm.Node, now)
	if cm.Info != nil {
		p.info = cm.Info
	}
	if p.stale || p.version != cm.Version {
		p.stale = true
		return p.askLocked(now)
	}
	return false
}

func (t *peerTable) leave(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropLocked(id)
}

func (t *peerTable) dropLocked(id string) {
	p := t.peers[id]
	if p == nil {
		return
	}
	for k := range p.keys {
		t.removeLocked(p, k)
	}
	delete(t.peers, id)
}

// expire forgets the nodes not heard from since before and returns their ids.
func (t *peerTable) expire(before time.Time) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []string
	for id, p := range t.peers {
		if p.seen.Before(before) {
			t.dropLocked(id)
			gone = append(gone, id)
		}
	}
	return gone
}

// Peer is another node of the cluster as this node last heard of it.
type Peer struct {
	NodeID string
	// Info is what the node's Options.Info returned at its last beat (nil before).
	Info json.RawMessage
	// LastSeen is when this node last heard from it.
	LastSeen time.Time
}

// Peers lists the other nodes heard from within the interest TTL (membership: a node
// that stops beating drops out after InterestTTL, one that closes at once).
func (b *Bus) Peers() []Peer {
	t := &b.peers
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Peer, 0, len(t.peers))
	for id, p := range t.peers {
		out = append(out, Peer{NodeID: id, Info: p.info, LastSeen: p.seen})
	}
	return out
}
