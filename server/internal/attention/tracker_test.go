package attention

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTracker(t *testing.T) (*Tracker, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(Options{Now: c.now}), c
}

var (
	alice = Viewer{UserID: "alice", TabID: "tab-1"}
	bob   = Viewer{UserID: "bob", TabID: "tab-9"}
)

func report(t *testing.T, tr *Tracker, v Viewer, events ...Event) {
	t.Helper()
	if err := tr.Report(v, events); err != nil {
		t.Fatalf("Report: %v", err)
	}
}

func ev(kind EventKind, sensor, attr string) Event {
	return Event{Kind: kind, SensorID: sensor, AttributeID: attr}
}

func battery(level float64, charging bool) Event {
	return Event{Kind: BatteryState, BatteryLevel: level, BatteryCharging: charging}
}

// TestLevelRules walks every rule: each step is applied in order to one
// tracker and the sensor's level checked after it.
func TestLevelRules(t *testing.T) {
	t.Parallel()
	type step struct {
		name    string
		v       Viewer
		events  []Event
		advance time.Duration // then Sweep
		want    Level
		attr    Level // level of attribute "ecg"
	}
	steps := []step{
		{name: "nobody", want: LevelNone, attr: LevelNone},
		{name: "in view", v: alice, events: []Event{ev(ViewEnter, "s", "ecg")}, want: LevelMedium, attr: LevelMedium},
		{name: "hover", v: alice, events: []Event{ev(HoverEnter, "s", "ecg")}, want: LevelHigh, attr: LevelHigh},
		{name: "hover leave lingers", v: alice, events: []Event{ev(HoverLeave, "s", "ecg")}, want: LevelHigh, attr: LevelHigh},
		{name: "linger still on at 1.9 s", advance: 1900 * time.Millisecond, want: LevelHigh, attr: LevelHigh},
		{name: "linger ends at 2 s", advance: 100 * time.Millisecond, want: LevelMedium, attr: LevelMedium},
		{name: "focus", v: alice, events: []Event{ev(Focus, "s", "ecg")}, want: LevelHigh, attr: LevelHigh},
		{name: "unfocus does not linger", v: alice, events: []Event{ev(Unfocus, "s", "ecg")}, want: LevelMedium, attr: LevelMedium},
		{name: "page hidden", v: alice, events: []Event{{Kind: PageHidden}}, want: LevelLow, attr: LevelLow},
		{name: "page visible", v: alice, events: []Event{{Kind: PageVisible}}, want: LevelMedium, attr: LevelMedium},
		{name: "pin the sensor", v: bob, events: []Event{ev(Pin, "s", "")}, want: LevelHigh, attr: LevelHigh},
		{name: "bob's battery critical caps him at LOW", v: bob, events: []Event{battery(0.05, false)}, want: LevelMedium, attr: LevelMedium},
		{name: "bob charging", v: bob, events: []Event{battery(0.05, true)}, want: LevelHigh, attr: LevelHigh},
		{name: "bob's battery low caps him at MEDIUM", v: bob, events: []Event{battery(0.15, false)}, want: LevelMedium, attr: LevelMedium},
		{name: "unpin", v: bob, events: []Event{ev(Unpin, "s", "")}, want: LevelMedium, attr: LevelMedium},
		{name: "alice's view leave", v: alice, events: []Event{ev(ViewLeave, "s", "ecg")}, want: LevelNone, attr: LevelNone},
		{name: "focus on another attribute raises the sensor", v: alice, events: []Event{ev(Focus, "s", "hr")}, want: LevelHigh, attr: LevelNone},
		{name: "lease expiry drops alice and is announced", advance: DefaultLease, want: LevelNone, attr: LevelNone},
	}
	tr, clk := newTracker(t)
	sub := tr.Subscribe("s")
	defer sub.Close()
	prev := LevelNone
	for _, st := range steps {
		if st.events != nil {
			report(t, tr, st.v, st.events...)
		}
		if st.advance > 0 {
			clk.advance(st.advance)
			tr.Sweep()
		}
		if got := tr.Level("s"); got != st.want {
			t.Fatalf("%s: level %v, want %v", st.name, got, st.want)
		}
		if got := tr.AttributeLevel("s", "ecg"); got != st.attr {
			t.Fatalf("%s: ecg level %v, want %v", st.name, got, st.attr)
		}
		changes := sub.Drain()
		if st.want != prev {
			if len(changes) != 1 || changes[0].Level != st.want || changes[0].Previous != prev {
				t.Fatalf("%s: changes %+v, want one %v→%v", st.name, changes, prev, st.want)
			}
		}
		prev = st.want
	}
	if st := tr.Stats(); st.Viewers != 0 || st.SensorsByLevel != [4]int{} {
		t.Fatalf("after every lease expired: %+v", st)
	}
}

