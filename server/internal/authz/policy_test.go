package authz_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
)

var (
	owner    = authz.Viewer{UserID: uuid.MustParse("00000000-0000-0000-0000-000000000001"), Scope: authz.ScopeFull}
	admin    = authz.Viewer{UserID: uuid.MustParse("00000000-0000-0000-0000-000000000002"), Scope: authz.ScopeFull}
	member   = authz.Viewer{UserID: uuid.MustParse("00000000-0000-0000-0000-000000000003"), Scope: authz.ScopeFull}
	member2  = authz.Viewer{UserID: uuid.MustParse("00000000-0000-0000-0000-000000000005"), Scope: authz.ScopeFull}
	stranger = authz.Viewer{UserID: uuid.MustParse("00000000-0000-0000-0000-000000000004"), Scope: authz.ScopeFull, IsGuest: true}
)

// kind returns the error kind, or "ok".
func kind(err error) string {
	if err == nil {
		return "ok"
	}
	return apperr.KindOf(err).String()
}

func TestCheckSensor(t *testing.T) {
	t.Parallel()
	private := authz.SensorFacts{OwnerID: owner.UserID, Visibility: authz.VisibilityPrivate}
	public := authz.SensorFacts{OwnerID: owner.UserID, Visibility: authz.VisibilityPublic}
	inRoom := authz.SensorFacts{OwnerID: owner.UserID, Visibility: authz.VisibilityPrivate, InViewersRoom: true}
	cases := []struct {
		name   string
		v      authz.Viewer
		s      authz.SensorFacts
		action authz.SensorAction
		want   string
	}{
		{"owner views private", owner, private, authz.SensorView, "ok"},
		{"owner publishes", owner, private, authz.SensorPublish, "ok"},
		{"owner manages", owner, private, authz.SensorManage, "ok"},
		{"stranger views private", stranger, private, authz.SensorView, "not_found"},
		{"stranger manages private", stranger, private, authz.SensorManage, "not_found"},
		{"stranger publishes private", stranger, private, authz.SensorPublish, "not_found"},
		{"stranger views public", stranger, public, authz.SensorView, "ok"},
		{"stranger manages public", stranger, public, authz.SensorManage, "permission_denied"},
		{"stranger publishes public", stranger, public, authz.SensorPublish, "permission_denied"},
		{"room member views private in room", member, inRoom, authz.SensorView, "ok"},
		{"room member manages private in room", member, inRoom, authz.SensorManage, "permission_denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := kind(authz.CheckSensor(c.v, c.s, c.action)); got != c.want {
				t.Errorf("CheckSensor = %s, want %s", got, c.want)
			}
		})
	}
}

func TestCheckSensorID(t *testing.T) {
	t.Parallel()
	s := authz.SensorFacts{OwnerID: owner.UserID, Visibility: authz.VisibilityPrivate}
	if got := kind(authz.CheckSensorID(stranger, false, authz.SensorFacts{})); got != "ok" {
		t.Errorf("new id: %s", got)
	}
	if got := kind(authz.CheckSensorID(owner, true, s)); got != "ok" {
		t.Errorf("own id: %s", got)
	}
	if got := kind(authz.CheckSensorID(stranger, true, s)); got != "permission_denied" {
		t.Errorf("taken id: %s", got)
	}
}

func roomAs(v authz.Viewer, public bool) authz.RoomFacts {
	r := authz.RoomFacts{OwnerID: owner.UserID, IsPublic: public}
	switch v.UserID {
	case owner.UserID:
		r.ViewerRole = authz.RoleOwner
	case admin.UserID:
		r.ViewerRole = authz.RoleAdmin
	case member.UserID, member2.UserID:
		r.ViewerRole = authz.RoleMember
	}
	return r
}

func TestCheckRoom(t *testing.T) {
	t.Parallel()
	actions := []struct {
		name string
		a    authz.RoomAction
	}{
		{"view", authz.RoomView}, {"join", authz.RoomJoin}, {"participate", authz.RoomParticipate},
		{"leave", authz.RoomLeave}, {"update", authz.RoomUpdate}, {"see code", authz.RoomSeeJoinCode},
		{"regenerate", authz.RoomRegenerateCode}, {"remove any sensor", authz.RoomRemoveAnySensor},
		{"delete", authz.RoomDelete},
	}
	// want[viewer][action] for a private and a public room; ok, nf = not_found, pd =
	// permission_denied.
	viewers := []struct {
		name    string
		v       authz.Viewer
		private []string
		public  []string
	}{
		{"owner", owner,
			[]string{"ok", "ok", "ok", "pd", "ok", "ok", "ok", "ok", "ok"},
			[]string{"ok", "ok", "ok", "pd", "ok", "ok", "ok", "ok", "ok"}},
		{"admin", admin,
			[]string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "pd"},
			[]string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "pd"}},
		{"member", member,
			[]string{"ok", "ok", "ok", "ok", "pd", "pd", "pd", "pd", "pd"},
			[]string{"ok", "ok", "ok", "ok", "pd", "pd", "pd", "pd", "pd"}},
		{"stranger", stranger,
			[]string{"nf", "nf", "nf", "nf", "nf", "nf", "nf", "nf", "nf"},
			[]string{"ok", "ok", "pd", "pd", "pd", "pd", "pd", "pd", "pd"}},
	}
	short := map[string]string{"ok": "ok", "not_found": "nf", "permission_denied": "pd"}
	for _, vc := range viewers {
		for i, ac := range actions {
			for _, public := range []bool{false, true} {
				want := vc.private[i]
				if public {
					want = vc.public[i]
				}
				got := short[kind(authz.CheckRoom(vc.v, roomAs(vc.v, public), ac.a))]
				if got != want {
					t.Errorf("%s %s (public=%v) = %s, want %s", vc.name, ac.name, public, got, want)
				}
			}
		}
	}
}

