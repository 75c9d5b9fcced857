package auth_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/auth"
)

var (
	owner    = auth.Viewer{UserID: uuid.MustParse("00000000-0000-0000-0000-000000000001"), Scope: auth.ScopeFull}
	admin    = auth.Viewer{UserID: uuid.MustParse("00000000-0000-0000-0000-000000000002"), Scope: auth.ScopeFull}
	member   = auth.Viewer{UserID: uuid.MustParse("00000000-0000-0000-0000-000000000003"), Scope: auth.ScopeFull}
	member2  = auth.Viewer{UserID: uuid.MustParse("00000000-0000-0000-0000-000000000005"), Scope: auth.ScopeFull}
	stranger = auth.Viewer{UserID: uuid.MustParse("00000000-0000-0000-0000-000000000004"), Scope: auth.ScopeFull, IsGuest: true}
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
	private := auth.SensorFacts{OwnerID: owner.UserID, Visibility: auth.VisibilityPrivate}
	public := auth.SensorFacts{OwnerID: owner.UserID, Visibility: auth.VisibilityPublic}
	inRoom := auth.SensorFacts{OwnerID: owner.UserID, Visibility: auth.VisibilityPrivate, InViewersRoom: true}
	cases := []struct {
		name   string
		v      auth.Viewer
		s      auth.SensorFacts
		action auth.SensorAction
		want   string
	}{
		{"owner views private", owner, private, auth.SensorView, "ok"},
		{"owner publishes", owner, private, auth.SensorPublish, "ok"},
		{"owner manages", owner, private, auth.SensorManage, "ok"},
		{"stranger views private", stranger, private, auth.SensorView, "not_found"},
		{"stranger manages private", stranger, private, auth.SensorManage, "not_found"},
		{"stranger publishes private", stranger, private, auth.SensorPublish, "not_found"},
		{"stranger views public", stranger, public, auth.SensorView, "ok"},
		{"stranger manages public", stranger, public, auth.SensorManage, "permission_denied"},
		{"stranger publishes public", stranger, public, auth.SensorPublish, "permission_denied"},
		{"room member views private in room", member, inRoom, auth.SensorView, "ok"},
		{"room member manages private in room", member, inRoom, auth.SensorManage, "permission_denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := kind(auth.CheckSensor(c.v, c.s, c.action)); got != c.want {
				t.Errorf("CheckSensor = %s, want %s", got, c.want)
			}
		})
	}
}

func TestCheckSensorID(t *testing.T) {
	t.Parallel()
	s := auth.SensorFacts{OwnerID: owner.UserID, Visibility: auth.VisibilityPrivate}
	if got := kind(auth.CheckSensorID(stranger, false, auth.SensorFacts{})); got != "ok" {
		t.Errorf("new id: %s", got)
	}
	if got := kind(auth.CheckSensorID(owner, true, s)); got != "ok" {
		t.Errorf("own id: %s", got)
	}
	if got := kind(auth.CheckSensorID(stranger, true, s)); got != "permission_denied" {
		t.Errorf("taken id: %s", got)
	}
}

func roomAs(v auth.Viewer, public bool) auth.RoomFacts {
	r := auth.RoomFacts{OwnerID: owner.UserID, IsPublic: public}
	switch v.UserID {
	case owner.UserID:
		r.ViewerRole = auth.RoleOwner
	case admin.UserID:
		r.ViewerRole = auth.RoleAdmin
	case member.UserID, member2.UserID:
		r.ViewerRole = auth.RoleMember
	}
	return r
}