func TestLeaseRenewedByHeartbeat(t *testing.T) {
	t.Parallel()
	tr, clk := newTracker(t)
	report(t, tr, alice, ev(ViewEnter, "s", ""))
	for range 10 {
		clk.advance(5 * time.Second)
		report(t, tr, alice) // heartbeat
		tr.Sweep()
	}
	if tr.Level("s") != LevelMedium {
		t.Fatal("heartbeats did not keep the lease")
	}
	clk.advance(DefaultLease - time.Millisecond)
	tr.Sweep()
	if tr.Level("s") != LevelMedium {
		t.Fatal("expired before the lease")
	}
	clk.advance(time.Millisecond)
	tr.Sweep()
	if tr.Level("s") != LevelNone || tr.Stats().Viewers != 0 {
		t.Fatal("not expired at the lease")
	}
}

func TestMaxOverViewersAndWatchers(t *testing.T) {
	t.Parallel()
	tr, _ := newTracker(t)
	sub := tr.Subscribe()
	defer sub.Close()
	release := tr.AddWatcher([]string{"s", "s", "t"})
	if tr.Level("s") != LevelLow || tr.Level("t") != LevelLow {
		t.Fatal("an open Watch counts as LOW")
	}
	report(t, tr, alice, ev(ViewEnter, "s", "x"))
	report(t, tr, bob, ev(HoverEnter, "s", "y"), ev(ViewEnter, "s", "x"))
	snap := tr.Snapshot("s")
	want := []AttributeAttention{
		{AttributeID: "x", Level: LevelMedium, Viewers: 2},
		{AttributeID: "y", Level: LevelHigh, Hovering: 1},
	}
	if snap.Level != LevelHigh || snap.Watchers != 1 || len(snap.Attributes) != 2 || snap.Attributes[0] != want[0] || snap.Attributes[1] != want[1] {
		t.Fatalf("snapshot = %+v", snap)
	}
	if snap.ChangedAt.IsZero() {
		t.Fatal("changed_at not set")
	}
	release()
	release()
	if tr.Level("t") != LevelNone || tr.Snapshot("s").Watchers != 0 {
		t.Fatal("release did not drop the watcher once")
	}
	// Announced: s LOW, t LOW, then s MEDIUM/HIGH..., t NONE. The last state of t is NONE.
	last := map[string]Change{}
	for _, c := range sub.Drain() {
		last[c.SensorID] = c
	}
	if last["t"].Level != LevelNone || last["s"].Level != LevelHigh {
		t.Fatalf("last changes = %+v", last)
	}
}

func TestOnlyRealChangesAreAnnounced(t *testing.T) {
	t.Parallel()
	tr, _ := newTracker(t)
	report(t, tr, alice, ev(ViewEnter, "s", "x"))
	sub := tr.Subscribe("s")
	defer sub.Close()
	report(t, tr, alice, ev(ViewEnter, "s", "x"))     // same state
	report(t, tr, alice)                              // heartbeat
	report(t, tr, bob, ev(ViewLeave, "s", "x"))       // nothing to leave
	report(t, tr, alice, ev(ViewEnter, "other", "x")) // another sensor
	if c := sub.Drain(); len(c) != 0 {
		t.Fatalf("announced %+v", c)
	}
	report(t, tr, bob, ev(ViewEnter, "s", "x")) // same level, new detail (2 viewers)
	if c := sub.Drain(); len(c) != 1 || c[0].Level != LevelMedium || c[0].Attributes[0].Viewers != 2 {
		t.Fatalf("detail change: %+v", c)
	}
}

func TestReportValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		v      Viewer
		events []Event
		field  string
	}{
		{"no tab", Viewer{UserID: "u"}, nil, "tab_id"},
		{"no user", Viewer{TabID: "t"}, nil, "viewer.user_id"},
		{"bad kind", alice, []Event{ev(ViewEnter, "s", ""), {Kind: 0, SensorID: "s"}}, "events[1].kind"},
		{"no sensor", alice, []Event{ev(ViewEnter, "s", ""), ev(HoverEnter, "", "")}, "events[1].sensor_id"},
		{"battery range", alice, []Event{battery(1.5, false)}, "events[0].battery_level"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, _ := newTracker(t)
			err := tr.Report(tc.v, tc.events)
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.KindInvalidArgument || e.Violations[0].Field != tc.field {
				t.Fatalf("err = %v, want field %s", err, tc.field)
			}
			if tr.Level("s") != LevelNone || tr.Stats().Viewers != 0 {
				t.Fatal("a refused report was applied")
			}
		})
	}
	tr := New(Options{MaxItemsPerViewer: 2})
	if err := tr.Report(alice, []Event{ev(ViewEnter, "a", ""), ev(ViewEnter, "b", ""), ev(ViewEnter, "c", "")}); apperr.KindOf(err) != apperr.KindResourceExhausted {
		t.Fatalf("over the item cap: %v", err)
	}
}