func TestCheckMember(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		v          authz.Viewer
		target     authz.Viewer
		targetRole authz.RoomRole
		a          authz.MemberAction
		want       string
	}{
		{"owner kicks member", owner, member, authz.RoleMember, authz.MemberKick, "ok"},
		{"owner kicks admin", owner, admin, authz.RoleAdmin, authz.MemberKick, "ok"},
		{"owner kicks self", owner, owner, authz.RoleOwner, authz.MemberKick, "permission_denied"},
		{"admin kicks member", admin, member, authz.RoleMember, authz.MemberKick, "ok"},
		{"admin kicks admin", admin, admin, authz.RoleAdmin, authz.MemberKick, "permission_denied"},
		{"admin kicks owner", admin, owner, authz.RoleMember, authz.MemberKick, "permission_denied"},
		{"member kicks member", member, member2, authz.RoleMember, authz.MemberKick, "permission_denied"},
		{"owner promotes member", owner, member, authz.RoleMember, authz.MemberPromote, "ok"},
		{"owner promotes admin", owner, admin, authz.RoleAdmin, authz.MemberPromote, "permission_denied"},
		{"admin promotes member", admin, member, authz.RoleMember, authz.MemberPromote, "permission_denied"},
		{"owner demotes admin", owner, admin, authz.RoleAdmin, authz.MemberDemote, "ok"},
		{"owner demotes member", owner, member, authz.RoleMember, authz.MemberDemote, "permission_denied"},
		{"owner transfers to member", owner, member, authz.RoleMember, authz.MemberTransfer, "ok"},
		{"owner transfers to admin", owner, admin, authz.RoleAdmin, authz.MemberTransfer, "ok"},
		{"owner transfers to self", owner, owner, authz.RoleOwner, authz.MemberTransfer, "permission_denied"},
		{"admin transfers", admin, member, authz.RoleMember, authz.MemberTransfer, "permission_denied"},
		{"owner transfers to non-member", owner, stranger, authz.RoleNone, authz.MemberTransfer, "not_found"},
		{"owner kicks non-member", owner, stranger, authz.RoleNone, authz.MemberKick, "not_found"},
		{"stranger kicks member", stranger, member, authz.RoleMember, authz.MemberKick, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := kind(authz.CheckMember(c.v, roomAs(c.v, false), c.target.UserID, c.targetRole, c.a))
			if got != c.want {
				t.Errorf("CheckMember = %s, want %s", got, c.want)
			}
		})
	}
}

func TestRoomSensors(t *testing.T) {
	t.Parallel()
	own := authz.SensorFacts{OwnerID: member.UserID, Visibility: authz.VisibilityPrivate}
	others := authz.SensorFacts{OwnerID: owner.UserID, Visibility: authz.VisibilityPublic}
	othersPrivate := authz.SensorFacts{OwnerID: owner.UserID, Visibility: authz.VisibilityPrivate, InViewersRoom: true}
	allowing := func(v authz.Viewer) authz.RoomFacts { r := roomAs(v, false); r.MembersAddPublic = true; return r }
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"member adds own", authz.CheckAddRoomSensor(member, roomAs(member, false), own), "ok"},
		{"member adds another's public", authz.CheckAddRoomSensor(member, roomAs(member, false), others), "permission_denied"},
		{"member adds another's public where allowed", authz.CheckAddRoomSensor(member, allowing(member), others), "ok"},
		{"admin adds another's public", authz.CheckAddRoomSensor(admin, roomAs(admin, false), others), "ok"},
		{"admin adds another's private seen through a room", authz.CheckAddRoomSensor(admin, allowing(admin), othersPrivate), "permission_denied"},
		{"member adds another's private seen through a room", authz.CheckAddRoomSensor(member, allowing(member), othersPrivate), "permission_denied"},
		{"stranger adds to private room", authz.CheckAddRoomSensor(stranger, roomAs(stranger, false), own), "not_found"},
		{"stranger adds to public room", authz.CheckAddRoomSensor(stranger, roomAs(stranger, true), own), "permission_denied"},
		{"member removes own", authz.CheckRemoveRoomSensor(member, roomAs(member, false), member.UserID), "ok"},
		{"member removes another's", authz.CheckRemoveRoomSensor(member, roomAs(member, false), owner.UserID), "permission_denied"},
		{"admin removes another's", authz.CheckRemoveRoomSensor(admin, roomAs(admin, false), member.UserID), "ok"},
		{"stranger removes", authz.CheckRemoveRoomSensor(stranger, roomAs(stranger, false), stranger.UserID), "not_found"},
	}
	for _, c := range cases {
		if got := kind(c.err); got != c.want {
			t.Errorf("%s = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestCheckSelf(t *testing.T) {
	t.Parallel()
	if err := authz.CheckSelf(owner, owner.UserID); err != nil {
		t.Errorf("self: %v", err)
	}
	if got := kind(authz.CheckSelf(stranger, owner.UserID)); got != "not_found" {
		t.Errorf("other: %s", got)
	}
}
