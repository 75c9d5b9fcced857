package attention

// Level is how much human attention a sensor or attribute gets. The zero value is
// LevelNone, and levels are ordered: a higher Level means more attention, so the
// level of a sensor is simply the max over its attributes and viewers.
//
// The wire enum (sensocto.v1.AttentionLevel) has an UNSPECIFIED zero value; the
// handlers convert with wire = domain + 1.
type Level uint8

// The attention levels, lowest first.
const (
	// LevelNone: nobody looks at it and nobody watches it.
	LevelNone Level = iota
	// LevelLow: watched by a Watch stream, or viewed in a hidden tab.
	LevelLow
	// LevelMedium: in some viewer's viewport.
	LevelMedium
	// LevelHigh: focused, hovered (or within the hover linger) or pinned.
	LevelHigh
)

var levelNames = [...]string{"none", "low", "medium", "high"}

// String returns "none", "low", "medium" or "high".
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "invalid"
}

// Valid reports whether l is one of the four levels.
func (l Level) Valid() bool { return l <= LevelHigh }
