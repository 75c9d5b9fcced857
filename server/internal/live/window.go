package live

import (
	"time"

	"github.com/sensocto/sensocto/server/internal/attention"
)

// Watcher flush windows: how long a watcher's queued data for an attribute may wait,
// by the watcher-side attention on that attribute, before the load multiplier.
//
// A watcher is flushed at the window of its attention (docs/architecture.md), but
// not at the connector windows (HIGH 100 ms, MEDIUM 500 ms, LOW 2 s, NONE 5 s):
// connectors already batch by attention (the back-pressure config tells them to), so
// a second 100 ms wait at the watcher would double the publish→screen latency at HIGH
// and miss the 5 ms p99 target. What reaches the server at HIGH is delivered at once;
// lower levels still coalesce deliveries to save work for watchers nobody looks at
// closely.
const (
	WatchWindowHigh   = 0
	WatchWindowMedium = 100 * time.Millisecond
	WatchWindowLow    = time.Second
	WatchWindowNone   = 5 * time.Second
)

// WatchWindow returns the flush window of a watcher for an attribute at attention
// level l, times the load multiplier (≥ 1; HIGH stays immediate).
func WatchWindow(l attention.Level, multiplier float64) time.Duration {
	if multiplier < 1 {
		multiplier = 1
	}
	var base time.Duration
	switch l {
	case attention.LevelHigh:
		return WatchWindowHigh
	case attention.LevelMedium:
		base = WatchWindowMedium
	case attention.LevelLow:
		base = WatchWindowLow
	default:
		base = WatchWindowNone
	}
	return time.Duration(float64(base) * multiplier)
}
