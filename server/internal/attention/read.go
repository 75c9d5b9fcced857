package attention

import (
	"slices"
	"time"
)

// Level returns a sensor's level.
func (t *Tracker) Level(sensorID string) Level {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.sensors[sensorID]; a != nil {
		return a.snap.Level
	}
	return LevelNone
}

// AttributeLevel returns the level of one attribute: the max of its own, the
// whole sensor's ("" attribute, e.g. a pin of the sensor) and LOW while Watch
// streams are open. It is what a watcher's flush window for the attribute
// should follow.
func (t *Tracker) AttributeLevel(sensorID, attributeID string) Level {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.sensors[sensorID]
	if a == nil {
		return LevelNone
	}
	l := LevelNone
	if a.watchers > 0 {
		l = LevelLow
	}
	for _, aa := range a.snap.Attributes {
		if aa.AttributeID == attributeID || aa.AttributeID == "" {
			l = max(l, aa.Level)
		}
	}
	return l
}

// WatcherLevel returns the level at which a Watch stream of user userID delivers an
// attribute: the most attention the user's tab tabID pays to the attribute or to the
// whole sensor, or, when tabID is "", the most any of the user's tabs pays; at least
// LOW, which an open Watch counts as. Unlike AttributeLevel it ignores other viewers:
// a watcher is flushed at the window of its own attention.
func (t *Tracker) WatcherLevel(userID, tabID, sensorID, attributeID string) Level {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := LevelLow
	now := t.now()
	if tabID != "" { // the usual case: one lookup, however many watch the sensor
		if vw := t.viewers[Viewer{UserID: userID, TabID: tabID}]; vw != nil {
			l = max(l, vw.levelOf(sensorID, attributeID, now))
		}
		return l
	}
	if a := t.sensors[sensorID]; a != nil {
		for vw := range a.viewers {
			if vw.id.UserID == userID {
				l = max(l, vw.levelOf(sensorID, attributeID, now))
			}
		}
	}
	return l
}

// levelOf is what this viewer contributes to an attribute: its own item's and the
// whole sensor's. t.mu must be held.
func (vw *viewer) levelOf(sensorID, attributeID string, now time.Time) Level {
	l := LevelNone
	items := vw.items[sensorID]
	if it := items[attributeID]; it != nil {
		l = vw.contribution(it, now)
	}
	if it := items[""]; it != nil && attributeID != "" {
		l = max(l, vw.contribution(it, now))
	}
	return l
}

// Snapshot returns a sensor's attention (NONE with no detail when nobody).
func (t *Tracker) Snapshot(sensorID string) SensorAttention {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.sensors[sensorID]; a != nil {
		sa := a.snap
		sa.Attributes = slices.Clone(sa.Attributes)
		return sa
	}
	return SensorAttention{SensorID: sensorID}
}

// Stats summarise the tracker for SystemService.
type Stats struct {
	Viewers int
	// SensorsByLevel counts tracked sensors per level (index = Level).
	SensorsByLevel [4]int
}

// Stats returns the current summary.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := Stats{Viewers: len(t.viewers)}
	for _, a := range t.sensors {
		st.SensorsByLevel[a.snap.Level]++
	}
	return st
}