func TestCheckRoom(t *testing.T) {
	t.Parallel()
	actions := []struct {
		name string
		a    auth.RoomAction
	}{
		{"view", auth.RoomView}, {"join", auth.RoomJoin}, {"participate", auth.RoomParticipate},
		{"leave", auth.RoomLeave}, {"update", auth.RoomUpdate}, {"see code", auth.RoomSeeJoinCode},
		{"regenerate", auth.RoomRegenerateCode}, {"remove any sensor", auth.RoomRemoveAnySensor},
		{"delete", auth.RoomDelete},
	}
	// want[viewer][action] for a private and a public room; ok, nf = not_found, pd =
	// permission_denied.
	viewers := []struct {
		name    string
		v       auth.Viewer
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
				got := short[kind(auth.CheckRoom(vc.v, roomAs(vc.v, public), ac.a))]
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
		v          auth.Viewer
		target     auth.Viewer
		targetRole auth.RoomRole
		a          auth.MemberAction
		want       string
	}{
		{"owner kicks member", owner, member, auth.RoleMember, auth.MemberKick, "ok"},
		{"owner kicks admin", owner, admin, auth.RoleAdmin, auth.MemberKick, "ok"},
		{"owner kicks self", owner, owner, auth.RoleOwner, auth.MemberKick, "permission_denied"},
		{"admin kicks member", admin, member, auth.RoleMember, auth.MemberKick, "ok"},
		{"admin kicks admin", admin, admin, auth.RoleAdmin, auth.MemberKick, "permission_denied"},
		{"admin kicks owner", admin, owner, auth.RoleMember, auth.MemberKick, "permission_denied"},
		{"member kicks member", member, member2, auth.RoleMember, auth.MemberKick, "permission_denied"},
		{"owner promotes member", owner, member, auth.RoleMember, auth.MemberPromote, "ok"},
		{"owner promotes admin", owner, admin, auth.RoleAdmin, auth.MemberPromote, "permission_denied"},
		{"admin promotes member", admin, member, auth.RoleMember, auth.MemberPromote, "permission_denied"},
		{"owner demotes admin", owner, admin, auth.RoleAdmin, auth.MemberDemote, "ok"},
		{"owner demotes member", owner, member, auth.RoleMember, auth.MemberDemote, "permission_denied"},
		{"owner kicks non-member", owner, stranger, auth.RoleNone, auth.MemberKick, "not_found"},
		{"stranger kicks member", stranger, member, auth.RoleMember, auth.MemberKick, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := kind(auth.CheckMember(c.v, roomAs(c.v, false), c.target.UserID, c.targetRole, c.a))
			if got != c.want {
				t.Errorf("CheckMember = %s, want %s", got, c.want)
			}
		})
	}
}

func TestRoomSensors(t *testing.T) {
	t.Parallel()
	own := auth.SensorFacts{OwnerID: member.UserID, Visibility: auth.VisibilityPrivate}
	others := auth.SensorFacts{OwnerID: owner.UserID, Visibility: auth.VisibilityPublic}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"member adds own", auth.CheckAddRoomSensor(member, roomAs(member, false), own), "ok"},
		{"member adds another's public", auth.CheckAddRoomSensor(member, roomAs(member, false), others), "permission_denied"},
		{"stranger adds to private room", auth.CheckAddRoomSensor(stranger, roomAs(stranger, false), own), "not_found"},
		{"stranger adds to public room", auth.CheckAddRoomSensor(stranger, roomAs(stranger, true), own), "permission_denied"},
		{"member removes own", auth.CheckRemoveRoomSensor(member, roomAs(member, false), member.UserID), "ok"},
		{"member removes another's", auth.CheckRemoveRoomSensor(member, roomAs(member, false), owner.UserID), "permission_denied"},
		{"admin removes another's", auth.CheckRemoveRoomSensor(admin, roomAs(admin, false), member.UserID), "ok"},
		{"stranger removes", auth.CheckRemoveRoomSensor(stranger, roomAs(stranger, false), stranger.UserID), "not_found"},
	}
	for _, c := range cases {
		if got := kind(c.err); got != c.want {
			t.Errorf("%s = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestCheckSelf(t *testing.T) {
	t.Parallel()
	if err := auth.CheckSelf(owner, owner.UserID); err != nil {
		t.Errorf("self: %v", err)
	}
	if got := kind(auth.CheckSelf(stranger, owner.UserID)); got != "not_found" {
		t.Errorf("other: %s", got)
	}
}
