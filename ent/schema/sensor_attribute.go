package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/sensocto/sensocto/server/apirules"
)

// SensorAttribute is one measured quantity a sensor declared (heart rate, acceleration,
// location, ...), with its type, unit and nominal sample rate. Attribute ids are unique
// per sensor. Deleted with its sensor.
type SensorAttribute struct {
	ent.Schema
}

// Mixin of the SensorAttribute.
func (SensorAttribute) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the SensorAttribute.
func (SensorAttribute) Fields() []ent.Field {
	return []ent.Field{
		field.String("sensor_id").
			Immutable(),
		field.String("attribute_id").
			MaxLen(apirules.MaxAttributeIDLen).
			Match(AttributeIDPattern).
			Immutable(),
		field.String("attribute_type").
			NotEmpty().
			MaxLen(64).
			Comment("Attribute type from the protocol's type table, e.g. heartrate, imu, geolocation."),
		field.String("unit").
			Optional().
			MaxLen(32),
		field.Float("sample_rate_hz").
			Optional().
			Nillable().
			Min(0),
	}
}

// Edges of the SensorAttribute.
func (SensorAttribute) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("sensor", Sensor.Type).
			Ref("attributes").
			Field("sensor_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the SensorAttribute.
func (SensorAttribute) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("sensor_id", "attribute_id").Unique(),
	}
}
