package flow

import (
	"context"
	"time"
)

// Run is a ready loop for hosts that do not drive Tick themselves: it
// ticks at each timer's due time and at least every poll interval (which
// catches timers armed by other processes sharing the Store), until ctx is
// done, and returns ctx's error. Tick errors are logged and retried at the
// next poll. poll defaults to one second when zero or negative.
//
// Run sleeps on real timers while it waits; use it with the real clock.
// Tests drive a fake clock with the flowtest package instead.
func (e *Engine) Run(ctx context.Context, poll time.Duration) error {
	if poll <= 0 {
		poll = time.Second
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		if _, err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			e.log.ErrorContext(ctx, "flowkit: tick failed", "err", err)
		}
		wait := poll
		if next, ok, err := e.NextDue(ctx); err == nil && ok {
			if d := next.Sub(e.clock.Now()); d < wait {
				wait = max(d, 0)
			}
		}
		timer.Reset(wait)
	}
}
