// Package loadmon owns the load monitor: it samples CPU, heap against the memory
// limit, goroutines and watcher queue depth once a second, turns them into a
// weighted score and a load Level with hysteresis, switches memory protection
// on heap pressure, and tells subscribers and Prometheus.
package loadmon
