package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// RoomMembership says that a user is a member of a room and with which role. A user has
// at most one membership per room; the room owner also has an owner membership.
// Deleted with the room or the user.
type RoomMembership struct {
	ent.Schema
}

// Mixin of the RoomMembership.
func (RoomMembership) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the RoomMembership.
func (RoomMembership) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("room_id", uuid.UUID{}).
			Immutable(),
		field.UUID("user_id", uuid.UUID{}).
			Immutable(),
		field.Enum("role").
			Values("owner", "admin", "member").
			Default("member"),
	}
}

// Edges of the RoomMembership.
func (RoomMembership) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("room", Room.Type).
			Ref("memberships").
			Field("room_id").
			Unique().
			Required().
			Immutable(),
		edge.From("user", User.Type).
			Ref("memberships").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the RoomMembership.
func (RoomMembership) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("room_id", "user_id").Unique(),
		index.Fields("user_id"),
	}
}
