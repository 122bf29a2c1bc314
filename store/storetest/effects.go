package storetest

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// Steps in flight and flow revisions

var effectTests = []test{
	{"FlowsRevisionMoves", testFlowsRevisionMoves},
	{"InFlightRoundTrip", testInFlightRoundTrip},
}

// The engine caches flow states until FlowsRevision moves: every publish
// and every status change must move it.
func testFlowsRevisionMoves(t *testing.T, s store.Store) {
	ctx := t.Context()
	rev := func() int64 {
		t.Helper()
		r, err := s.FlowsRevision(ctx)
		require.NoError(t, err)
		return r
	}
	r0 := rev()
	flow := newFlow(t, s)
	r1 := rev()
	require.NotEqual(t, r0, r1, "a new flow moves the revision")
	publish(t, s, flow)
	r2 := rev()
	require.NotEqual(t, r1, r2, "a new version moves the revision")
	require.NoError(t, s.SetFlowStatus(ctx, flow, store.FlowDraft, store.FlowActive, base))
	r3 := rev()
	require.NotEqual(t, r2, r3, "a status change moves the revision")
	require.Greater(t, r3, r0, "revisions grow")
}

// A participant in flight keeps its effect exactly, and its lease is its
// timer.
func testInFlightRoundTrip(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	flow := newFlow(t, s)
	lease := base.Add(2*time.Minute + 7*time.Nanosecond)
	held := newEvent(t, "Clicked", base.Add(time.Second))
	held.PersonID = p.ID
	held.Properties = map[string]any{"link": "a", "at": base.Add(time.Second)}
	wake := newEvent(t, "OrderCompleted", base)
	wake.PersonID = p.ID
	part := &store.Participant{
		ID: newID(t), PersonID: p.ID, FlowID: flow, FlowVersion: 1,
		Status: store.InFlight, Element: "send",
		EnteredAt: base, ArrivedAt: base, LastActivityAt: base, Seq: 4,
		Wait: &store.Wait{Until: lease},
		Effect: &store.Effect{
			Seq: 5, Attempt: 1, Started: base.Add(3 * time.Nanosecond),
			Resumed: &store.Wait{Until: base, Deadline: base.Add(time.Hour), Events: []string{"OrderCompleted"}, State: map[string]any{"slot": "x"}},
			Event:   wake,
			Held:    []*store.Event{held},
		},
	}
	put(t, s, part)
	got := participant(t, s, part.ID)
	require.Equal(t, normParticipant(part.Clone()), normParticipant(got))

	due, err := s.DueTimers(t.Context(), lease, 10_000)
	require.NoError(t, err)
	found := false
	for _, tm := range due {
		if tm.ParticipantID == part.ID {
			found = true
			require.True(t, tm.Due.Equal(lease), "the lease is the timer, to the nanosecond")
		}
	}
	require.True(t, found, "a participant in flight is due when its lease ends")

	part = got
	part.Status, part.Effect, part.Wait = store.Active, nil, nil
	put(t, s, part)
	require.Nil(t, participant(t, s, part.ID).Effect)
}
