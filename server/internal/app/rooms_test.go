package app_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/rooms"
)

// roomer is a signed-in guest with a RoomService client.
type roomer struct {
	party
	rooms sensoctov1connect.RoomServiceClient
	id    string
}

func newRoomer(t *testing.T, url string) roomer {
	t.Helper()
	p := newParty(t, url)
	me, err := p.auth.GetMe(t.Context(), &sensoctov1.GetMeRequest{})
	if err != nil {
		t.Fatalf("GetMe: %v", err)
	}
	return roomer{party: p, rooms: sensoctov1connect.NewRoomServiceClient(withToken(h2cClient(), p.token), url), id: me.GetUser().GetUserId()}
}

func (r roomer) create(t *testing.T, name string, public bool) *sensoctov1.Room {
	t.Helper()
	res, err := r.rooms.CreateRoom(t.Context(), &sensoctov1.CreateRoomRequest{Name: name, IsPublic: public})
	if err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	return res.GetRoom()
}

func (r roomer) join(t *testing.T, code string) *sensoctov1.Room {
	t.Helper()
	res, err := r.rooms.JoinRoom(t.Context(), &sensoctov1.JoinRoomRequest{JoinCode: code})
	if err != nil {
		t.Fatalf("JoinRoom: %v", err)
	}
	return res.GetRoom()
}

func (r roomer) addSensor(t *testing.T, roomID, sensorID string) {
	t.Helper()
	if _, err := r.rooms.AddRoomSensor(t.Context(), &sensoctov1.AddRoomSensorRequest{RoomId: roomID, SensorId: sensorID}); err != nil {
		t.Fatalf("AddRoomSensor %s: %v", sensorID, err)
	}
}

func (r roomer) registerPrivate(t *testing.T, id string) {
	t.Helper()
	register(t, r.sensors, id, &sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
}

func (r roomer) watchRoom(t *testing.T, roomID, tab, view string) *streamReader[sensoctov1.WatchRoomResponse] {
	t.Helper()
	return readStream(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchRoomResponse], error) {
		return r.rooms.WatchRoom(ctx, &sensoctov1.WatchRoomRequest{RoomId: roomID, TabId: tab, View: view})
	})
}

