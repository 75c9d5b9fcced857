package sensors

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/sensor"
	"github.com/sensocto/sensocto/ent/sensorattribute"
	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/hub"
)

// DefaultSensorType is the type of a sensor registered without one.
const DefaultSensorType = "generic"

// Attribute is one declared or inferred stream of a sensor.
type Attribute struct {
	ID           string
	Type         string
	Unit         string
	SampleRateHz float64
}

// Sensor is a registered sensor as a caller may see it.
type Sensor struct {
	ID         string
	Name       string
	SensorType string
	OwnerID    uuid.UUID
	OwnerName  string
	Visibility authz.Visibility
	// Attributes are sorted by id.
	Attributes []Attribute
	Connected  bool
	Recording  bool
	// RecordingRetention is how long recorded data is kept; 0: forever.
	RecordingRetention time.Duration
	CreatedAt          time.Time
	UpdatedAt          time.Time
	// LastSeenAt is when data last arrived; zero: never (since this process started).
	LastSeenAt time.Time
	// Source says where its data comes from.
	Source Source
}

// RegisterInput declares a sensor. Empty fields keep the stored value (or take the
// default for a new sensor).
type RegisterInput struct {
	ID         string // empty: generated
	Name       string
	SensorType string
	Attributes []Attribute
	Visibility authz.Visibility
}

// NewSensorID returns a generated sensor id ("s-" and 16 base32 characters).
func NewSensorID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "s-" + strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

func validateRegister(in *RegisterInput) error {
	if !apirules.ValidSensorID(in.ID) {
		return apperr.InvalidArgument("sensor_id", "must match "+apirules.SensorIDPattern)
	}
	seen := make(map[string]bool, len(in.Attributes))
	if len(in.Attributes) > hub.MaxAttributesPerSensor {
		return apperr.InvalidArgument("attributes", fmt.Sprintf("at most %d", hub.MaxAttributesPerSensor))
	}
	for i, a := range in.Attributes {
		if !apirules.ValidAttributeID(a.ID) {
			return apperr.InvalidArgument(fmt.Sprintf("attributes[%d].attribute_id", i), "must match "+apirules.AttributeIDPattern)
		}
		if seen[a.ID] {
			return apperr.InvalidArgument(fmt.Sprintf("attributes[%d].attribute_id", i), "duplicate attribute id")
		}
		seen[a.ID] = true
		if !(a.SampleRateHz >= 0 && a.SampleRateHz <= apirules.MaxSampleRateHz) {
			return apperr.InvalidArgument(fmt.Sprintf("attributes[%d].sample_rate_hz", i), fmt.Sprintf("must be 0 to %d", apirules.MaxSampleRateHz))
		}
		if in.Attributes[i].Type == "" {
			in.Attributes[i].Type = hub.InferType(a.ID, &hub.Value{Kind: hub.KindNumber})
		}
	}
	return nil
}

// Register creates a sensor owned by v, or updates v's existing sensor (name, type,
// visibility when given; declared attributes are added or replaced, others kept). An
// id owned by someone else is AlreadyExists. The sensor is live in the hub afterwards.
func (s *Service) Register(ctx context.Context, v authz.Viewer, in RegisterInput) (Sensor, error) {
	if in.ID == "" {
		in.ID = NewSensorID()
	}
	if err := validateRegister(&in); err != nil {
		return Sensor{}, err
	}
	var public, recording bool
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		public, recording, err = s.register(ctx, v, in)
		if !ent.IsConstraintError(err) {
			break
		}
		// Another registration of the same new id won the race: try again as an update
		// (or be refused when it was someone else's).
	}
	if err != nil {
		return Sensor{}, err
	}
	s.syncRecording(in.ID, recording)
	e := s.remember(in.ID, v.UserID, public)
	if !public {
		s.accessChanged(ctx, in.ID, false) // it may have been public until now
		s.changed(RegistryChange{SensorID: in.ID, Kind: RegistryUpdated})
	}
	e.liveMu.Lock()
	specs := make([]hub.AttributeSpec, len(in.Attributes))
	for i, a := range in.Attributes {
		specs[i] = hub.AttributeSpec{ID: a.ID, Type: a.Type, Unit: a.Unit, SampleRateHz: a.SampleRateHz}
	}
	if !e.live.Load() {
		// Not live yet: declare every stored attribute, not only the ones named now.
		if row, err := s.db.Sensor.Query().Where(sensor.ID(in.ID)).WithAttributes().Only(ctx); err == nil {
			specs = specsOf(row.Edges.Attributes)
		}
	}
	_, err = s.hub.Register(in.ID, specs)
	if err == nil {
		e.live.Store(true)
	}
	e.liveMu.Unlock()
	if err != nil {
		return Sensor{}, fmt.Errorf("register sensor %s in the hub: %w", in.ID, err)
	}
	return s.Get(ctx, v, in.ID)
}

