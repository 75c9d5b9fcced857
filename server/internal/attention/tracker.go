package attention

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// Defaults of the tracker.
const (
	DefaultLease       = 15 * time.Second
	DefaultHoverLinger = 2 * time.Second
	// DefaultMaxItemsPerViewer bounds the (sensor, attribute) pairs one
	// viewer may have state for.
	DefaultMaxItemsPerViewer = 4096
	maxIDLen                 = 128
)

// Battery caps of a viewer (fraction 0..1, not charging).
const (
	BatteryLow      = 0.20 // below: the viewer contributes at most MEDIUM
	BatteryCritical = 0.10 // below: at most LOW
)

// Viewer is one user in one browser tab (or app view). Leases are per viewer.
type Viewer struct {
	UserID string
	TabID  string
}

// EventKind is what a viewer did. Values follow the wire enum
// sensocto.v1.AttentionEventKind (0 is invalid).
type EventKind uint8

// Event kinds.
const (
	ViewEnter EventKind = iota + 1
	ViewLeave
	HoverEnter
	HoverLeave
	Focus
	Unfocus
	Pin
	Unpin
	PageHidden
	PageVisible
	BatteryState
)

// Event is one thing a viewer did. AttributeID "" means the whole sensor.
// SensorID is ignored for PageHidden, PageVisible and BatteryState, which
// concern the whole viewer.
type Event struct {
	SensorID        string
	AttributeID     string
	Kind            EventKind
	BatteryLevel    float64 // 0..1 (BatteryState)
	BatteryCharging bool    // (BatteryState)
}

// AttributeAttention is the attention on one attribute ("" = the whole sensor).
type AttributeAttention struct {
	AttributeID string
	Level       Level
	// Counts of viewers with it in view, hovering (or within the linger),
	// focused and pinned.
	Viewers, Hovering, Focused, Pinned uint32
}

// SensorAttention is the attention on one sensor.
type SensorAttention struct {
	SensorID string
	// Level is the max over attributes and viewers; LOW at least while a
	// Watch stream is open; NONE when nobody.
	Level Level
	// Attributes are sorted by id.
	Attributes []AttributeAttention
	// Watchers counts open Watch streams.
	Watchers  uint32
	ChangedAt time.Time
}

// sameDetail compares everything but ChangedAt.
func (a *SensorAttention) sameDetail(b *SensorAttention) bool {
	return a.Level == b.Level && a.Watchers == b.Watchers && slices.Equal(a.Attributes, b.Attributes)
}

// Change is an announced change of a sensor's attention.
type Change struct {
	SensorAttention
	// Previous is the level before the change.
	Previous Level
}

// Options configure a Tracker. The zero value uses the defaults.
type Options struct {
	Now               func() time.Time
	Lease             time.Duration
	HoverLinger       time.Duration
	MaxItemsPerViewer int
}

// Tracker tracks attention. All methods are safe for concurrent use. Leases
// and hover lingers expire in Sweep, which Run calls at the right times.
type Tracker struct {
	now      func() time.Time
	lease    time.Duration
	linger   time.Duration
	maxItems int
	kick     chan struct{}

	mu      sync.Mutex
	viewers map[Viewer]*viewer
	sensors map[string]*sensorAgg
	next    time.Time // earliest lease expiry or linger end; zero: none
	subs    map[*Subscription]struct{}
}

type viewer struct {
	id      Viewer
	expires time.Time
	hidden  bool
	cap     Level
	items   map[string]map[string]*item // sensor → attribute → item
	nitems  int
}

type item struct {
	inView, hovering, focused, pinned bool
	hoverUntil                        time.Time
}

func (it *item) lingering(now time.Time) bool { return now.Before(it.hoverUntil) }

func (it *item) empty(now time.Time) bool {
	return !it.inView && !it.hovering && !it.focused && !it.pinned && !it.lingering(now)
}

type sensorAgg struct {
	viewers  map[*viewer]struct{}
	watchers int
	snap     SensorAttention
}

