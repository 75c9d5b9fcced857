// Package backpressure owns the back-pressure advice sent to connectors: the pure
// formula that turns a sensor's attention level, the system load, memory
// protection and the sensor's own battery into the eight-field Config
// (docs/architecture.md, "The back-pressure formula"), and the Publisher that recomputes each
// sensor's Config when any input changes and pushes it to that sensor's
// subscribers (Stream and WatchBackpressure sessions) only when it changed.
//
// The package is pure: it imports the level types of attention and loadmon but
// subscribes to nothing; the live path (package live) feeds the Publisher.
package backpressure

import (
	"math"
	"time"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/loadmon"
)

// MemoryProtectionFactor multiplies windows and the reported load multiplier
// while memory protection is active.
const MemoryProtectionFactor = 5

// Battery thresholds of a sensor's own battery (fraction 0..1, not charging).
const (
	// BatteryLow: below it the window doubles.
	BatteryLow = 0.20
	// BatteryCritical: below it the window is four times as long.
	BatteryCritical = 0.10
)

// base holds the base window and batch size per attention level
// (docs/architecture.md):
// HIGH 100 ms/1, MEDIUM 500 ms/5, LOW 2000 ms/10, NONE 5000 ms/20.
var base = [...]struct {
	windowMS uint32
	size     uint32
}{
	attention.LevelNone:   {5000, 20},
	attention.LevelLow:    {2000, 10},
	attention.LevelMedium: {500, 5},
	attention.LevelHigh:   {100, 1},
}

// Battery is a sensor's own battery state as reported by its battery attribute.
// The zero value (Known false) means "unknown" and has no effect.
type Battery struct {
	Known    bool
	Level    float64 // 0..1
	Charging bool
}

// Factor is the window factor the battery implies: 1, 2 below BatteryLow, 4
// below BatteryCritical; always 1 while charging or unknown. Choice: the factor
// lengthens the window only; batch size, paused and load_multiplier are not
// affected (load_multiplier describes the server's state, not the sensor's).
func (b Battery) Factor() uint32 {
	switch {
	case !b.Known || b.Charging:
		return 1
	case b.Level < BatteryCritical:
		return 4
	case b.Level < BatteryLow:
		return 2
	default:
		return 1
	}
}

// Input is everything the formula depends on.
type Input struct {
	Attention        attention.Level
	Load             loadmon.Level
	MemoryProtection bool
	Battery          Battery
}

// Config is the advice for one sensor. Field names follow the wire message
// sensocto.v1.BackpressureConfig.
type Config struct {
	AttentionLevel         attention.Level
	SystemLoad             loadmon.Level
	MemoryProtectionActive bool
	// Paused: LOW or NONE attention under memory protection or critical load.
	// Advisory; the server still accepts data.
	Paused bool
	// RecommendedBatchWindowMS already includes the load multiplier (and the
	// memory-protection and battery factors); clients must not multiply again.
	RecommendedBatchWindowMS uint32
	// RecommendedBatchSize depends on attention only.
	RecommendedBatchSize uint32
	// LoadMultiplier is the load level's multiplier times MemoryProtectionFactor
	// under memory protection (1 .. 25).
	LoadMultiplier float64
	// Timestamp is when the config was computed; it is ignored by Equal.
	Timestamp time.Time
}

// Equal reports whether c and o carry the same advice, ignoring Timestamp.
func (c Config) Equal(o Config) bool {
	c.Timestamp, o.Timestamp = time.Time{}, time.Time{}
	return c == o
}

// Compute applies the formula (docs/architecture.md, "The back-pressure formula"):
//
//	window = trunc(base(att) × load multiplier) × (5 under memory protection) × battery factor
//	size   = base size(att)
//	paused = att ∈ {LOW, NONE} and (memory protection or load = CRITICAL)
//	load_multiplier = load multiplier × (5 under memory protection)
//
// Invalid levels count as NONE attention and CRITICAL load. now becomes the
// Timestamp.
func Compute(in Input, now time.Time) Config {
	att := in.Attention
	if !att.Valid() {
		att = attention.LevelNone
	}
	load := in.Load
	if !load.Valid() {
		load = loadmon.LevelCritical
	}
	b := base[att]
	mult := load.Multiplier()
	window := uint32(math.Trunc(float64(b.windowMS) * mult))
	reported := mult
	if in.MemoryProtection {
		window *= MemoryProtectionFactor
		reported *= MemoryProtectionFactor
	}
	window *= in.Battery.Factor()
	low := att <= attention.LevelLow
	return Config{
		AttentionLevel:           att,
		SystemLoad:               load,
		MemoryProtectionActive:   in.MemoryProtection,
		Paused:                   low && (in.MemoryProtection || load == loadmon.LevelCritical),
		RecommendedBatchWindowMS: window,
		RecommendedBatchSize:     b.size,
		LoadMultiplier:           reported,
		Timestamp:                now,
	}
}
