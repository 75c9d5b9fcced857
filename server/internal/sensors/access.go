package sensors

import (
	"context"
	"sync"

	"github.com/sensocto/sensocto/server/internal/authz"
)

var _ authz.AccessSource = (*Service)(nil)

// accessWatch is one stream's interest in the sensors it may see (authz.AccessSource).
type accessWatch struct {
	v    authz.Viewer
	lost func(string)

	mu  sync.Mutex
	ids map[string]bool // still followed
}

// take removes id from the watch and reports whether it was still followed.
func (aw *accessWatch) take(id string) bool {
	aw.mu.Lock()
	defer aw.mu.Unlock()
	if !aw.ids[id] {
		return false
	}
	delete(aw.ids, id)
	return true
}

// accessWatches indexes open access watches by sensor.
type accessWatches struct {
	mu sync.Mutex
	by map[string]map[*accessWatch]struct{}
}

func (a *accessWatches) add(aw *accessWatch, ids []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.by == nil {
		a.by = make(map[string]map[*accessWatch]struct{})
	}
	for _, id := range ids {
		set := a.by[id]
		if set == nil {
			set = make(map[*accessWatch]struct{})
			a.by[id] = set
		}
		set[aw] = struct{}{}
	}
}

func (a *accessWatches) remove(aw *accessWatch, ids ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		if set := a.by[id]; set != nil {
			delete(set, aw)
			if len(set) == 0 {
				delete(a.by, id)
			}
		}
	}
}

func (a *accessWatches) of(id string) []*accessWatch {
	a.mu.Lock()
	defer a.mu.Unlock()
	set := a.by[id]
	out := make([]*accessWatch, 0, len(set))
	for aw := range set {
		out = append(out, aw)
	}
	return out
}

// WatchAccess implements authz.AccessSource for sensors: it checks that v may see every
// sensor now (the view rule: the owner, everyone for a public sensor, members of a room
// holding it), then calls lost(id) as soon as v may see a sensor no more: its owner
// made it private (UpdateSensor, or RegisterSensor with a visibility), deleted it, or
// AccessChanged found that a room no longer shares it with v. The check runs inside the
// call that changed access, before it returns: no data published after it reaches v.
func (s *Service) WatchAccess(ctx context.Context, v authz.Viewer, ids []string, lost func(string)) (func(), error) {
	aw := &accessWatch{v: v, lost: lost, ids: make(map[string]bool, len(ids))}
	uniq := make([]string, 0, len(ids))
	for _, id := range ids {
		if !aw.ids[id] {
			aw.ids[id] = true
			uniq = append(uniq, id)
		}
	}
	// Follow first, then check: a change racing with this call is either seen by the
	// check (refused) or finds the watch (lost).
	s.access.add(aw, uniq)
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			aw.mu.Lock()
			left := make([]string, 0, len(aw.ids))
			for id := range aw.ids {
				left = append(left, id)
			}
			clear(aw.ids)
			aw.mu.Unlock()
			s.access.remove(aw, left...)
		})
	}
	for _, id := range uniq {
		if err := s.CheckView(ctx, v, id); err != nil {
			cancel()
			return nil, err
		}
	}
	return cancel, nil
}

// AccessChanged re-applies the view rule for every open stream following the sensors
// and ends, before it returns, delivery to the viewers who may see them no more. Call
// it after anything that can narrow who sees a sensor outside this package: a room
// that stops sharing a sensor, a member who leaves or is removed from a room.
// (Visibility changes and deletions made through this Service call it themselves.)
func (s *Service) AccessChanged(ctx context.Context, sensorIDs ...string) {
	for _, id := range sensorIDs {
		s.accessChanged(ctx, id, false)
	}
}

// accessChanged re-checks the streams following one sensor (all lose it when deleted)
// and calls lost for those that may not see it now. It costs map lookups: the rooms'
// membership view is in memory.
func (s *Service) accessChanged(ctx context.Context, id string, deleted bool) {
	ctx = context.WithoutCancel(ctx) // a caller going away must not read as "no room shares it"
	watches := s.access.of(id)
	if len(watches) == 0 {
		return
	}
	var losing []*accessWatch
	if deleted {
		losing = watches
	} else {
		losing = s.losing(ctx, id, watches)
	}
	for _, aw := range losing {
		if aw.take(id) {
			s.access.remove(aw, id)
			aw.lost(id)
		}
	}
}

// losing returns the watches whose viewers may no longer see the sensor (asking the
// rooms' membership view in memory). When the sensor cannot be read it fails closed:
// everyone loses it.
func (s *Service) losing(ctx context.Context, id string, watches []*accessWatch) []*accessWatch {
	s.mu.RLock()
	e := s.cache[id]
	s.mu.RUnlock()
	if e == nil {
		var err error
		if e, err = s.lookup(ctx, id); err != nil {
			return watches // gone
		}
	}
	f := e.facts()
	var out []*accessWatch
	for _, aw := range watches {
		if !authz.CanSeeSensor(aw.v, f) && !s.inViewersRoom(aw.v.UserID, id) {
			out = append(out, aw)
		}
	}
	return out
}
