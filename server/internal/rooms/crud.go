package rooms

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/predicate"
	"github.com/sensocto/sensocto/ent/room"
	"github.com/sensocto/sensocto/ent/roommembership"
	"github.com/sensocto/sensocto/ent/schematype"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/database"
)

// CreateInput describes a new room.
type CreateInput struct {
	Name        string
	Description string
	Public      bool
	// Features nil: calls and media playback on.
	Features         *Features
	MembersAddPublic bool
}

// UpdateInput changes a room; nil fields stay.
type UpdateInput struct {
	Name             *string
	Description      *string
	Public           *bool
	Features         *Features
	MembersAddPublic *bool
}

// viewLocked returns r as v sees it. Callers hold s.idx.mu.
func (s *Service) viewLocked(r *roomState, v authz.Viewer) Room {
	out := Room{
		ID: r.id, Name: r.name, Description: r.description, OwnerID: r.owner, Public: r.public,
		Features: r.features, MembersAddPublic: r.membersAddPublic, MyRole: roleOf(r, v.UserID),
		MemberCount: len(r.members), SensorIDs: sensorIDsLocked(r), CreatedAt: r.createdAt, UpdatedAt: r.updatedAt,
	}
	if authz.CheckRoom(v, factsLocked(r, v.UserID), authz.RoomSeeJoinCode) == nil {
		out.JoinCode, out.JoinCodeExpiresAt = r.code, r.codeExpires
	}
	out.PresentCount = s.presentCount(r)
	return out
}

// view returns r as v sees it.
func (s *Service) view(r *roomState, v authz.Viewer) Room {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	return s.viewLocked(r, v)
}

// room returns the room with id after applying the policy for a: NotFound for a room
// that does not exist or that v may not see. A refusal is confirmed against the
// database first (confirm.go): the room or v's membership may be a write of another
// node the bus has not brought yet. The caller does not hold the room's wmu.
func (s *Service) room(ctx context.Context, v authz.Viewer, id uuid.UUID, a authz.RoomAction) (*roomState, error) {
	r, err := s.roomCached(v, id, a)
	if err == nil || !IsClosed(err) || s.inIndex(id, v.UserID) || !s.confirm(ctx, id, v.UserID) {
		return r, err
	}
	return s.roomCached(v, id, a)
}

// roomCached is room from the index alone.
func (s *Service) roomCached(v authz.Viewer, id uuid.UUID, a authz.RoomAction) (*roomState, error) {
	r := s.idx.get(id)
	if r == nil {
		return nil, apperr.NotFound("room not found")
	}
	s.idx.mu.RLock()
	err := authz.CheckRoom(v, factsLocked(r, v.UserID), a)
	s.idx.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return r, nil
}

// lockRoom takes r's write lock after the policy allows a, and checks again under it
// (the facts may have changed meanwhile). The caller unlocks r.wmu.
func (s *Service) lockRoom(ctx context.Context, v authz.Viewer, id uuid.UUID, a authz.RoomAction) (*roomState, error) {
	r, err := s.room(ctx, v, id, a)
	if err != nil {
		return nil, err
	}
	r.wmu.Lock()
	if _, err := s.roomCached(v, id, a); err != nil {
		r.wmu.Unlock()
		return nil, err
	}
	return r, nil
}

// Create creates a room owned by v, with a join code, and makes v its owner member.
func (s *Service) Create(ctx context.Context, v authz.Viewer, in CreateInput) (Room, error) {
	if err := checkName("name", in.Name); err != nil {
		return Room{}, err
	}
	if err := checkDescription(in.Description); err != nil {
		return Room{}, err
	}
	owned, err := s.db.Room.Query().Where(room.OwnerID(v.UserID)).Count(ctx)
	if err != nil {
		return Room{}, fmt.Errorf("count owned rooms: %w", err)
	}
	if owned >= MaxOwnedRooms {
		return Room{}, apperr.ResourceExhausted(0, "you own %d rooms, the most allowed; delete one first", MaxOwnedRooms)
	}
	features := schematype.DefaultRoomFeatures()
	if in.Features != nil {
		features = *in.Features
	}
	now := s.now().UTC()
	var row *ent.Room
	err = s.withUniqueCode(ctx, func(code string) error {
		return database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
			var err error
			row, err = tx.Room.Create().SetName(in.Name).SetDescription(in.Description).SetOwnerID(v.UserID).
				SetIsPublic(in.Public).SetFeatures(features).SetMembersAddPublicSensors(in.MembersAddPublic).
				SetJoinCode(code).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
			if err != nil {
				return err
			}
			_, err = tx.RoomMembership.Create().SetRoomID(row.ID).SetUserID(v.UserID).
				SetRole(roommembership.RoleOwner).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
			return err
		})
	})
	if err != nil {
		return Room{}, fmt.Errorf("create room: %w", err)
	}
	r := stateOf(row)
	r.members[v.UserID] = &member{role: authz.RoleOwner, name: v.DisplayName, guest: v.IsGuest, joinedAt: now}
	s.idx.put(r)
	s.announce(r.id)
	return s.view(r, v), nil
}

