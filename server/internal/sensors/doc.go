// Package sensors owns the sensor registry: sensors and their attributes in the
// database (ent), the rules of who may register, publish, see and manage them
// (decided by the auth policy functions), and the bridge to the live hub.
//
// The hot path (Publish, Stream, Watch) never waits for the database after a
// sensor's first use: a cache holds every sensor this process has seen (owner,
// visibility, whether it is live in the hub, open streams, last data time). A
// sensor stored in the database but not live (after a restart) is registered in
// the hub lazily, with its stored attributes, on its first publish or watch.
// Attributes first seen in data are registered by the hub at once and persisted
// here asynchronously in batches (Run), never with a database round trip per
// publish.
//
// The cache is per process: in cluster mode another node's change of owner or
// visibility reaches this node's cache when the sensor is deleted or on restart.
package sensors
