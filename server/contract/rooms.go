package contract

import (
	"context"
	"fmt"
	"slices"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// roomChecks covers RoomService over p: a creates a private room, b joins it by code,
// watches it, is promoted, demoted and removed; a's sensor is shared through it; the
// code is replaced; the room is deleted. Join-code lookups are rate-limited per client
// IP (10 a minute by default): the checks make 7 over all protocols.
func (s *suite) roomChecks(ctx context.Context, p protocol, a, b user) {
	ca, cb := s.client(p, a.token), s.client(p, b.token)
	var room *sensoctov1.Room
	s.check(ctx, p, []string{sensoctov1connect.RoomServiceCreateRoomProcedure, sensoctov1connect.RoomServiceGetRoomProcedure,
		sensoctov1connect.RoomServiceUpdateRoomProcedure, sensoctov1connect.RoomServiceListRoomsProcedure},
		"a private room with a join code for its owner, NotFound for another user, renamed, listed among mine",
		func(ctx context.Context) error {
			res, err := ca.rooms.CreateRoom(ctx, &sensoctov1.CreateRoomRequest{Name: "contract " + s.run + " " + p.name})
			if err != nil {
				return must("CreateRoom", err)
			}
			r := res.GetRoom()
			s.cleanup(func(ctx context.Context) {
				_, err := s.client(protocols[0], a.token).rooms.DeleteRoom(ctx, &sensoctov1.DeleteRoomRequest{RoomId: r.GetRoomId()})
				if err != nil && connect.CodeOf(err) != connect.CodeNotFound {
					fmt.Fprintf(s.cfg.Out, "warning: could not delete room %s: %v\n", r.GetRoomId(), err)
				}
			})
			if len(r.GetJoinCode()) != 8 || r.GetMyRole() != sensoctov1.RoomRole_ROOM_ROLE_OWNER || r.GetMemberCount() != 1 {
				return fmt.Errorf("an 8-character code, role OWNER and one member, got %v", r)
			}
			_, err = cb.rooms.GetRoom(ctx, &sensoctov1.GetRoomRequest{RoomId: r.GetRoomId()})
			if e := expectCode(err, connect.CodeNotFound); e != nil {
				return fmt.Errorf("GetRoom by a non-member: %w", e)
			}
			name := r.GetName() + " renamed"
			up, err := ca.rooms.UpdateRoom(ctx, &sensoctov1.UpdateRoomRequest{RoomId: r.GetRoomId(), Name: &name})
			if err != nil {
				return must("UpdateRoom", err)
			}
			if up.GetRoom().GetName() != name {
				return fmt.Errorf("name %q, got %q", name, up.GetRoom().GetName())
			}
			list, err := ca.rooms.ListRooms(ctx, &sensoctov1.ListRoomsRequest{MemberOnly: true, PageSize: 200})
			if err != nil {
				return must("ListRooms", err)
			}
			if !slices.ContainsFunc(list.GetRooms(), func(x *sensoctov1.Room) bool { return x.GetRoomId() == r.GetRoomId() }) {
				return fmt.Errorf("room %s among my rooms, got %d others", r.GetRoomId(), len(list.GetRooms()))
			}
			room = up.GetRoom()
			return nil
		})
	rest := []string{
		sensoctov1connect.RoomServiceGetRoomPreviewProcedure, sensoctov1connect.RoomServiceJoinRoomProcedure,
		sensoctov1connect.RoomServiceListMembersProcedure, sensoctov1connect.RoomServiceUpdateMemberRoleProcedure,
		sensoctov1connect.RoomServiceAddRoomSensorProcedure, sensoctov1connect.RoomServiceRemoveRoomSensorProcedure,
		sensoctov1connect.RoomServiceWatchRoomProcedure, sensoctov1connect.RoomServiceReportRoomPresenceProcedure,
		sensoctov1connect.RoomServiceRemoveMemberProcedure, sensoctov1connect.RoomServiceRegenerateJoinCodeProcedure,
		sensoctov1connect.RoomServiceLeaveRoomProcedure, sensoctov1connect.RoomServiceDeleteRoomProcedure,
	}
	if room == nil {
		s.fail(p, rest, "a room to check with", fmt.Errorf("CreateRoom failed"))
		return
	}
	id := room.GetRoomId()

	s.check(ctx, p, []string{sensoctov1connect.RoomServiceGetRoomPreviewProcedure, sensoctov1connect.RoomServiceJoinRoomProcedure},
		"the room behind its code, then membership as MEMBER (without the code); a malformed code InvalidArgument naming join_code",
		func(ctx context.Context) error {
			pre, err := cb.rooms.GetRoomPreview(ctx, &sensoctov1.GetRoomPreviewRequest{JoinCode: room.GetJoinCode()})
			if err != nil {
				return must("GetRoomPreview", err)
			}
			if pre.GetRoomId() != id || pre.GetAlreadyMember() {
				return fmt.Errorf("room %s, not yet a member, got %v", id, pre)
			}
			j, err := cb.rooms.JoinRoom(ctx, &sensoctov1.JoinRoomRequest{JoinCode: room.GetJoinCode()})
			if err != nil {
				return must("JoinRoom", err)
			}
			if j.GetRoom().GetMyRole() != sensoctov1.RoomRole_ROOM_ROLE_MEMBER || j.GetRoom().GetJoinCode() != "" {
				return fmt.Errorf("role MEMBER and no join code, got %v", j.GetRoom())
			}
			_, err = cb.rooms.JoinRoom(ctx, &sensoctov1.JoinRoomRequest{JoinCode: "short"})
			return expectFieldViolation(err, "join_code")
		})

	s.check(ctx, p, []string{sensoctov1connect.RoomServiceListMembersProcedure, sensoctov1connect.RoomServiceUpdateMemberRoleProcedure},
		"owner and member listed; the member promoted to ADMIN and demoted again",
		func(ctx context.Context) error {
			ms, err := cb.rooms.ListMembers(ctx, &sensoctov1.ListMembersRequest{RoomId: id})
			if err != nil {
				return must("ListMembers", err)
			}
			if len(ms.GetMembers()) != 2 || ms.GetMembers()[0].GetUserId() != a.id || ms.GetMembers()[0].GetRole() != sensoctov1.RoomRole_ROOM_ROLE_OWNER {
				return fmt.Errorf("the owner first of 2 members, got %v", ms.GetMembers())
			}
			for _, role := range []sensoctov1.RoomRole{sensoctov1.RoomRole_ROOM_ROLE_ADMIN, sensoctov1.RoomRole_ROOM_ROLE_MEMBER} {
				res, err := ca.rooms.UpdateMemberRole(ctx, &sensoctov1.UpdateMemberRoleRequest{RoomId: id, UserId: b.id, Role: role})
				if err != nil {
					return must("UpdateMemberRole "+role.String(), err)
				}
				if res.GetMember().GetRole() != role {
					return fmt.Errorf("role %s, got %v", role, res.GetMember())
				}
			}
			return nil
		})

	s.check(ctx, p, []string{sensoctov1connect.RoomServiceAddRoomSensorProcedure, sensoctov1connect.RoomServiceRemoveRoomSensorProcedure},
		"the owner's private sensor visible to the member while in the room, NotFound once removed",
		func(ctx context.Context) error {
			sid := s.sensorID("room", p.name)
			if _, err := s.registerOwned(ctx, a, &sensoctov1.RegisterSensorRequest{SensorId: sid, Attributes: []*sensoctov1.Attribute{heartrateAttribute}}); err != nil {
				return must("RegisterSensor", err)
			}
			add, err := ca.rooms.AddRoomSensor(ctx, &sensoctov1.AddRoomSensorRequest{RoomId: id, SensorId: sid})
			if err != nil {
				return must("AddRoomSensor", err)
			}
			if !slices.Contains(add.GetRoom().GetSensorIds(), sid) {
				return fmt.Errorf("sensor %s in the room, got %v", sid, add.GetRoom().GetSensorIds())
			}
			if _, err := cb.sensors.GetSensor(ctx, &sensoctov1.GetSensorRequest{SensorId: sid}); err != nil {
				return must("GetSensor by the member", err)
			}
			if _, err := ca.rooms.RemoveRoomSensor(ctx, &sensoctov1.RemoveRoomSensorRequest{RoomId: id, SensorId: sid}); err != nil {
				return must("RemoveRoomSensor", err)
			}
			_, err = cb.sensors.GetSensor(ctx, &sensoctov1.GetSensorRequest{SensorId: sid})
			if e := expectCode(err, connect.CodeNotFound); e != nil {
				return fmt.Errorf("GetSensor by the member after removal: %w", e)
			}
			return nil
		})

	s.check(ctx, p, []string{sensoctov1connect.RoomServiceWatchRoomProcedure, sensoctov1connect.RoomServiceReportRoomPresenceProcedure,
		sensoctov1connect.RoomServiceRemoveMemberProcedure},
		"the member's WatchRoom: a SNAPSHOT with the member present in its view, a heartbeat accepted, then CLOSED and PermissionDenied when removed",
		func(ctx context.Context) error {
			tab := s.tabID("room-" + p.name)
			st, err := cb.rooms.WatchRoom(ctx, &sensoctov1.WatchRoomRequest{RoomId: id, TabId: tab, View: "sensors"})
			if err != nil {
				return must("WatchRoom", err)
			}
			defer func() { _ = st.Close() }()
			if !st.Receive() {
				return fmt.Errorf("a SNAPSHOT, got the end: %w", st.Err())
			}
			snap := st.Msg()
			i := slices.IndexFunc(snap.GetMembers(), func(m *sensoctov1.Member) bool { return m.GetUserId() == b.id })
			if snap.GetKind() != sensoctov1.RoomEventKind_ROOM_EVENT_KIND_SNAPSHOT || snap.GetTabId() != tab || i < 0 ||
				!snap.GetMembers()[i].GetPresent() || !slices.Equal(snap.GetMembers()[i].GetViews(), []string{"sensors"}) {
				return fmt.Errorf("a SNAPSHOT of tab %s with the member present in view sensors, got %v", tab, snap)
			}
			hb, err := cb.rooms.ReportRoomPresence(ctx, &sensoctov1.ReportRoomPresenceRequest{RoomId: id, TabId: tab, View: "lens:heartrate"})
			if err != nil {
				return must("ReportRoomPresence", err)
			}
			if hb.GetLapseMs() == 0 {
				return fmt.Errorf("lapse_ms > 0, got 0")
			}
			if _, err := ca.rooms.RemoveMember(ctx, &sensoctov1.RemoveMemberRequest{RoomId: id, UserId: b.id}); err != nil {
				return must("RemoveMember", err)
			}
			closed := false
			for st.Receive() {
				closed = closed || st.Msg().GetKind() == sensoctov1.RoomEventKind_ROOM_EVENT_KIND_CLOSED
			}
			if !closed {
				return fmt.Errorf("a CLOSED event before the end")
			}
			return expectCode(st.Err(), connect.CodePermissionDenied)
		})

	s.check(ctx, p, []string{sensoctov1connect.RoomServiceRegenerateJoinCodeProcedure, sensoctov1connect.RoomServiceLeaveRoomProcedure},
		"a new code with its expiry (the old one NotFound); the room made public, joined by id and left",
		func(ctx context.Context) error {
			re, err := ca.rooms.RegenerateJoinCode(ctx, &sensoctov1.RegenerateJoinCodeRequest{RoomId: id, ExpiresInSeconds: 3600})
			if err != nil {
				return must("RegenerateJoinCode", err)
			}
			if c := re.GetRoom().GetJoinCode(); len(c) != 8 || c == room.GetJoinCode() || re.GetRoom().GetJoinCodeExpiresAt() == nil {
				return fmt.Errorf("a new code with an expiry, got %v", re.GetRoom())
			}
			if p.name == protocols[0].name { // once: lookups are rate-limited
				_, err = cb.rooms.GetRoomPreview(ctx, &sensoctov1.GetRoomPreviewRequest{JoinCode: room.GetJoinCode()})
				if e := expectCode(err, connect.CodeNotFound); e != nil {
					return fmt.Errorf("GetRoomPreview of the old code: %w", e)
				}
			}
			public := true
			if _, err := ca.rooms.UpdateRoom(ctx, &sensoctov1.UpdateRoomRequest{RoomId: id, IsPublic: &public}); err != nil {
				return must("UpdateRoom is_public", err)
			}
			if _, err := cb.rooms.JoinRoom(ctx, &sensoctov1.JoinRoomRequest{RoomId: id}); err != nil {
				return must("JoinRoom by id of a public room", err)
			}
			if _, err := cb.rooms.LeaveRoom(ctx, &sensoctov1.LeaveRoomRequest{RoomId: id}); err != nil {
				return must("LeaveRoom", err)
			}
			_, err = ca.rooms.LeaveRoom(ctx, &sensoctov1.LeaveRoomRequest{RoomId: id})
			if e := expectCode(err, connect.CodePermissionDenied); e != nil {
				return fmt.Errorf("LeaveRoom by the owner: %w", e)
			}
			return nil
		})

	s.check(ctx, p, []string{sensoctov1connect.RoomServiceDeleteRoomProcedure, sensoctov1connect.RoomServiceSyncRoomStateProcedure},
		"a sync session with the room's document for its owner; the room deleted (then NotFound)",
		func(ctx context.Context) error {
			if _, err := ca.rooms.SyncRoomState(ctx, &sensoctov1.SyncRoomStateRequest{RoomId: id, PeerId: s.tabID("peer-" + p.name)}); err != nil {
				return must("SyncRoomState", err)
			}
			if _, err := ca.rooms.DeleteRoom(ctx, &sensoctov1.DeleteRoomRequest{RoomId: id}); err != nil {
				return must("DeleteRoom", err)
			}
			_, err := ca.rooms.GetRoom(ctx, &sensoctov1.GetRoomRequest{RoomId: id})
			return expectCode(err, connect.CodeNotFound)
		})
}
