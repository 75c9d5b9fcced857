package live

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/bus"
)

// Attention across nodes. A sensor's back-pressure is computed on the node of its
// connector, from the most attention any node pays it: this node's tracker level and
// the levels other nodes report on the bus (bus.KindAttention, published by the
// attention bridge on every change and repeated every attentionRefresh while another
// node follows the sensor). A node follows a sensor's attention while a connector
// session of it (Stream or WatchBackpressure) runs here; a level not repeated within
// remoteAttentionTTL lapses, so the viewers of a node that died stop counting then.
const (
	attentionRefresh   = time.Second
	remoteAttentionTTL = 5 * time.Second
)

// remoteLevel is one other node's attention on a sensor.
type remoteLevel struct {
	level attention.Level
	at    time.Time
}

// attentionFollow is a sensor whose attention this node follows on the bus.
type attentionFollow struct {
	refs int
	sub  bus.Subscription
	// levels by node, guarded by remote.attMu.
	levels map[string]remoteLevel
}

// followAttention makes the attention other nodes pay the sensor count here until
// release is called (a connector session holds it).
func (s *Service) followAttention(id string) (release func()) {
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
		f = &attentionFollow{sub: sub, levels: make(map[string]remoteLevel)}
		r.attFollows[id] = f
		go s.applyAttention(id, f) // ends when the subscription closes
	}
	f.refs++
	done := false
	return func() {
		r.attMu.Lock()
		defer r.attMu.Unlock()
		if done {
			return
		}
		done = true
		if f.refs--; f.refs == 0 {
			f.sub.Close()
			delete(r.attFollows, id)
			s.setAttentionLocked(id, s.tracker.Level(id))
		}
	}
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
			if msg.Level == attention.LevelNone {
				delete(f.levels, m.Origin)
			} else {
				f.levels[m.Origin] = remoteLevel{level: msg.Level, at: time.Now()}
			}
			s.setAttentionLocked(id, s.tracker.Level(id))
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
		r.ownAttention[c.SensorID] = c.Level
	}
	s.setAttentionLocked(c.SensorID, c.Level)
	r.attention(c)
}

func (s *Service) setAttentionLocked(id string, level attention.Level) {
	if f := s.remote.attFollows[id]; f != nil {
		for _, l := range f.levels {
			level = max(level, l.level)
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
			for id, level := range r.ownAttention {
				if r.bus.Interested(bus.KindAttention, id) {
					r.publish(bus.KindAttention, id, AttentionMessage{Level: level, ChangedAt: now})
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
				}
			}
			r.attMu.Unlock()
		}
	}
}
