// Package roomsrpc serves sensocto.v1.RoomService: it converts between the protobuf
// messages and the rooms domain, and runs the WatchRoom streams. The shared document's
// half (SyncRoomState, and the STATE events of WatchRoom for the stream's tab) is
// package roomdocrpc's, embedded here.
package roomsrpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/roomdocrpc"
	"github.com/sensocto/sensocto/server/internal/rooms"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// Handler implements sensoctov1connect.RoomServiceHandler.
type Handler struct {
	*roomdocrpc.Handler // SyncRoomState
	rooms               *rooms.Service
	sensor              func(sensors.Sensor) *sensoctov1.Sensor
}

var _ sensoctov1connect.RoomServiceHandler = (*Handler)(nil)

// New returns a Handler over the rooms domain and the rooms' documents; sensor converts
// a room's sensors to their messages (as SensorService shows them).
func New(svc *rooms.Service, docs *roomdocrpc.Handler, sensor func(sensors.Sensor) *sensoctov1.Sensor) *Handler {
	return &Handler{Handler: docs, rooms: svc, sensor: sensor}
}

// roomID parses a room id the validator has checked (or names the field).
func roomID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, apperr.InvalidArgument(field, "must be a UUID")
	}
	return id, nil
}

// CreateRoom creates a room owned by the caller.
func (h *Handler) CreateRoom(ctx context.Context, req *sensoctov1.CreateRoomRequest) (*sensoctov1.CreateRoomResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	in := rooms.CreateInput{
		Name: req.GetName(), Description: req.GetDescription(), Public: req.GetIsPublic(),
		MembersAddPublic: req.GetMembersAddPublicSensors(),
	}
	if req.GetFeatures() != nil {
		f := fromFeatures(req.GetFeatures())
		in.Features = &f
	}
	r, err := h.rooms.Create(ctx, v, in)
	if err != nil {
		return nil, fmt.Errorf("create room: %w", err)
	}
	return &sensoctov1.CreateRoomResponse{Room: toRoom(r)}, nil
}

// GetRoom returns a room the caller may see.
func (h *Handler) GetRoom(ctx context.Context, req *sensoctov1.GetRoomRequest) (*sensoctov1.GetRoomResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	r, err := h.rooms.Get(ctx, v, id)
	if err != nil {
		return nil, fmt.Errorf("get room: %w", err)
	}
	return &sensoctov1.GetRoomResponse{Room: toRoom(r)}, nil
}

