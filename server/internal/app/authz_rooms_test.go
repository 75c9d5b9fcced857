package app_test

import (
	"fmt"
	"sync"
	"testing"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// roomWant is the want of a RoomService procedure on a private room of the owner's,
// in the order of the roles: nobody, a guest and another user (non-members), a member,
// an admin, the owner, and the owner's publish token.
func roomWant(nobody, guest, nonMember, member, admin, owner, publish connect.Code) want {
	return want{nobody, guest, nonMember, owner, publish, member, admin}
}

const (
	unauth = connect.CodeUnauthenticated
	nf     = connect.CodeNotFound
	pd     = connect.CodePermissionDenied
)

var (
	// roomRead: members of any role; the room is invisible to others.
	roomRead = roomWant(unauth, nf, nf, ok, ok, ok, pd)
	// roomManage: owner and admins.
	roomManage = roomWant(unauth, nf, nf, pd, ok, ok, pd)
	// anyUser: any signed-in user with a full-scope credential.
	anyUser = roomWant(unauth, ok, ok, ok, ok, ok, pd)
)

func (m *matrix) roomsAs(who caller) sensoctov1connect.RoomServiceClient {
	return sensoctov1connect.NewRoomServiceClient(withToken(h2cClient(), m.tokens[who]), m.url)
}

// matrixRoom is a private room of the owner with the member and the admin in it.
type matrixRoom struct{ id, code string }

var (
	matrixRoomsMu sync.Mutex
	matrixRooms   = map[*matrix]matrixRoom{}
)

// newRoom creates a private room of the owner's, joined by the member and the admin
// (promoted by the owner).
func (m *matrix) newRoom(t *testing.T) matrixRoom {
	t.Helper()
	ctx := t.Context()
	res, err := m.roomsAs(owner).CreateRoom(ctx, &sensoctov1.CreateRoomRequest{Name: "matrix room"})
	if err != nil {
		t.Fatalf("create the owner's room: %v", err)
	}
	r := matrixRoom{id: res.GetRoom().GetRoomId(), code: res.GetRoom().GetJoinCode()}
	for _, who := range []caller{member, admin} {
		if _, err := m.roomsAs(who).JoinRoom(ctx, &sensoctov1.JoinRoomRequest{JoinCode: r.code}); err != nil {
			t.Fatalf("%s joins the owner's room: %v", callerNames[who], err)
		}
	}
	if _, err := m.roomsAs(owner).UpdateMemberRole(ctx, &sensoctov1.UpdateMemberRoleRequest{
		RoomId: r.id, UserId: m.userID(t, admin), Role: sensoctov1.RoomRole_ROOM_ROLE_ADMIN,
	}); err != nil {
		t.Fatalf("promote the admin: %v", err)
	}
	return r
}

// sharedRoom is the room of the rows that change nothing of it that others rely on.
func (m *matrix) sharedRoom(t *testing.T) matrixRoom {
	t.Helper()
	matrixRoomsMu.Lock()
	defer matrixRoomsMu.Unlock()
	if r, found := matrixRooms[m]; found {
		return r
	}
	r := m.newRoom(t)
	matrixRooms[m] = r
	return r
}

// userID returns the user id of a signed-in caller.
func (m *matrix) userID(t *testing.T, who caller) string {
	t.Helper()
	me, err := m.auth(who).GetMe(t.Context(), &sensoctov1.GetMeRequest{})
	if err != nil {
		t.Fatalf("GetMe as %s: %v", callerNames[who], err)
	}
	return me.GetUser().GetUserId()
}

// sensorOf registers a new private sensor of who's (the owner's for callers that
// cannot register one).
func (m *matrix) sensorOf(t *testing.T, who caller) string {
	t.Helper()
	if who == nobody || who == publish {
		return m.newOwnerSensor(t)
	}
	id := fmt.Sprintf("matrix-room-%d", matrixSeq.Add(1))
	if _, err := m.sensorsAs(who).RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: id}); err != nil {
		t.Fatalf("register a sensor as %s: %v", callerNames[who], err)
	}
	return id
}

