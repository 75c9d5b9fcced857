// Package hub owns live sensor data in memory: the registry of live sensors and
// their attributes (with type inference for attributes first seen in data),
// per-attribute time-ordered ring buffers sized by attribute type, batch ingest
// that validates a whole batch before applying any of it, and fan-out to
// watchers through bounded per-watcher queues that never block ingest.
//
// The hub is transport-free: handlers convert the wire messages to the types of
// this package (Measurement, SampleBlock, Batch) and back. Conversion is cheap
// by design: a SampleBlock may alias the sample slice of the wire message.
//
// Ownership: Ingest takes ownership of the slices and values in the Batch it is
// given (sample slices, text, struct bytes, extras maps). The caller must not
// modify them afterwards: they are kept read-only and shared with every watcher
// and reader. The Batch itself (its Measurements and Blocks slices) may be
// reused by the caller after Ingest returns.
package hub
