package schema

import (
	"regexp"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// SensorIDPattern is the rule for client-chosen sensor ids: 1–128 characters, starting
// with a letter or digit, then letters, digits, '_', '-', '.' or ':' (MAC addresses).
var SensorIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// AttributeIDPattern is the rule for attribute ids: 1–64 characters, starting with a
// letter or digit (so BLE characteristic UUIDs are allowed), then letters, digits, '_'
// or '-'.
var AttributeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

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
			MaxLen(128).
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
