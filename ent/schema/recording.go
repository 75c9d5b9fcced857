package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/sensocto/sensocto/server/apirules"
)

// Recording is a time span during which a sensor's measurements (all attributes, or one
// when attribute_id is set) were written to the measurement store. stopped_at is NULL
// while recording. Deleted with the sensor.
type Recording struct {
	ent.Schema
}

// Mixin of the Recording.
func (Recording) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the Recording.
func (Recording) Fields() []ent.Field {
	return []ent.Field{
		field.String("sensor_id").
			Immutable(),
		field.String("attribute_id").
			Optional().
			Nillable().
			MaxLen(apirules.MaxAttributeIDLen).
			Match(AttributeIDPattern).
			Immutable().
			Comment("Recorded attribute; NULL means all attributes of the sensor."),
		field.Time("started_at").
			Immutable(),
		field.Time("stopped_at").
			Optional().
			Nillable(),
		field.Int64("retention_seconds").
			Optional().
			Nillable().
			Positive().
			Comment("How long the recorded data is kept; NULL means the sensor's or server's default."),
	}
}

// Edges of the Recording.
func (Recording) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("sensor", Sensor.Type).
			Ref("recordings").
			Field("sensor_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the Recording.
func (Recording) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("sensor_id", "started_at"),
	}
}
