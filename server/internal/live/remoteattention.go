package live

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/hub"
)

// sameAttention compares two attentions but for ChangedAt.
func sameAttention(a, b *attention.SensorAttention) bool {
	return a.Level == b.Level && a.Watchers == b.Watchers && slices.Equal(a.Attributes, b.Attributes)
}

// Attention across nodes. A sensor's back-pressure is computed on the node of its
// connector, from the most attention any node pays it: this node's tracker level and
// the levels other nodes report on the bus (bus.KindAttention, published by the
// attention bridge on every change and repeated every attentionRefresh while another
// node follows the sensor). A node follows a sensor's attention while a connector
// session of it (Stream or WatchBackpressure) runs here, and while a viewer here looks
// at it (Watch, WatchAttention, GetAttention): viewers see the cluster's attention
// (clusterAttention: the most level of all nodes, their watchers and attribute counts
// summed). A level not repeated within remoteAttentionTTL lapses, so the viewers of a
// node that died stop counting then.
const (
	attentionRefresh   = time.Second
	remoteAttentionTTL = 5 * time.Second
)

// remoteLevel is one other node's attention on a sensor.
type remoteLevel struct {
	att attention.SensorAttention
	at  time.Time
}

// attentionFollow is a sensor whose attention this node follows on the bus.
type attentionFollow struct {
	refs int
	sub  bus.Subscription
	// levels by node, and the viewer streams told of their changes, guarded by
	// remote.attMu.
	levels    map[string]remoteLevel
	listeners map[*attListener]int
}

// attListener is told which followed sensors' remote attention changed (a
// WatchAttention stream). It never blocks: ids are kept in a set bounded by the
// sensors the stream follows, and notify holds one signal.
type attListener struct {
	mu      sync.Mutex
	pending map[string]struct{}
	notify  chan struct{}
}

func newAttListener() *attListener {
	return &attListener{pending: make(map[string]struct{}), notify: make(chan struct{}, 1)}
}

func (l *attListener) put(id string) {
	l.mu.Lock()
	l.pending[id] = struct{}{}
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

func (l *attListener) drain() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.pending))
	for id := range l.pending {
		out = append(out, id)
	}
	clear(l.pending)
	return out
}

// followAttention makes the attention other nodes pay the sensor count here until
// release is called (a connector session or a viewer's stream holds it).
func (s *Service) followAttention(id string) (release func()) {
	return s.followAttentionFor(id, nil)
}

// followAttentions follows the attention of several sensors (followAttentionFor).
func (s *Service) followAttentions(ids []string, l *attListener) (release func()) {
	if s.remote.solo {
		return func() {}
	}
	releases := make([]func(), 0, len(ids))
	for _, id := range ids {
		releases = append(releases, s.followAttentionFor(id, l))
	}
	return func() {
		for _, r := range releases {
			r()
		}
	}
}

// followAttentionFor is followAttention telling l (if not nil) of every change of
// the other nodes' attention on the sensor.
func (s *Service) followAttentionFor(id string, l *attListener) (release func()) {
	r := &s.remote
	if r.solo {
		return func() {} // a single server: no other node reports attention
	}
	r.attMu.Lock()
	defer r.attMu.Unlock()
	f := r.attFollows[id]
	if f == nil {
		sub, err := r.bus.Subscribe(bus.KindAttention, id, followEventQueue)
		if err != nil {
			r.log.Warn().Err(err).Str("sensor", id).Msg("cannot follow the sensor's attention on other nodes")
			return func() {}
		}
		f = &attentionFollow{sub: sub, levels: make(map[string]remoteLevel), listeners: make(map[*attListener]int)}
		r.attFollows[id] = f
		go s.applyAttention(id, f) // ends when the subscription closes
	}
	f.refs++
	if l != nil {
		f.listeners[l]++
	}
	done := false
	return func() {
		r.attMu.Lock()
		defer r.attMu.Unlock()
		if done {
			return
		}
		done = true
		if l != nil {
			if f.listeners[l]--; f.listeners[l] <= 0 {
				delete(f.listeners, l)
			}
		}
		if f.refs--; f.refs == 0 {
			f.sub.Close()
			delete(r.attFollows, id)
			s.setAttentionLocked(id, s.tracker.Level(id))
		}
	}
}

// remoteChangedLocked tells this node's viewers of the sensor that the other nodes'
// attention on it changed: its listeners, and its Watch streams (an EventAttention
// through NotifyRemote, which does not go back on the bus). r.attMu must be held.
func (s *Service) remoteChangedLocked(id string, f *attentionFollow) {
	for l := range f.listeners {
		l.put(id)
	}
	_ = s.hub.NotifyRemote(id, hub.EventAttention) // not live here: no Watch to tell
}

// clusterAttention is the attention on a sensor of every node: this node's tracker
// snapshot with the levels other nodes reported while this node follows the sensor
// (the most level, watchers and attribute counts summed, the latest change).
func (s *Service) clusterAttention(id string) attention.SensorAttention {
	sa := s.tracker.Snapshot(id)
	if s.remote.solo {
		return sa
	}
	r := &s.remote
	r.attMu.Lock()
	defer r.attMu.Unlock()
	f := r.attFollows[id]
	if f == nil {
		return sa
	}
	for _, rl := range f.levels {
		sa = mergeAttention(sa, rl.att)
	}
	return sa
}

