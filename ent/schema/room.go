package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent/schematype"
)

// Room is a shared space where members watch a set of sensors together and edit a
// shared document. It has one owner; memberships, sensor placements and the document are
// deleted with it. A room is joined by id (when public) or by its join code.
type Room struct {
	ent.Schema
}

// Mixin of the Room.
func (Room) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the Room.
func (Room) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			NotEmpty().
			MaxLen(100),
		field.String("description").
			Optional().
			MaxLen(500),
		field.UUID("owner_id", uuid.UUID{}),
		field.Bool("is_public").
			Default(false).
			Comment("Public rooms are listed for everyone and readable by non-members."),
		field.JSON("features", schematype.RoomFeatures{}).
			Default(schematype.DefaultRoomFeatures()),
		field.String("join_code").
			Optional().
			Nillable().
			MinLen(6).
			MaxLen(12).
			Comment("Code to join the room; unique while set. NULL disables joining by code."),
		field.Time("join_code_expires_at").
			Optional().
			Nillable(),
		field.Bool("members_add_public_sensors").
			Default(false).
			Comment("Members may also place other users' public sensors (owner and admins always may)."),
	}
}

// Edges of the Room.
func (Room) Edges() []ent.Edge {
	cascade := entsql.OnDelete(entsql.Cascade)
	return []ent.Edge{
		edge.From("owner", User.Type).
			Ref("owned_rooms").
			Field("owner_id").
			Unique().
			Required(),
		edge.To("memberships", RoomMembership.Type).Annotations(cascade),
		edge.To("room_sensors", RoomSensor.Type).Annotations(cascade),
		edge.To("document", RoomDocument.Type).Unique().Annotations(cascade),
		edge.To("document_changes", RoomDocumentChange.Type).Annotations(cascade),
		edge.To("simulator_runs", SimulatorRun.Type).Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

// Indexes of the Room.
func (Room) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("join_code").Unique(),
		index.Fields("owner_id"),
		index.Fields("is_public"),
	}
}
