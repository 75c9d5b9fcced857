package recording

// Kind is the caller's code for the kind of a value. The recorder stores it as is;
// only KindNumber has a meaning here: the value is Value.Number. Any other kind is
// stored as Value.Payload.
type Kind uint8

// KindNumber marks a numeric value (the same code as the hub's number kind).
const KindNumber Kind = 1

// Value is one measurement to record.
type Value struct {
	SensorID     string
	AttributeID  string
	TimeUS       int64 // sensor clock, µs since the Unix epoch
	ServerTimeUS int64 // server receive time, µs since the Unix epoch
	Kind         Kind
	Number       float64 // KindNumber
	Payload      []byte  // any other kind: the caller's encoding (JSON by convention)
}

// Block is a uniformly sampled waveform segment to record.
type Block struct {
	SensorID     string
	AttributeID  string
	StartUS      int64 // time of Samples[0], sensor clock, µs since the Unix epoch
	ServerTimeUS int64
	RateHz       float64
	Samples      []float32
}

// Rows the readers trust. The API accepts times in [2000-01-01, now + 1 day] and
// rates of 0.001–100000 Hz (hub.MinTimeUS, hub.MinSampleRateHz); rows written before
// it checked may hold anything, and arithmetic on them (a block's end, a bucket index)
// overflowed: PostgreSQL then failed the whole query ("bigint out of range") and the
// attribute's history answered internal forever. Readers leave such rows out
// (saneBlockSQL, saneTimeSQL) and Maintain deletes them with a warning.
const (
	// maxSaneTimeUS bounds the times readers compute with: 2⁶² µs is year 148,000,
	// far from overflow whatever is added to it.
	maxSaneTimeUS int64 = 1 << 62
)

// saneBlockSQL is the condition a measurement_blocks row must meet to be read: a rate
// of at least the API's minimum, 0.001 Hz (a block's span then stays below 2⁴⁴ µs),
// and a start readers can compute with and an end (NULL on rows before schema version
// 2) not before the start. Parameters: none.
const saneBlockSQL = ` AND rate_hz >= 0.001 AND count >= 1 AND count <= 1048576
	AND start_time_us >= 0 AND start_time_us <= 4611686018427387904
	AND (end_time_us IS NULL OR (end_time_us >= start_time_us AND end_time_us <= 4611686018427387904))`

// blockEndSQL is a sane block's last sample time: end_time_us, computed for rows
// before schema version 2. CASE keeps the database from computing the end of a row
// saneBlockSQL leaves out (SQL does not promise to test AND terms in order).
const blockEndSQL = `CASE WHEN end_time_us IS NOT NULL THEN end_time_us
	WHEN rate_hz >= 0.001 AND count <= 1048576 AND start_time_us <= 4611686018427387904
	THEN start_time_us + CAST(round((count - 1) * 1000000.0 / rate_hz) AS bigint)
	ELSE start_time_us END`
