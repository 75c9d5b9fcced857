package database_test

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/roommembership"
	"github.com/sensocto/sensocto/ent/schematype"
	"github.com/sensocto/sensocto/ent/sensor"
	"github.com/sensocto/sensocto/ent/sensorattribute"
	"github.com/sensocto/sensocto/ent/token"
	"github.com/sensocto/sensocto/ent/user"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

func TestEntRoundTrip(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c := dbtest.Open(t, dialect).Client

			seen := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
			u, err := c.User.Create().
				SetEmail("ada@example.org").
				SetDisplayName("Ada").
				SetPasswordHash("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA").
				SetPreferences(map[string]any{"locale": "de"}).
				SetLastSeenAt(seen).
				Save(ctx)
			if err != nil {
				t.Fatalf("create user: %v", err)
			}
			got, err := c.User.Query().Where(user.Email("ada@example.org")).Only(ctx)
			if err != nil {
				t.Fatalf("query user: %v", err)
			}
			if got.ID != u.ID || got.DisplayName != "Ada" || got.Preferences["locale"] != "de" || got.IsGuest {
				t.Errorf("user round trip = %+v", got)
			}
			if got.LastSeenAt == nil || !got.LastSeenAt.Equal(seen) {
				t.Errorf("last_seen_at = %v, want %v", got.LastSeenAt, seen)
			}

			hash := sha256.Sum256([]byte("secret"))
			tok, err := c.Token.Create().
				SetHash(hash[:]).
				SetKind(token.KindAPI).
				SetScope(token.ScopePublish).
				SetName("phone").
				SetUser(u).
				Save(ctx)
			if err != nil {
				t.Fatalf("create token: %v", err)
			}
			byHash, err := c.Token.Query().Where(token.Hash(hash[:])).WithUser().Only(ctx)
			if err != nil {
				t.Fatalf("query token by hash: %v", err)
			}
			if byHash.ID != tok.ID || byHash.Edges.User.ID != u.ID || !bytes.Equal(byHash.Hash, hash[:]) || byHash.ExpiresAt != nil {
				t.Errorf("token round trip = %+v", byHash)
			}

			s, err := c.Sensor.Create().
				SetID("polar-h10:AA:BB").
				SetName("Chest strap").
				SetSensorType("heartrate").
				SetOwner(u).
				SetRecordingRetentionSeconds(3600).
				Save(ctx)
			if err != nil {
				t.Fatalf("create sensor: %v", err)
			}
			if s.Visibility != sensor.VisibilityPrivate {
				t.Errorf("default visibility = %s", s.Visibility)
			}
			if _, err := c.SensorAttribute.CreateBulk(
				c.SensorAttribute.Create().SetSensor(s).SetAttributeID("heartrate").SetAttributeType("heartrate").SetUnit("bpm").SetSampleRateHz(1),
				c.SensorAttribute.Create().SetSensor(s).SetAttributeID("00002a37-0000-1000-8000-00805f9b34fb").SetAttributeType("heartrate"),
			).Save(ctx); err != nil {
				t.Fatalf("create attributes: %v", err)
			}
			attrs, err := s.QueryAttributes().Order(ent.Asc(sensorattribute.FieldAttributeID)).All(ctx)
			if err != nil || len(attrs) != 2 {
				t.Fatalf("query attributes = %v, %v", attrs, err)
			}
			owned, err := c.Sensor.Query().Where(sensor.OwnerID(u.ID)).IDs(ctx)
			if err != nil || len(owned) != 1 || owned[0] != "polar-h10:AA:BB" {
				t.Fatalf("sensors by owner = %v, %v", owned, err)
			}

			r, err := c.Room.Create().SetName("Lab").SetOwner(u).SetJoinCode("ABCDEFGH").Save(ctx)
			if err != nil {
				t.Fatalf("create room: %v", err)
			}
			if r.Features != schematype.DefaultRoomFeatures() {
				t.Errorf("default features = %+v", r.Features)
			}
			if _, err := c.RoomMembership.Create().SetRoom(r).SetUser(u).SetRole(roommembership.RoleOwner).Save(ctx); err != nil {
				t.Fatalf("create membership: %v", err)
			}
			if _, err := c.RoomSensor.Create().SetRoom(r).SetSensor(s).Save(ctx); err != nil {
				t.Fatalf("place sensor: %v", err)
			}
			if _, err := c.RoomDocument.Create().SetRoom(r).SetAutomerge([]byte{0x85, 0x6f}).Save(ctx); err != nil {
				t.Fatalf("create document: %v", err)
			}
			rooms, err := c.RoomMembership.Query().Where(roommembership.UserID(u.ID)).QueryRoom().All(ctx)
			if err != nil || len(rooms) != 1 || rooms[0].ID != r.ID {
				t.Fatalf("rooms of user = %v, %v", rooms, err)
			}
		})
	}
}

