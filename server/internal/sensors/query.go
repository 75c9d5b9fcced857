package sensors

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/predicate"
	"github.com/sensocto/sensocto/ent/roomsensor"
	"github.com/sensocto/sensocto/ent/sensor"
	"github.com/sensocto/sensocto/ent/sensorattribute"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// Page sizes of List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
)

// Get returns a sensor v may see.
func (s *Service) Get(ctx context.Context, v authz.Viewer, id string) (Sensor, error) {
	if err := s.CheckView(ctx, v, id); err != nil {
		return Sensor{}, err
	}
	row, err := s.db.Sensor.Query().Where(sensor.ID(id)).WithAttributes().WithOwner().Only(ctx)
	if ent.IsNotFound(err) {
		return Sensor{}, apperr.NotFound("sensor not found")
	}
	if err != nil {
		return Sensor{}, fmt.Errorf("get sensor %s: %w", id, err)
	}
	return s.toSensor(row), nil
}

func (s *Service) toSensor(row *ent.Sensor) Sensor {
	out := Sensor{
		ID: row.ID, Name: row.Name, SensorType: row.SensorType, OwnerID: row.OwnerID,
		Visibility: authz.Visibility(row.Visibility), Recording: row.RecordingEnabled,
		CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt, Connected: s.Connected(row.ID),
		Source: s.source(row.ID, row.SensorType, row.OwnerID),
	}
	if row.RecordingRetentionSeconds != nil {
		out.RecordingRetention = time.Duration(*row.RecordingRetentionSeconds) * time.Second
	}
	if row.LastSeenAt != nil {
		out.LastSeenAt = *row.LastSeenAt
	}
	s.mu.RLock()
	e := s.cache[row.ID]
	s.mu.RUnlock()
	if e != nil {
		if us := e.lastSeen.Load(); us > 0 {
			out.LastSeenAt = time.UnixMicro(us)
		}
	}
	if row.Edges.Owner != nil {
		out.OwnerName = row.Edges.Owner.DisplayName
	}
	for _, a := range row.Edges.Attributes {
		attr := Attribute{ID: a.AttributeID, Type: a.AttributeType, Unit: a.Unit}
		if a.SampleRateHz != nil {
			attr.SampleRateHz = *a.SampleRateHz
		}
		out.Attributes = append(out.Attributes, attr)
	}
	slices.SortFunc(out.Attributes, func(a, b Attribute) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// ListFilter selects sensors; empty fields do not filter.
type ListFilter struct {
	// OwnerID is a user id, or "me" for the caller.
	OwnerID       string
	SensorType    string
	AttributeType string
	// RoomID: only sensors in this room; the caller must be its owner or a member.
	RoomID    string
	PageSize  int
	PageToken string
}

// List returns the sensors v may see that match f, sorted by name then id, one page
// at a time, and the token of the next page ("" on the last).
func (s *Service) List(ctx context.Context, v authz.Viewer, f ListFilter) ([]Sensor, string, error) {
	size := f.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	visible := []predicate.Sensor{sensor.OwnerID(v.UserID), sensor.VisibilityEQ(sensor.VisibilityPublic)}
	ra := s.rooms.Load()
	if ra != nil {
		if shared := ra.SensorsSharedWith(v.UserID); len(shared) > 0 {
			visible = append(visible, sensor.IDIn(shared...))
		}
	}
	preds := []predicate.Sensor{sensor.Or(visible...)}
	switch f.OwnerID {
	case "":
	case "me":
		preds = append(preds, sensor.OwnerID(v.UserID))
	default:
		id, err := uuid.Parse(f.OwnerID)
		if err != nil {
			return nil, "", apperr.InvalidArgument("owner_id", "must be a user id or \"me\"")
		}
		preds = append(preds, sensor.OwnerID(id))
	}
	if f.SensorType != "" {
		preds = append(preds, sensor.SensorType(f.SensorType))
	}
	if f.AttributeType != "" {
		preds = append(preds, sensor.HasAttributesWith(sensorattribute.AttributeType(f.AttributeType)))
	}
	if f.RoomID != "" {
		rid, err := uuid.Parse(f.RoomID)
		if err != nil {
			return nil, "", apperr.InvalidArgument("room_id", "must be a room id")
		}
		if ra == nil || !ra.IsMember(ctx, rid, v.UserID) {
			return nil, "", apperr.NotFound("room not found")
		}
		preds = append(preds, sensor.HasRoomSensorsWith(roomsensor.RoomID(rid)))
	}
	if f.PageToken != "" {
		name, id, err := decodeToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		preds = append(preds, sensor.Or(sensor.NameGT(name), sensor.And(sensor.Name(name), sensor.IDGT(id))))
	}
	rows, err := s.db.Sensor.Query().Where(preds...).
		Order(ent.Asc(sensor.FieldName), ent.Asc(sensor.FieldID)).
		Limit(size + 1).WithAttributes().WithOwner().All(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("list sensors: %w", err)
	}
	next := ""
	if len(rows) > size {
		rows = rows[:size]
		last := rows[size-1]
		next = encodeToken(last.Name, last.ID)
	}
	out := make([]Sensor, len(rows))
	for i, r := range rows {
		out[i] = s.toSensor(r)
	}
	return out, next, nil
}

// A page token is the last row's name and id, NUL-separated, base64url: opaque to
// clients and stable under inserts.
func encodeToken(name, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(name + "\x00" + id))
}

func decodeToken(tok string) (string, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", "", apperr.InvalidArgument("page_token", "is not a token from a previous answer")
	}
	name, id, ok := strings.Cut(string(b), "\x00")
	if !ok {
		return "", "", apperr.InvalidArgument("page_token", "is not a token from a previous answer")
	}
	return name, id, nil
}

// Describe returns the sensors among ids that exist, in no order, without checking who
// may see them: the caller has (package rooms, for the sensors a room shares).
func (s *Service) Describe(ctx context.Context, ids []string) ([]Sensor, error) {
	rows, err := s.db.Sensor.Query().Where(sensor.IDIn(ids...)).WithAttributes().WithOwner().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe sensors: %w", err)
	}
	out := make([]Sensor, len(rows))
	for i, r := range rows {
		out[i] = s.toSensor(r)
	}
	return out, nil
}

// Count returns the number of stored sensors.
func (s *Service) Count(ctx context.Context) (int64, error) {
	n, err := s.db.Sensor.Query().Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count sensors: %w", err)
	}
	return int64(n), nil
}
