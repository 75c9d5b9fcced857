package recording

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/sensocto/sensocto/ent/sensor"
)

// Retention is how long one sensor's recorded data is kept; 0 means forever.
type Retention struct {
	SensorID string
	Keep     time.Duration
}

// Retentions returns the retention of every sensor that records or has recorded:
// its recording_retention_seconds, or Options.DefaultRetention when unset.
func (r *Recorder) Retentions(ctx context.Context) ([]Retention, error) {
	sensors, err := r.db.Client.Sensor.Query().
		Where(sensor.Or(sensor.RecordingEnabled(true), sensor.HasRecordings())).
		Select(sensor.FieldID, sensor.FieldRecordingRetentionSeconds).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sensor retentions: %w", err)
	}
	out := make([]Retention, 0, len(sensors))
	for _, s := range sensors {
		keep := r.opts.DefaultRetention
		if s.RecordingRetentionSeconds != nil {
			keep = time.Duration(*s.RecordingRetentionSeconds) * time.Second
		}
		out = append(out, Retention{SensorID: s.ID, Keep: keep})
	}
	return out, nil
}

// Maintain creates the day partitions ahead and applies retention (see the package
// documentation). Run calls it every MaintenanceInterval.
func (r *Recorder) Maintain(ctx context.Context) error {
	if err := r.EnsureSchema(ctx); err != nil {
		return err
	}
	if !r.purged.Load() {
		if err := r.PurgeUnreadable(ctx); err != nil {
			return err
		}
		r.purged.Store(true)
	}
	rs, err := r.Retentions(ctx)
	if err != nil {
		return err
	}
	return r.ApplyRetention(ctx, rs)
}

// unreadableSQL selects, per table, the rows readers leave out (see saneBlockSQL):
// blocks whose times or rate cannot be computed with, values and packs outside
// [0, 2⁶²].
var unreadableSQL = []struct{ table, where string }{
	{blocksTable, `NOT (TRUE` + saneBlockSQL + `)`},
	{"measurements", `time_us < 0 OR time_us > 4611686018427387904`},
	{packsTable, `start_time_us < 0 OR end_time_us < start_time_us OR end_time_us > 4611686018427387904`},
}

// PurgeUnreadable deletes the rows readers leave out (written before the API
// bounded times and rates) and logs how many there were. Maintain runs it once per
// process: it scans the tables.
func (r *Recorder) PurgeUnreadable(ctx context.Context) error {
	for _, u := range unreadableSQL {
		res, err := r.db.SQL.ExecContext(ctx, `DELETE FROM `+u.table+` WHERE `+u.where) //nolint:gosec // G202: constants only
		if err != nil {
			return fmt.Errorf("delete unreadable rows of %s: %w", u.table, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			r.log.Warn().Str("table", u.table).Int64("rows", n).Msg("deleted recorded rows with impossible times or rates (written before the API bounded them)")
		}
	}
	return nil
}

// ApplyRetention deletes each sensor's rows older than its retention and then, with
// the largest retention of all (forever if any sensor keeps its data forever, or
// DefaultRetention when rs is empty), drops whole day partitions that end before it
// and deletes older rows of sensors not listed (e.g. deleted sensors).
func (r *Recorder) ApplyRetention(ctx context.Context, rs []Retention) error {
	now := r.opts.Clock.Now()
	longest := r.opts.DefaultRetention
	forever := longest == 0
	if len(rs) > 0 {
		longest, forever = 0, false
	}
	for _, x := range rs {
		if x.Keep <= 0 {
			forever = true
			continue
		}
		longest = max(longest, x.Keep)
		n, err := r.sink.deleteBefore(ctx, x.SensorID, now.Add(-x.Keep).UnixMicro())
		if err != nil {
			return fmt.Errorf("apply retention of %s: %w", x.SensorID, err)
		}
		if n > 0 {
			r.log.Info().Str("sensor_id", x.SensorID).Int64("rows", n).Dur("retention", x.Keep).Msg("deleted expired recordings")
		}
	}
	if forever {
		return nil
	}
	cutoff := now.Add(-longest).UnixMicro()
	dropped, err := r.sink.dropBefore(ctx, cutoff)
	if err != nil {
		return fmt.Errorf("apply retention: %w", err)
	}
	if len(dropped) > 0 {
		r.log.Info().Strs("partitions", dropped).Msg("dropped expired partitions")
	}
	if _, err := r.sink.deleteBefore(ctx, "", cutoff); err != nil {
		return fmt.Errorf("apply retention: %w", err)
	}
	return nil
}

// DeleteSensorData deletes every recorded row of a sensor (for the sensors domain to
// call when a sensor is deleted: the measurement tables have no foreign key). It
// returns the rows deleted.
func (r *Recorder) DeleteSensorData(ctx context.Context, sensorID string) (int64, error) {
	if sensorID == "" {
		return 0, fmt.Errorf("delete sensor data: empty sensor id")
	}
	if err := r.EnsureSchema(ctx); err != nil {
		return 0, err
	}
	n, err := r.sink.deleteBefore(ctx, sensorID, math.MaxInt64)
	if err != nil {
		return n, fmt.Errorf("delete data of %s: %w", sensorID, err)
	}
	return n, nil
}