// New returns a Tracker.
func New(opts Options) *Tracker {
	t := &Tracker{
		now: opts.Now, lease: opts.Lease, linger: opts.HoverLinger, maxItems: opts.MaxItemsPerViewer,
		kick:    make(chan struct{}, 1),
		viewers: make(map[Viewer]*viewer), sensors: make(map[string]*sensorAgg),
		subs: make(map[*Subscription]struct{}),
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.lease <= 0 {
		t.lease = DefaultLease
	}
	if t.linger <= 0 {
		t.linger = DefaultHoverLinger
	}
	if t.maxItems <= 0 {
		t.maxItems = DefaultMaxItemsPerViewer
	}
	return t
}

// Lease returns the lease lifetime: viewers must report (or heartbeat) well
// within it.
func (t *Tracker) Lease() time.Duration { return t.lease }

func batteryCap(level float64, charging bool) Level {
	switch {
	case charging:
		return LevelHigh
	case level < BatteryCritical:
		return LevelLow
	case level < BatteryLow:
		return LevelMedium
	default:
		return LevelHigh
	}
}

func wholeViewer(k EventKind) bool { return k == PageHidden || k == PageVisible || k == BatteryState }

func validate(v Viewer, events []Event) error {
	if v.UserID == "" || len(v.UserID) > maxIDLen {
		return apperr.InvalidArgument("viewer.user_id", "must be 1 to 128 bytes")
	}
	if v.TabID == "" || len(v.TabID) > maxIDLen {
		return apperr.InvalidArgument("tab_id", "must be 1 to 128 bytes")
	}
	for i, e := range events {
		switch {
		case e.Kind < ViewEnter || e.Kind > BatteryState:
			return apperr.InvalidArgument(fmt.Sprintf("events[%d].kind", i), "unknown event kind")
		case !wholeViewer(e.Kind) && (e.SensorID == "" || len(e.SensorID) > maxIDLen):
			return apperr.InvalidArgument(fmt.Sprintf("events[%d].sensor_id", i), "is required for this kind (1 to 128 bytes)")
		case len(e.AttributeID) > maxIDLen:
			return apperr.InvalidArgument(fmt.Sprintf("events[%d].attribute_id", i), "at most 128 bytes")
		case e.Kind == BatteryState && !(e.BatteryLevel >= 0 && e.BatteryLevel <= 1) || math.IsNaN(e.BatteryLevel):
			return apperr.InvalidArgument(fmt.Sprintf("events[%d].battery_level", i), "must be in [0, 1]")
		}
	}
	return nil
}

// Report applies a viewer's events in order and renews its lease; no events
// is a heartbeat. The batch is validated whole first: on error nothing is
// applied.
func (t *Tracker) Report(v Viewer, events []Event) error {
	if err := validate(v, events); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	vw := t.viewers[v]
	if vw == nil {
		vw = &viewer{id: v, cap: LevelHigh, items: make(map[string]map[string]*item)}
	}
	if err := t.checkCapacity(vw, events); err != nil {
		return err
	}
	t.viewers[v] = vw
	vw.expires = now.Add(t.lease)
	t.schedule(vw.expires)
	touched := make(map[string]struct{})
	for _, e := range events {
		t.apply(vw, e, now, touched)
	}
	for id := range touched {
		t.update(id, now)
	}
	return nil
}

// checkCapacity refuses a report that would give the viewer more than
// maxItems items. t.mu must be held.
func (t *Tracker) checkCapacity(vw *viewer, events []Event) error {
	fresh := 0
	for i, e := range events {
		if e.Kind != ViewEnter && e.Kind != HoverEnter && e.Kind != Focus && e.Kind != Pin {
			continue
		}
		if _, ok := vw.items[e.SensorID][e.AttributeID]; ok {
			continue
		}
		fresh++ // may count a pair twice: errs on the safe side
		if vw.nitems+fresh > t.maxItems {
			return apperr.ResourceExhausted(0, "events[%d]: a viewer may track at most %d sensors and attributes", i, t.maxItems)
		}
	}
	return nil
}

func (t *Tracker) schedule(at time.Time) {
	if t.next.IsZero() || at.Before(t.next) {
		t.next = at
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

// apply applies one event. t.mu must be held.
func (t *Tracker) apply(vw *viewer, e Event, now time.Time, touched map[string]struct{}) {
	switch e.Kind {
	case PageHidden, PageVisible, BatteryState:
		if e.Kind == BatteryState {
			vw.cap = batteryCap(e.BatteryLevel, e.BatteryCharging)
		} else {
			vw.hidden = e.Kind == PageHidden
		}
		for id := range vw.items {
			touched[id] = struct{}{}
		}
		return
	}
	touched[e.SensorID] = struct{}{}
	it := vw.items[e.SensorID][e.AttributeID]
	if it == nil {
		switch e.Kind {
		case ViewLeave, HoverLeave, Unfocus, Unpin:
			return // nothing to leave
		}
		attrs := vw.items[e.SensorID]
		if attrs == nil {
			attrs = make(map[string]*item)
			vw.items[e.SensorID] = attrs
			agg := t.agg(e.SensorID)
			agg.viewers[vw] = struct{}{}
		}
		it = &item{}
		attrs[e.AttributeID] = it
		vw.nitems++
	}
	switch e.Kind {
	case ViewEnter:
		it.inView = true
	case ViewLeave:
		it.inView = false
	case HoverEnter:
		it.hovering = true
	case HoverLeave:
		if it.hovering {
			it.hovering = false
			it.hoverUntil = now.Add(t.linger)
			t.schedule(it.hoverUntil)
		}
	case Focus:
		it.focused = true
	case Unfocus:
		it.focused = false
	case Pin:
		it.pinned = true
	case Unpin:
		it.pinned = false
	}
	if it.empty(now) {
		t.removeItem(vw, e.SensorID, e.AttributeID)
	}
}

func (t *Tracker) agg(sensorID string) *sensorAgg {
	a := t.sensors[sensorID]
	if a == nil {
		a = &sensorAgg{viewers: make(map[*viewer]struct{}), snap: SensorAttention{SensorID: sensorID}}
		t.sensors[sensorID] = a
	}
	return a
}

func (t *Tracker) removeItem(vw *viewer, sensorID, attrID string) {
	attrs := vw.items[sensorID]
	if _, ok := attrs[attrID]; !ok {
		return
	}
	delete(attrs, attrID)
	vw.nitems--
	if len(attrs) == 0 {
		delete(vw.items, sensorID)
		if a := t.sensors[sensorID]; a != nil {
			delete(a.viewers, vw)
		}
	}
}

// contribution is one viewer's level for one item.
func (vw *viewer) contribution(it *item, now time.Time) Level {
	l := LevelNone
	switch {
	case it.pinned || it.focused || it.hovering || it.lingering(now):
		l = LevelHigh
	case it.inView:
		l = LevelMedium
	}
	if l > LevelLow && vw.hidden {
		l = LevelLow
	}
	return min(l, vw.cap)
}

// compute builds a sensor's attention from scratch. t.mu must be held.
func (t *Tracker) compute(sensorID string, a *sensorAgg, now time.Time) SensorAttention {
	sa := SensorAttention{SensorID: sensorID, Watchers: uint32(min(a.watchers, math.MaxUint32))} //nolint:gosec // G115: clamped
	for vw := range a.viewers {
		for attrID, it := range vw.items[sensorID] {
			i := slices.IndexFunc(sa.Attributes, func(x AttributeAttention) bool { return x.AttributeID == attrID })
			if i < 0 {
				i = len(sa.Attributes)
				sa.Attributes = append(sa.Attributes, AttributeAttention{AttributeID: attrID})
			}
			aa := &sa.Attributes[i]
			aa.Level = max(aa.Level, vw.contribution(it, now))
			if it.inView {
				aa.Viewers++
			}
			if it.hovering || it.lingering(now) {
				aa.Hovering++
			}
			if it.focused {
				aa.Focused++
			}
			if it.pinned {
				aa.Pinned++
			}
			sa.Level = max(sa.Level, aa.Level)
		}
	}
	if a.watchers > 0 {
		sa.Level = max(sa.Level, LevelLow)
	}
	slices.SortFunc(sa.Attributes, func(x, y AttributeAttention) int { return strings.Compare(x.AttributeID, y.AttributeID) })
	return sa
}

// update recomputes a sensor and announces a change. t.mu must be held.
func (t *Tracker) update(sensorID string, now time.Time) {
	a := t.sensors[sensorID]
	if a == nil {
		return
	}
	sa := t.compute(sensorID, a, now)
	prev := a.snap
	if len(a.viewers) == 0 && a.watchers == 0 {
		delete(t.sensors, sensorID) // nobody: NONE, nothing to keep
	}
	if sa.sameDetail(&prev) {
		return
	}
	sa.ChangedAt = prev.ChangedAt
	if sa.Level != prev.Level {
		sa.ChangedAt = now
	}
	a.snap = sa
	ch := Change{SensorAttention: sa, Previous: prev.Level}
	for s := range t.subs {
		s.put(ch)
	}
}

// AddWatcher counts an open Watch stream as LOW attention on the sensors until
// release is called (release is idempotent).
func (t *Tracker) AddWatcher(sensorIDs []string) (release func()) {
	ids := slices.Clone(sensorIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	t.mu.Lock()
	now := t.now()
	for _, id := range ids {
		t.agg(id).watchers++
		t.update(id, now)
	}
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			now := t.now()
			for _, id := range ids {
				if a := t.sensors[id]; a != nil && a.watchers > 0 {
					a.watchers--
					t.update(id, now)
				}
			}
		})
	}
}
