package schema

import (
	"errors"
	"strings"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// User is a person who signs in: a registered account (email and/or OIDC identity,
// optionally a password) or a guest (is_guest, no email, expires at guest_expires_at).
// Everything a user owns (tokens, sensors, rooms, memberships, simulator runs) is deleted
// with the user.
type User struct {
	ent.Schema
}

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").
			Optional().
			Nillable().
			MaxLen(320).
			Validate(validateEmail).
			Comment("Normalised (trimmed, lower-case) email; unique when set, NULL for guests."),
		field.String("display_name").
			NotEmpty().
			MaxLen(100),
		field.String("password_hash").
			Optional().
			Nillable().
			Sensitive().
			Comment("Argon2id hash in PHC string format; NULL when password sign-in is not set up."),
		field.String("oidc_issuer").
			Optional().
			Nillable().
			MaxLen(512).
			Comment("Issuer URL of the OIDC identity linked to this user."),
		field.String("oidc_subject").
			Optional().
			Nillable().
			MaxLen(255).
			Comment("Subject of the OIDC identity; unique together with oidc_issuer."),
		field.Bool("is_guest").
			Default(false),
		field.Time("guest_expires_at").
			Optional().
			Nillable().
			Comment("When a guest account may be deleted; renewed on activity. NULL for registered users."),
		field.JSON("preferences", map[string]any{}).
			Default(map[string]any{}).
			Comment("Free-form UI preferences (locale, per-room view mode, ...)."),
		field.Int64("preferences_version").
			Default(0).
			NonNegative().
			Comment("Bumped by every change of preferences, for compare-and-set updates."),
		field.Time("last_seen_at").
			Optional().
			Nillable(),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	cascade := entsql.OnDelete(entsql.Cascade)
	return []ent.Edge{
		edge.To("tokens", Token.Type).Annotations(cascade),
		edge.To("sensors", Sensor.Type).Annotations(cascade),
		edge.To("owned_rooms", Room.Type).Annotations(cascade),
		edge.To("memberships", RoomMembership.Type).Annotations(cascade),
		edge.To("simulator_runs", SimulatorRun.Type).Annotations(cascade),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("email").Unique(),
		index.Fields("oidc_issuer", "oidc_subject").Unique(),
		index.Fields("is_guest", "guest_expires_at"),
	}
}

// validateEmail checks that an email is non-empty, contains an @ and is already
// normalised, so the unique index is effectively case-insensitive on both dialects.
func validateEmail(s string) error {
	switch {
	case s == "":
		return errors.New("email must not be empty")
	case s != strings.ToLower(strings.TrimSpace(s)):
		return errors.New("email must be trimmed and lower-case")
	case !strings.Contains(s, "@"):
		return errors.New("email must contain @")
	}
	return nil
}
