package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// Wait reasons show the participant's values of placeholders, not the
// placeholders; a flow that ends on an unconnected branch says so as a
// normal exit.
func TestReasonsResolvePlaceholders(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	eng := integEngine(t, clk, flow.Config{Schema: store.Schema{"plan": store.Text}})
	f, err := flow.Parse([]byte(`{"id": "cart", "timezone": "UTC",
	  "variables": {"cartId": {"type": "text"}},
	  "trigger": {"category": "external", "name": "CartAbandoned"},
	  "elements": [
	    {"id": "keep", "type": "updateVariable", "set": [{"variable": "cartId", "formula": "entry.properties.cartId"}], "next": {"next": "wait-order"}},
	    {"id": "wait-order", "type": "waitForEvent",
	     "event": {"category": "external", "name": "OrderCompleted", "where": [
	       {"property": "cartId", "op": "is", "value": "{{cartId}}"},
	       {"property": "shop", "op": "is", "value": "{{entry.shop}}"},
	       {"property": "channel", "op": "is", "value": "web"}]},
	     "waitFor": {"amount": 4, "unit": "hours"}, "next": {"timeout": "wait-plan"}},
	    {"id": "wait-plan", "type": "waitForChange",
	     "attributes": [{"attribute": "plan", "op": "isNot", "value": "{{entry.properties.plan}}"}],
	     "waitFor": {"amount": 1, "unit": "days"}, "next": {"notChanged": "tag"}},
	    {"id": "tag", "type": "addTag", "tag": "lost"}
	  ]}`))
	require.NoError(t, err)
	integPublish(t, eng, f)
	ann := store.PersonRef{ExternalID: "ann"}
	require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "a1", Person: ann, Category: store.External, Name: "CartAbandoned",
		Properties: map[string]any{"cartId": "c-200", "shop": "zagreb", "plan": "basic"}}))
	_, err = flowtest.Advance(ctx, eng, clk, 48*time.Hour)
	require.NoError(t, err)
	ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "cart"})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	var reasons []string
	for _, s := range ps[0].Journal {
		reasons = append(reasons, s.Reason)
	}
	require.Equal(t, []string{
		`set cartId = "c-200"`,
		`waiting up to 4 hours for external/OrderCompleted where cartId is "c-200" and shop is "zagreb" and channel is "web"`,
		`no external/OrderCompleted where cartId is "c-200" and shop is "zagreb" and channel is "web" within 4 hours`,
		`waiting up to 1 day for a change of plan isNot "basic"`,
		`no change of plan isNot "basic" within 1 day`,
		`tagged "lost"`,
		`left the flow after tag (no element after branch "next")`,
	}, reasons)
}