func TestEntConstraints(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c := dbtest.Open(t, dialect).Client
			u := c.User.Create().SetEmail("a@example.org").SetDisplayName("A").SaveX(ctx)
			other := c.User.Create().SetEmail("b@example.org").SetDisplayName("B").SaveX(ctx)
			hash := sha256.Sum256([]byte("t"))
			c.Token.Create().SetHash(hash[:]).SetKind(token.KindSession).SetUser(u).SaveX(ctx)
			s := c.Sensor.Create().SetID("s1").SetName("S").SetOwner(u).SaveX(ctx)
			c.SensorAttribute.Create().SetSensor(s).SetAttributeID("hr").SetAttributeType("heartrate").SaveX(ctx)
			r := c.Room.Create().SetName("R").SetOwner(u).SetJoinCode("JOINCODE").SaveX(ctx)
			c.RoomMembership.Create().SetRoom(r).SetUser(u).SaveX(ctx)
			c.RoomSensor.Create().SetRoom(r).SetSensor(s).SaveX(ctx)
			// Guests without email and users without OIDC identity do not collide.
			c.User.Create().SetDisplayName("Guest 1").SetIsGuest(true).SaveX(ctx)
			c.User.Create().SetDisplayName("Guest 2").SetIsGuest(true).SaveX(ctx)
			c.User.Create().SetDisplayName("O1").SetOidcIssuer("https://idp").SetOidcSubject("42").SaveX(ctx)

			tests := []struct {
				name string
				save func() error
			}{
				{"duplicate email", func() error {
					_, err := c.User.Create().SetEmail("a@example.org").SetDisplayName("A2").Save(ctx)
					return err
				}},
				{"duplicate oidc identity", func() error {
					_, err := c.User.Create().SetDisplayName("O2").SetOidcIssuer("https://idp").SetOidcSubject("42").Save(ctx)
					return err
				}},
				{"duplicate token hash", func() error {
					_, err := c.Token.Create().SetHash(hash[:]).SetKind(token.KindAPI).SetUser(other).Save(ctx)
					return err
				}},
				{"session token without user", func() error {
					h := sha256.Sum256([]byte("orphan"))
					_, err := c.Token.Create().SetHash(h[:]).SetKind(token.KindSession).Save(ctx)
					return err
				}},
				{"magic link without email", func() error {
					h := sha256.Sum256([]byte("magic"))
					_, err := c.Token.Create().SetHash(h[:]).SetKind(token.KindMagicLink).Save(ctx)
					return err
				}},
				{"duplicate sensor id", func() error {
					_, err := c.Sensor.Create().SetID("s1").SetName("S").SetOwner(other).Save(ctx)
					return err
				}},
				{"duplicate attribute", func() error {
					_, err := c.SensorAttribute.Create().SetSensor(s).SetAttributeID("hr").SetAttributeType("x").Save(ctx)
					return err
				}},
				{"duplicate join code", func() error {
					_, err := c.Room.Create().SetName("R2").SetOwner(other).SetJoinCode("JOINCODE").Save(ctx)
					return err
				}},
				{"duplicate membership", func() error {
					_, err := c.RoomMembership.Create().SetRoom(r).SetUser(u).SetRole(roommembership.RoleAdmin).Save(ctx)
					return err
				}},
				{"duplicate room sensor", func() error {
					_, err := c.RoomSensor.Create().SetRoom(r).SetSensor(s).Save(ctx)
					return err
				}},
			}
			for _, tt := range tests {
				if err := tt.save(); !ent.IsConstraintError(err) {
					t.Errorf("%s: err = %v, want constraint error", tt.name, err)
				}
			}

			// A magic link for an address with no account yet is fine.
			h := sha256.Sum256([]byte("magic-ok"))
			if _, err := c.Token.Create().SetHash(h[:]).SetKind(token.KindMagicLink).SetEmail("new@example.org").Save(ctx); err != nil {
				t.Errorf("magic link with email: %v", err)
			}
		})
	}
}