// expectCode fails unless err has the code; for InvalidArgument, field must be named
// in its BadRequest details.
func wantCode(t *testing.T, what string, err error, code connect.Code, field string) {
	t.Helper()
	if connect.CodeOf(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	if field == "" {
		return
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: %T is not a Connect error", what, err)
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if br, ok := v.(*errdetails.BadRequest); derr == nil && ok {
			for _, fv := range br.GetFieldViolations() {
				if fv.GetField() == field {
					return
				}
			}
		}
	}
	t.Fatalf("%s: %v does not name field %s", what, err, field)
}

func TestRoomsLifecycleAndRoles(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil)
			ctx := t.Context()
			a, b, c := newRoomer(t, srv.url), newRoomer(t, srv.url), newRoomer(t, srv.url)

			// Bad input names the field and changes nothing.
			_, err := a.rooms.CreateRoom(ctx, &sensoctov1.CreateRoomRequest{Name: ""})
			wantCode(t, "CreateRoom without a name", err, connect.CodeInvalidArgument, "name")
			_, err = a.rooms.GetRoom(ctx, &sensoctov1.GetRoomRequest{RoomId: "nope"})
			wantCode(t, "GetRoom of a malformed id", err, connect.CodeInvalidArgument, "room_id")
			if res, err := a.rooms.ListRooms(ctx, &sensoctov1.ListRoomsRequest{MemberOnly: true}); err != nil || len(res.GetRooms()) != 0 {
				t.Fatalf("rooms after refused creations: %v %v", res, err)
			}

			private := a.create(t, "Study group", false)
			public := a.create(t, "Open lab", true)
			if private.GetMyRole() != sensoctov1.RoomRole_ROOM_ROLE_OWNER || len(private.GetJoinCode()) != rooms.CodeLength ||
				!private.GetFeatures().GetCalls() || !private.GetFeatures().GetMediaPlayback() || private.GetMemberCount() != 1 {
				t.Fatalf("new room: %v", private)
			}
			blank := "   "
			_, err = a.rooms.UpdateRoom(ctx, &sensoctov1.UpdateRoomRequest{RoomId: private.GetRoomId(), Name: &blank})
			wantCode(t, "UpdateRoom to a blank name", err, connect.CodeInvalidArgument, "name")
			_, err = a.rooms.RegenerateJoinCode(ctx, &sensoctov1.RegenerateJoinCodeRequest{RoomId: private.GetRoomId(), ExpiresInSeconds: 60})
			wantCode(t, "RegenerateJoinCode for a minute", err, connect.CodeInvalidArgument, "expires_in_seconds")

			// A private room is invisible to non-members: NotFound, never listed.
			_, err = b.rooms.GetRoom(ctx, &sensoctov1.GetRoomRequest{RoomId: private.GetRoomId()})
			wantCode(t, "GetRoom of a private room by a stranger", err, connect.CodeNotFound, "")
			_, err = b.rooms.JoinRoom(ctx, &sensoctov1.JoinRoomRequest{RoomId: private.GetRoomId()})
			wantCode(t, "JoinRoom by id of a private room", err, connect.CodeNotFound, "")
			_, err = b.rooms.ListMembers(ctx, &sensoctov1.ListMembersRequest{RoomId: private.GetRoomId()})
			wantCode(t, "ListMembers of a private room by a stranger", err, connect.CodeNotFound, "")
			list, err := b.rooms.ListRooms(ctx, &sensoctov1.ListRoomsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.GetRooms()) != 1 || list.GetRooms()[0].GetRoomId() != public.GetRoomId() || list.GetRooms()[0].GetJoinCode() != "" ||
				list.GetRooms()[0].GetMyRole() != sensoctov1.RoomRole_ROOM_ROLE_UNSPECIFIED {
				t.Fatalf("a stranger lists %v, want only the public room, without its code", list.GetRooms())
			}
			// A public room is joined by id.
			if r, err := b.rooms.JoinRoom(ctx, &sensoctov1.JoinRoomRequest{RoomId: public.GetRoomId()}); err != nil || r.GetRoom().GetMyRole() != sensoctov1.RoomRole_ROOM_ROLE_MEMBER {
				t.Fatalf("JoinRoom by id of a public room: %v %v", r, err)
			}

			// Preview and join by code (case-insensitive); joining again changes nothing.
			pre, err := b.rooms.GetRoomPreview(ctx, &sensoctov1.GetRoomPreviewRequest{JoinCode: strings.ToLower(private.GetJoinCode())})
			if err != nil || pre.GetRoomId() != private.GetRoomId() || pre.GetName() != "Study group" || pre.GetAlreadyMember() || pre.GetMemberCount() != 1 || pre.GetOwnerName() == "" {
				t.Fatalf("GetRoomPreview: %v %v", pre, err)
			}
			joined := b.join(t, private.GetJoinCode())
			if joined.GetMyRole() != sensoctov1.RoomRole_ROOM_ROLE_MEMBER || joined.GetJoinCode() != "" || joined.GetMemberCount() != 2 {
				t.Fatalf("joined room as a member: %v", joined)
			}
			if again := b.join(t, private.GetJoinCode()); again.GetMemberCount() != 2 {
				t.Fatalf("joining again: %v", again)
			}
			ms, err := b.rooms.ListMembers(ctx, &sensoctov1.ListMembersRequest{RoomId: private.GetRoomId()})
			if err != nil || len(ms.GetMembers()) != 2 || ms.GetMembers()[0].GetUserId() != a.id || !ms.GetMembers()[1].GetIsGuest() {
				t.Fatalf("ListMembers: %v %v", ms, err)
			}

			// Roles: a member may not manage; promoted, they may.
			desc := "weekly"
			_, err = b.rooms.UpdateRoom(ctx, &sensoctov1.UpdateRoomRequest{RoomId: private.GetRoomId(), Description: &desc})
			wantCode(t, "UpdateRoom by a member", err, connect.CodePermissionDenied, "")
			if _, err := a.rooms.UpdateMemberRole(ctx, &sensoctov1.UpdateMemberRoleRequest{RoomId: private.GetRoomId(), UserId: b.id, Role: sensoctov1.RoomRole_ROOM_ROLE_ADMIN}); err != nil {
				t.Fatalf("promote: %v", err)
			}
			up, err := b.rooms.UpdateRoom(ctx, &sensoctov1.UpdateRoomRequest{RoomId: private.GetRoomId(), Description: &desc})
			if err != nil || up.GetRoom().GetDescription() != desc || up.GetRoom().GetJoinCode() != private.GetJoinCode() {
				t.Fatalf("UpdateRoom by an admin (who sees the code): %v %v", up, err)
			}
			c.join(t, private.GetJoinCode())
			_, err = b.rooms.RemoveMember(ctx, &sensoctov1.RemoveMemberRequest{RoomId: private.GetRoomId(), UserId: a.id})
			wantCode(t, "an admin removes the owner", err, connect.CodePermissionDenied, "")
			_, err = b.rooms.UpdateMemberRole(ctx, &sensoctov1.UpdateMemberRoleRequest{RoomId: private.GetRoomId(), UserId: c.id, Role: sensoctov1.RoomRole_ROOM_ROLE_ADMIN})
			wantCode(t, "an admin promotes", err, connect.CodePermissionDenied, "")
			if _, err := b.rooms.RemoveMember(ctx, &sensoctov1.RemoveMemberRequest{RoomId: private.GetRoomId(), UserId: c.id}); err != nil {
				t.Fatalf("an admin removes a member: %v", err)
			}
			// A removed member keeps nothing.
			_, err = c.rooms.GetRoom(ctx, &sensoctov1.GetRoomRequest{RoomId: private.GetRoomId()})
			wantCode(t, "GetRoom by a removed member", err, connect.CodeNotFound, "")
			if l, err := c.rooms.ListRooms(ctx, &sensoctov1.ListRoomsRequest{MemberOnly: true}); err != nil || len(l.GetRooms()) != 0 {
				t.Fatalf("a removed member still lists %v %v", l, err)
			}

			// Ownership moves; the old owner becomes an admin and may no longer delete.
			m, err := a.rooms.UpdateMemberRole(ctx, &sensoctov1.UpdateMemberRoleRequest{RoomId: private.GetRoomId(), UserId: b.id, Role: sensoctov1.RoomRole_ROOM_ROLE_OWNER})
			if err != nil || m.GetMember().GetRole() != sensoctov1.RoomRole_ROOM_ROLE_OWNER {
				t.Fatalf("transfer ownership: %v %v", m, err)
			}
			got, err := a.rooms.GetRoom(ctx, &sensoctov1.GetRoomRequest{RoomId: private.GetRoomId()})
			if err != nil || got.GetRoom().GetMyRole() != sensoctov1.RoomRole_ROOM_ROLE_ADMIN || got.GetRoom().GetOwnerId() != b.id {
				t.Fatalf("the old owner's view: %v %v", got, err)
			}
			_, err = a.rooms.DeleteRoom(ctx, &sensoctov1.DeleteRoomRequest{RoomId: private.GetRoomId()})
			wantCode(t, "DeleteRoom by an admin", err, connect.CodePermissionDenied, "")
			if _, err := a.rooms.LeaveRoom(ctx, &sensoctov1.LeaveRoomRequest{RoomId: private.GetRoomId()}); err != nil {
				t.Fatalf("the old owner leaves: %v", err)
			}
			_, err = b.rooms.LeaveRoom(ctx, &sensoctov1.LeaveRoomRequest{RoomId: private.GetRoomId()})
			wantCode(t, "the owner leaves", err, connect.CodePermissionDenied, "")
			if _, err := b.rooms.DeleteRoom(ctx, &sensoctov1.DeleteRoomRequest{RoomId: private.GetRoomId()}); err != nil {
				t.Fatalf("DeleteRoom by the owner: %v", err)
			}
			_, err = b.rooms.GetRoom(ctx, &sensoctov1.GetRoomRequest{RoomId: private.GetRoomId()})
			wantCode(t, "GetRoom of a deleted room", err, connect.CodeNotFound, "")

			// Paging: newest first, every room once.
			for i := range 4 {
				a.create(t, "page "+string(rune('A'+i)), false)
			}
			var seen []string
			tok := ""
			for {
				res, err := a.rooms.ListRooms(ctx, &sensoctov1.ListRoomsRequest{MemberOnly: true, PageSize: 2, PageToken: tok})
				if err != nil {
					t.Fatalf("ListRooms page: %v", err)
				}
				for _, r := range res.GetRooms() {
					seen = append(seen, r.GetName())
				}
				if tok = res.GetNextPageToken(); tok == "" {
					break
				}
			}
			if want := []string{"page D", "page C", "page B", "page A", "Open lab"}; !slices.Equal(seen, want) {
				t.Fatalf("pages %v, want %v", seen, want)
			}
			_, err = a.rooms.ListRooms(ctx, &sensoctov1.ListRoomsRequest{PageToken: "garbage!"})
			wantCode(t, "ListRooms with a bad token", err, connect.CodeInvalidArgument, "page_token")
		})
	}
}

