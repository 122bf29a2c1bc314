package console_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// The flow JSON carries each experiment's figures in the shape the
// console renders: element, version, winner, decidedAt and per variant
// its branch, control, participants, conversions, rate with its
// interval, lift, p-value and significance; a decided experiment names
// its winner and time.
func testExperiments(t *testing.T, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), readAll)
	ctx := t.Context()
	f, err := flow.Parse([]byte(`{"id": "ab", "elements": [
		{"id": "split", "type": "splitAudience", "variants": [{"name": "control", "percent": 50, "control": true}, {"name": "b", "percent": 50}],
		 "experiment": {"goal": "purchase", "samplePerVariant": 3}, "next": {"b": "tag"}},
		{"id": "tag", "type": "addTag", "tag": "b"}],
	  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}}]}`))
	require.NoError(t, err)
	_, err = fx.eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, fx.eng.Activate(ctx, "ab"))
	for i := range 40 {
		who := store.PersonRef{ExternalID: fmt.Sprint("ab-", i)}
		_, err := fx.eng.Enter(ctx, "ab", who, nil)
		require.NoError(t, err)
		if i%4 == 0 {
			require.NoError(t, fx.eng.Deliver(ctx, &store.Event{ID: fmt.Sprint("buy-", i), Person: who, Category: store.External, Name: "Purchased"}))
		}
	}
	fx.clk.Advance(time.Hour)
	_, err = fx.eng.Tick(ctx)
	require.NoError(t, err)
	want, err := fx.eng.Experiments(ctx, "ab")
	require.NoError(t, err)
	require.Len(t, want, 1)
	require.NotEmpty(t, want[0].Winner)

	var raw struct {
		Experiments []map[string]any `json:"experiments"`
	}
	fx.get(t, "/api/flows/ab", &raw)
	require.Len(t, raw.Experiments, 1)
	x := raw.Experiments[0]
	require.Equal(t, "split", x["element"])
	require.EqualValues(t, 1, x["version"])
	require.Equal(t, want[0].Winner, x["winner"])
	at, err := time.Parse(time.RFC3339, x["decidedAt"].(string))
	require.NoError(t, err)
	require.True(t, at.Equal(want[0].DecidedAt))
	vs := x["variants"].([]any)
	require.Len(t, vs, 2)
	for i, v := range vs {
		m := v.(map[string]any)
		for _, k := range []string{"name", "branch", "control", "participants", "conversions", "rate", "low", "high", "lift", "pValue", "significant"} {
			require.Contains(t, m, k)
		}
		w := want[0].Variants[i]
		require.Equal(t, w.Name, m["name"])
		require.Equal(t, w.Branch, m["branch"])
		require.Equal(t, w.Control, m["control"])
		require.EqualValues(t, w.Participants, m["participants"])
		require.EqualValues(t, w.Conversions, m["conversions"])
		require.InDelta(t, w.Rate, m["rate"], 1e-12)
		require.InDelta(t, w.Low, m["low"], 1e-12)
		require.InDelta(t, w.High, m["high"], 1e-12)
		require.InDelta(t, w.PValue, m["pValue"], 1e-12)
		require.Equal(t, w.Significant, m["significant"])
	}
	require.Equal(t, "tag", vs[1].(map[string]any)["branch"])
	require.Equal(t, true, vs[0].(map[string]any)["control"])

	// A flow without experiments has an empty list, and the list of
	// flows carries them too.
	var cart struct {
		Experiments json.RawMessage `json:"experiments"`
	}
	fx.get(t, "/api/flows/cart", &cart)
	require.JSONEq(t, `[]`, string(cart.Experiments))
	var list struct {
		Flows []struct {
			ID          string           `json:"id"`
			Experiments []map[string]any `json:"experiments"`
		} `json:"flows"`
	}
	fx.get(t, "/api/flows", &list)
	for _, fl := range list.Flows {
		if fl.ID == "ab" {
			require.Len(t, fl.Experiments, 1)
		}
	}
}
