package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// RoomSensor places a sensor in a room, so the room's members see it. A sensor appears
// at most once per room. Deleted with the room or the sensor.
type RoomSensor struct {
	ent.Schema
}

// Mixin of the RoomSensor.
func (RoomSensor) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the RoomSensor.
func (RoomSensor) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("room_id", uuid.UUID{}).
			Immutable(),
		field.String("sensor_id").
			Immutable(),
		field.UUID("added_by", uuid.UUID{}).
			Optional().
			Nillable().
			Immutable().
			Comment("Who placed the sensor. Only a placement by the sensor's owner shares it with the members whatever its visibility; another user's public sensor stays visible only while public. No foreign key: the placement outlives its placer's account."),
	}
}

// Edges of the RoomSensor.
func (RoomSensor) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("room", Room.Type).
			Ref("room_sensors").
			Field("room_id").
			Unique().
			Required().
			Immutable(),
		edge.From("sensor", Sensor.Type).
			Ref("room_sensors").
			Field("sensor_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the RoomSensor.
func (RoomSensor) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("room_id", "sensor_id").Unique(),
		index.Fields("sensor_id"),
	}
}
