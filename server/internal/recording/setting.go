package recording

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	entrecording "github.com/sensocto/sensocto/ent/recording"
	"github.com/sensocto/sensocto/ent/sensor"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/database"
)

// SetRecording persists a sensor's recording setting: enabled, and the retention
// (nil keeps the sensor's current one; a zero duration clears it, so the server
// default applies). Turning it on opens a Recording span, turning it off closes the
// open one; repeating a call changes nothing. Authorisation (owner only) is the
// caller's job. It returns the updated sensor.
func (r *Recorder) SetRecording(ctx context.Context, sensorID string, enabled bool, retention *time.Duration) (*ent.Sensor, error) {
	now := r.opts.Clock.Now()
	var out *ent.Sensor
	err := database.WithTx(ctx, r.db.Client, func(tx *ent.Tx) error {
		s, err := tx.Sensor.Get(ctx, sensorID)
		if ent.IsNotFound(err) {
			return apperr.NotFound("sensor %s not found", sensorID)
		}
		if err != nil {
			return fmt.Errorf("get sensor: %w", err)
		}
		up := tx.Sensor.UpdateOne(s).SetRecordingEnabled(enabled)
		var keepSec *int64
		if retention != nil {
			if *retention <= 0 {
				up.ClearRecordingRetentionSeconds()
			} else {
				sec := int64(*retention / time.Second)
				keepSec = &sec
				up.SetRecordingRetentionSeconds(sec)
			}
		}
		if out, err = up.Save(ctx); err != nil {
			return fmt.Errorf("update sensor: %w", err)
		}
		open, err := tx.Recording.Query().
			Where(entrecording.SensorID(sensorID), entrecording.StoppedAtIsNil()).
			All(ctx)
		if err != nil {
			return fmt.Errorf("list open recordings: %w", err)
		}
		switch {
		case enabled && len(open) == 0:
			c := tx.Recording.Create().SetSensorID(sensorID).SetStartedAt(now)
			if keepSec != nil {
				c.SetRetentionSeconds(*keepSec)
			}
			if _, err := c.Save(ctx); err != nil {
				return fmt.Errorf("open recording: %w", err)
			}
		case !enabled && len(open) > 0:
			ids := make([]uuid.UUID, 0, len(open))
			for _, o := range open {
				ids = append(ids, o.ID)
			}
			if _, err := tx.Recording.Update().Where(entrecording.IDIn(ids...)).SetStoppedAt(now).Save(ctx); err != nil {
				return fmt.Errorf("close recording: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set recording of %s: %w", sensorID, err)
	}
	return out, nil
}

// RecordingSensors returns the ids of the sensors whose recording is on, for the hub
// to restore at start.
func (r *Recorder) RecordingSensors(ctx context.Context) ([]string, error) {
	ids, err := r.db.Client.Sensor.Query().Where(sensor.RecordingEnabled(true)).IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list recording sensors: %w", err)
	}
	return ids, nil
}