func TestRunSweepsOnTime(t *testing.T) {
	t.Parallel()
	// Run with the real clock and a short linger; poll with a deadline for the
	// announced end of the linger.
	tr := New(Options{HoverLinger: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	sub := tr.Subscribe("s")
	defer sub.Close()
	report(t, tr, alice, ev(HoverEnter, "s", ""), ev(HoverLeave, "s", ""))
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	for tr.Level("s") != LevelNone {
		if _, err := sub.Next(wctx); err != nil {
			t.Fatalf("linger end not announced: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
}

// TestConcurrentReports has four tabs report full attention cycles, open and release
// watchers and read snapshots at once (under -race in CI), then checks the outcome:
// every report was accepted, every cycle ended with the tab leaving, so once the hover
// linger is over the sensor is back at NONE with no watcher and no attribute
// attention, and the tracker still answers a new report.
func TestConcurrentReports(t *testing.T) {
	t.Parallel()
	tr, clk := newTracker(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	sub := tr.Subscribe()
	defer sub.Close()
	var (
		wg      sync.WaitGroup
		focused atomic.Int64 // snapshots taken while the tab's own focus was in
	)
	for i := range 4 {
		wg.Go(func() {
			v := Viewer{UserID: "u", TabID: string(rune('a' + i))}
			kinds := []EventKind{ViewEnter, HoverEnter, HoverLeave, Focus, Unfocus, Pin, Unpin, ViewLeave}
			for j := range 200 {
				k := kinds[j%len(kinds)]
				if err := tr.Report(v, []Event{ev(k, "s", "x")}); err != nil {
					t.Errorf("tab %d report %v: %v", i, k, err)
					return
				}
				rel := tr.AddWatcher([]string{"s"})
				snap := tr.Snapshot("s")
				if snap.Watchers == 0 || snap.Level < LevelLow {
					t.Errorf("snapshot with this tab's watcher open: %+v, want ≥ 1 watcher and ≥ LOW", snap)
				}
				if k == Focus {
					if l := tr.AttributeLevel("s", "x"); l != LevelHigh {
						t.Errorf("attribute level right after this tab's focus: %v, want HIGH", l)
					}
					focused.Add(1)
				}
				rel()
				sub.Drain()
			}
		})
	}
	wg.Wait()
	if focused.Load() != 4*25 {
		t.Errorf("%d focus checks, want 100", focused.Load())
	}
	// Every tab left; only the hovers linger (their last HoverLeave was just now).
	snap := tr.Snapshot("s")
	if len(snap.Attributes) != 1 || snap.Watchers != 0 || snap.Attributes[0] != (AttributeAttention{AttributeID: "x", Level: LevelHigh, Hovering: 4}) {
		t.Errorf("right after every tab left: %+v, want only the 4 lingering hovers", snap)
	}
	clk.advance(DefaultHoverLinger + time.Millisecond)
	tr.Sweep()
	snap = tr.Snapshot("s")
	if snap.Level != LevelNone || snap.Watchers != 0 {
		t.Errorf("after every tab left: %+v, want NONE and no watchers", snap)
	}
	for _, a := range snap.Attributes {
		if a.Level != LevelNone || a.Viewers != 0 || a.Hovering != 0 || a.Focused != 0 || a.Pinned != 0 {
			t.Errorf("attribute after every tab left: %+v", a)
		}
	}
	if l := tr.Level("s"); l != LevelNone {
		t.Errorf("Level = %v, want NONE", l)
	}
	// Still consistent: a new focus is seen at once.
	report(t, tr, Viewer{UserID: "u2", TabID: "z"}, ev(Focus, "s", "x"))
	if l := tr.Level("s"); l != LevelHigh {
		t.Errorf("Level after a new focus = %v, want HIGH", l)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestWatcherLevelFollowsOnlyTheWatchersOwnAttention: a Watch is flushed at its own
// user's (and tab's) attention, never below LOW, whatever other viewers do.
func TestWatcherLevelFollowsOnlyTheWatchersOwnAttention(t *testing.T) {
	t.Parallel()
	tr, clk := newTracker(t)
	aliceTab2 := Viewer{UserID: "alice", TabID: "tab-2"}
	report(t, tr, alice, ev(Focus, "s", "ecg"))
	report(t, tr, aliceTab2, ev(ViewEnter, "s", "hr"))
	report(t, tr, bob, ev(ViewEnter, "s", "ecg"))

	cases := []struct {
		user, tab, attr string
		want            Level
	}{
		{"alice", "", "ecg", LevelHigh},
		{"alice", "tab-1", "ecg", LevelHigh},
		{"alice", "tab-2", "ecg", LevelLow}, // the other tab pays no attention to ecg
		{"alice", "tab-2", "hr", LevelMedium},
		{"alice", "", "hr", LevelMedium},
		{"bob", "", "ecg", LevelMedium}, // alice's focus does not speed up bob's watch
		{"bob", "", "hr", LevelLow},
		{"carol", "", "ecg", LevelLow}, // a watcher with no attention at all
	}
	for _, c := range cases {
		if got := tr.WatcherLevel(c.user, c.tab, "s", c.attr); got != c.want {
			t.Errorf("WatcherLevel(%s, %q, s, %s) = %v, want %v", c.user, c.tab, c.attr, got, c.want)
		}
	}
	if got := tr.WatcherLevel("alice", "", "other", "ecg"); got != LevelLow {
		t.Errorf("unknown sensor: %v, want low", got)
	}

	// A pin of the whole sensor raises every attribute for that user only.
	report(t, tr, bob, ev(Pin, "s", ""))
	if got := tr.WatcherLevel("bob", "", "s", "hr"); got != LevelHigh {
		t.Errorf("bob pinned the sensor: hr at %v, want high", got)
	}
	// A hidden page caps the tab at LOW.
	report(t, tr, alice, Event{Kind: PageHidden})
	if got := tr.WatcherLevel("alice", "tab-1", "s", "ecg"); got != LevelLow {
		t.Errorf("alice's tab hidden: %v, want low", got)
	}
	// Expired leases no longer count.
	clk.advance(2 * tr.Lease())
	tr.Sweep()
	if got := tr.WatcherLevel("bob", "", "s", "hr"); got != LevelLow {
		t.Errorf("after lease expiry: %v, want low", got)
	}
}

func TestSubscriptionRemove(t *testing.T) {
	t.Parallel()
	tr, _ := newTracker(t)
	sub := tr.Subscribe("s", "t")
	defer sub.Close()
	report(t, tr, alice, ev(ViewEnter, "s", "x"), ev(ViewEnter, "t", "x"))
	sub.Remove("s") // a pending change of s goes too
	report(t, tr, bob, ev(ViewEnter, "s", "x"))
	c := sub.Drain()
	if len(c) != 1 || c[0].SensorID != "t" {
		t.Fatalf("after Remove(s): %+v, want only t's change", c)
	}
	report(t, tr, bob, ev(ViewEnter, "t", "x"))
	if c := sub.Drain(); len(c) != 1 || c[0].SensorID != "t" {
		t.Fatalf("t after Remove(s): %+v", c)
	}
}
