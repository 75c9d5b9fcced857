package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// SimulatorRun records one run of a simulation scenario: who started it, its
// configuration, its status and how much it sent. Runs started by the server itself
// (the demo) have no owner. Deleted with the owner; loses its room when the room goes.
type SimulatorRun struct {
	ent.Schema
}

// Mixin of the SimulatorRun.
func (SimulatorRun) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the SimulatorRun.
func (SimulatorRun) Fields() []ent.Field {
	return []ent.Field{
		field.String("scenario").
			NotEmpty().
			MaxLen(100),
		field.Enum("status").
			Values("pending", "running", "stopped", "failed").
			Default("pending"),
		field.UUID("owner_id", uuid.UUID{}).
			Optional().
			Nillable().
			Immutable(),
		field.UUID("room_id", uuid.UUID{}).
			Optional().
			Nillable().
			Comment("Room the simulated sensors were placed in, if any."),
		field.Time("started_at").
			Optional().
			Nillable(),
		field.Time("stopped_at").
			Optional().
			Nillable(),
		field.Int64("samples_sent").
			Default(0).
			NonNegative(),
		field.Int("sensor_count").
			Default(0).
			NonNegative(),
		field.JSON("config", map[string]any{}).
			Default(map[string]any{}),
		field.String("error").
			Optional().
			MaxLen(1000).
			Comment("Why the run failed, when status is failed."),
	}
}

// Edges of the SimulatorRun.
func (SimulatorRun) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("owner", User.Type).
			Ref("simulator_runs").
			Field("owner_id").
			Unique().
			Immutable(),
		edge.From("room", Room.Type).
			Ref("simulator_runs").
			Field("room_id").
			Unique(),
	}
}

// Indexes of the SimulatorRun.
func (SimulatorRun) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("owner_id", "status"),
		index.Fields("status"),
	}
}
