package roomsrpc

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/rooms"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func toRole(r authz.RoomRole) sensoctov1.RoomRole {
	switch r {
	case authz.RoleOwner:
		return sensoctov1.RoomRole_ROOM_ROLE_OWNER
	case authz.RoleAdmin:
		return sensoctov1.RoomRole_ROOM_ROLE_ADMIN
	case authz.RoleMember:
		return sensoctov1.RoomRole_ROOM_ROLE_MEMBER
	}
	return sensoctov1.RoomRole_ROOM_ROLE_UNSPECIFIED
}

func fromRole(r sensoctov1.RoomRole) authz.RoomRole {
	switch r {
	case sensoctov1.RoomRole_ROOM_ROLE_OWNER:
		return authz.RoleOwner
	case sensoctov1.RoomRole_ROOM_ROLE_ADMIN:
		return authz.RoleAdmin
	case sensoctov1.RoomRole_ROOM_ROLE_MEMBER:
		return authz.RoleMember
	}
	return authz.RoleNone
}

func fromFeatures(f *sensoctov1.RoomFeatures) rooms.Features {
	return rooms.Features{Calls: f.GetCalls(), MediaPlayback: f.GetMediaPlayback(), Object3D: f.GetObject_3D(), Whiteboard: f.GetWhiteboard()}
}

func toRoom(r rooms.Room) *sensoctov1.Room {
	return &sensoctov1.Room{
		RoomId: r.ID.String(), Name: r.Name, Description: r.Description, OwnerId: r.OwnerID.String(),
		IsPublic: r.Public,
		Features: &sensoctov1.RoomFeatures{
			Calls: r.Features.Calls, MediaPlayback: r.Features.MediaPlayback, Object_3D: r.Features.Object3D, Whiteboard: r.Features.Whiteboard,
		},
		JoinCode: r.JoinCode, JoinCodeExpiresAt: ts(r.JoinCodeExpiresAt), MyRole: toRole(r.MyRole),
		MemberCount: uint32(r.MemberCount), SensorIds: r.SensorIDs, PresentCount: uint32(r.PresentCount), //nolint:gosec // G115: bounded by rooms.MaxMembers
		CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt), MembersAddPublicSensors: r.MembersAddPublic,
	}
}

func toMember(m rooms.Member) *sensoctov1.Member {
	return &sensoctov1.Member{
		UserId: m.UserID.String(), DisplayName: m.DisplayName, Role: toRole(m.Role), JoinedAt: ts(m.JoinedAt),
		Present: m.Present, IsGuest: m.Guest, Views: m.Views,
	}
}

func toMembers(ms []rooms.Member) []*sensoctov1.Member {
	out := make([]*sensoctov1.Member, len(ms))
	for i, m := range ms {
		out[i] = toMember(m)
	}
	return out
}

var eventKinds = map[rooms.EventKind]sensoctov1.RoomEventKind{
	rooms.EventSnapshot: sensoctov1.RoomEventKind_ROOM_EVENT_KIND_SNAPSHOT,
	rooms.EventUpdated:  sensoctov1.RoomEventKind_ROOM_EVENT_KIND_UPDATED,
	rooms.EventMembers:  sensoctov1.RoomEventKind_ROOM_EVENT_KIND_MEMBERS,
	rooms.EventSensors:  sensoctov1.RoomEventKind_ROOM_EVENT_KIND_SENSORS,
	rooms.EventPresence: sensoctov1.RoomEventKind_ROOM_EVENT_KIND_PRESENCE,
	rooms.EventClosed:   sensoctov1.RoomEventKind_ROOM_EVENT_KIND_CLOSED,
}

func (h *Handler) toEvent(ev rooms.Event) *sensoctov1.WatchRoomResponse {
	res := &sensoctov1.WatchRoomResponse{Kind: eventKinds[ev.Kind], TabId: ev.Tab}
	if ev.Kind == rooms.EventClosed {
		return res
	}
	res.Room = toRoom(ev.Room)
	res.Members = toMembers(ev.Members)
	for _, u := range ev.RemovedUsers {
		res.RemovedUserIds = append(res.RemovedUserIds, u.String())
	}
	res.RemovedSensorIds = ev.RemovedSensors
	for _, s := range ev.Sensors {
		res.Sensors = append(res.Sensors, h.sensor(s))
	}
	return res
}