func init() {
	rows := map[string]matrixRow{
		sensoctov1connect.RoomServiceCreateRoomProcedure: {anyUser, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).CreateRoom(t.Context(), &sensoctov1.CreateRoomRequest{Name: "created by " + callerNames[who]})
			return err
		}},
		sensoctov1connect.RoomServiceGetRoomProcedure: {roomRead, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).GetRoom(t.Context(), &sensoctov1.GetRoomRequest{RoomId: m.sharedRoom(t).id})
			return err
		}},
		sensoctov1connect.RoomServiceListRoomsProcedure: {anyUser, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).ListRooms(t.Context(), &sensoctov1.ListRoomsRequest{})
			return err
		}},
		sensoctov1connect.RoomServiceUpdateRoomProcedure: {roomManage, func(t *testing.T, m *matrix, who caller) error {
			d := "changed by " + callerNames[who]
			_, err := m.roomsAs(who).UpdateRoom(t.Context(), &sensoctov1.UpdateRoomRequest{RoomId: m.sharedRoom(t).id, Description: &d})
			return err
		}},
		// Only the owner deletes (a new room each time).
		sensoctov1connect.RoomServiceDeleteRoomProcedure: {roomWant(unauth, nf, nf, pd, pd, ok, pd), func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).DeleteRoom(t.Context(), &sensoctov1.DeleteRoomRequest{RoomId: m.newRoom(t).id})
			return err
		}},
		// The code is the secret: anyone signed in may preview and join with it.
		sensoctov1connect.RoomServiceGetRoomPreviewProcedure: {anyUser, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).GetRoomPreview(t.Context(), &sensoctov1.GetRoomPreviewRequest{JoinCode: m.sharedRoom(t).code})
			return err
		}},
		sensoctov1connect.RoomServiceJoinRoomProcedure: {anyUser, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).JoinRoom(t.Context(), &sensoctov1.JoinRoomRequest{JoinCode: m.newRoom(t).code})
			return err
		}},
		// Any member but the owner leaves (a new room each time).
		sensoctov1connect.RoomServiceLeaveRoomProcedure: {roomWant(unauth, nf, nf, ok, ok, pd, pd), func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).LeaveRoom(t.Context(), &sensoctov1.LeaveRoomRequest{RoomId: m.newRoom(t).id})
			return err
		}},
		sensoctov1connect.RoomServiceRegenerateJoinCodeProcedure: {roomManage, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).RegenerateJoinCode(t.Context(), &sensoctov1.RegenerateJoinCodeRequest{RoomId: m.newRoom(t).id, ExpiresInSeconds: 3600})
			return err
		}},
		sensoctov1connect.RoomServiceListMembersProcedure: {roomRead, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).ListMembers(t.Context(), &sensoctov1.ListMembersRequest{RoomId: m.sharedRoom(t).id})
			return err
		}},
		// Only the owner promotes (the member, in a new room each time; the member
		// cannot act on themselves).
		sensoctov1connect.RoomServiceUpdateMemberRoleProcedure: {roomWant(unauth, nf, nf, pd, pd, ok, pd), func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).UpdateMemberRole(t.Context(), &sensoctov1.UpdateMemberRoleRequest{
				RoomId: m.newRoom(t).id, UserId: m.userID(t, member), Role: sensoctov1.RoomRole_ROOM_ROLE_ADMIN,
			})
			return err
		}},
		// Owner and admins remove plain members (the member, in a new room each time).
		sensoctov1connect.RoomServiceRemoveMemberProcedure: {roomWant(unauth, nf, nf, pd, ok, ok, pd), func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).RemoveMember(t.Context(), &sensoctov1.RemoveMemberRequest{RoomId: m.newRoom(t).id, UserId: m.userID(t, member)})
			return err
		}},
		// Every member adds a sensor of their own.
		sensoctov1connect.RoomServiceAddRoomSensorProcedure: {roomRead, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).AddRoomSensor(t.Context(), &sensoctov1.AddRoomSensorRequest{RoomId: m.sharedRoom(t).id, SensorId: m.sensorOf(t, who)})
			return err
		}},
		// The owner's sensor (placed by the owner): owner and admins remove it, a plain
		// member may not.
		sensoctov1connect.RoomServiceRemoveRoomSensorProcedure: {roomManage, func(t *testing.T, m *matrix, who caller) error {
			r, id := m.sharedRoom(t), m.newOwnerSensor(t)
			if _, err := m.roomsAs(owner).AddRoomSensor(t.Context(), &sensoctov1.AddRoomSensorRequest{RoomId: r.id, SensorId: id}); err != nil {
				t.Fatalf("place the owner's sensor: %v", err)
			}
			_, err := m.roomsAs(who).RemoveRoomSensor(t.Context(), &sensoctov1.RemoveRoomSensorRequest{RoomId: r.id, SensorId: id})
			return err
		}},
		sensoctov1connect.RoomServiceWatchRoomProcedure: {roomRead, func(t *testing.T, m *matrix, who caller) error {
			return firstOf(m.roomsAs(who).WatchRoom(t.Context(), &sensoctov1.WatchRoomRequest{RoomId: m.sharedRoom(t).id}))
		}},
		// A tab with an open WatchRoom reports its presence.
		sensoctov1connect.RoomServiceReportRoomPresenceProcedure: {roomRead, func(t *testing.T, m *matrix, who caller) error {
			r, tab := m.sharedRoom(t), "matrix-tab-"+callerNames[who]
			st, err := m.roomsAs(who).WatchRoom(t.Context(), &sensoctov1.WatchRoomRequest{RoomId: r.id, TabId: tab})
			if err == nil {
				defer func() { _ = st.Close() }()
				st.Receive() // the snapshot, or the refusal
			}
			_, err = m.roomsAs(who).ReportRoomPresence(t.Context(), &sensoctov1.ReportRoomPresenceRequest{RoomId: r.id, TabId: tab, View: "sensors"})
			return err
		}},
		// The shared document: members sync it.
		sensoctov1connect.RoomServiceSyncRoomStateProcedure: {roomRead, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.roomsAs(who).SyncRoomState(t.Context(), &sensoctov1.SyncRoomStateRequest{RoomId: m.sharedRoom(t).id, PeerId: "matrix-peer-" + callerNames[who]})
			return err
		}},
	}
	for proc, row := range rows {
		matrixRows[proc] = row
	}
}
