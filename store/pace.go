package store

import (
	"context"
	"time"
)

// PaceReserveParams asks PaceKeeper.ReservePace for a slot.
type PaceReserveParams struct {
	// Key names the budget, such as a flow and element.
	Key string
	// Interval is the least time between two slots of the key. Must be
	// positive.
	Interval time.Duration
	// Now is the caller's time: the slot is at or after it.
	Now time.Time
	// NotAfter, when not zero, is the time the slot must come before; a
	// slot that would not is not booked.
	NotAfter time.Time
}

// PaceClaimParams records an action for PaceKeeper.ClaimPace.
type PaceClaimParams struct {
	// Key names the budget, as for ReservePace.
	Key string
	// Interval is the least time between two claimed actions of the key.
	// Must be positive.
	Interval time.Duration
	// At is when the action is made.
	At time.Time
}

// PaceKeeper is implemented by stores that keep sending-speed budgets
// (the Call API element's), so that every process sharing the store
// draws on one budget per key and a restarted process finds the slots
// booked before. The engine uses it when the Store has it and the host
// sets no Pacer of its own. Each call is one atomic operation of its
// own, outside any person's transaction. Times are kept to the
// nanosecond.
type PaceKeeper interface {
	// ReservePace books for p.Key the slot max(p.Now, last booked slot +
	// p.Interval), the first slot of a key being p.Now, and returns it
	// with ok set. When p.NotAfter is not zero and the slot is not before
	// it, nothing is booked and ok is false.
	ReservePace(ctx context.Context, p *PaceReserveParams) (slot time.Time, ok bool, err error)
	// ClaimPace records an action under p.Key at p.At, and returns ok,
	// unless the last action it recorded under p.Key was less than
	// p.Interval before p.At: then it records nothing and returns when
	// the next may be made (that action + p.Interval).
	ClaimPace(ctx context.Context, p *PaceClaimParams) (ok bool, retry time.Time, err error)
}
