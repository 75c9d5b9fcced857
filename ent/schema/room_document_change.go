package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// RoomDocumentChange is one increment of a room's shared document appended since the
// document was last compacted into RoomDocument: the bytes of Automerge's
// SaveIncremental (one or more changes). Loading a room's document loads the compacted
// document, then every increment of the room; compaction writes a new RoomDocument and
// deletes the increments it includes (seq <= the compacted seq). seq increases by one per
// increment within a room. Deleted with the room.
type RoomDocumentChange struct {
	ent.Schema
}

// Mixin of the RoomDocumentChange.
func (RoomDocumentChange) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the RoomDocumentChange.
func (RoomDocumentChange) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("room_id", uuid.UUID{}).
			Immutable(),
		field.Int64("seq").
			Positive().
			Immutable(),
		field.Bytes("data").
			Immutable().
			Comment("Automerge SaveIncremental bytes."),
		field.Time("created_at").
			Default(now).
			Immutable(),
	}
}

// Edges of the RoomDocumentChange.
func (RoomDocumentChange) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("room", Room.Type).
			Ref("document_changes").
			Field("room_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the RoomDocumentChange.
func (RoomDocumentChange) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("room_id", "seq").Unique(),
	}
}