// clusterLevel is clusterAttention's level.
func (s *Service) clusterLevel(id string) attention.Level {
	l := s.tracker.Level(id)
	if s.remote.solo {
		return l
	}
	r := &s.remote
	r.attMu.Lock()
	defer r.attMu.Unlock()
	if f := r.attFollows[id]; f != nil {
		for _, rl := range f.levels {
			l = max(l, rl.att.Level)
		}
	}
	return l
}

// mergeAttention adds another node's attention b to a.
func mergeAttention(a, b attention.SensorAttention) attention.SensorAttention {
	a.Level = max(a.Level, b.Level)
	a.Watchers += b.Watchers
	if b.ChangedAt.After(a.ChangedAt) {
		a.ChangedAt = b.ChangedAt
	}
	for _, x := range b.Attributes {
		i := slices.IndexFunc(a.Attributes, func(y attention.AttributeAttention) bool { return y.AttributeID == x.AttributeID })
		if i < 0 {
			a.Attributes = append(a.Attributes, x)
			continue
		}
		y := &a.Attributes[i]
		y.Level = max(y.Level, x.Level)
		y.Viewers += x.Viewers
		y.Hovering += x.Hovering
		y.Focused += x.Focused
		y.Pinned += x.Pinned
	}
	slices.SortFunc(a.Attributes, func(x, y attention.AttributeAttention) int { return strings.Compare(x.AttributeID, y.AttributeID) })
	return a
}

// fromMessage is the attention an AttentionMessage reports.
func (m *AttentionMessage) fromMessage(id string) attention.SensorAttention {
	sa := attention.SensorAttention{SensorID: id, Level: m.Level, Watchers: m.Watchers, ChangedAt: m.ChangedAt}
	for _, a := range m.Attributes {
		if !a.Level.Valid() {
			continue
		}
		sa.Attributes = append(sa.Attributes, attention.AttributeAttention{
			AttributeID: a.AttributeID, Level: a.Level, Viewers: a.Viewers, Hovering: a.Hovering, Focused: a.Focused, Pinned: a.Pinned,
		})
	}
	return sa
}

// applyAttention applies the levels other nodes report of a followed sensor.
func (s *Service) applyAttention(id string, f *attentionFollow) {
	r := &s.remote
	for m := range f.sub.C() {
		var msg AttentionMessage
		if err := json.Unmarshal(m.Data, &msg); err != nil || !msg.Level.Valid() {
			r.rejected.Add(1)
			continue
		}
		r.attMu.Lock()
		if r.attFollows[id] == f {
			old, had := f.levels[m.Origin]
			if msg.Level == attention.LevelNone {
				delete(f.levels, m.Origin)
			} else {
				f.levels[m.Origin] = remoteLevel{att: msg.fromMessage(id), at: time.Now()}
			}
			s.setAttentionLocked(id, s.tracker.Level(id))
			if now, has := f.levels[m.Origin]; had != has || has && !sameAttention(&old.att, &now.att) {
				s.remoteChangedLocked(id, f) // a repeat of the same attention tells nobody
			}
		}
		r.attMu.Unlock()
	}
}

// attentionChanged gives the back-pressure publisher the sensor's level after a
// change on this node, the most of this node's and the other nodes', and publishes the
// change while another node follows the sensor's attention (under attMu, so a
// refresh never overtakes a newer change).
func (s *Service) attentionChanged(c attention.Change) {
	r := &s.remote
	r.attMu.Lock()
	defer r.attMu.Unlock()
	switch {
	case r.solo: // nobody to repeat it to
	case c.Level == attention.LevelNone:
		delete(r.ownAttention, c.SensorID)
	default:
		r.ownAttention[c.SensorID] = c.SensorAttention
	}
	s.setAttentionLocked(c.SensorID, c.Level)
	r.attention(c)
}

func (s *Service) setAttentionLocked(id string, level attention.Level) {
	if f := s.remote.attFollows[id]; f != nil {
		for _, l := range f.levels {
			level = max(level, l.att.Level)
		}
	}
	s.publisher.SetAttention(id, level)
}

// refreshAttention repeats this node's attention to the nodes that follow it and lets
// the levels of silent nodes lapse, every attentionRefresh until ctx ends.
func (s *Service) refreshAttention(ctx context.Context) error {
	r := &s.remote
	if r.solo {
		return nil // a single server: no other node to tell, none to hear from
	}
	t := time.NewTicker(attentionRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			r.attMu.Lock()
			for id, sa := range r.ownAttention {
				if r.bus.Interested(bus.KindAttention, id) {
					r.attention(attention.Change{SensorAttention: sa, Previous: sa.Level})
				}
			}
			for id, f := range r.attFollows {
				lapsed := false
				for node, l := range f.levels {
					if now.Sub(l.at) > remoteAttentionTTL {
						delete(f.levels, node)
						lapsed = true
					}
				}
				if lapsed {
					s.setAttentionLocked(id, s.tracker.Level(id))
					s.remoteChangedLocked(id, f)
				}
			}
			r.attMu.Unlock()
		}
	}
}

// followsAttention reports whether this node follows the sensor's attention now.
func (s *Service) followsAttention(id string) bool {
	r := &s.remote
	r.attMu.Lock()
	defer r.attMu.Unlock()
	return r.attFollows[id] != nil
}