// register writes the sensor and its declared attributes in one transaction and
// returns whether it is public and recording.
func (s *Service) register(ctx context.Context, v authz.Viewer, in RegisterInput) (bool, bool, error) {
	var public, recording bool
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		old, err := tx.Sensor.Get(ctx, in.ID)
		switch {
		case ent.IsNotFound(err):
			if err := authz.CheckVisibilityScope(v, authz.VisibilityPrivate, in.Visibility); err != nil {
				return err
			}
			c := tx.Sensor.Create().SetID(in.ID).SetOwnerID(v.UserID).
				SetName(orDefault(in.Name, in.ID)).SetSensorType(orDefault(in.SensorType, DefaultSensorType)).
				SetVisibility(sensor.Visibility(orDefault(string(in.Visibility), string(authz.VisibilityPrivate))))
			row, err := c.Save(ctx)
			if err != nil {
				return fmt.Errorf("create sensor: %w", err)
			}
			public = row.Visibility == sensor.VisibilityPublic
		case err != nil:
			return fmt.Errorf("get sensor: %w", err)
		default:
			f := authz.SensorFacts{OwnerID: old.OwnerID, Visibility: authz.Visibility(old.Visibility)}
			if err := authz.CheckSensorID(v, true, f); err != nil {
				return apperr.Wrap(apperr.KindAlreadyExists, err, "sensor id is taken by another user")
			}
			if err := authz.CheckVisibilityScope(v, authz.Visibility(old.Visibility), in.Visibility); err != nil {
				return err
			}
			up := tx.Sensor.UpdateOne(old)
			if in.Name != "" {
				up.SetName(in.Name)
			}
			if in.SensorType != "" {
				up.SetSensorType(in.SensorType)
			}
			if in.Visibility != "" {
				up.SetVisibility(sensor.Visibility(in.Visibility))
			}
			row, err := up.Save(ctx)
			if err != nil {
				return fmt.Errorf("update sensor: %w", err)
			}
			public, recording = row.Visibility == sensor.VisibilityPublic, row.RecordingEnabled
		}
		if len(in.Attributes) == 0 {
			return nil
		}
		creates := make([]*ent.SensorAttributeCreate, 0, len(in.Attributes))
		for _, a := range in.Attributes {
			c := tx.SensorAttribute.Create().SetSensorID(in.ID).SetAttributeID(a.ID).
				SetAttributeType(a.Type).SetUnit(a.Unit)
			if a.SampleRateHz > 0 {
				c.SetSampleRateHz(a.SampleRateHz)
			}
			creates = append(creates, c)
		}
		err = tx.SensorAttribute.CreateBulk(creates...).
			OnConflictColumns(sensorattribute.FieldSensorID, sensorattribute.FieldAttributeID).
			UpdateNewValues().Exec(ctx)
		if err != nil {
			return fmt.Errorf("save attributes: %w", err)
		}
		return nil
	})
	return public, recording, err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Update changes a sensor's name and visibility (nil: unchanged); owner only.
func (s *Service) Update(ctx context.Context, v authz.Viewer, id string, name *string, vis authz.Visibility) (Sensor, error) {
	e, err := s.check(ctx, v, id, authz.SensorManage)
	if err != nil {
		return Sensor{}, err
	}
	up := s.db.Sensor.UpdateOneID(id)
	if name != nil {
		up.SetName(*name)
	}
	if vis != "" {
		up.SetVisibility(sensor.Visibility(vis))
	}
	row, err := up.Save(ctx)
	if ent.IsNotFound(err) {
		return Sensor{}, apperr.NotFound("sensor not found")
	}
	if err != nil {
		return Sensor{}, fmt.Errorf("update sensor %s: %w", id, err)
	}
	e.public.Store(row.Visibility == sensor.VisibilityPublic)
	if row.Visibility != sensor.VisibilityPublic {
		s.accessChanged(ctx, id, false) // before answering: nothing published later leaks
	}
	_ = s.hub.Notify(id, hub.EventUpdated) // not live: no watcher to tell
	s.changed(RegistryChange{SensorID: id, Kind: RegistryUpdated})
	return s.Get(ctx, v, id)
}

