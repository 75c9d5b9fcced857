package loadmon

// Level is the system load level. The zero value is LevelNormal and levels are
// ordered (a higher Level is more load).
//
// The wire enum (sensocto.v1.SystemLoadLevel) has an UNSPECIFIED zero value; the
// handlers convert with wire = domain + 1.
type Level uint8

// The load levels, lowest first.
const (
	LevelNormal Level = iota
	LevelElevated
	LevelHigh
	LevelCritical
)

var levelNames = [...]string{"normal", "elevated", "high", "critical"}

// multipliers are the window multipliers per level (docs/architecture.md: 1 / 1.5 / 3 / 5).
var multipliers = [...]float64{1, 1.5, 3, 5}

// String returns "normal", "elevated", "high" or "critical".
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "invalid"
}

// Valid reports whether l is one of the four levels.
func (l Level) Valid() bool { return l <= LevelCritical }

// Multiplier returns the batch-window multiplier of the level: 1, 1.5, 3 or 5.
// An invalid level counts as critical.
func (l Level) Multiplier() float64 {
	if !l.Valid() {
		return multipliers[LevelCritical]
	}
	return multipliers[l]
}
