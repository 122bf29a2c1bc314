// Package flowtest helps test flows: it runs an engine on a fake clock
// through months of simulated time in milliseconds.
//
// It sits above the engine, with flowtest/storecheck, the engine's
// scenarios that every store runs:
//
//	flowtest, flowtest/storecheck   test kits over the engine
//	flow                            the engine
//	kinds, element, segment         elements and conditions
//	store, store/storetest, clock   the ports and the Store contract
package flowtest

import (
	"context"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
)

// AdvanceTo moves clk forward to target, firing each due timer at its own
// due time, in order, so the outcome is the one real time would give. It
// returns how many timers fired. A target before the clock's time is an
// error.
func AdvanceTo(ctx context.Context, eng *flow.Engine, clk *clock.Fake, target time.Time) (int, error) {
	if target.Before(clk.Now()) {
		return 0, fmt.Errorf("flowtest: target %s is before the clock's %s", target, clk.Now())
	}
	fired := 0
	for {
		next, ok, err := eng.NextDue(ctx)
		if err != nil {
			return fired, err
		}
		if !ok || next.After(target) {
			break
		}
		if next.After(clk.Now()) {
			clk.Set(next)
		}
		n, err := eng.Tick(ctx)
		fired += n
		if err != nil {
			return fired, err
		}
	}
	clk.Set(target)
	n, err := eng.Tick(ctx)
	return fired + n, err
}

// Advance is AdvanceTo the clock's time plus d.
func Advance(ctx context.Context, eng *flow.Engine, clk *clock.Fake, d time.Duration) (int, error) {
	return AdvanceTo(ctx, eng, clk, clk.Now().Add(d))
}
