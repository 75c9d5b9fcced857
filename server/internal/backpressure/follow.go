package backpressure

import (
	"context"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/loadmon"
)

// FollowAttention feeds every sensor-level change of an attention
// subscription (subscribe to all sensors) into the publisher until ctx ends.
// The caller owns the goroutine (run it in the app's errgroup) and the
// subscription.
func (p *Publisher) FollowAttention(ctx context.Context, sub *attention.Subscription) error {
	for {
		changes, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, c := range changes {
			p.SetAttention(c.SensorID, c.Level)
		}
	}
}

// FollowLoad feeds the load level and memory protection of a load monitor
// subscription into the publisher until ctx ends. onChange, when not nil, is
// called with each new state too (e.g. to set the hub's ring load factor with
// Level.RetentionFactor). The caller owns the goroutine and the subscription.
func (p *Publisher) FollowLoad(ctx context.Context, sub *loadmon.Subscription, onChange func(loadmon.Snapshot)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-sub.C():
			p.SetLoad(s.Level, s.MemoryProtection)
			if onChange != nil {
				onChange(s)
			}
		}
	}
}