func TestJoinCodes(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	srv := startServer(t, "sqlite", map[string]string{"SENSOCTO_AUTH_RATE_LIMIT": "6"}, app.WithClock(clock))
	ctx := t.Context()
	a, b := newRoomer(t, srv.url), newRoomer(t, srv.url)
	r := a.create(t, "Codes", false)
	for _, ch := range r.GetJoinCode() {
		if !strings.ContainsRune(rooms.CodeAlphabet, ch) {
			t.Fatalf("code %q has %q, not in %s", r.GetJoinCode(), ch, rooms.CodeAlphabet)
		}
	}

	// A regenerated code replaces the old one at once; members stay.
	b.join(t, r.GetJoinCode())
	re, err := a.rooms.RegenerateJoinCode(ctx, &sensoctov1.RegenerateJoinCodeRequest{RoomId: r.GetRoomId(), ExpiresInSeconds: 3600})
	if err != nil || re.GetRoom().GetJoinCode() == r.GetJoinCode() || re.GetRoom().GetJoinCodeExpiresAt() == nil || re.GetRoom().GetMemberCount() != 2 {
		t.Fatalf("RegenerateJoinCode: %v %v", re, err)
	}
	c := newRoomer(t, srv.url)
	_, err = c.rooms.JoinRoom(ctx, &sensoctov1.JoinRoomRequest{JoinCode: r.GetJoinCode()})
	wantCode(t, "JoinRoom with the replaced code", err, connect.CodeNotFound, "")
	if !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("the refusal of a replaced code does not say so: %v", err)
	}
	// An expired code is refused, saying so.
	offset.Store(int64(time.Hour + time.Minute))
	_, err = c.rooms.JoinRoom(ctx, &sensoctov1.JoinRoomRequest{JoinCode: re.GetRoom().GetJoinCode()})
	wantCode(t, "JoinRoom with an expired code", err, connect.CodeFailedPrecondition, "")
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("the refusal of an expired code does not say so: %v", err)
	}
	// The limit is 6 lookups a minute from one IP (the clock jump refilled it): after
	// the expired one, 5 more pass and the 7th is refused with a retry delay, whatever
	// the code.
	for i := range 5 {
		if _, err := c.rooms.GetRoomPreview(ctx, &sensoctov1.GetRoomPreviewRequest{JoinCode: "ABCDEFGH"}); connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("lookup %d: %v, want not_found", i+2, err)
		}
	}
	_, err = c.rooms.GetRoomPreview(ctx, &sensoctov1.GetRoomPreviewRequest{JoinCode: re.GetRoom().GetJoinCode()})
	wantCode(t, "the 7th lookup in a minute", err, connect.CodeResourceExhausted, "")
}

