package attention

import (
	"context"
	"time"
)

// Sweep drops expired leases and ends hover lingers whose time has come,
// announcing the changes. Run calls it; tests call it after advancing their
// clock.
func (t *Tracker) Sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.next.IsZero() || now.Before(t.next) {
		return
	}
	var next time.Time
	later := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	touched := make(map[string]struct{})
	for id, vw := range t.viewers {
		if !now.Before(vw.expires) {
			for sensorID := range vw.items {
				touched[sensorID] = struct{}{}
				if a := t.sensors[sensorID]; a != nil {
					delete(a.viewers, vw)
				}
			}
			delete(t.viewers, id)
			continue
		}
		later(vw.expires)
		for sensorID, attrs := range vw.items {
			for attrID, it := range attrs {
				if it.hoverUntil.IsZero() {
					continue
				}
				if it.lingering(now) {
					later(it.hoverUntil)
					continue
				}
				it.hoverUntil = time.Time{}
				touched[sensorID] = struct{}{}
				if it.empty(now) {
					t.removeItem(vw, sensorID, attrID)
				}
			}
		}
	}
	t.next = next
	for id := range touched {
		t.update(id, now)
	}
}

// Run sweeps at every lease expiry and linger end until ctx ends. The caller
// owns the goroutine that runs it.
func (t *Tracker) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		t.mu.Lock()
		next := t.next
		t.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(t.now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-t.kick:
		case <-timer.C:
			t.Sweep()
		}
	}
}
