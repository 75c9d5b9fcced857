package roomdoc

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/roommembership"
)

// EntMembers reads roles and feature flags from the relational store (room_memberships
// and rooms): one indexed lookup per call.
type EntMembers struct {
	Client *ent.Client
}

// Access implements Members.
func (e EntMembers) Access(ctx context.Context, roomID, userID uuid.UUID) (Access, error) {
	ms, err := e.Client.RoomMembership.Query().
		Where(roommembership.RoomID(roomID), roommembership.UserID(userID)).
		WithRoom().
		Only(ctx)
	if ent.IsNotFound(err) {
		return Access{}, nil
	}
	if err != nil {
		return Access{}, fmt.Errorf("read membership: %w", err)
	}
	acc := Access{Role: RoleMember}
	switch ms.Role {
	case roommembership.RoleOwner:
		acc.Role = RoleOwner
	case roommembership.RoleAdmin:
		acc.Role = RoleAdmin
	}
	if rm := ms.Edges.Room; rm != nil {
		acc.Features = Features{MediaPlayback: rm.Features.MediaPlayback, Object3D: rm.Features.Object3D, Whiteboard: rm.Features.Whiteboard}
	}
	return acc, nil
}
