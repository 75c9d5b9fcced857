package live

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/sensocto/sensocto/server/internal/bus"
)

// A connector that reconnects to another node (behind a load balancer) moves its
// session there: the newest session of a sensor wins and the older one, on another
// node, ends with Aborted ("session moved to another node"). The sensor's id,
// attributes and recording are in the shared database and stay as they are.
//
// A node with a connector session of a sensor follows the sensor's events on the bus
// (bus.KindSensorEvents); a session that starts announces itself there as a "session"
// event with its start time, and every other node ends its sessions of the sensor that
// started before (at the same microsecond, the node with the smaller id yields).

// eventSession is the SensorEventMessage kind of a connector session that started.
const eventSession = "session"

// connSession is one connector session of this node.
type connSession struct {
	startUS int64
	once    sync.Once
	moved   func()
}

// sessionFollow is a sensor whose connector sessions run here.
type sessionFollow struct {
	sessions map[*connSession]struct{}
	sub      bus.Subscription
}

// claimSession registers a connector session of the sensor and announces it to the
// other nodes (their older sessions end). moved is called once when a newer session
// of the sensor started on another node (under the registry's lock: it must be quick);
// release ends the registration.
func (s *Service) claimSession(id string, moved func()) (release func()) {
	r := &s.remote
	if r.solo {
		return func() {} // a single server: no session elsewhere
	}
	cs := &connSession{startUS: time.Now().UnixMicro(), moved: moved}
	r.sessMu.Lock()
	f := r.sessions[id]
	if f == nil {
		f = &sessionFollow{sessions: make(map[*connSession]struct{})}
		sub, err := r.bus.Subscribe(bus.KindSensorEvents, id, followEventQueue)
		if err != nil {
			r.log.Warn().Err(err).Str("sensor", id).Msg("cannot follow the sensor's sessions on other nodes")
		} else {
			f.sub = sub
			go s.applySessions(id, f) // ends when the subscription closes
		}
		r.sessions[id] = f
	}
	f.sessions[cs] = struct{}{}
	r.sessMu.Unlock()
	if r.bus.Interested(bus.KindSensorEvents, id) {
		r.publish(bus.KindSensorEvents, id, SensorEventMessage{Kind: eventSession, AtUS: cs.startUS})
	}
	return func() {
		r.sessMu.Lock()
		defer r.sessMu.Unlock()
		delete(f.sessions, cs)
		if len(f.sessions) == 0 && r.sessions[id] == f {
			if f.sub != nil {
				f.sub.Close()
			}
			delete(r.sessions, id)
		}
	}
}

// applySessions ends this node's sessions of the sensor older than one announced by
// another node.
func (s *Service) applySessions(id string, f *sessionFollow) {
	r := &s.remote
	self := r.bus.NodeID()
	for m := range f.sub.C() {
		var ev SensorEventMessage
		if json.Unmarshal(m.Data, &ev) != nil || ev.Kind != eventSession {
			continue // the sensor's other events are for watchers (remote.follow)
		}
		r.sessMu.Lock()
		for cs := range f.sessions {
			if cs.startUS < ev.AtUS || (cs.startUS == ev.AtUS && self < m.Origin) {
				cs.once.Do(cs.moved)
			}
		}
		r.sessMu.Unlock()
		if m.Origin != self {
			r.unhold(id) // the other node ingests it now and answers history asks
		}
	}
}