// watchOf opens a Watch of ids as p (focused, so data comes at once) and returns it.
func watchOf(t *testing.T, p party, tab string, ids ...string) *streamReader[sensoctov1.WatchResponse] {
	t.Helper()
	focus(t, p, tab, ids...)
	return readStream(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchResponse], error) {
		return p.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: ids, SkipRecent: true, TabId: tab})
	})
}

// awaitValue reads w until value v of sensor id arrives.
func awaitValue(t *testing.T, w *streamReader[sensoctov1.WatchResponse], id string, v float64) {
	t.Helper()
	for {
		res := w.next(t)
		if res == nil {
			t.Fatalf("Watch ended: %v", w.err())
		}
		if slices.Contains(numbers(res, id), v) {
			return
		}
	}
}

// awaitRemoved reads w until sensor id is REMOVED, failing if value never arrives first.
func awaitRemoved(t *testing.T, w *streamReader[sensoctov1.WatchResponse], id string, never float64) {
	t.Helper()
	for {
		res := w.next(t)
		if res == nil {
			t.Fatalf("Watch ended: %v", w.err())
		}
		if slices.Contains(numbers(res, id), never) {
			t.Fatalf("value %v of %s was delivered after access ended", never, id)
		}
		if removed(res, id) {
			return
		}
	}
}