// SetRecording turns a sensor's recording on or off with a retention (0: the server
// default, else forever); owner only. With a recorder it also opens or closes the
// Recording span and switches the ingest path at once; the flag is persisted, so
// recording survives a restart.
func (s *Service) SetRecording(ctx context.Context, v authz.Viewer, id string, enabled bool, retention time.Duration) (Sensor, error) {
	if _, err := s.check(ctx, v, id, authz.SensorManage); err != nil {
		return Sensor{}, err
	}
	if s.rec != nil {
		if _, err := s.rec.SetRecording(ctx, id, enabled, &retention); err != nil {
			return Sensor{}, fmt.Errorf("set recording: %w", err)
		}
		s.setRecordingFlag(id, enabled)
	} else {
		up := s.db.Sensor.UpdateOneID(id).SetRecordingEnabled(enabled)
		if retention > 0 {
			up.SetRecordingRetentionSeconds(int64(retention / time.Second))
		} else {
			up.ClearRecordingRetentionSeconds()
		}
		if _, err := up.Save(ctx); err != nil {
			if ent.IsNotFound(err) {
				return Sensor{}, apperr.NotFound("sensor not found")
			}
			return Sensor{}, fmt.Errorf("set recording of %s: %w", id, err)
		}
	}
	_ = s.hub.Notify(id, hub.EventUpdated)
	s.changed(RegistryChange{SensorID: id, Kind: RegistryRecording, Recording: enabled})
	return s.Get(ctx, v, id)
}

// Delete removes a sensor (owner only): its rows, its live data, and its streams
// (watchers get EventRemoved; connector sessions end through OnDelete).
func (s *Service) Delete(ctx context.Context, v authz.Viewer, id string) error {
	if _, err := s.check(ctx, v, id, authz.SensorManage); err != nil {
		return err
	}
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		if _, err := tx.SensorAttribute.Delete().Where(sensorattribute.SensorID(id)).Exec(ctx); err != nil {
			return fmt.Errorf("delete attributes: %w", err)
		}
		if err := tx.Sensor.DeleteOneID(id).Exec(ctx); err != nil && !ent.IsNotFound(err) {
			return fmt.Errorf("delete sensor: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete sensor %s: %w", id, err)
	}
	if s.rec != nil {
		s.setRecordingFlag(id, false)
		if _, err := s.rec.DeleteSensorData(ctx, id); err != nil {
			// The sensor is gone; its rows are orphans that retention will not
			// reach. Report it, but the deletion itself succeeded.
			s.log.Error().Err(err).Str("sensor_id", id).Msg("delete recorded data of a deleted sensor")
		}
	}
	s.dropLive(ctx, id)
	s.changed(RegistryChange{SensorID: id, Kind: RegistryDeleted})
	return nil
}

// dropLive ends the live state of a deleted sensor: its cache entry and inferred
// attributes go, its watchers get EventRemoved and lose access at once.
func (s *Service) dropLive(ctx context.Context, id string) {
	s.forget(id)
	s.inferredMu.Lock()
	delete(s.inferred, id)
	s.inferredMu.Unlock()
	s.hub.Delete(id)
	s.accessChanged(ctx, id, true)
	if s.onDelete != nil {
		s.onDelete(id)
	}
}

// OwnersDeleted ends the live state of the sensors of deleted users (the guest
// sweeper's hook: the database already deleted their rows): their watchers get
// EventRemoved and lose access at once, as for DeleteSensor, and their ids are free.
func (s *Service) OwnersDeleted(ctx context.Context, owners []uuid.UUID) {
	gone := make(map[uuid.UUID]bool, len(owners))
	for _, id := range owners {
		gone[id] = true
	}
	var ids []string
	s.mu.RLock()
	for id, e := range s.cache {
		if gone[e.owner] {
			ids = append(ids, id)
		}
	}
	s.mu.RUnlock()
	for _, id := range ids {
		if s.rec != nil {
			s.setRecordingFlag(id, false)
		}
		s.dropLive(ctx, id)
		s.changed(RegistryChange{SensorID: id, Kind: RegistryDeleted})
	}
}
