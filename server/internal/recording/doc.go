// Package recording owns recorded measurements: the measurement store outside ent
// (tables measurements and measurement_blocks, partitioned by day on PostgreSQL, plain
// tables on SQLite, both created by the recorder itself with idempotent DDL), the
// writer that takes accepted values and sample blocks off the ingest path through a
// bounded queue and writes them in batches (pgx CopyFrom on PostgreSQL, batched
// inserts in one transaction on SQLite), history queries with server-side
// downsampling and raw paging, CSV export, retention, and the per-sensor recording
// setting.
//
// # Storage
//
// measurements holds one row per value: sensor_id, attribute_id, time_us (sensor
// clock, µs since the Unix epoch), server_time_us (server receive time), kind (the
// caller's value kind code), number (set for KindNumber) and payload (the caller's
// encoding of any other value, JSON by convention). measurement_blocks holds one row
// per uniformly sampled block: start_time_us, server_time_us, rate_hz, count and
// samples (count little-endian float32s). Sample i of a block is at
// start_time_us + round(i·10⁶/rate_hz) (see SampleTime).
//
// On PostgreSQL both tables are PARTITION BY RANGE on the time column, one partition
// per UTC day named <table>_dYYYYMMDD, plus a default partition <table>_default for
// rows outside every partition. Partitions for today and the next PartitionsAhead
// days are created at start and by Maintain; a flush creates the partition of any
// day within PartitionWindow of now on demand (moving matching rows out of the
// default partition). Rows further out land in the default partition.
//
// # Retention
//
// A sensor's retention is its recording_retention_seconds, or Options.DefaultRetention
// when unset; zero means forever. Maintain deletes each sensor's rows older than its
// retention, and on PostgreSQL drops whole day partitions that end before now minus
// the largest retention of all sensors (nothing is dropped while any sensor keeps its
// data forever). The default partition is cleaned only by the per-sensor deletes.
//
// # Writing
//
// Enqueue and EnqueueBlock never block on I/O: they copy the value (payload and
// samples into pooled chunks) under a short mutex. Run owns the one writer goroutine
// loop: it flushes when QueueFlushSamples are queued or every FlushInterval; on error it
// retries with exponential backoff (RetryMin doubling to RetryMax) while the queue keeps
// absorbing up to QueueBound samples (a value counts one sample, a block its sample
// count); beyond the bound the oldest queued chunk is dropped and counted. When Run's
// context ends it flushes what is queued within ShutdownTimeout.
//
// On PostgreSQL a flush writes up to Writers batches at once, each on its own
// connection and in its own transaction, rows sorted by (sensor, attribute, time):
// maintaining the (sensor_id, attribute_id, time) index is the bottleneck and runs in
// the server backends. A failed batch goes back to the queue's head in order.
//
// On PostgreSQL the writer uses connections of database.DB.SQL (pgx's stdlib pool) and
// reaches the pgx connection through (*sql.Conn).Raw for CopyFrom, so there is one pool
// and one place that configures it.
package recording
