package storetest

import (
	"testing"

	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// Counters

var counterTests = []test{
	{"Accumulate", testCountersAccumulate},
	{"CountsAreCopies", testCountsAreCopies},
}

func testCountersAccumulate(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow, other := newFlow(t, s), newFlow(t, s)
	publish(t, s, flow)
	p, q := newPerson(t, s), newPerson(t, s)
	c := func(flowID string, v int, element, key string, n int64) store.Counter {
		return store.Counter{FlowID: flowID, FlowVersion: v, Element: element, Key: key, N: n}
	}
	update(t, s, p.ID, func(tx store.Tx) error {
		tx.Count(c(flow, 1, "a", "entered", 1))
		tx.Count(c(flow, 1, "a", "entered", 2))
		tx.Count(c(flow, 1, "a", "branch:yes", 1))
		tx.Count(c(flow, 1, "b", "entered", 1))
		tx.Count(c(flow, 2, "a", "entered", 1))
		tx.Count(c(other, 1, "a", "entered", 5))
		return nil
	})
	update(t, s, p.ID, func(tx store.Tx) error {
		tx.Count(c(flow, 1, "a", "entered", 4))
		return nil
	})
	update(t, s, q.ID, func(tx store.Tx) error {
		tx.Count(c(flow, 1, "a", "entered", 3))
		tx.Count(c(flow, 1, "a", "waiting", 2))
		return nil
	})
	update(t, s, q.ID, func(tx store.Tx) error {
		tx.Count(c(flow, 1, "a", "waiting", -1))
		return nil
	})
	err := s.Update(ctx, q.ID, func(tx store.Tx) error {
		tx.Count(c(flow, 1, "a", "entered", 100))
		tx.Count(c(flow, 3, "z", "new", 1))
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	require.ElementsMatch(t, []store.Counter{
		c(flow, 1, "a", "entered", 10),
		c(flow, 1, "a", "branch:yes", 1),
		c(flow, 1, "a", "waiting", 1),
		c(flow, 1, "b", "entered", 1),
		c(flow, 2, "a", "entered", 1),
	}, counters(t, s, flow))
	require.Equal(t, []store.Counter{c(other, 1, "a", "entered", 5)}, counters(t, s, other))
	require.Empty(t, counters(t, s, uniq(t, "flow")))
	// Reading counters changes nothing else.
	requireFound(t, s, store.PersonRef{ExternalID: p.ExternalID}, p.ID)
	requireFound(t, s, store.PersonRef{Email: q.Emails[0]}, q.ID)
}