// TestRoomSensorAccess: a sensor placed in a room by its owner is visible to the
// members for Watch, GetHistory and the CSV export, whatever its visibility, while it
// is in the room, and not a moment longer: removing the sensor or the member ends
// open Watch streams of it before the call returns. A removed member's sensors leave
// the room. Another user's public sensor is placed only by the room's choice and stays
// visible only while public. A member's attention on a room sensor drives its
// back-pressure.
func TestRoomSensorAccess(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil)
			ctx := t.Context()
			a, b, c := newRoomer(t, srv.url), newRoomer(t, srv.url), newRoomer(t, srv.url)
			r := a.create(t, "Access", false)
			b.join(t, r.GetJoinCode())
			s1 := newSensorID("room-s1")
			a.registerPrivate(t, s1)
			a.publish(t, s1, 1)
			_, err := b.sensors.GetSensor(ctx, &sensoctov1.GetSensorRequest{SensorId: s1})
			wantCode(t, "GetSensor of a private sensor not in the room", err, connect.CodeNotFound, "")

			// In the room: Watch, GetHistory, the export; attention moves back-pressure.
			cf := watchConfigs(t, a.sensors, s1)
			cf.await(t, "no attention yet", sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE)
			a.addSensor(t, r.GetRoomId(), s1)
			w := watchOf(t, b.party, "b-tab-zero", s1)
			cf.await(t, "a member's focus", sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH)
			a.publish(t, s1, 2)
			awaitValue(t, w, s1, 2)
			if h, err := b.sensors.GetHistory(ctx, &sensoctov1.GetHistoryRequest{SensorId: s1, AttributeId: "hr"}); err != nil || h.GetTotalCount() == 0 {
				t.Fatalf("GetHistory by a member: %v %v", h, err)
			}
			if code, _ := exportCSV(t, srv.url, b.token, s1, "hr"); code != http.StatusOK {
				t.Fatalf("export by a member: %d", code)
			}
			// Sharing it on is refused: it is not the member's.
			other := newRoomer(t, srv.url)
			elsewhere := b.create(t, "Elsewhere", false)
			other.join(t, elsewhere.GetJoinCode())
			_, err = b.rooms.AddRoomSensor(ctx, &sensoctov1.AddRoomSensorRequest{RoomId: elsewhere.GetRoomId(), SensorId: s1})
			wantCode(t, "a member shares another's private sensor on", err, connect.CodePermissionDenied, "")

			// Taken out of the room: delivery ends before the call returns.
			if _, err := a.rooms.RemoveRoomSensor(ctx, &sensoctov1.RemoveRoomSensorRequest{RoomId: r.GetRoomId(), SensorId: s1}); err != nil {
				t.Fatalf("RemoveRoomSensor: %v", err)
			}
			a.publish(t, s1, 3)
			awaitRemoved(t, w, s1, 3)
			_, err = b.sensors.GetHistory(ctx, &sensoctov1.GetHistoryRequest{SensorId: s1, AttributeId: "hr"})
			wantCode(t, "GetHistory after removal", err, connect.CodeNotFound, "")
			if code, _ := exportCSV(t, srv.url, b.token, s1, "hr"); code != http.StatusNotFound {
				t.Fatalf("export after removal: %d, want 404", code)
			}

			// The member removed: their streams of room sensors end; their own sensors
			// leave the room, and the others stop receiving them.
			a.addSensor(t, r.GetRoomId(), s1)
			s2 := newSensorID("room-s2")
			b.registerPrivate(t, s2)
			b.addSensor(t, r.GetRoomId(), s2)
			wb := watchOf(t, b.party, "b-tab-two", s1)
			wa := watchOf(t, a.party, "a-tab-zero", s2)
			a.publish(t, s1, 4)
			b.publish(t, s2, 4)
			awaitValue(t, wb, s1, 4)
			awaitValue(t, wa, s2, 4)
			if _, err := a.rooms.RemoveMember(ctx, &sensoctov1.RemoveMemberRequest{RoomId: r.GetRoomId(), UserId: b.id}); err != nil {
				t.Fatalf("RemoveMember: %v", err)
			}
			a.publish(t, s1, 5)
			b.publish(t, s2, 5)
			awaitRemoved(t, wb, s1, 5)
			awaitRemoved(t, wa, s2, 5)
			got, err := a.rooms.GetRoom(ctx, &sensoctov1.GetRoomRequest{RoomId: r.GetRoomId()})
			if err != nil || !slices.Equal(got.GetRoom().GetSensorIds(), []string{s1}) {
				t.Fatalf("room sensors after the member left: %v %v", got, err)
			}

			// Another user's public sensor: only where the room allows members to add
			// one; visible through the room only while public.
			c.join(t, r.GetJoinCode())
			s3 := newSensorID("room-s3")
			a.registerPublic(t, s3)
			_, err = c.rooms.AddRoomSensor(ctx, &sensoctov1.AddRoomSensorRequest{RoomId: r.GetRoomId(), SensorId: s3})
			wantCode(t, "a member adds another's public sensor", err, connect.CodePermissionDenied, "")
			allow := true
			if _, err := a.rooms.UpdateRoom(ctx, &sensoctov1.UpdateRoomRequest{RoomId: r.GetRoomId(), MembersAddPublicSensors: &allow}); err != nil {
				t.Fatalf("allow public sensors: %v", err)
			}
			c.addSensor(t, r.GetRoomId(), s3)
			d := newRoomer(t, srv.url)
			d.join(t, r.GetJoinCode())
			wd := watchOf(t, d.party, "d-tab-zero", s3)
			a.publish(t, s3, 6)
			awaitValue(t, wd, s3, 6)
			loseAccess(t, "UpdateSensor", a.party, s3)
			a.publish(t, s3, 7)
			awaitRemoved(t, wd, s3, 7)
		})
	}
}

