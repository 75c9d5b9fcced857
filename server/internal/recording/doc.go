// Package recording owns recorded measurements: the measurement store outside ent
// (tables measurement_packs, measurements and measurement_blocks, partitioned by day on
// PostgreSQL, plain tables on SQLite, their schema versioned and migrated by the
// recorder itself, see schema.go), the writer that takes accepted values and sample
// blocks off the ingest path through a bounded queue and writes them in batches (pgx
// CopyFrom on PostgreSQL, batched inserts in one transaction on SQLite), history
// queries with server-side downsampling and raw paging, CSV export, retention, and the
// per-sensor recording setting.
//
// # Storage
//
// measurement_packs holds numbers packed per series and flush: one row per (sensor,
// attribute, flush), cut at packMaxValues values and packMaxSpanUS from its first to
// its last time, with start_time_us and end_time_us (first and last time), count,
// min_value, max_value and sum_value (of the numbers), times (varint deltas of the
// times, then zigzag-varint deltas of the server-minus-sensor offsets) and numbers
// (count little-endian float64s). Reading a pack gives back exactly the values, times
// and server times written, in time order (ties in arrival order).
//
// measurements holds one row per other value: sensor_id, attribute_id, time_us (sensor
// clock, µs since the Unix epoch), server_time_us (server receive time), kind (the
// caller's value kind code), number and payload (the caller's encoding of the value,
// JSON by convention). Numbers written before schema version 2 are rows here too (with
// number set); readers read numbers from both tables, so old rows need no conversion
// and age out with retention.
//
// measurement_blocks holds one row per uniformly sampled block: start_time_us,
// server_time_us, rate_hz, count and samples (count little-endian float32s), and,
// from schema version 2, end_time_us (time of the last sample) and the min, max and
// sum of the samples (NULL on older rows, which readers decode). Sample i of a block is
// at start_time_us + round(i·10⁶/rate_hz) (apirules.SampleTimeUS).
//
// Downsampling takes a pack or block that lies wholly in one bucket by its summary,
// merged per bucket in SQL, and decodes only the rows that straddle a bucket edge (or
// have no summary), so the extremes of every bucket, and the global min and max of
// the range, stay exact.
//
// On PostgreSQL the tables are PARTITION BY RANGE on the (start) time column, one partition
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
// A flush sorts its numbers by (sensor, attribute, time, arrival) and packs them;
// rows of one series then cost one heap tuple and one index entry per pack instead of
// per value, which is what lets single measurements reach the write rate of blocks.
// On PostgreSQL a flush writes up to Writers batches at once, each on its own
// connection and in its own transaction, rows sorted by (sensor, attribute, time). A
// failed batch goes back to the queue's head in order.
//
// On PostgreSQL the writer uses connections of database.DB.SQL (pgx's stdlib pool) and
// reaches the pgx connection through (*sql.Conn).Raw for CopyFrom, so there is one pool
// and one place that configures it.
package recording
