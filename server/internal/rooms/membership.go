package rooms

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/roommembership"
	"github.com/sensocto/sensocto/ent/roomsensor"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/database"
)

// Preview shows the room behind a join code (rate-limited; see JoinCodeLimits).
func (s *Service) Preview(ctx context.Context, v authz.Viewer, code string) (Preview, error) {
	r, err := s.byCode(ctx, "join_code", code)
	if err != nil {
		return Preview{}, err
	}
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	p := Preview{
		RoomID: r.id, Name: r.name, Description: r.description, MemberCount: len(r.members),
		AlreadyMember: roleOf(r, v.UserID) != authz.RoleNone,
	}
	if o := r.members[r.owner]; o != nil {
		p.OwnerName = o.name
	}
	return p, nil
}

// Join makes v a member: by join code (any room; rate-limited), or by id (public rooms).
// Joining again returns the room unchanged.
func (s *Service) Join(ctx context.Context, v authz.Viewer, code string, id uuid.UUID) (Room, error) {
	var r *roomState
	var err error
	switch {
	case code != "":
		r, err = s.byCode(ctx, "join_code", code)
	case id != uuid.Nil:
		r, err = s.room(ctx, v, id, authz.RoomJoin)
	default:
		err = apperr.InvalidArgument("join_code", "give a join code or a room_id")
	}
	if err != nil {
		return Room{}, err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	s.idx.mu.RLock()
	deleted, role, count := r.deleted, roleOf(r, v.UserID), len(r.members)
	s.idx.mu.RUnlock()
	switch {
	case deleted:
		return Room{}, apperr.NotFound("room not found")
	case role != authz.RoleNone:
		return s.view(r, v), nil
	case count >= MaxMembers:
		return Room{}, apperr.ResourceExhausted(0, "this room has %d members, the most allowed", MaxMembers)
	}
	now := s.now().UTC()
	_, err = s.db.RoomMembership.Create().SetRoomID(r.id).SetUserID(v.UserID).
		SetRole(roommembership.RoleMember).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
	if ent.IsConstraintError(err) { // joined meanwhile on another node, or the room is gone
		if exists, _ := s.db.RoomMembership.Query().Where(roommembership.RoomID(r.id), roommembership.UserID(v.UserID)).Exist(ctx); !exists {
			return Room{}, apperr.NotFound("room not found")
		}
	} else if err != nil {
		return Room{}, fmt.Errorf("join room: %w", err)
	}
	s.idx.mu.Lock()
	s.idx.addMemberLocked(r, v.UserID, &member{role: authz.RoleMember, name: v.DisplayName, guest: v.IsGuest, joinedAt: now})
	s.idx.mu.Unlock()
	s.conf.forget(r.id)
	s.changed(r, func(c *changes) { c.member(v.UserID, true) })
	return s.view(r, v), nil
}

// Leave ends v's membership (any member but the owner), taking the sensors v owns out
// of the room.
func (s *Service) Leave(ctx context.Context, v authz.Viewer, id uuid.UUID) error {
	r, err := s.lockRoom(ctx, v, id, authz.RoomLeave)
	if err != nil {
		return err
	}
	defer r.wmu.Unlock()
	return s.removeMember(ctx, r, v.UserID)
}

// RemoveMember removes a member (owner: anyone but the owner; admin: plain members),
// taking the sensors they own out of the room. Their WatchRoom ends with
// PermissionDenied and their Watch streams of the room's sensors end, at once.
func (s *Service) RemoveMember(ctx context.Context, v authz.Viewer, id, userID uuid.UUID) error {
	r, err := s.lockRoom(ctx, v, id, authz.RoomView)
	if err != nil {
		return err
	}
	defer r.wmu.Unlock()
	s.idx.mu.RLock()
	err = authz.CheckMember(v, factsLocked(r, v.UserID), userID, roleOf(r, userID), authz.MemberKick)
	s.idx.mu.RUnlock()
	if err != nil {
		return err
	}
	return s.removeMember(ctx, r, userID)
}

// removeMember deletes the membership and the member's sensors' placements in one
// transaction, then updates the index, the watchers and open streams. The caller holds
// r.wmu.
func (s *Service) removeMember(ctx context.Context, r *roomState, userID uuid.UUID) error {
	s.idx.mu.RLock()
	var theirs []string
	for id, p := range r.sensors {
		if p.owner == userID {
			theirs = append(theirs, id)
		}
	}
	all := sensorIDsLocked(r)
	s.idx.mu.RUnlock()
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		if _, err := tx.RoomMembership.Delete().Where(roommembership.RoomID(r.id), roommembership.UserID(userID)).Exec(ctx); err != nil {
			return fmt.Errorf("delete membership: %w", err)
		}
		if len(theirs) > 0 {
			if _, err := tx.RoomSensor.Delete().Where(roomsensor.RoomID(r.id), roomsensor.SensorIDIn(theirs...)).Exec(ctx); err != nil {
				return fmt.Errorf("remove the member's sensors: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	s.dropMember(context.WithoutCancel(ctx), r, userID, theirs, all)
	return nil
}

// dropMember applies a removed membership to the index, the watchers and open streams.
func (s *Service) dropMember(ctx context.Context, r *roomState, userID uuid.UUID, theirs, all []string) {
	s.idx.mu.Lock()
	s.idx.removeMemberLocked(r, userID)
	for _, id := range theirs {
		s.idx.removeSensorLocked(r, id)
	}
	s.idx.mu.Unlock()
	s.changed(r, func(c *changes) {
		c.member(userID, false)
		for _, id := range theirs {
			c.sensor(id, false)
		}
	})
	// The member may see no sensor through this room now; the others lose the
	// member's own sensors.
	s.sensors.AccessChanged(ctx, all...)
	s.memberGone(ctx, r.id, userID)
}

// RegenerateCode gives the room a new join code (owner or admin); the old one stops
// working at once. expiresIn 0: never expires; else MinCodeExpiry to MaxCodeExpiry.
func (s *Service) RegenerateCode(ctx context.Context, v authz.Viewer, id uuid.UUID, expiresIn time.Duration) (Room, error) {
	if expiresIn != 0 && (expiresIn < MinCodeExpiry || expiresIn > MaxCodeExpiry) {
		return Room{}, apperr.InvalidArgument("expires_in_seconds", fmt.Sprintf("must be 0 (never) or from %d to %d", int(MinCodeExpiry.Seconds()), int(MaxCodeExpiry.Seconds())))
	}
	r, err := s.lockRoom(ctx, v, id, authz.RoomRegenerateCode)
	if err != nil {
		return Room{}, err
	}
	defer r.wmu.Unlock()
	now := s.now().UTC()
	var expires time.Time
	if expiresIn > 0 {
		expires = now.Add(expiresIn)
	}
	var newCode string
	err = s.withUniqueCode(ctx, func(code string) error {
		up := s.db.Room.UpdateOneID(id).SetJoinCode(code).SetUpdatedAt(now)
		if expires.IsZero() {
			up.ClearJoinCodeExpiresAt()
		} else {
			up.SetJoinCodeExpiresAt(expires)
		}
		newCode = code
		return up.Exec(ctx)
	})
	if ent.IsNotFound(err) {
		return Room{}, apperr.NotFound("room not found")
	}
	if err != nil {
		return Room{}, fmt.Errorf("regenerate join code: %w", err)
	}
	s.idx.mu.Lock()
	s.idx.setCodeLocked(r, newCode, expires)
	r.updatedAt = now
	s.idx.mu.Unlock()
	s.changed(r, func(c *changes) { c.updated = true })
	return s.view(r, v), nil
}

// Members lists a room's members with their presence (members of the room, and anyone
// for a public room): owner, admins, members, each by name.
func (s *Service) Members(ctx context.Context, v authz.Viewer, id uuid.UUID) ([]Member, error) {
	r, err := s.room(ctx, v, id, authz.RoomView)
	if err != nil {
		return nil, err
	}
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	users := make([]uuid.UUID, 0, len(r.members))
	for u := range r.members {
		users = append(users, u)
	}
	return s.membersLocked(r, users), nil
}

// membersLocked returns the members among users, sorted, with presence. Callers hold
// s.idx.mu.
func (s *Service) membersLocked(r *roomState, users []uuid.UUID) []Member {
	out := make([]Member, 0, len(users))
	r.pmu.Lock()
	now := s.now()
	for _, u := range users {
		m := r.members[u]
		if m == nil {
			continue
		}
		mem := Member{UserID: u, DisplayName: m.name, Role: roleOf(r, u), JoinedAt: m.joinedAt, Guest: m.guest}
		mem.Present, mem.Views = presenceOfUser(r, u, now)
		out = append(out, mem)
	}
	r.pmu.Unlock()
	slices.SortFunc(out, compareMembers)
	return out
}

// SetRole promotes a member to admin, demotes an admin to member (owner), or transfers
// ownership to a member (role RoleOwner: the owner becomes an admin).
func (s *Service) SetRole(ctx context.Context, v authz.Viewer, id, userID uuid.UUID, role authz.RoomRole) (Member, error) {
	r, err := s.lockRoom(ctx, v, id, authz.RoomView)
	if err != nil {
		return Member{}, err
	}
	defer r.wmu.Unlock()
	s.idx.mu.RLock()
	facts, current := factsLocked(r, v.UserID), roleOf(r, userID)
	s.idx.mu.RUnlock()
	var action authz.MemberAction
	checkAs := current // setting the role a member has already is allowed to whoever may change it
	switch role {
	case authz.RoleOwner:
		action = authz.MemberTransfer
	case authz.RoleAdmin:
		action = authz.MemberPromote
		if current == authz.RoleAdmin {
			checkAs = authz.RoleMember
		}
	case authz.RoleMember:
		action = authz.MemberDemote
		if current == authz.RoleMember {
			checkAs = authz.RoleAdmin
		}
	default:
		return Member{}, apperr.InvalidArgument("role", "must be ADMIN, MEMBER or OWNER")
	}
	if err := authz.CheckMember(v, facts, userID, checkAs, action); err != nil {
		return Member{}, err
	}
	now := s.now().UTC()
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		if action == authz.MemberTransfer {
			if err := tx.Room.UpdateOneID(r.id).SetOwnerID(userID).SetUpdatedAt(now).Exec(ctx); err != nil {
				return fmt.Errorf("set owner: %w", err)
			}
			if _, err := tx.RoomMembership.Update().Where(roommembership.RoomID(r.id), roommembership.UserID(v.UserID)).
				SetRole(roommembership.RoleAdmin).SetUpdatedAt(now).Save(ctx); err != nil {
				return fmt.Errorf("make the old owner an admin: %w", err)
			}
		}
		n, err := tx.RoomMembership.Update().Where(roommembership.RoomID(r.id), roommembership.UserID(userID)).
			SetRole(roommembership.Role(role)).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		if n == 0 {
			return apperr.NotFound("member not found")
		}
		return nil
	})
	if err != nil {
		return Member{}, fmt.Errorf("change role: %w", err)
	}
	s.idx.mu.Lock()
	if m := r.members[userID]; m != nil {
		m.role = role
	}
	if action == authz.MemberTransfer {
		r.owner, r.updatedAt = userID, now
		if m := r.members[v.UserID]; m != nil {
			m.role = authz.RoleAdmin
		}
	}
	out := s.membersLocked(r, []uuid.UUID{userID})
	s.idx.mu.Unlock()
	s.changed(r, func(c *changes) {
		c.member(userID, true)
		if action == authz.MemberTransfer {
			c.member(v.UserID, true)
			c.updated = true
		}
	})
	if len(out) == 0 {
		return Member{}, apperr.NotFound("member not found")
	}
	return out[0], nil
}