// withUniqueCode calls f with new join codes until one is not taken (a unique-constraint
// error), at most 5 times: with 32^8 codes a second try is already rare.
func (s *Service) withUniqueCode(ctx context.Context, f func(code string) error) error {
	for range 5 {
		code, err := newCode()
		if err != nil {
			return err
		}
		if s.idx.byJoinCode(code) != nil {
			continue
		}
		err = f(code)
		if err == nil || !ent.IsConstraintError(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return apperr.Unavailable(time.Second, "could not find a free join code; try again")
}

func checkName(field, name string) error {
	if n := len([]rune(name)); n < 1 || n > 100 || strings.TrimSpace(name) == "" {
		return apperr.InvalidArgument(field, "must be 1 to 100 characters, not only spaces")
	}
	return nil
}

func checkDescription(d string) error {
	if len([]rune(d)) > 500 {
		return apperr.InvalidArgument("description", "must be at most 500 characters")
	}
	return nil
}

// Get returns a room v may see (public, or a member).
func (s *Service) Get(ctx context.Context, v authz.Viewer, id uuid.UUID) (Room, error) {
	r, err := s.room(ctx, v, id, authz.RoomView)
	if err != nil {
		return Room{}, err
	}
	return s.view(r, v), nil
}

// ListInput selects rooms.
type ListInput struct {
	// MemberOnly: only rooms v belongs to; else those and public rooms.
	MemberOnly bool
	PageSize   int
	PageToken  string
}

// List returns rooms v belongs to (and public ones unless MemberOnly), newest first (by
// id: ids are version 7 UUIDs, ordered by creation time), one page at a time, and the
// next page's token ("" on the last).
func (s *Service) List(ctx context.Context, v authz.Viewer, in ListInput) ([]Room, string, error) {
	size := in.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	mine := room.HasMembershipsWith(roommembership.UserID(v.UserID))
	preds := []predicate.Room{mine}
	if !in.MemberOnly {
		preds = []predicate.Room{room.Or(room.IsPublic(true), mine)}
	}
	if in.PageToken != "" {
		after, err := decodeToken(in.PageToken)
		if err != nil {
			return nil, "", err
		}
		preds = append(preds, room.IDLT(after))
	}
	rows, err := s.db.Room.Query().Where(preds...).Order(ent.Desc(room.FieldID)).
		Limit(size + 1).Select(room.FieldID).All(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("list rooms: %w", err)
	}
	next := ""
	if len(rows) > size {
		rows = rows[:size]
		last := rows[size-1]
		next = base64.RawURLEncoding.EncodeToString(last.ID[:])
	}
	out := make([]Room, 0, len(rows))
	for _, row := range rows {
		if r := s.idx.get(row.ID); r != nil { // deleted meanwhile: skipped
			out = append(out, s.view(r, v))
		}
	}
	return out, next, nil
}

// decodeToken reads a page token: the last room's id, base64url.
func decodeToken(tok string) (uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != len(uuid.UUID{}) {
		return uuid.Nil, apperr.InvalidArgument("page_token", "is not a token from a previous answer")
	}
	return uuid.UUID(b), nil
}

// Update changes a room's settings (owner or admin).
func (s *Service) Update(ctx context.Context, v authz.Viewer, id uuid.UUID, in UpdateInput) (Room, error) {
	if in.Name != nil {
		if err := checkName("name", *in.Name); err != nil {
			return Room{}, err
		}
	}
	if in.Description != nil {
		if err := checkDescription(*in.Description); err != nil {
			return Room{}, err
		}
	}
	r, err := s.lockRoom(ctx, v, id, authz.RoomUpdate)
	if err != nil {
		return Room{}, err
	}
	defer r.wmu.Unlock()
	up := s.db.Room.UpdateOneID(id).SetUpdatedAt(s.now().UTC())
	if in.Name != nil {
		up.SetName(*in.Name)
	}
	if in.Description != nil {
		up.SetDescription(*in.Description)
	}
	if in.Public != nil {
		up.SetIsPublic(*in.Public)
	}
	if in.Features != nil {
		up.SetFeatures(*in.Features)
	}
	if in.MembersAddPublic != nil {
		up.SetMembersAddPublicSensors(*in.MembersAddPublic)
	}
	row, err := up.Save(ctx)
	if ent.IsNotFound(err) {
		return Room{}, apperr.NotFound("room not found")
	}
	if err != nil {
		return Room{}, fmt.Errorf("update room: %w", err)
	}
	s.idx.mu.Lock()
	r.name, r.description, r.public, r.features = row.Name, row.Description, row.IsPublic, row.Features
	r.membersAddPublic, r.updatedAt = row.MembersAddPublicSensors, row.UpdatedAt
	s.idx.mu.Unlock()
	s.changed(r, func(c *changes) { c.updated = true })
	return s.view(r, v), nil
}

// Delete deletes a room (owner): its memberships and sensor placements go with it, its
// watchers get NotFound, and its members lose the sensors it shared, at once.
func (s *Service) Delete(ctx context.Context, v authz.Viewer, id uuid.UUID) error {
	r, err := s.lockRoom(ctx, v, id, authz.RoomDelete)
	if err != nil {
		return err
	}
	defer r.wmu.Unlock()
	if err := s.db.Room.DeleteOneID(id).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("delete room: %w", err)
	}
	s.forgetRoom(context.WithoutCancel(ctx), r)
	return nil
}

// forgetRoom drops a deleted room from the index, tells its watchers and ends the
// access its members had through it.
func (s *Service) forgetRoom(ctx context.Context, r *roomState) {
	s.idx.mu.Lock()
	ids := sensorIDsLocked(r)
	s.idx.dropLocked(r)
	s.idx.mu.Unlock()
	s.changed(r, func(c *changes) { c.deleted = true })
	s.sensors.AccessChanged(ctx, ids...)
	s.roomGone(r.id)
}
