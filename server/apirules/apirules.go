// Package apirules holds the facts of the API that more than one layer checks, each
// defined once: the id rules (sensor and attribute ids), the size limits of a request,
// and the sample-time rule of a sample block. The proto's validation rules state the
// same numbers and patterns (apirules_test.go reads them from the descriptors and
// compares), the ent schema and the hub check ids with these functions, the recorder
// computes sample times with SampleTimeUS, and the web app gets them generated into
// frontend/src/lib/gen/limits.ts (TypeScript, server/cmd/apirules). It is outside
// server/internal because the ent schema (ent/schema) imports it; it imports only the
// standard library.
package apirules

import "math"

// The id rules. Sensor ids are chosen by connectors (stable across reconnects; MAC
// addresses fit); attribute ids by connectors too (BLE characteristic UUIDs fit).
const (
	// SensorIDPattern: 1–128 characters, a letter or digit first, then letters, digits,
	// '_', '-', '.' or ':'.
	SensorIDPattern = `^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`
	// MaxSensorIDLen is the longest sensor id.
	MaxSensorIDLen = 128
	// AttributeIDPattern: 1–64 characters, a letter or digit first, then letters,
	// digits, '_' or '-'.
	AttributeIDPattern = `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`
	// MaxAttributeIDLen is the longest attribute id.
	MaxAttributeIDLen = 64
)

// Limits of one request, as the proto's rules state them.
const (
	// MaxMeasurements per PublishRequest / StreamRequest.
	MaxMeasurements = 10000
	// MaxBlocks (sample blocks) per PublishRequest / StreamRequest.
	MaxBlocks = 1000
	// MaxBlockSamples per sample block.
	MaxBlockSamples = 16384
	// MaxAttributes a sensor declares (RegisterSensorRequest.attributes) and holds.
	MaxAttributes = 256
	// MaxWatchSensors per WatchRequest and WatchAttentionRequest.
	MaxWatchSensors = 256
	// MaxWatchAttributes per WatchRequest.
	MaxWatchAttributes = 64
	// MaxAttentionEvents per ReportAttentionRequest.
	MaxAttentionEvents = 500
	// MaxTextBytes of a text value.
	MaxTextBytes = 4096
	// MaxSampleRateHz of a sample block or a declared attribute.
	MaxSampleRateHz = 100000
)

// ValidSensorID reports whether id follows SensorIDPattern (a byte loop, no regexp:
// it runs on the ingest path).
func ValidSensorID(id string) bool {
	if len(id) == 0 || len(id) > MaxSensorIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !alnum(c) && (i == 0 || c != '_' && c != '-' && c != '.' && c != ':') {
			return false
		}
	}
	return true
}

// ValidAttributeID reports whether id follows AttributeIDPattern.
func ValidAttributeID(id string) bool {
	if len(id) == 0 || len(id) > MaxAttributeIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !alnum(c) && (i == 0 || c != '_' && c != '-') {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

// SampleTimeUS returns the time of sample i of a block starting at startUS:
// startUS + round(i·10⁶/rateHz), in microseconds, the rule of the wire contract (the
// hub, the recorder and its SQL compute the same expression). Inputs whose result
// does not fit an int64 saturate instead of overflowing.
func SampleTimeUS(startUS int64, i int, rateHz float64) int64 {
	off := math.Round(float64(i) * 1e6 / rateHz)
	if off > -(1<<53) && off < 1<<53 { // exact as an int64; the sum may still overflow
		t := startUS + int64(off)
		if off > 0 && t < startUS {
			return math.MaxInt64
		}
		if off < 0 && t > startUS {
			return math.MinInt64
		}
		return t
	}
	switch sum := float64(startUS) + off; {
	case math.IsNaN(sum) || sum >= 1<<63:
		return math.MaxInt64
	case sum <= -(1 << 63):
		return math.MinInt64
	default:
		return int64(sum)
	}
}
