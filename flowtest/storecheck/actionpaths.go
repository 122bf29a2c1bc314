package storecheck

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// actionFlow waits a day for the first of a click, a purchase of the
// participant's own cart (correlated with its entry), or a sign-up that
// may have happened before the wait (lookback).
const actionFlow = `{"id": "actions", "variables": {"cartId": {"type": "text"}}, "elements": [
	{"id": "pause", "type": "pause", "mode": "for", "period": {"amount": 1, "unit": "hours"}, "next": {"next": "paths"}},
	{"id": "paths", "type": "actionPaths", "waitFor": {"amount": 1, "unit": "days"}, "paths": [
		{"name": "clicked", "event": {"category": "external", "name": "Clicked"}},
		{"name": "bought", "event": {"category": "external", "name": "Purchased",
		  "where": [{"property": "cartId", "op": "is", "value": "{{cartId}}"}]}},
		{"name": "signedUp", "event": {"category": "external", "name": "SignedUp"}, "includeFromEntrance": true}],
	 "next": {"clicked": "after-click", "bought": "after-buy", "signedUp": "after-signup", "timeout": "after-timeout"}},
	{"id": "after-click", "type": "exit"},
	{"id": "after-buy", "type": "exit"},
	{"id": "after-signup", "type": "exit"},
	{"id": "after-timeout", "type": "exit"}]}`

var actionTests = []struct {
	name string
	run  func(*testing.T, Backend)
}{
	{"ActionPaths", testActionPaths},
	{"ActionPathsRanked", testActionPathsRanked},
}

func pathOf(t *testing.T, eng *flow.Engine, flowID, who string) *store.Participant {
	t.Helper()
	for _, p := range participantsOf(t, eng, flowID) {
		per, err := eng.Person(t.Context(), store.PersonRef{ID: p.PersonID})
		require.NoError(t, err)
		if per.ExternalID == who {
			return p
		}
	}
	t.Fatalf("no participant of %s", who)
	return nil
}

// The first of two events takes its path, in either order; a purchase
// of another cart does not match, one of the participant's own does; a
// sign-up from before the wait takes its path at once; nothing within a
// day times out.
func testActionPaths(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, b.New(t), clk, flow.Config{})
	activate(t, eng, parseFlow(t, actionFlow))
	for _, who := range []string{"click-first", "buy-first", "other-cart", "signed-before", "idle"} {
		_, err := eng.Enter(ctx, "actions", store.PersonRef{ExternalID: who}, map[string]any{"cartId": "cart-" + who})
		require.NoError(t, err)
	}
	deliver(t, eng, "s1", "signed-before", "SignedUp", nil) // before the wait starts
	_, err := flowtest.Advance(ctx, eng, clk, 2*time.Hour)
	require.NoError(t, err)

	deliver(t, eng, "c1", "click-first", "Clicked", nil)
	deliver(t, eng, "p1", "click-first", "Purchased", map[string]any{"cartId": "cart-click-first"})
	deliver(t, eng, "p2", "buy-first", "Purchased", map[string]any{"cartId": "cart-buy-first"})
	deliver(t, eng, "c2", "buy-first", "Clicked", nil)
	deliver(t, eng, "p3", "other-cart", "Purchased", map[string]any{"cartId": "cart-someone-else"})
	deliver(t, eng, "p4", "other-cart", "Purchased", map[string]any{"cartId": "cart-other-cart"})
	_, err = flowtest.Advance(ctx, eng, clk, 2*24*time.Hour)
	require.NoError(t, err)

	want := map[string]string{"click-first": "clicked", "buy-first": "bought", "other-cart": "bought", "signed-before": "signedUp", "idle": "timeout"}
	for who, branch := range want {
		p := pathOf(t, eng, "actions", who)
		require.Equal(t, store.Completed, p.Status, who)
		require.Equal(t, []string{"pause", "paths:" + branch, "after-" + map[string]string{"clicked": "click", "bought": "buy", "signedUp": "signup", "timeout": "timeout"}[branch]},
			flowtest.Path(p), who)
	}
	require.True(t, hasStep(pathOf(t, eng, "actions", "signed-before"), `action path "signedUp": external/SignedUp occurred first since entering the flow`))
	require.True(t, hasStep(pathOf(t, eng, "actions", "other-cart"), "(event p4 at"), "the participant's own cart")
	require.True(t, hasStep(pathOf(t, eng, "actions", "idle"), "no action within 1 day"))
	st := stats(t, eng, "actions")
	require.EqualValues(t, 2, st["paths"].Left["bought"])
	require.EqualValues(t, 1, st["paths"].Left["timeout"])
}

// Ranked paths hold until the window ends, then take the
// highest-priority action seen, whatever came first; none times out.
func testActionPathsRanked(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, b.New(t), clk, flow.Config{})
	activate(t, eng, parseFlow(t, `{"id": "ranked", "elements": [
		{"id": "paths", "type": "actionPaths", "ranked": true, "waitFor": {"amount": 1, "unit": "days"}, "paths": [
			{"name": "bought", "event": {"category": "external", "name": "Purchased"}},
			{"name": "clicked", "event": {"category": "external", "name": "Clicked"}}]}]}`))
	for _, who := range []string{"both", "click", "none"} {
		_, err := eng.Enter(ctx, "ranked", store.PersonRef{ExternalID: who}, nil)
		require.NoError(t, err)
	}
	clk.Advance(time.Hour)
	deliver(t, eng, "c1", "both", "Clicked", nil)
	deliver(t, eng, "c2", "click", "Clicked", nil)
	clk.Advance(time.Hour)
	deliver(t, eng, "p1", "both", "Purchased", nil)
	require.Equal(t, store.Waiting, pathOf(t, eng, "ranked", "both").Status, "held until the window ends")
	_, err := flowtest.Advance(ctx, eng, clk, 2*24*time.Hour)
	require.NoError(t, err)
	for who, branch := range map[string]string{"both": "bought", "click": "clicked", "none": "timeout"} {
		p := pathOf(t, eng, "ranked", who)
		require.Equal(t, store.Completed, p.Status, who)
		require.Equal(t, []string{"paths:" + branch}, flowtest.Path(p), who)
		require.True(t, p.ExitedAt.Equal(engineStart.Add(24*time.Hour)), "%s left at the window's end, %s", who, p.ExitedAt)
	}
}
