package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// Experiment decisions: store.ExperimentKeeper.

// experimentTests need store.ExperimentKeeper.
var experimentTests = []test{
	{"DecisionStoredOnce", testDecisionStoredOnce},
	{"DecisionsRace", testDecisionsRace},
}

func keeper(s store.Store) store.ExperimentKeeper { return s.(store.ExperimentKeeper) }

func decision(flowID string, version int, element, winner string, at time.Time) *store.Decision {
	return &store.Decision{FlowID: flowID, FlowVersion: version, Element: element, Winner: winner, DecidedAt: at,
		Reason: winner + " won", Variants: []store.DecisionVariant{{Name: "control", Participants: 1000, Conversions: 50}, {Name: winner, Participants: 1010, Conversions: 71}}}
}

// The first decision of an experiment is stored with its figures, moves
// the flows' revision and is what every later Decide returns; decisions
// of other versions and elements are apart; bad ones are refused.
func testDecisionStoredOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := keeper(s)
	flowID := newFlow(t, s)
	rev, err := s.FlowsRevision(ctx)
	require.NoError(t, err)

	first := decision(flowID, 1, "split", "b", base.Add(time.Nanosecond))
	got, stored, err := k.Decide(ctx, first)
	require.NoError(t, err)
	require.True(t, stored, "the first decision is stored")
	require.Equal(t, "b", got.Winner)
	first.Variants[1].Conversions = 0 // the store kept its own copy
	after, err := s.FlowsRevision(ctx)
	require.NoError(t, err)
	require.NotEqual(t, rev, after, "a decision moves the flows' revision")

	got, stored, err = k.Decide(ctx, decision(flowID, 1, "split", "c", base.Add(time.Hour)))
	require.NoError(t, err)
	require.False(t, stored, "an experiment is decided once")
	require.Equal(t, "b", got.Winner)
	requireTime(t, base.Add(time.Nanosecond), got.DecidedAt, "the first decision's time")
	require.Equal(t, []store.DecisionVariant{{Name: "control", Participants: 1000, Conversions: 50}, {Name: "b", Participants: 1010, Conversions: 71}}, got.Variants)
	require.Equal(t, "b won", got.Reason)
	again, err := s.FlowsRevision(ctx)
	require.NoError(t, err)
	require.Equal(t, after, again, "a decision not stored leaves the revision")

	_, stored, err = k.Decide(ctx, decision(flowID, 2, "split", "a", base))
	require.NoError(t, err)
	require.True(t, stored, "another version is another experiment")
	_, stored, err = k.Decide(ctx, decision(flowID, 1, "split-2", "a", base))
	require.NoError(t, err)
	require.True(t, stored, "another element is another experiment")

	_, _, err = k.Decide(ctx, &store.Decision{FlowID: flowID, FlowVersion: 1})
	require.ErrorIs(t, err, store.ErrInvalid, "a decision names its element")
	_, _, err = k.Decide(ctx, &store.Decision{Element: "split", FlowVersion: 1})
	require.ErrorIs(t, err, store.ErrInvalid, "a decision names its flow")

	all, err := k.Decisions(ctx)
	require.NoError(t, err)
	var mine []*store.Decision
	for _, d := range all {
		if d.FlowID == flowID {
			mine = append(mine, d)
		}
	}
	require.Len(t, mine, 3)
	require.Equal(t, []string{"b", "a", "a"}, []string{mine[0].Winner, mine[1].Winner, mine[2].Winner})
	require.Equal(t, []int{1, 1, 2}, []int{mine[0].FlowVersion, mine[1].FlowVersion, mine[2].FlowVersion})
	require.Equal(t, []string{"split", "split-2", "split"}, []string{mine[0].Element, mine[1].Element, mine[2].Element})
	mine[0].Variants[0].Name = "mutated"
	all, err = k.Decisions(ctx)
	require.NoError(t, err)
	for _, d := range all {
		if d.FlowID == flowID && d.Element == "split" && d.FlowVersion == 1 {
			require.Equal(t, "control", d.Variants[0].Name, "Decisions returns copies")
		}
	}
}

// Many callers deciding one experiment at once store one decision, and
// every caller gets that one.
func testDecisionsRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := keeper(s)
	flowID := newFlow(t, s)
	const n = 8
	winners := make([]string, n)
	storedN := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, stored, err := k.Decide(ctx, decision(flowID, 1, "split", string(rune('a'+i)), base))
			errs[i], storedN[i] = err, stored
			if err == nil {
				winners[i] = d.Winner
			}
		}()
	}
	wg.Wait()
	count := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, winners[0], winners[i], "every caller gets the stored decision")
		if storedN[i] {
			count++
			require.Equal(t, string(rune('a'+i)), winners[i])
		}
	}
	require.Equal(t, 1, count, "one decision is stored")
}
