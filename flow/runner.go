package flow

import (
	"context"
	"time"

	"github.com/flowkit/flowkit/store"
)

// Run is a ready loop for hosts that do not drive Tick themselves: it
// ticks at each timer's due time and at least every poll interval (which
// catches timers armed by other processes sharing the Store), until ctx is
// done, and returns ctx's error. Tick errors are logged and retried at the
// next poll. poll defaults to one second when zero or negative. On a
// Store whose inbox wakes it (store/postgres listens for notifications),
// a call recorded in a host transaction (EnterTx, DeliverTx,
// UpdatePersonTx) runs as soon as that transaction commits, in one of
// the processes running Run; else at the next poll.
//
// Run sleeps on real timers while it waits; use it with the real clock.
// Tests drive a fake clock with the flowtest package instead.
func (e *Engine) Run(ctx context.Context, poll time.Duration) error {
	if poll <= 0 {
		poll = time.Second
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	var wake <-chan struct{}
	if ib, ok := e.store.(store.Inbox); ok {
		wake = ib.InboxWake()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			if _, err := e.drainInbox(ctx); err != nil && ctx.Err() == nil {
				e.log.ErrorContext(ctx, "flowkit: running recorded calls failed", "err", err)
			}
			continue
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
