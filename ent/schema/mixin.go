package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
	"github.com/google/uuid"
)

// IDMixin gives a schema a UUID primary key. New ids are version 7 UUIDs: random but
// ordered by creation time, which keeps B-tree inserts local. In the API they appear as
// their canonical string form.
type IDMixin struct {
	mixin.Schema
}

// Fields of the IDMixin.
func (IDMixin) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).
			Default(newID).
			Immutable(),
	}
}

// newID returns a version 7 UUID, falling back to a version 4 UUID if the clock-based
// generator fails (it only fails when the random source does).
func newID() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.New()
	}
	return id
}

// TimeMixin adds created_at and updated_at, both set by ent in UTC.
type TimeMixin struct {
	mixin.Schema
}

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(now).
			Immutable(),
		field.Time("updated_at").
			Default(now).
			UpdateDefault(now),
	}
}

// now is the default for timestamps: UTC, so values compare the same on both dialects.
func now() time.Time { return time.Now().UTC() }
