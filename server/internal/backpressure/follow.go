package backpressure

import (
	"context"

	"github.com/sensocto/sensocto/server/internal/loadmon"
)

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
