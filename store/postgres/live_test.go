package postgres_test

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// putWaiting stores a participant of a new person, with status st and a
// timer due at due, through s.
func putWaiting(t *testing.T, s store.Store, st store.Status, due time.Time) *store.Participant {
	t.Helper()
	p := &store.Participant{ID: uuid.Must(uuid.NewV7()), PersonID: uuid.Must(uuid.NewV7()), FlowID: "f", FlowVersion: 1,
		Status: st, Element: "e", EnteredAt: due.Add(-time.Hour), Wait: &store.Wait{Until: due}}
	if st == store.InFlight {
		p.Effect = &store.Effect{Seq: 1, Started: due.Add(-time.Minute)}
	}
	require.NoError(t, s.Update(t.Context(), p.PersonID, func(tx store.Tx) error { return tx.PutParticipant(p) }))
	return p
}

// twoProcesses returns two stores on one schema, as two processes
// sharing a database have them.
func twoProcesses(t *testing.T) (a, b *postgres.Store) {
	t.Helper()
	p := testPool(t)
	schema := newSchema(t, p)
	a, err := postgres.New(t.Context(), postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	b, err = postgres.New(t.Context(), postgres.Config{Pool: p, Schema: schema, SkipMigrate: true})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return a, b
}

// claimAll claims with both stores until neither gets more, and returns
// what each got.
func claimAll(t *testing.T, now time.Time, stores ...*postgres.Store) [][]store.Timer {
	t.Helper()
	out := make([][]store.Timer, len(stores))
	for i, s := range stores {
		got, err := s.ClaimTimers(t.Context(), now, 100, time.Hour)
		require.NoError(t, err)
		out[i] = got
	}
	return out
}

// TestLivenessHandsOverAtOnce: two processes split the due timers
// between them by bucket; when one closes (as when its process dies, its
// liveness connection drops), the other claims at once, long before any
// lease ends, the timers the first had claimed and the call it had in
// flight, the latter marked orphaned. A call in flight of a live process
// stays with it.
func TestLivenessHandsOverAtOnce(t *testing.T) {
	a, b := twoProcesses(t)
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	var due []*store.Participant
	for range 40 {
		due = append(due, putWaiting(t, a, store.Waiting, now.Add(-time.Minute)))
	}
	callA := putWaiting(t, a, store.InFlight, now.Add(time.Hour)) // a's call, its lease an hour away
	callB := putWaiting(t, b, store.InFlight, now.Add(time.Hour))

	// Both take their share of the buckets (each waits for its keeper
	// to be ready on its first claim; the second's arrival makes the
	// first give half its buckets up).
	claimAll(t, now.Add(-24*time.Hour), a, b) // nothing due then: starts both keepers
	require.Eventually(t, func() bool {
		_, na := postgres.Liveness(a)
		_, nb := postgres.Liveness(b)
		return na == 32 && nb == 32
	}, 5*time.Second, 10*time.Millisecond, "each of two processes owns half the buckets")
	got := claimAll(t, now, a, b)
	require.Len(t, append(got[0], got[1]...), len(due), "every due timer is claimed once, none of the calls in flight")
	require.NotEmpty(t, got[0])
	require.NotEmpty(t, got[1])

	a.Close() // its process ends: its buckets, claims and calls pass to b
	var taken []store.Timer
	require.Eventually(t, func() bool {
		more, err := b.ClaimTimers(t.Context(), now, 100, time.Hour)
		require.NoError(t, err)
		taken = append(taken, more...)
		return len(taken) == len(got[0])+1
	}, 2*time.Second, 20*time.Millisecond, "the closed process's claims and call pass to the other within a second or two")
	orphans := 0
	for _, tm := range taken {
		if tm.Orphaned {
			orphans++
			require.Equal(t, callA.ID, tm.ParticipantID, "only the dead process's call is orphaned")
			require.True(t, tm.Due.Equal(callA.Wait.Until), "an orphan's due time is its lease's end")
		}
	}
	require.Equal(t, 1, orphans)
	more, err := b.ClaimTimers(t.Context(), now, 100, time.Hour)
	require.NoError(t, err)
	require.Empty(t, more, "b's own call in flight (%s) stays with it until its lease ends", callB.ID)
}

// TestLivenessReconnect: when a process's liveness connection drops and
// comes back (as across a database restart), the timers it claimed
// before are free at once, for it to claim again, while its call in
// flight stays its own: the process is alive and holds the call's result.
func TestLivenessReconnect(t *testing.T) {
	a, b := twoProcesses(t)
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for range 20 {
		putWaiting(t, a, store.Waiting, now.Add(-time.Minute))
	}
	putWaiting(t, a, store.InFlight, now.Add(time.Hour))
	claimAll(t, now.Add(-24*time.Hour), a, b) // nothing due then: starts both keepers
	require.Eventually(t, func() bool {
		_, na := postgres.Liveness(a)
		_, nb := postgres.Liveness(b)
		return na == 32 && nb == 32
	}, 5*time.Second, 10*time.Millisecond, "each of two processes owns half the buckets")
	got := claimAll(t, now, a, b)
	require.Equal(t, 20, len(got[0])+len(got[1]))
	require.NotEmpty(t, got[0])

	old, _ := postgres.Liveness(a)
	p := testPool(t)
	_, err := p.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 2 AND objid = $1::int::oid AND granted`, postgres.ProcessID(a))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s, n := postgres.Liveness(a)
		return s != 0 && s != old && n > 0
	}, 3*time.Second, 10*time.Millisecond, "the keeper reconnects under a new session")
	time.Sleep(300 * time.Millisecond) // b's keeper sees a back
	var again []store.Timer
	for range 20 {
		got := claimAll(t, now, a, b)
		again = append(append(again, got[0]...), got[1]...)
		time.Sleep(20 * time.Millisecond)
	}
	require.Len(t, again, len(got[0]), "a's claims from its old session are free at once, and claimed once; b's stay b's")
	for _, tm := range again {
		require.False(t, tm.Orphaned, "a's call in flight stays with a, which is alive")
	}
}
