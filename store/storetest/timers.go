package storetest

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// Timers. These subtests see every timer of their store.

var timerTests = []test{
	{"DueInOrder", testDueInOrder},
	{"DueLimit", testDueLimit},
	{"NotDue", testNotDue},
	{"DueUntilChanged", testDueUntilChanged},
	{"DueOncePerParticipant", testDueOncePerParticipant},
	{"NextDue", testNextDue},
	{"EndedWaitsStayQuiet", testEndedWaitsStayQuiet},
}

// claimTests need store.TimerClaimer.
var claimTests = []test{
	{"ClaimTimers", testClaimTimers},
}

// testEndedWaitsStayQuiet checks that a participant that stopped waiting
// is never due again, while participants that start waiting after it (and
// may take over what the store kept for its timer) are due at their own
// times, once each.
func testEndedWaitsStayQuiet(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base
	for i := range 5 {
		w := waiter(t, s, flow, now.Add(time.Duration(i+1)*time.Minute))
		w.Status, w.Wait = store.Completed, nil
		put(t, s, w)
	}
	var later []*store.Participant
	for i := range 5 {
		later = append(later, waiter(t, s, flow, now.Add(time.Duration(i+1)*time.Hour)))
	}
	got, err := s.DueTimers(ctx, now.Add(59*time.Minute), 100)
	require.NoError(t, err)
	require.Empty(t, got, "participants that stopped waiting are not due")
	got, err = s.DueTimers(ctx, now.Add(5*time.Hour), 100)
	require.NoError(t, err)
	requireTimers(t, got, later...)
	for _, w := range later {
		w.Status, w.Wait = store.Completed, nil
		put(t, s, w)
	}
	got, err = s.DueTimers(ctx, now.Add(6*time.Hour), 100)
	require.NoError(t, err)
	require.Empty(t, got)
	_, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.False(t, ok)
}

// testClaimTimers checks store.TimerClaimer.
func testClaimTimers(t *testing.T, s store.Store) {
	c := s.(store.TimerClaimer)
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	a := waiter(t, s, flow, now.Add(-3*time.Minute))
	b := waiter(t, s, flow, now.Add(-2*time.Minute))
	d := waiter(t, s, flow, now.Add(-time.Minute))

	// The earliest first: a, then b; a store of shards may pick the rest
	// of a's shard before b, so d when a and d share a shard.
	first, err := c.ClaimTimers(ctx, now, 2, time.Minute)
	require.NoError(t, err)
	rest := d
	if len(first) == 2 && first[1].ParticipantID == d.ID && first[1].Shard == first[0].Shard && first[0].Shard != 0 {
		rest = b
		requireTimers(t, first, a, d)
	} else {
		requireTimers(t, first, a, b)
	}
	second, err := c.ClaimTimers(ctx, now, 10, time.Minute)
	require.NoError(t, err)
	requireTimers(t, second, rest)
	got, err := c.ClaimTimers(ctx, now, 10, time.Minute)
	require.NoError(t, err)
	require.Empty(t, got, "claimed timers are not handed out again during their lease")
	got, err = s.DueTimers(ctx, now, 10)
	require.NoError(t, err)
	require.Empty(t, got, "nor by DueTimers")
	next, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, now.Add(time.Minute), next.UTC(), "a claimed timer is due again when its lease ends")

	// a's participant moved on; b and d did not (their steps failed).
	a.Wait = nil
	a.Status = store.Completed
	put(t, s, a)
	got, err = c.ClaimTimers(ctx, now.Add(time.Minute), 10, time.Minute)
	require.NoError(t, err)
	requireTimers(t, got, b, d)
	for _, tm := range append(append(first, second...), got...) {
		require.False(t, tm.Orphaned, "no process died: no timer is orphaned")
	}
}

func testDueInOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	p3 := waiter(t, s, flow, now) // due exactly now
	p1 := waiter(t, s, flow, now.Add(-3*time.Minute))
	p2 := waiter(t, s, flow, now.Add(-2*time.Minute))
	waiter(t, s, flow, now.Add(time.Second))
	// A second participant of p1's person.
	p1b := newParticipant(t, p1.PersonID, flow)
	p1b.Status = store.Waiting
	p1b.Wait = &store.Wait{Until: now.Add(-150 * time.Second)}
	put(t, s, p1b)

	got, err := s.DueTimers(ctx, now, 10)
	require.NoError(t, err)
	requireTimers(t, got, p1, p1b, p2, p3)

	got, err = s.DueTimers(ctx, now.Add(-2*time.Minute), 10)
	require.NoError(t, err)
	requireTimers(t, got, p1, p1b, p2)

	got, err = s.DueTimers(ctx, now.Add(-4*time.Minute), 10)
	require.NoError(t, err)
	require.Empty(t, got)
}

func testDueLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	var ws []*store.Participant
	for i := range 5 {
		ws = append(ws, waiter(t, s, flow, now.Add(-time.Duration(5-i)*time.Minute)))
	}
	got, err := s.DueTimers(ctx, now, 2)
	require.NoError(t, err)
	requireTimers(t, got, ws[0], ws[1])
	got, err = s.DueTimers(ctx, now, 5)
	require.NoError(t, err)
	requireTimers(t, got, ws...)
	got, err = s.DueTimers(ctx, now, 50)
	require.NoError(t, err)
	requireTimers(t, got, ws...)
}

func testNotDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	due := waiter(t, s, flow, now.Add(-time.Minute))

	parked := waiter(t, s, flow, now.Add(-10*time.Minute))
	parked.Wait.Parked = true
	put(t, s, parked)
	for _, st := range []store.Status{store.Completed, store.Failed, store.Canceled} {
		done := waiter(t, s, flow, now.Add(-20*time.Minute))
		done.Status = st
		put(t, s, done)
	}
	waiter(t, s, flow, now.Add(time.Minute)) // in the future
	noTimer := waiter(t, s, flow, time.Time{})
	noTimer.Wait.Events = []string{"Clicked"}
	put(t, s, noTimer)
	noWait := newParticipant(t, newPerson(t, s).ID, flow)
	put(t, s, noWait)

	got, err := s.DueTimers(ctx, now, 100)
	require.NoError(t, err)
	requireTimers(t, got, due)
	next, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	requireTime(t, due.Wait.Until, next, "NextDue ignores parked and done participants")
}

func testDueUntilChanged(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	unchanged := waiter(t, s, flow, now.Add(-6*time.Minute))
	later := waiter(t, s, flow, now.Add(-5*time.Minute))
	earlier := waiter(t, s, flow, now.Add(-4*time.Minute))
	cleared := waiter(t, s, flow, now.Add(-3*time.Minute))
	exited := waiter(t, s, flow, now.Add(-2*time.Minute))
	parked := waiter(t, s, flow, now.Add(-1*time.Minute))

	for range 2 { // a timer stays due until its participant changes
		got, err := s.DueTimers(ctx, now, 10)
		require.NoError(t, err)
		requireTimers(t, got, unchanged, later, earlier, cleared, exited, parked)
	}

	later.Wait.Until = now.Add(time.Hour)
	put(t, s, later)
	earlier.Wait.Until = now.Add(-30 * time.Minute)
	put(t, s, earlier)
	cleared.Status = store.Active
	cleared.Wait = nil
	put(t, s, cleared)
	exited.Status = store.Completed
	put(t, s, exited)
	parked.Wait.Parked = true
	put(t, s, parked)

	got, err := s.DueTimers(ctx, now, 10)
	require.NoError(t, err)
	requireTimers(t, got, earlier, unchanged)
	got, err = s.DueTimers(ctx, now.Add(time.Hour), 10)
	require.NoError(t, err)
	requireTimers(t, got, earlier, unchanged, later)
}

// A timer whose Until goes back to an earlier value, or that is parked and
// unparked, is still one timer.
func testDueOncePerParticipant(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	a := waiter(t, s, flow, now.Add(-2*time.Minute))
	b := waiter(t, s, flow, now.Add(-time.Minute))

	a.Wait.Until = now.Add(-30 * time.Second)
	put(t, s, a)
	a.Wait.Until = now.Add(-2 * time.Minute)
	put(t, s, a)
	b.Wait.Parked = true
	put(t, s, b)
	b.Wait.Parked = false
	put(t, s, b)

	got, err := s.DueTimers(ctx, now, 10)
	require.NoError(t, err)
	requireTimers(t, got, a, b)
	got, err = s.DueTimers(ctx, now, 10)
	require.NoError(t, err)
	requireTimers(t, got, a, b)
}

func testNextDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.False(t, ok, "no timers")

	flow := newFlow(t, s)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	next := func() (time.Time, bool) {
		t.Helper()
		n, ok, err := s.NextDue(ctx)
		require.NoError(t, err)
		return n, ok
	}
	a := waiter(t, s, flow, at(2))
	b := waiter(t, s, flow, at(1))
	parked := waiter(t, s, flow, at(0))
	parked.Wait.Parked = true
	put(t, s, parked)

	n, ok := next()
	require.True(t, ok)
	requireTime(t, at(1), n, "earliest unparked timer")

	b.Wait.Until = at(3)
	put(t, s, b)
	n, ok = next()
	require.True(t, ok)
	requireTime(t, at(2), n, "a moved timer is not due at its old time")

	a.Status = store.Active
	a.Wait = nil
	put(t, s, a)
	n, ok = next()
	require.True(t, ok)
	requireTime(t, at(3), n)

	b.Status = store.Completed
	put(t, s, b)
	_, ok = next()
	require.False(t, ok, "only a parked timer is left")

	parked.Wait.Parked = false
	put(t, s, parked)
	n, ok = next()
	require.True(t, ok)
	requireTime(t, at(0), n, "an unparked timer")
}
