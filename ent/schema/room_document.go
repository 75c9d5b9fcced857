package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
)

// RoomDocument is the saved Automerge document holding a room's shared state (notes,
// media player, 3D viewer, whiteboard, annotations; docs/room-document.md). One per room,
// deleted with it: the document as last compacted, with the increments appended since in
// RoomDocumentChange. version increases by one on every compaction, for optimistic
// concurrency between nodes; compacted_seq is the last increment it includes.
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
		field.Int64("compacted_seq").
			Default(0).
			NonNegative().
			Comment("The seq of the last RoomDocumentChange included in automerge."),
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