// roomEvent reads w until an event satisfies ok.
func roomEvent(t *testing.T, w *streamReader[sensoctov1.WatchRoomResponse], what string, ok func(*sensoctov1.WatchRoomResponse) bool) *sensoctov1.WatchRoomResponse {
	t.Helper()
	for {
		ev := w.next(t)
		if ev == nil {
			t.Fatalf("WatchRoom ended waiting for %s: %v", what, w.err())
		}
		if ok(ev) {
			return ev
		}
	}
}

func memberIn(ev *sensoctov1.WatchRoomResponse, userID string) *sensoctov1.Member {
	for _, m := range ev.GetMembers() {
		if m.GetUserId() == userID {
			return m
		}
	}
	return nil
}

// presenceOf waits for a PRESENCE (or MEMBERS) event showing user with views (nil: not
// present).
func awaitPresence(t *testing.T, w *streamReader[sensoctov1.WatchRoomResponse], user string, views []string) *sensoctov1.WatchRoomResponse {
	t.Helper()
	return roomEvent(t, w, "presence "+strings.Join(views, ","), func(ev *sensoctov1.WatchRoomResponse) bool {
		m := memberIn(ev, user)
		return m != nil && m.GetPresent() == (views != nil) && slices.Equal(m.GetViews(), views)
	})
}

