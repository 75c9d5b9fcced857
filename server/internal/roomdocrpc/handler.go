// Package roomdocrpc serves the shared-state half of sensocto.v1.RoomService:
// SyncRoomState, and the sync messages (STATE events) of WatchRoom for the stream's tab
// (its peer). It converts between the protobuf messages and the roomdoc
// domain, which checks membership and rights. The rest of RoomService embeds Handler's
// methods (package roomsrpc).
package roomdocrpc

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/roomdoc"
	"github.com/sensocto/sensocto/server/internal/roomdoc/route"
)

// Handler serves SyncRoomState and the sync part of WatchRoom.
type Handler struct {
	docs *route.Router
}

// New returns a Handler over a single node's documents.
func New(docs *roomdoc.Manager) *Handler {
	r, err := route.New(route.Options{Docs: docs})
	if err != nil {
		panic(err) // a router without a bus opens nothing that can fail
	}
	return &Handler{docs: r}
}

// NewRouted returns a Handler whose documents each live on their owning node (cluster
// mode, package roomdoc/route).
func NewRouted(docs *route.Router) *Handler { return &Handler{docs: docs} }

func roomID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, apperr.InvalidArgument("room_id", "must be a UUID")
	}
	return id, nil
}

// SyncRoomState receives the caller's sync message for its peer and returns the
// server's reply (see the RPC's documentation in proto/sensocto/v1/room.proto).
func (h *Handler) SyncRoomState(ctx context.Context, req *sensoctov1.SyncRoomStateRequest) (*sensoctov1.SyncRoomStateResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID(req.GetRoomId())
	if err != nil {
		return nil, err
	}
	reply, err := h.docs.Sync(ctx, v.UserID, id, req.GetPeerId(), req.GetSyncMessage())
	if err != nil {
		return nil, fmt.Errorf("sync room state: %w", err)
	}
	return &sensoctov1.SyncRoomStateResponse{SyncMessage: reply}, nil
}

// StateSender forwards the server's sync messages for one peer into a WatchRoom stream.
type StateSender struct {
	sub route.Subscription
}

// AttachState makes a WatchRoom stream of the caller the channel of the sync messages
// of its tab (tabID, the peer id of its SyncRoomState calls). The caller runs Forward
// or selects on Ready itself, and calls Close when the stream ends.
func (h *Handler) AttachState(ctx context.Context, room, tabID string) (*StateSender, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID(room)
	if err != nil {
		return nil, err
	}
	sub, err := h.docs.Attach(ctx, v.UserID, id, tabID)
	if err != nil {
		return nil, fmt.Errorf("watch room state: %w", err)
	}
	return &StateSender{sub: sub}, nil
}

// Ready is signalled when a sync message may be due.
func (s *StateSender) Ready() <-chan struct{} { return s.sub.Ready() }

// Done is closed when the server ended the peer's sync (another stream took the tab
// over, the user was removed, the room deleted).
func (s *StateSender) Done() <-chan struct{} { return s.sub.Done() }

// Next returns the STATE event due, or nil.
func (s *StateSender) Next() *sensoctov1.WatchRoomResponse {
	msg := s.sub.Next()
	if msg == nil {
		return nil
	}
	return &sensoctov1.WatchRoomResponse{Kind: sensoctov1.RoomEventKind_ROOM_EVENT_KIND_STATE, SyncMessage: msg}
}

// Close ends the peer (the stream ended).
func (s *StateSender) Close() { s.sub.Close() }

// Forward sends STATE events with send until ctx ends, the server ends the peer's sync
// (then it returns nil and the stream may go on without sync; or, when the document
// moved to another node, route.ErrMoved: the stream should end so that its client
// reconnects), or send fails.
func (s *StateSender) Forward(ctx context.Context, send func(*sensoctov1.WatchRoomResponse) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Done():
			return s.sub.Err()
		case <-s.Ready():
			if ev := s.Next(); ev != nil {
				if err := send(ev); err != nil {
					return err
				}
			}
		}
	}
}
