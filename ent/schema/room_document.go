package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
)

// RoomDocument is the saved Automerge document holding a room's shared state (media
// player, 3D viewer, whiteboard, annotations). One per room, deleted with it. version
// increases by one on every save, for optimistic concurrency between nodes.
type RoomDocument struct {
	ent.Schema
}

// Mixin of the RoomDocument.
func (RoomDocument) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the RoomDocument.
func (RoomDocument) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("room_id", uuid.UUID{}).
			Unique().
			Immutable(),
		field.Bytes("automerge").
			Comment("Saved Automerge document (automerge Save format)."),
		field.Int64("version").
			Default(0).
			NonNegative(),
	}
}

// Edges of the RoomDocument.
func (RoomDocument) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("room", Room.Type).
			Ref("document").
			Field("room_id").
			Unique().
			Required().
			Immutable(),
	}
}
