package rooms

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

func TestNewCode(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	symbols := make(map[rune]int)
	for range 2000 {
		c, err := newCode()
		if err != nil {
			t.Fatal(err)
		}
		if n, err := NormalizeCode("join_code", c); err != nil || n != c {
			t.Fatalf("code %q is not in normal form: %q %v", c, n, err)
		}
		if seen[c] {
			t.Fatalf("code %q twice in 2000 (1 in 10^6 by chance)", c)
		}
		seen[c] = true
		for _, r := range c {
			symbols[r]++
		}
	}
	if len(symbols) != len(CodeAlphabet) {
		t.Fatalf("%d of the %d symbols used in 16,000", len(symbols), len(CodeAlphabet))
	}
}

func TestNormalizeCode(t *testing.T) {
	t.Parallel()
	if c, err := NormalizeCode("join_code", " abcd2345 "); err != nil || c != "ABCD2345" {
		t.Fatalf("lower case: %q %v", c, err)
	}
	for _, bad := range []string{"ABCD234", "ABCD23456", "ABCDO234", "ABCD1234", "ABCD-234"} {
		_, err := NormalizeCode("join_code", bad)
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Kind != apperr.KindInvalidArgument || len(ae.Violations) != 1 || ae.Violations[0].Field != "join_code" {
			t.Errorf("%q: %v, want invalid_argument naming join_code", bad, err)
		}
	}
}

// noSensors is a SensorSource without sensors.
type noSensors struct{}

func (noSensors) Get(context.Context, authz.Viewer, string) (sensors.Sensor, error) {
	return sensors.Sensor{}, apperr.NotFound("sensor not found")
}
func (noSensors) Describe(context.Context, []string) ([]sensors.Sensor, error) { return nil, nil }
func (noSensors) AccessChanged(context.Context, ...string)                     {}

// TestWatchQueueBounded: a watcher that does not read gets at most WatchQueue batches
// queued; past that its backlog is dropped and it gets the full state instead.
func TestWatchQueueBounded(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	ctx := t.Context()
	u := db.Client.User.Create().SetDisplayName("Owner").SaveX(ctx)
	svc, err := New(ctx, Options{Ent: db.Client, Sensors: noSensors{}, Logger: dbtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	v := authz.Viewer{UserID: u.ID, DisplayName: "Owner", Scope: authz.ScopeFull}
	r, err := svc.Create(ctx, v, CreateInput{Name: "Queue"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := svc.Watch(ctx, v, r.ID, "", "sensors")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if evs, err := w.Next(ctx); err != nil || len(evs) != 1 || evs[0].Kind != EventSnapshot || !strings.HasPrefix(evs[0].Tab, "srv-") {
		t.Fatalf("first: %v %v", evs, err)
	}
	for range WatchQueue + 3 {
		w.deliver([]Event{{Kind: EventUpdated}})
	}
	if n := len(w.ch); n > WatchQueue {
		t.Fatalf("%d batches queued, at most %d", n, WatchQueue)
	}
	evs, err := w.Next(ctx)
	if err != nil || len(evs) != 1 || evs[0].Kind != EventSnapshot {
		t.Fatalf("after the overflow: %v %v, want a snapshot", evs, err)
	}
	if len(w.ch) != 0 {
		t.Fatalf("%d batches of the backlog left after the snapshot", len(w.ch))
	}
}
