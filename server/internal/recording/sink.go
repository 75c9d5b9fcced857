package recording

import (
	"context"
	"time"
)

// sink is the dialect-specific side of the measurement store.
type sink interface {
	// ensure creates the tables (and, on PostgreSQL, the partitions ahead).
	ensure(ctx context.Context, now time.Time) error
	// write stores a batch atomically: all of it or nothing.
	write(ctx context.Context, b *batch, now time.Time) error
	// deleteBefore deletes one sensor's rows older than cutoffUS (all sensors when
	// sensorID is empty) and returns the rows deleted.
	deleteBefore(ctx context.Context, sensorID string, cutoffUS int64) (int64, error)
	// dropBefore drops storage units (day partitions) that end at or before cutoffUS
	// and returns their names; a no-op on SQLite.
	dropBefore(ctx context.Context, cutoffUS int64) ([]string, error)
}

// Table and column names, shared by both dialects.
const (
	valuesTable = "measurements"
	blocksTable = "measurement_blocks"
)

var (
	valueColumns = []string{"sensor_id", "attribute_id", "time_us", "server_time_us", "kind", "number", "payload"}
	blockColumns = []string{
		"sensor_id", "attribute_id", "start_time_us", "server_time_us", "rate_hz", "count", "samples",
		"end_time_us", "min_value", "max_value", "sum_value",
	}
)

const dayUS = int64(24 * time.Hour / time.Microsecond)

// dayOf returns the UTC day number (days since the Unix epoch) of a µs timestamp.
func dayOf(us int64) int64 {
	d := us / dayUS
	if us%dayUS < 0 {
		d--
	}
	return d
}