func TestEntValidation(t *testing.T) {
	t.Parallel()
	c := dbtest.Open(t, "sqlite").Client
	ctx := t.Context()
	u := c.User.Create().SetDisplayName("V").SaveX(ctx)
	tests := []struct {
		name string
		save func() error
	}{
		{"sensor id with space", func() error {
			_, err := c.Sensor.Create().SetID("bad id").SetName("S").SetOwner(u).Save(ctx)
			return err
		}},
		{"sensor id too long", func() error {
			_, err := c.Sensor.Create().SetID(string(bytes.Repeat([]byte("a"), 129))).SetName("S").SetOwner(u).Save(ctx)
			return err
		}},
		{"email not normalised", func() error {
			_, err := c.User.Create().SetEmail("Ada@Example.org").SetDisplayName("A").Save(ctx)
			return err
		}},
		{"short token hash", func() error {
			_, err := c.Token.Create().SetHash([]byte("short")).SetKind(token.KindAPI).SetUser(u).Save(ctx)
			return err
		}},
	}
	for _, tt := range tests {
		if err := tt.save(); !ent.IsValidationError(err) {
			t.Errorf("%s: err = %v, want validation error", tt.name, err)
		}
	}
	if _, err := c.Sensor.Create().SetID(string(bytes.Repeat([]byte("a"), 128))).SetName("S").SetOwner(u).Save(ctx); err != nil {
		t.Errorf("128-char sensor id: %v", err)
	}
}

func TestDeleteCascades(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c := dbtest.Open(t, dialect).Client
			u := c.User.Create().SetDisplayName("Owner").SaveX(ctx)
			member := c.User.Create().SetDisplayName("Member").SaveX(ctx)
			s := c.Sensor.Create().SetID("s").SetName("S").SetOwner(u).SaveX(ctx)
			c.SensorAttribute.Create().SetSensor(s).SetAttributeID("a").SetAttributeType("t").SaveX(ctx)
			c.Recording.Create().SetSensor(s).SetStartedAt(time.Now()).SaveX(ctx)
			r := c.Room.Create().SetName("R").SetOwner(u).SaveX(ctx)
			c.RoomMembership.Create().SetRoom(r).SetUser(member).SaveX(ctx)
			c.RoomSensor.Create().SetRoom(r).SetSensor(s).SaveX(ctx)
			run := c.SimulatorRun.Create().SetScenario("demo").SetRoom(r).SaveX(ctx)

			c.User.DeleteOne(u).ExecX(ctx)

			counts := map[string]int{
				"sensors":     c.Sensor.Query().CountX(ctx),
				"attributes":  c.SensorAttribute.Query().CountX(ctx),
				"recordings":  c.Recording.Query().CountX(ctx),
				"rooms":       c.Room.Query().CountX(ctx),
				"memberships": c.RoomMembership.Query().CountX(ctx),
				"roomsensors": c.RoomSensor.Query().CountX(ctx),
			}
			for what, n := range counts {
				if n != 0 {
					t.Errorf("%s left after deleting owner: %d", what, n)
				}
			}
			if c.User.Query().CountX(ctx) != 1 {
				t.Error("member user deleted")
			}
			got := c.SimulatorRun.GetX(ctx, run.ID)
			if got.RoomID != nil {
				t.Errorf("simulator run keeps deleted room %v", got.RoomID)
			}
		})
	}
}