// ListRooms lists the caller's rooms and public rooms.
func (h *Handler) ListRooms(ctx context.Context, req *sensoctov1.ListRoomsRequest) (*sensoctov1.ListRoomsResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	list, next, err := h.rooms.List(ctx, v, rooms.ListInput{
		MemberOnly: req.GetMemberOnly(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	res := &sensoctov1.ListRoomsResponse{NextPageToken: next, Rooms: make([]*sensoctov1.Room, len(list))}
	for i, r := range list {
		res.Rooms[i] = toRoom(r)
	}
	return res, nil
}

// UpdateRoom changes a room's settings.
func (h *Handler) UpdateRoom(ctx context.Context, req *sensoctov1.UpdateRoomRequest) (*sensoctov1.UpdateRoomResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	in := rooms.UpdateInput{
		Name: req.Name, Description: req.Description, Public: req.IsPublic, MembersAddPublic: req.MembersAddPublicSensors,
	}
	if req.GetFeatures() != nil {
		f := fromFeatures(req.GetFeatures())
		in.Features = &f
	}
	r, err := h.rooms.Update(ctx, v, id, in)
	if err != nil {
		return nil, fmt.Errorf("update room: %w", err)
	}
	return &sensoctov1.UpdateRoomResponse{Room: toRoom(r)}, nil
}

// DeleteRoom deletes a room.
func (h *Handler) DeleteRoom(ctx context.Context, req *sensoctov1.DeleteRoomRequest) (*sensoctov1.DeleteRoomResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	if err := h.rooms.Delete(ctx, v, id); err != nil {
		return nil, fmt.Errorf("delete room: %w", err)
	}
	return &sensoctov1.DeleteRoomResponse{}, nil
}

// GetRoomPreview shows the room behind a join code.
func (h *Handler) GetRoomPreview(ctx context.Context, req *sensoctov1.GetRoomPreviewRequest) (*sensoctov1.GetRoomPreviewResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	p, err := h.rooms.Preview(ctx, v, req.GetJoinCode())
	if err != nil {
		return nil, fmt.Errorf("preview room: %w", err)
	}
	return &sensoctov1.GetRoomPreviewResponse{
		RoomId: p.RoomID.String(), Name: p.Name, Description: p.Description,
		MemberCount: uint32(p.MemberCount), OwnerName: p.OwnerName, AlreadyMember: p.AlreadyMember, //nolint:gosec // G115: bounded by rooms.MaxMembers
	}, nil
}

// JoinRoom joins a room by code or (public rooms) by id.
func (h *Handler) JoinRoom(ctx context.Context, req *sensoctov1.JoinRoomRequest) (*sensoctov1.JoinRoomResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	var id uuid.UUID
	if req.GetJoinCode() == "" {
		if id, err = roomID("room_id", req.GetRoomId()); err != nil {
			return nil, err
		}
	}
	r, err := h.rooms.Join(ctx, v, req.GetJoinCode(), id)
	if err != nil {
		return nil, fmt.Errorf("join room: %w", err)
	}
	return &sensoctov1.JoinRoomResponse{Room: toRoom(r)}, nil
}

// LeaveRoom leaves a room.
func (h *Handler) LeaveRoom(ctx context.Context, req *sensoctov1.LeaveRoomRequest) (*sensoctov1.LeaveRoomResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	if err := h.rooms.Leave(ctx, v, id); err != nil {
		return nil, fmt.Errorf("leave room: %w", err)
	}
	return &sensoctov1.LeaveRoomResponse{}, nil
}

// RegenerateJoinCode replaces the join code.
func (h *Handler) RegenerateJoinCode(ctx context.Context, req *sensoctov1.RegenerateJoinCodeRequest) (*sensoctov1.RegenerateJoinCodeResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	r, err := h.rooms.RegenerateCode(ctx, v, id, time.Duration(req.GetExpiresInSeconds())*time.Second)
	if err != nil {
		return nil, fmt.Errorf("regenerate join code: %w", err)
	}
	return &sensoctov1.RegenerateJoinCodeResponse{Room: toRoom(r)}, nil
}

// ListMembers lists a room's members with their presence.
func (h *Handler) ListMembers(ctx context.Context, req *sensoctov1.ListMembersRequest) (*sensoctov1.ListMembersResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	ms, err := h.rooms.Members(ctx, v, id)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return &sensoctov1.ListMembersResponse{Members: toMembers(ms)}, nil
}

// UpdateMemberRole changes a member's role or transfers ownership.
func (h *Handler) UpdateMemberRole(ctx context.Context, req *sensoctov1.UpdateMemberRoleRequest) (*sensoctov1.UpdateMemberRoleResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	user, err := roomID("user_id", req.GetUserId())
	if err != nil {
		return nil, err
	}
	m, err := h.rooms.SetRole(ctx, v, id, user, fromRole(req.GetRole()))
	if err != nil {
		return nil, fmt.Errorf("update member role: %w", err)
	}
	return &sensoctov1.UpdateMemberRoleResponse{Member: toMember(m)}, nil
}

// RemoveMember removes a member.
func (h *Handler) RemoveMember(ctx context.Context, req *sensoctov1.RemoveMemberRequest) (*sensoctov1.RemoveMemberResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	user, err := roomID("user_id", req.GetUserId())
	if err != nil {
		return nil, err
	}
	if err := h.rooms.RemoveMember(ctx, v, id, user); err != nil {
		return nil, fmt.Errorf("remove member: %w", err)
	}
	return &sensoctov1.RemoveMemberResponse{}, nil
}

// AddRoomSensor places a sensor in a room.
func (h *Handler) AddRoomSensor(ctx context.Context, req *sensoctov1.AddRoomSensorRequest) (*sensoctov1.AddRoomSensorResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	r, err := h.rooms.AddSensor(ctx, v, id, req.GetSensorId())
	if err != nil {
		return nil, fmt.Errorf("add room sensor: %w", err)
	}
	return &sensoctov1.AddRoomSensorResponse{Room: toRoom(r)}, nil
}

// RemoveRoomSensor takes a sensor out of a room.
func (h *Handler) RemoveRoomSensor(ctx context.Context, req *sensoctov1.RemoveRoomSensorRequest) (*sensoctov1.RemoveRoomSensorResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	r, err := h.rooms.RemoveSensor(ctx, v, id, req.GetSensorId())
	if err != nil {
		return nil, fmt.Errorf("remove room sensor: %w", err)
	}
	return &sensoctov1.RemoveRoomSensorResponse{Room: toRoom(r)}, nil
}

// ReportRoomPresence renews a tab's presence and sets its view.
func (h *Handler) ReportRoomPresence(ctx context.Context, req *sensoctov1.ReportRoomPresenceRequest) (*sensoctov1.ReportRoomPresenceResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return nil, err
	}
	lapse, err := h.rooms.ReportPresence(ctx, v, id, req.GetTabId(), req.GetView())
	if err != nil {
		return nil, fmt.Errorf("report room presence: %w", err)
	}
	return &sensoctov1.ReportRoomPresenceResponse{LapseMs: uint32(lapse.Milliseconds())}, nil //nolint:gosec // G115: a lapse of seconds
}

// WatchRoom streams a room's state, then its changes, and the shared document's sync
// messages for the stream's tab (STATE events), until the caller is removed
// (PermissionDenied), the room is deleted (NotFound), the credential ends, or the client
// goes away. Each ending by the room is announced with a CLOSED event first.
func (h *Handler) WatchRoom(ctx context.Context, req *sensoctov1.WatchRoomRequest, stream *connect.ServerStream[sensoctov1.WatchRoomResponse]) error {
	g, err := authz.GuardStream(ctx)
	if err != nil {
		return err
	}
	defer g.Close()
	id, err := roomID("room_id", req.GetRoomId())
	if err != nil {
		return err
	}
	w, err := h.rooms.Watch(ctx, g.Viewer(), id, req.GetTabId(), req.GetView())
	if err != nil {
		return fmt.Errorf("watch room: %w", err)
	}
	defer w.Close()
	state, err := h.AttachState(ctx, req.GetRoomId(), w.Tab())
	if err != nil {
		return fmt.Errorf("watch room: %w", err)
	}
	defer state.Close()
	// One sender at a time: the room's events here, the document's in forward.
	var mu sync.Mutex
	send := func(res *sensoctov1.WatchRoomResponse) error {
		mu.Lock()
		defer mu.Unlock()
		return stream.Send(res)
	}
	fctx, stop := context.WithCancel(g.Context())
	// moved ends the stream when the room's document moved to another node (cluster
	// mode): the client reconnects and syncs with the new owner.
	wctx, moved := context.WithCancelCause(g.Context())
	defer moved(nil)
	var forwarded chan struct{} // closed when the document's forwarder ends; nil until it starts
	defer func() {
		stop()
		if forwarded != nil {
			<-forwarded
		}
	}()
	for {
		evs, err := w.Next(wctx)
		if err != nil && !rooms.IsClosed(err) {
			if gerr := g.Err(); gerr != nil {
				return gerr // the credential is no longer valid
			}
			if cause := context.Cause(wctx); cause != nil && g.Context().Err() == nil && !errors.Is(cause, context.Canceled) {
				return cause
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch room: %w", err)
		}
		for _, ev := range evs {
			if serr := send(h.toEvent(ev)); serr != nil {
				return fmt.Errorf("send room event: %w", serr)
			}
		}
		if err != nil {
			return err
		}
		// The document's sync messages start once the room's full state (the first
		// batch) is sent: the first message of the stream is always the SNAPSHOT.
		if forwarded == nil {
			forwarded = make(chan struct{})
			go func() {
				defer close(forwarded)
				// A failed send fails the room's next send too; a moved document ends
				// the stream.
				if err := state.Forward(fctx, send); errors.Is(err, apperr.KindUnavailable) {
					moved(err)
				}
			}()
		}
	}
}
