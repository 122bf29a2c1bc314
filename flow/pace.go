package flow

import (
	"context"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
)

// storePacer is the engine's default kinds.Pacer on a Store that keeps
// sending-speed budgets: every engine sharing the Store, in any process,
// draws on the same budget per element.
type storePacer struct{ k store.PaceKeeper }

var _ kinds.Pacer = storePacer{}

// interval is the spacing of n actions per period, rounded up to the
// nanosecond so that no window of length per holds more than n.
func interval(n int, per time.Duration) (time.Duration, error) {
	if n <= 0 || per <= 0 {
		return 0, fmt.Errorf("pacer: %d per %v is not a speed", n, per)
	}
	return (per + time.Duration(n) - 1) / time.Duration(n), nil
}

// Reserve implements kinds.Pacer.
func (p storePacer) Reserve(ctx context.Context, key string, n int, per time.Duration, now, notAfter time.Time) (time.Time, bool, error) {
	d, err := interval(n, per)
	if err != nil {
		return time.Time{}, false, err
	}
	return p.k.ReservePace(ctx, &store.PaceReserveParams{Key: key, Interval: d, Now: now, NotAfter: notAfter})
}

// Claim implements kinds.Pacer.
func (p storePacer) Claim(ctx context.Context, key string, n int, per time.Duration, at time.Time) (bool, time.Time, error) {
	d, err := interval(n, per)
	if err != nil {
		return false, time.Time{}, err
	}
	return p.k.ClaimPace(ctx, &store.PaceClaimParams{Key: key, Interval: d, At: at})
}
