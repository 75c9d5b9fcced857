package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	entschema "entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Token is a bearer credential. Only the SHA-256 hash of the random 32-byte secret is
// stored. Session and API tokens belong to a user; a magic-link token carries the email
// it was sent to and may have no user yet (first sign-in creates the account).
// A token is valid while revoked_at is NULL and expires_at is NULL or in the future.
type Token struct {
	ent.Schema
}

// Mixin of the Token.
func (Token) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the Token.
func (Token) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("hash").
			MinLen(32).
			MaxLen(32).
			Immutable().
			Sensitive().
			Comment("SHA-256 of the secret."),
		field.Enum("kind").
			Values("session", "api", "magic_link").
			Immutable(),
		field.String("name").
			Optional().
			MaxLen(100).
			Comment("Label chosen by the user for API tokens."),
		field.Enum("scope").
			Values("publish", "full").
			Default("full").
			Comment("publish: may only publish measurements for the owner's sensors; full: acts as the user."),
		field.UUID("user_id", uuid.UUID{}).
			Optional().
			Nillable().
			Immutable().
			Comment("Owner; required for session and API tokens."),
		field.String("email").
			Optional().
			Nillable().
			MaxLen(320).
			Immutable().
			Comment("Address a magic link was sent to; required for magic_link tokens."),
		field.String("prefix").
			Optional().
			MaxLen(16).
			Immutable().
			Comment("First characters of an API token's secret, shown to recognise it."),
		field.String("return_to").
			Optional().
			MaxLen(512).
			Immutable().
			Comment("Path in the web app to open after a magic-link sign-in."),
		field.Time("expires_at").
			Optional().
			Nillable().
			Comment("NULL means the token does not expire (API tokens only)."),
		field.Time("revoked_at").
			Optional().
			Nillable(),
		field.Time("last_used_at").
			Optional().
			Nillable(),
	}
}

// Edges of the Token.
func (Token) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("tokens").
			Field("user_id").
			Unique().
			Immutable(),
	}
}

// Indexes of the Token.
func (Token) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("hash").Unique(),
		index.Fields("user_id", "kind"),
		index.Fields("expires_at"),
	}
}

// Annotations of the Token.
func (Token) Annotations() []entschema.Annotation {
	return []entschema.Annotation{
		entsql.Checks(map[string]string{
			"token_owner": "((kind = 'magic_link' AND email IS NOT NULL) OR (kind <> 'magic_link' AND user_id IS NOT NULL))",
		}),
	}
}
