package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// Sending-speed budgets: store.PaceKeeper.
var paceTests = []test{
	{"ReserveSpacesSlots", testReserveSpacesSlots},
	{"ReserveNotAfter", testReserveNotAfter},
	{"ClaimKeepsDistance", testClaimKeepsDistance},
	{"PaceConcurrent", testPaceConcurrent},
}

func paceKeeper(s store.Store) store.PaceKeeper { return s.(store.PaceKeeper) }

func reserve(t *testing.T, p store.PaceKeeper, key string, interval time.Duration, now, notAfter time.Time) (time.Time, bool) {
	t.Helper()
	slot, ok, err := p.ReservePace(t.Context(), &store.PaceReserveParams{Key: key, Interval: interval, Now: now, NotAfter: notAfter})
	require.NoError(t, err)
	return slot, ok
}

func claim(t *testing.T, p store.PaceKeeper, key string, interval time.Duration, at time.Time) (bool, time.Time) {
	t.Helper()
	ok, retry, err := p.ClaimPace(t.Context(), &store.PaceClaimParams{Key: key, Interval: interval, At: at})
	require.NoError(t, err)
	return ok, retry
}

func testReserveSpacesSlots(t *testing.T, s store.Store) {
	p := paceKeeper(s)
	// Keys are any strings: the engine's hold a NUL byte.
	key, other := uniq(t, "pace")+"\x00call", uniq(t, "pace")+"\x00call"
	const gap = 6*time.Second + 7 // nanoseconds count
	now := base.Add(123456789)
	for i := range 5 {
		slot, ok := reserve(t, p, key, gap, now, time.Time{})
		require.True(t, ok)
		requireTime(t, now.Add(time.Duration(i)*gap), slot, fmt.Sprintf("slot %d follows the last by the interval", i))
	}
	slot, ok := reserve(t, p, other, gap, now, time.Time{})
	require.True(t, ok)
	requireTime(t, now, slot, "another key has its own budget")

	// A caller whose clock is behind gets the next free slot, not one
	// before those booked.
	slot, ok = reserve(t, p, key, gap, base, time.Time{})
	require.True(t, ok)
	requireTime(t, now.Add(5*gap), slot)
	// After a quiet spell the slot is now: unused slots are not saved up.
	later := now.Add(time.Hour)
	for i := range 2 {
		slot, ok = reserve(t, p, key, gap, later, time.Time{})
		require.True(t, ok)
		requireTime(t, later.Add(time.Duration(i)*gap), slot)
	}
}

func testReserveNotAfter(t *testing.T, s store.Store) {
	p := paceKeeper(s)
	key := uniq(t, "pace")
	const gap = time.Minute
	_, ok := reserve(t, p, key, gap, base, base)
	require.False(t, ok, "a first slot at now is not before notAfter = now")
	slot, ok := reserve(t, p, key, gap, base, base.Add(time.Second))
	require.True(t, ok)
	requireTime(t, base, slot)
	_, ok = reserve(t, p, key, gap, base, base.Add(gap))
	require.False(t, ok, "the next slot, at notAfter, is refused")
	slot, ok = reserve(t, p, key, gap, base, time.Time{})
	require.True(t, ok)
	requireTime(t, base.Add(gap), slot, "a refused reservation books nothing")
}

func testClaimKeepsDistance(t *testing.T, s store.Store) {
	p := paceKeeper(s)
	key := uniq(t, "pace")
	const gap = 6 * time.Second
	at := base.Add(999)
	ok, _ := claim(t, p, key, gap, at)
	require.True(t, ok, "the first action of a key")
	ok, retry := claim(t, p, key, gap, at.Add(gap-1))
	require.False(t, ok, "one nanosecond short of the interval")
	requireTime(t, at.Add(gap), retry)
	ok, retry = claim(t, p, key, gap, at.Add(-time.Hour))
	require.False(t, ok, "an action before the last claimed one")
	requireTime(t, at.Add(gap), retry)
	ok, _ = claim(t, p, key, gap, at.Add(gap))
	require.True(t, ok, "at the interval")
	ok, retry = claim(t, p, key, gap, at.Add(gap+1))
	require.False(t, ok, "a refused claim records nothing, the accepted one did")
	requireTime(t, at.Add(2*gap), retry)
	ok, _ = claim(t, p, uniq(t, "pace"), gap, at)
	require.True(t, ok, "another key has its own budget")
}

// Many callers at once book distinct slots the interval apart, and of
// many claims at one time exactly one is accepted.
func testPaceConcurrent(t *testing.T, s store.Store) {
	p := paceKeeper(s)
	key := uniq(t, "pace")
	const gap, n = time.Second, 40
	slots := make([]time.Time, n)
	oks := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			slot, ok, err := p.ReservePace(t.Context(), &store.PaceReserveParams{Key: key, Interval: gap, Now: base})
			if err == nil && ok {
				slots[i] = slot
			}
			ok, _, err = p.ClaimPace(t.Context(), &store.PaceClaimParams{Key: key, Interval: gap, At: base})
			oks[i] = err == nil && ok
		})
	}
	wg.Wait()
	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	for i, slot := range slots {
		requireTime(t, base.Add(time.Duration(i)*gap), slot, fmt.Sprintf("slot %d", i))
	}
	accepted := 0
	for _, ok := range oks {
		if ok {
			accepted++
		}
	}
	require.Equal(t, 1, accepted, "claims at one time")
}
