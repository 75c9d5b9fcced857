package schema

import (
	"regexp"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/apirules"
)

// SensorIDPattern is the rule for client-chosen sensor ids (apirules.SensorIDPattern,
// the one definition).
var SensorIDPattern = regexp.MustCompile(apirules.SensorIDPattern)

// AttributeIDPattern is the rule for attribute ids (apirules.AttributeIDPattern).
var AttributeIDPattern = regexp.MustCompile(apirules.AttributeIDPattern)

// Sensor is a device or virtual source that publishes measurements. Its id is chosen by
// the connector (it is stable across reconnects) and is the primary key. A sensor
// belongs to one user; its attributes, room placements and recordings go with it.
type Sensor struct {
	ent.Schema
}

// Mixin of the Sensor.
func (Sensor) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}}
}

// Fields of the Sensor.
func (Sensor) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			MaxLen(apirules.MaxSensorIDLen).
			Match(SensorIDPattern).
			Immutable().
			Comment("Client-chosen sensor id."),
		field.UUID("owner_id", uuid.UUID{}),
		field.String("name").
			NotEmpty().
			MaxLen(100),
		field.String("sensor_type").
			Optional().
			MaxLen(64).
			Comment("Free-form device type as declared by the connector, e.g. heartrate, imu, phone."),
		field.Enum("visibility").
			Values("private", "public").
			Default("private"),
		field.Bool("recording_enabled").
			Default(false),
		field.Int64("recording_retention_seconds").
			Optional().
			Nillable().
			Positive().
			Comment("How long recorded measurements are kept; NULL means the server default."),
		field.String("connector_name").
			Optional().
			MaxLen(100).
			Comment("Name of the connector (app, SDK, simulator) that last registered the sensor."),
		field.Time("last_seen_at").
			Optional().
			Nillable(),
	}
}

// Edges of the Sensor.
func (Sensor) Edges() []ent.Edge {
	cascade := entsql.OnDelete(entsql.Cascade)
	return []ent.Edge{
		edge.From("owner", User.Type).
			Ref("sensors").
			Field("owner_id").
			Unique().
			Required(),
		edge.To("attributes", SensorAttribute.Type).Annotations(cascade),
		edge.To("room_sensors", RoomSensor.Type).Annotations(cascade),
		edge.To("recordings", Recording.Type).Annotations(cascade),
	}
}

// Indexes of the Sensor.
func (Sensor) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("owner_id"),
		index.Fields("visibility"),
	}
}
