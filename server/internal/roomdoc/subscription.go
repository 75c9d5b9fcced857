package roomdoc

import (
	"context"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/google/uuid"
)

// Subscription is a peer's channel for the server's sync messages: the WatchRoom stream
// of one client tab. Ready signals that a message may be due (coalesced: one pending
// signal at most, so a slow stream never queues); Next generates it from the peer's
// sync state. Done is closed when the subscription ends on the server's side (another
// stream took the peer over, the user was removed, the room was deleted).
type Subscription struct {
	m     *Manager
	r     *room
	p     *peer
	ready chan struct{}
	done  chan struct{}
	ended bool // guarded by r.mu
}

// Attach makes a WatchRoom stream the channel of peerID's sync messages. The peer's
// sync state starts afresh (as the client's does on every new stream), and a first
// message is due at once. A stream already attached for the peer ends.
func (m *Manager) Attach(ctx context.Context, user, roomID uuid.UUID, peerID string) (*Subscription, error) {
	if _, err := m.access(ctx, roomID, user); err != nil {
		return nil, err
	}
	r, err := m.lockRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	p, err := m.peer(r, peerID, user)
	if err != nil {
		return nil, err
	}
	if p.sub != nil {
		p.sub.end()
	}
	p.ss = automerge.NewSyncState(r.doc)
	s := &Subscription{m: m, r: r, p: p, ready: make(chan struct{}, 1), done: make(chan struct{})}
	p.sub = s
	s.poke()
	return s, nil
}

// Ready is signalled when a sync message may be due.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Done is closed when the server ended the subscription.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Next returns the sync message due for the peer, or nil when none is.
func (s *Subscription) Next() []byte {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.ended || s.r.gone || !s.r.loaded {
		return nil
	}
	s.p.lastSeen = s.m.now()
	msg, ok := s.p.ss.GenerateMessage()
	if !ok {
		return nil
	}
	return msg.Bytes()
}

// Close ends the subscription from the stream's side (the stream ended): the peer is
// gone, and when it was its user's last in the room, the control that user held is
// freed at once.
func (s *Subscription) Close() {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.ended {
		return
	}
	s.end()
	if r.gone || r.peers[s.p.id] != s.p {
		return
	}
	delete(r.peers, s.p.id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.m.userLeft(ctx, r, s.p.user)
}

// poke signals Ready without blocking; r.mu is held.
func (s *Subscription) poke() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// end marks the subscription ended and closes Done; r.mu is held.
func (s *Subscription) end() {
	if s.ended {
		return
	}
	s.ended = true
	close(s.done)
	if s.p.sub == s {
		s.p.sub = nil
	}
}