// TestWatchRoom: the first message is the full state; then changes only: members
// joining, presence per tab and view (several tabs count once), sensors, settings;
// the stream ends with PermissionDenied for a removed member and NotFound when the
// room is deleted; a tab whose heartbeat lapses is no longer present.
func TestWatchRoom(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil, app.WithRoomPresenceLapse(5*time.Second))
			ctx := t.Context()
			a, b := newRoomer(t, srv.url), newRoomer(t, srv.url)
			r := a.create(t, "Watched", false)
			wa := a.watchRoom(t, r.GetRoomId(), "a-tab-one", "sensors")
			snap := wa.next(t)
			if snap.GetKind() != sensoctov1.RoomEventKind_ROOM_EVENT_KIND_SNAPSHOT || snap.GetTabId() != "a-tab-one" ||
				snap.GetRoom().GetPresentCount() != 1 || len(snap.GetMembers()) != 1 || !slices.Equal(snap.GetMembers()[0].GetViews(), []string{"sensors"}) {
				t.Fatalf("snapshot: %v", snap)
			}
			// Keep a's own tab present past the lapse.
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(time.Second):
						_, _ = a.rooms.ReportRoomPresence(context.WithoutCancel(ctx), &sensoctov1.ReportRoomPresenceRequest{RoomId: r.GetRoomId(), TabId: "a-tab-one", View: "sensors"})
					}
				}
			}()

			b.join(t, r.GetJoinCode())
			roomEvent(t, wa, "b joined", func(ev *sensoctov1.WatchRoomResponse) bool {
				return ev.GetKind() == sensoctov1.RoomEventKind_ROOM_EVENT_KIND_MEMBERS && memberIn(ev, b.id) != nil && ev.GetRoom().GetMemberCount() == 2
			})
			// Two tabs of b: present once, in both views.
			wb1 := b.watchRoom(t, r.GetRoomId(), "b-tab-one", "lens:ecg")
			wb1.next(t)
			awaitPresence(t, wa, b.id, []string{"lens:ecg"})
			wb2 := b.watchRoom(t, r.GetRoomId(), "b-tab-two", "sensors")
			wb2.next(t)
			ev := awaitPresence(t, wa, b.id, []string{"lens:ecg", "sensors"})
			if ev.GetRoom().GetPresentCount() != 2 {
				t.Fatalf("present_count with b in two tabs: %d, want 2", ev.GetRoom().GetPresentCount())
			}
			hb, err := b.rooms.ReportRoomPresence(ctx, &sensoctov1.ReportRoomPresenceRequest{RoomId: r.GetRoomId(), TabId: "b-tab-two", View: "lens:hrv"})
			if err != nil || hb.GetLapseMs() != 5000 {
				t.Fatalf("ReportRoomPresence: %v %v", hb, err)
			}
			roomEvent(t, wa, "b's view changed", func(ev *sensoctov1.WatchRoomResponse) bool {
				m := memberIn(ev, b.id)
				return m != nil && slices.Contains(m.GetViews(), "lens:hrv") && !slices.Contains(m.GetViews(), "sensors")
			})
			_, err = b.rooms.ReportRoomPresence(ctx, &sensoctov1.ReportRoomPresenceRequest{RoomId: r.GetRoomId(), TabId: "no-such-tab"})
			wantCode(t, "ReportRoomPresence of a tab without WatchRoom", err, connect.CodeFailedPrecondition, "")
			// Without heartbeats b's tabs lapse.
			awaitPresence(t, wa, b.id, nil)

			// Sensors and settings.
			s := newSensorID("watched")
			a.registerPrivate(t, s)
			a.addSensor(t, r.GetRoomId(), s)
			ev = roomEvent(t, wa, "sensor added", func(ev *sensoctov1.WatchRoomResponse) bool {
				return ev.GetKind() == sensoctov1.RoomEventKind_ROOM_EVENT_KIND_SENSORS && len(ev.GetSensors()) == 1
			})
			if ev.GetSensors()[0].GetSensorId() != s || !slices.Equal(ev.GetRoom().GetSensorIds(), []string{s}) {
				t.Fatalf("SENSORS event: %v", ev)
			}
			if _, err := a.rooms.RemoveRoomSensor(ctx, &sensoctov1.RemoveRoomSensorRequest{RoomId: r.GetRoomId(), SensorId: s}); err != nil {
				t.Fatal(err)
			}
			roomEvent(t, wa, "sensor removed", func(ev *sensoctov1.WatchRoomResponse) bool {
				return ev.GetKind() == sensoctov1.RoomEventKind_ROOM_EVENT_KIND_SENSORS && slices.Equal(ev.GetRemovedSensorIds(), []string{s})
			})
			name := "Renamed"
			if _, err := a.rooms.UpdateRoom(ctx, &sensoctov1.UpdateRoomRequest{RoomId: r.GetRoomId(), Name: &name}); err != nil {
				t.Fatal(err)
			}
			roomEvent(t, wa, "renamed", func(ev *sensoctov1.WatchRoomResponse) bool {
				return ev.GetKind() == sensoctov1.RoomEventKind_ROOM_EVENT_KIND_UPDATED && ev.GetRoom().GetName() == name
			})

			// b removed: b's streams close with PermissionDenied; a sees b go.
			if _, err := a.rooms.RemoveMember(ctx, &sensoctov1.RemoveMemberRequest{RoomId: r.GetRoomId(), UserId: b.id}); err != nil {
				t.Fatal(err)
			}
			for _, w := range []*streamReader[sensoctov1.WatchRoomResponse]{wb1, wb2} {
				roomEvent(t, w, "CLOSED", func(ev *sensoctov1.WatchRoomResponse) bool {
					return ev.GetKind() == sensoctov1.RoomEventKind_ROOM_EVENT_KIND_CLOSED
				})
				if w.next(t) != nil || connect.CodeOf(w.err()) != connect.CodePermissionDenied {
					t.Fatalf("a removed member's WatchRoom ended with %v, want permission_denied", w.err())
				}
			}
			roomEvent(t, wa, "b removed", func(ev *sensoctov1.WatchRoomResponse) bool {
				return slices.Contains(ev.GetRemovedUserIds(), b.id)
			})
			st, err := b.rooms.WatchRoom(ctx, &sensoctov1.WatchRoomRequest{RoomId: r.GetRoomId()})
			if err == nil {
				if st.Receive() {
					t.Fatalf("a removed member watches the room: %v", st.Msg())
				}
				err = st.Err()
				_ = st.Close()
			}
			wantCode(t, "WatchRoom by a removed member", err, connect.CodeNotFound, "")

			// Deleted: NotFound.
			if _, err := a.rooms.DeleteRoom(ctx, &sensoctov1.DeleteRoomRequest{RoomId: r.GetRoomId()}); err != nil {
				t.Fatal(err)
			}
			roomEvent(t, wa, "CLOSED", func(ev *sensoctov1.WatchRoomResponse) bool {
				return ev.GetKind() == sensoctov1.RoomEventKind_ROOM_EVENT_KIND_CLOSED
			})
			if wa.next(t) != nil || connect.CodeOf(wa.err()) != connect.CodeNotFound {
				t.Fatalf("WatchRoom of a deleted room ended with %v, want not_found", wa.err())
			}
		})
	}
}
