package rooms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// tab is one client tab of a member with the room open: present while it has an open
// WatchRoom and its heartbeat has not lapsed.
type tab struct {
	streams  int // open WatchRoom streams naming this tab
	view     string
	deadline time.Time
	lapsed   bool // the sweep announced that the deadline passed
}

// presenceOf says whether a member with these tabs is present at now, and in which
// views (sorted, without duplicates). Callers hold the room's pmu.
func presenceOf(tabs map[string]*tab, now time.Time) (bool, []string) {
	var views []string
	present := false
	for _, t := range tabs {
		if t.streams > 0 && now.Before(t.deadline) {
			present = true
			if t.view != "" && !slices.Contains(views, t.view) {
				views = append(views, t.view)
			}
		}
	}
	slices.Sort(views)
	return present, views
}

// presenceKey is what a member's presence looks like to others.
type presenceKey struct {
	present bool
	views   string
}

func keyOf(tabs map[string]*tab, now time.Time) presenceKey {
	p, views := presenceOf(tabs, now)
	k := presenceKey{present: p}
	for _, v := range views {
		k.views += v + "\x00"
	}
	return k
}

// presentCount counts the members present now, on any node.
func (s *Service) presentCount(r *roomState) int {
	now := s.now()
	r.pmu.Lock()
	defer r.pmu.Unlock()
	users := make(map[uuid.UUID]struct{}, len(r.tabs))
	for u := range r.tabs {
		users[u] = struct{}{}
	}
	for _, np := range r.remote {
		for u := range np.users {
			users[u] = struct{}{}
		}
	}
	n := 0
	for u := range users {
		if p, _ := presenceOfUser(r, u, now); p {
			n++
		}
	}
	return n
}

// NewTabID returns a random tab id for a stream that named none.
func NewTabID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "srv-" + base64.RawURLEncoding.EncodeToString(b[:])
}

// touchTab changes a user's tab under pmu with f and records a presence change when
// the member's presence looks different afterwards. f returns false to leave it alone.
func (s *Service) touchTab(r *roomState, user uuid.UUID, f func(tabs map[string]*tab) bool) bool {
	now := s.now()
	r.pmu.Lock()
	tabs := r.tabs[user]
	if tabs == nil {
		tabs = make(map[string]*tab)
		r.tabs[user] = tabs
	}
	before, mergedBefore := keyOf(tabs, now), mergedKey(r, user, now)
	ok := f(tabs)
	after := keyOf(tabs, now)
	if len(tabs) == 0 {
		delete(r.tabs, user)
	}
	changed := ok && before != after // this node's presence of the user
	seen := ok && mergedKey(r, user, now) != mergedBefore
	if seen {
		r.pending.presence(user)
	}
	r.pmu.Unlock()
	if seen {
		s.markDirty(r)
	}
	if changed {
		s.publishPresence(r)
	}
	return ok
}

// ReportPresence renews the heartbeat of v's tab in a room and sets its view. The tab
// must have an open WatchRoom on this server. It returns how long the tab stays present
// without another report.
func (s *Service) ReportPresence(ctx context.Context, v authz.Viewer, id uuid.UUID, tabID, view string) (time.Duration, error) {
	r, err := s.room(ctx, v, id, authz.RoomParticipate)
	if err != nil {
		return 0, err
	}
	s.renameMember(r, v)
	deadline := s.now().Add(s.lapse)
	found := s.touchTab(r, v.UserID, func(tabs map[string]*tab) bool {
		t := tabs[tabID]
		if t == nil {
			return false
		}
		t.deadline, t.view, t.lapsed = deadline, view, false
		return true
	})
	if !found {
		return 0, apperr.FailedPrecondition("tab %s has no open WatchRoom of this room; open one first", tabID)
	}
	return s.lapse, nil
}

// sweep finds tabs whose heartbeat lapsed since the last sweep and announces the
// presence change of their members.
func (s *Service) sweep() {
	s.fanMu.Lock()
	rooms := make([]*roomState, 0, len(s.active))
	for r := range s.active {
		rooms = append(rooms, r)
	}
	s.fanMu.Unlock()
	now := s.now()
	for _, r := range rooms {
		r.pmu.Lock()
		dirty := false
		for u, tabs := range r.tabs {
			for _, t := range tabs {
				if t.streams > 0 && !t.lapsed && !now.Before(t.deadline) {
					t.lapsed = true
					r.pending.presence(u)
					dirty = true
				}
			}
		}
		r.pmu.Unlock()
		if dirty {
			s.markDirty(r)
			s.publishPresence(r)
		}
	}
}

// renameMember takes a member's current display name from the credential (the index
// keeps the name a member had when joining; a rename reaches it when they next open
// the room).
func (s *Service) renameMember(r *roomState, v authz.Viewer) {
	if v.DisplayName == "" {
		return
	}
	s.idx.mu.Lock()
	m := r.members[v.UserID]
	renamed := m != nil && m.name != v.DisplayName
	if renamed {
		m.name = v.DisplayName
	}
	s.idx.mu.Unlock()
	if renamed {
		s.changed(r, func(c *changes) { c.member(v.UserID, true) })
	}
}
