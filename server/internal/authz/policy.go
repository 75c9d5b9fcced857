package authz

import (
	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// The authorization rules, in one place, as pure functions over the Viewer and facts
// about a resource that the calling domain loads. Each returns nil when allowed, a
// NotFound error when the viewer may not even know the resource exists, and a
// PermissionDenied error when it may see the resource but not do this to it. Services
// call them after loading the facts, e.g.
//
//	facts := authz.SensorFacts{OwnerID: s.OwnerID, Visibility: authz.Visibility(s.Visibility),
//		InViewersRoom: memberOfARoomHolding(ctx, v.UserID, s.ID)}
//	if err := authz.CheckSensor(v, facts, authz.SensorView); err != nil {
//		return err
//	}
//
// Token scopes are checked per procedure before any handler runs (auth.ScopeAllows).

// Visibility of a sensor.
type Visibility string

// The sensor visibilities.
const (
	// VisibilityPrivate: only the owner, and members of rooms holding the sensor.
	VisibilityPrivate Visibility = "private"
	// VisibilityPublic: every signed-in user may see and watch it (the lobby).
	VisibilityPublic Visibility = "public"
)

// SensorFacts is what the rules need to know about a sensor and the viewer's relation to
// it.
type SensorFacts struct {
	OwnerID    uuid.UUID
	Visibility Visibility
	// InViewersRoom says a room the viewer is a member of (any role) shares the sensor:
	// holds it, placed there by the sensor's owner (package rooms keeps this view in
	// memory). Another user's public sensor placed in a room is not shared this way: it
	// stays visible only while public.
	InViewersRoom bool
}

// SensorAction is something done to a sensor.
type SensorAction int

// The sensor actions.
const (
	// SensorView: see it in a list, get it, read its history, watch its data, report
	// attention on it.
	SensorView SensorAction = iota
	// SensorPublish: register it (again) and publish measurements for it.
	SensorPublish
	// SensorManage: update, delete, change visibility, switch recording.
	SensorManage
)

// CanSeeSensor reports whether v may see the sensor at all.
func CanSeeSensor(v Viewer, s SensorFacts) bool {
	return v.UserID == s.OwnerID || s.Visibility == VisibilityPublic || s.InViewersRoom
}

// CheckSensor applies the sensor rules: the owner does everything; others may view a
// public sensor or one in a room they belong to, and nothing more.
func CheckSensor(v Viewer, s SensorFacts, a SensorAction) error {
	if !CanSeeSensor(v, s) {
		return apperr.NotFound("sensor not found")
	}
	if a == SensorView || v.UserID == s.OwnerID {
		return nil
	}
	return apperr.PermissionDenied("only the sensor's owner may do this")
}

// CheckSensorID applies the rule for registering or publishing under a client-chosen
// sensor id: a new id (exists == false) may be claimed by anyone signed in; an existing
// sensor only by its owner. Another user's id is PermissionDenied ("taken") even when
// not visible: ids are chosen by clients and not secret, and answering NotFound would
// invite a registration that must then fail anyway.
func CheckSensorID(v Viewer, exists bool, s SensorFacts) error {
	if !exists || v.UserID == s.OwnerID {
		return nil
	}
	return apperr.PermissionDenied("sensor id is taken by another user")
}

// CheckVisibilityScope applies the token scope rule to a sensor's visibility. What a
// publish-scope token may do is what a connector needs: create a sensor (private, the
// default) and declare attributes, name and type it, and send its data. It may not
// widen who sees data: it may not make a sensor public, nor change the visibility of
// an existing one (current is the stored visibility, VisibilityPrivate for a new
// sensor; requested "" keeps it). Sending the current visibility again is allowed, so
// a connector repeating its registration on reconnect keeps working. Full-scope
// credentials (sessions, full API tokens) may set either.
func CheckVisibilityScope(v Viewer, current, requested Visibility) error {
	if v.Scope == ScopeFull || requested == "" || requested == current {
		return nil
	}
	return apperr.PermissionDenied("visibility: a %s-scope token may not change who sees a sensor (use a full-scope credential)", v.Scope)
}

// RoomRole is a member's role in a room; RoleNone for a non-member.
type RoomRole string

// The room roles.
const (
	RoleNone   RoomRole = ""
	RoleMember RoomRole = "member"
	RoleAdmin  RoomRole = "admin"
	RoleOwner  RoomRole = "owner"
)

// rank orders roles: owner > admin > member > none.
func (r RoomRole) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// IsManager reports whether the role may manage the room (owner or admin).
func (r RoomRole) IsManager() bool { return r.rank() >= RoleAdmin.rank() }

// RoomFacts is what the rules need to know about a room and the viewer's place in it.
type RoomFacts struct {
	OwnerID  uuid.UUID
	IsPublic bool
	// ViewerRole is the viewer's membership role (RoleNone when not a member). The owner
	// is treated as RoleOwner whatever is stored.
	ViewerRole RoomRole
	// MembersAddPublic lets plain members place other users' public sensors.
	MembersAddPublic bool
}

func (r RoomFacts) role(v Viewer) RoomRole {
	if v.UserID == r.OwnerID {
		return RoleOwner
	}
	return r.ViewerRole
}

// RoomAction is something done to a room.
type RoomAction int

// The room actions.
const (
	// RoomView: get it, list members and sensors, watch it and its shared state.
	RoomView RoomAction = iota
	// RoomJoin: join without a code (public rooms). Joining with a valid join code is
	// allowed for any room and checked by the rooms domain (code, expiry).
	RoomJoin
	// RoomParticipate: change the shared state, take control, chat (members only).
	RoomParticipate
	// RoomLeave: leave (any member but the owner).
	RoomLeave
	// RoomUpdate: rename, describe, feature flags, visibility.
	RoomUpdate
	// RoomSeeJoinCode: read the join code (managers only; never fanned out to others).
	RoomSeeJoinCode
	// RoomRegenerateCode: make a new join code.
	RoomRegenerateCode
	// RoomRemoveAnySensor: remove a sensor someone else placed.
	RoomRemoveAnySensor
	// RoomDelete: delete the room (owner only).
	RoomDelete
)

// CanSeeRoom reports whether v may see the room: public rooms and rooms v belongs to.
func CanSeeRoom(v Viewer, r RoomFacts) bool {
	return r.IsPublic || r.role(v) != RoleNone
}

// CheckRoom applies the room rules: read = public or member; participate = member;
// leave = member but not owner; update, join code and sensor moderation = owner or
// admin; delete = owner.
func CheckRoom(v Viewer, r RoomFacts, a RoomAction) error {
	if !CanSeeRoom(v, r) {
		return apperr.NotFound("room not found")
	}
	role := r.role(v)
	var ok bool
	switch a {
	case RoomView:
		ok = true
	case RoomJoin:
		ok = r.IsPublic || role != RoleNone
	case RoomParticipate:
		ok = role != RoleNone
	case RoomLeave:
		ok = role != RoleNone && role != RoleOwner
	case RoomUpdate, RoomSeeJoinCode, RoomRegenerateCode, RoomRemoveAnySensor:
		ok = role.IsManager()
	case RoomDelete:
		ok = role == RoleOwner
	}
	if !ok {
		return apperr.PermissionDenied("your role in this room does not allow this")
	}
	return nil
}

// CheckAddRoomSensor applies the rule for placing a sensor in a room: the viewer must be
// a member of the room and see the sensor. Members place sensors they own (which shares
// them with every member); another user's sensor only when it is public, by the owner
// or an admin, or by a member when the room allows it (MembersAddPublic). Another
// user's private sensor is never placed: nobody shares someone else's private data.
func CheckAddRoomSensor(v Viewer, r RoomFacts, s SensorFacts) error {
	if err := CheckRoom(v, r, RoomParticipate); err != nil {
		return err
	}
	if err := CheckSensor(v, s, SensorView); err != nil {
		return err
	}
	switch {
	case s.OwnerID == v.UserID:
		return nil
	case s.Visibility != VisibilityPublic:
		return apperr.PermissionDenied("only the sensor's owner may share a private sensor in a room")
	case r.role(v).IsManager() || r.MembersAddPublic:
		return nil
	}
	return apperr.PermissionDenied("this room lets members add only their own sensors")
}

// CheckRemoveRoomSensor allows the sensor's owner (a member) or a room manager to take
// a sensor out of a room.
func CheckRemoveRoomSensor(v Viewer, r RoomFacts, sensorOwner uuid.UUID) error {
	if err := CheckRoom(v, r, RoomView); err != nil {
		return err
	}
	if sensorOwner == v.UserID && r.role(v) != RoleNone {
		return nil
	}
	return CheckRoom(v, r, RoomRemoveAnySensor)
}

// MemberAction is something done to another member.
type MemberAction int

// The member actions.
const (
	// MemberKick removes the member.
	MemberKick MemberAction = iota
	// MemberPromote makes a member an admin.
	MemberPromote
	// MemberDemote makes an admin a member.
	MemberDemote
	// MemberTransfer makes a member (or admin) the owner; the owner becomes an admin.
	MemberTransfer
)

// CheckMember applies the membership rules: nobody acts on themselves; the owner's
// membership never changes (but the owner may hand ownership to another member); only
// the owner promotes (member → admin) and demotes (admin → member); the owner kicks
// anyone else, an admin kicks only members.
func CheckMember(v Viewer, r RoomFacts, targetID uuid.UUID, targetRole RoomRole, a MemberAction) error {
	if err := CheckRoom(v, r, RoomView); err != nil {
		return err
	}
	role := r.role(v)
	if targetID == r.OwnerID {
		targetRole = RoleOwner
	}
	if targetRole == RoleNone {
		if role.IsManager() {
			return apperr.NotFound("member not found")
		}
		return apperr.PermissionDenied("your role in this room does not allow this")
	}
	var ok bool
	switch {
	case targetID == v.UserID, targetRole == RoleOwner:
		ok = false
	case a == MemberKick:
		ok = role == RoleOwner || (role == RoleAdmin && targetRole == RoleMember)
	case a == MemberPromote:
		ok = role == RoleOwner && targetRole == RoleMember
	case a == MemberDemote:
		ok = role == RoleOwner && targetRole == RoleAdmin
	case a == MemberTransfer:
		ok = role == RoleOwner
	}
	if !ok {
		return apperr.PermissionDenied("your role in this room does not allow this")
	}
	return nil
}

// CheckSelf allows an action on a user account only to that user (profile, API tokens):
// anyone else gets NotFound.
func CheckSelf(v Viewer, userID uuid.UUID) error {
	if v.UserID != userID {
		return apperr.NotFound("not found")
	}
	return nil
}
