package flow_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

const purchaseGoal = `"goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}}]`

// Bad experiments, holdouts and action paths are refused at Publish with
// the element and the field at fault.
func TestOutcomesValidation(t *testing.T) {
	split := func(variants, experiment string) string {
		x := ""
		if experiment != "" {
			x = `, "experiment": ` + experiment
		}
		return `{"id": "s", "type": "splitAudience", "variants": ` + variants + x + `}`
	}
	ab := `[{"name": "a", "percent": 50}, {"name": "b", "percent": 50}]`
	paths := func(body string) string { return `{"id": "p", "type": "actionPaths", ` + body + `}` }
	click := `{"name": "clicked", "event": {"category": "external", "name": "Clicked"}}`
	for name, tc := range map[string]struct {
		element, goals, extra string
		id, field, msg        string
	}{
		"two controls": {split(`[{"name": "a", "percent": 50, "control": true}, {"name": "b", "percent": 50, "control": true}]`, ""), purchaseGoal, "",
			"s", "variants[1].control", `variants "a" and "b" are both the control`},
		"unknown goal":        {split(ab, `{"goal": "signup"}`), purchaseGoal, "", "s", "experiment.goal", `goal "signup" is not one of the flow's goals (purchase)`},
		"no goal to end on":   {split(ab, `{"samplePerVariant": 100}`), "", "", "s", "experiment", "an experiment that ends needs a goal"},
		"confidence":          {split(ab, `{"confidence": 1.5}`), purchaseGoal, "", "s", "experiment.confidence", "from 0.5 to 0.999, got 1.5"},
		"fallback":            {split(ab, `{"fallback": "c"}`), purchaseGoal, "", "s", "experiment.fallback", `fallback "c" is not a variant`},
		"sample":              {split(ab, `{"samplePerVariant": -1}`), purchaseGoal, "", "s", "experiment.samplePerVariant", "must not be negative"},
		"end after":           {split(ab, `{"endAfter": {"amount": -2, "unit": "days"}}`), purchaseGoal, "", "s", "experiment.endAfter", ""},
		"holdout 0":           {split(ab, ""), purchaseGoal, `"holdout": {"percent": 0}, `, "", "holdout.percent", "above 0 and below 100, got 0"},
		"holdout 100":         {split(ab, ""), purchaseGoal, `"holdout": {"percent": 100}, `, "", "holdout.percent", "got 100"},
		"no paths":            {paths(`"paths": []`), "", "", "p", "paths", "at least one event"},
		"timeout path":        {paths(`"paths": [{"name": "timeout", "event": {"category": "external", "name": "Clicked"}}]`), "", "", "p", "paths[0].name", "the branch of the time limit"},
		"same names":          {paths(`"paths": [` + click + `, ` + click + `]`), "", "", "p", "paths[1].name", `two branches are named "clicked"`},
		"bad category":        {paths(`"paths": [` + click + `, {"name": "x", "event": {"category": "nowhere", "name": "X"}}]`), "", "", "p", "paths[1].event.category", `"nowhere" is not one of`},
		"bad channel event":   {paths(`"paths": [{"name": "x", "event": {"category": "channel", "name": "Opened"}}]`), "", "", "p", "paths[0].event.name", "channel events are"},
		"bad condition":       {paths(`"paths": [{"name": "x", "event": {"category": "external", "name": "X", "where": [{"property": "n", "op": "nonsense", "value": 1}]}}]`), "", "", "p", "paths[0].event.where[0]", ""},
		"ranked needs window": {paths(`"ranked": true, "paths": [` + click + `]`), "", "", "p", "waitFor", "waitFor is required"},
	} {
		t.Run(name, func(t *testing.T) {
			goals := ""
			if tc.goals != "" {
				goals = ", " + tc.goals
			}
			doc := `{"id": "f", ` + tc.extra + `"elements": [` + tc.element + `]` + goals + `}`
			f, err := flow.Parse([]byte(doc))
			require.NoError(t, err)
			eng, err := flow.NewEngine(flow.Config{Store: memory.New()})
			require.NoError(t, err)
			_, err = eng.Publish(t.Context(), f)
			ves := flow.ValidationErrors(err)
			require.NotEmpty(t, ves, "%v", err)
			ve := ves[0]
			require.Equal(t, tc.id, ve.ElementID, "%v", err)
			require.True(t, strings.HasPrefix(ve.Field, tc.field), "field %q, want %q (%v)", ve.Field, tc.field, err)
			require.Contains(t, ve.Error(), tc.msg)
		})
	}
}

// keeperless hides the memory store's ExperimentKeeper.
type keeperless struct{ store.Store }

// An experiment that ends needs a store that keeps its decision, so that
// every process takes the same winner: Publish refuses it on another.
func TestEndingExperimentNeedsKeeper(t *testing.T) {
	eng, err := flow.NewEngine(flow.Config{Store: keeperless{memory.New()}})
	require.NoError(t, err)
	f, err := flow.Parse([]byte(`{"id": "f", "elements": [{"id": "s", "type": "splitAudience",
		"variants": [{"name": "a", "percent": 50}, {"name": "b", "percent": 50}], "experiment": {"samplePerVariant": 10}}], ` + purchaseGoal + `}`))
	require.NoError(t, err)
	_, err = eng.Publish(t.Context(), f)
	ves := flow.ValidationErrors(err)
	require.Len(t, ves, 1)
	require.Equal(t, "s", ves[0].ElementID)
	require.Contains(t, ves[0].Error(), "needs a Store that keeps decisions")
	// Figures alone need no keeper.
	f.Node("s").Element.(*kinds.SplitAudience).Experiment = nil
	f.Node("s").Element.(*kinds.SplitAudience).Variants[0].Control = true
	_, err = eng.Publish(t.Context(), f)
	require.NoError(t, err)
}

// A document written before outcomes (a split without a control, goals
// with and without a window) parses, publishes and splits as it did:
// the same participant lands in the same variant, and it reports no
// experiment.
func TestDocumentsFromBeforeOutcomes(t *testing.T) {
	doc := `{"id": "old", "elements": [
		{"id": "split", "type": "splitAudience", "variants": [{"name": "a", "percent": 50}, {"name": "b", "percent": 50}], "next": {"a": "done", "b": "done"}},
		{"id": "done", "type": "exit"}],
	  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}, "exit": true},
	            {"name": "visit", "event": {"category": "external", "name": "Visited"}}]}`
	f, err := flow.Parse([]byte(doc))
	require.NoError(t, err)
	out, err := json.Marshal(f)
	require.NoError(t, err)
	require.NotContains(t, string(out), "holdout")
	require.NotContains(t, string(out), "experiment")
	require.NotContains(t, string(out), "control")
	h := newHarness(t, flow.Config{})
	h.publish(t, f)
	id := h.enter(t, "old", "ann", nil)
	p := h.participant(t, id)
	require.Empty(t, p.Holdout)
	// The hash of the participant and element ids, as before.
	old := &kinds.SplitAudience{Variants: []kinds.Variant{{Name: "a", Percent: 50}, {Name: "b", Percent: 50}}}
	require.NoError(t, old.Validate(&element.Compiler{}))
	r, err := old.Run(h.ctx, &element.Run{Participant: id, ElementID: "split"})
	require.NoError(t, err)
	require.Equal(t, r.Branch, p.Journal[0].Branch)
	ex, err := h.eng.Experiments(h.ctx, "old")
	require.NoError(t, err)
	require.Empty(t, ex)
}

// A wait for an event migrated to action paths is re-armed as of the
// participant's arrival: its window counts from then, a sign-up from
// before the migration counts by lookback, and an event after the
// migration takes its path.
func TestMigrateToActionPaths(t *testing.T) {
	h := newHarness(t, flow.Config{})
	h.publish(t, waitFlow(waitPoke(2)))
	ids := h.enterAll(t, "m", 3)
	h.clk.Advance(time.Hour)
	h.deliver(t, "s1", "p2", store.External, "SignedUp", nil)
	v2, err := flow.Parse([]byte(`{"id": "m", "elements": [
		{"id": "wait", "type": "actionPaths", "waitFor": {"amount": 3, "unit": "days"}, "paths": [
			{"name": "poked", "event": {"category": "external", "name": "Poke"}},
			{"name": "signedUp", "event": {"category": "external", "name": "SignedUp"}, "includeFromEntrance": true}],
		 "next": {"poked": "done", "signedUp": "done", "timeout": "done"}},
		{"id": "done", "type": "exit"}]}`))
	require.NoError(t, err)
	_, err = h.eng.Publish(h.ctx, v2)
	require.NoError(t, err)
	h.clk.Advance(46 * time.Hour)

	rep, err := h.eng.Migrate(h.ctx, flow.Migration{FlowID: "m", From: 1, To: 2})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Moved, "%+v", rep.Rows)
	require.Equal(t, 1, rep.Refused)
	refused := h.participant(t, ids[2])
	require.Equal(t, 1, refused.FlowVersion)
	require.Contains(t, rep.Rows[2].Reason, "would not wait from the participant's arrival")
	require.Contains(t, rep.Rows[2].Reason, `action path "signedUp"`)

	p := h.participant(t, ids[0])
	require.Equal(t, 2, p.FlowVersion)
	require.True(t, p.Wait.Until.Equal(t0.Add(72*time.Hour)), "the window counts from the arrival: %s", p.Wait.Until)
	require.ElementsMatch(t, []string{"Poke", "SignedUp"}, p.Wait.Events)
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 2*time.Hour)
	require.NoError(t, err)
	h.deliver(t, "poke", "p0", store.External, "Poke", nil)
	require.Contains(t, flowtest.Path(h.participant(t, ids[0])), "wait:poked")
	_, err = flowtest.AdvanceTo(h.ctx, h.eng, h.clk, t0.Add(72*time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.Waiting, h.participant(t, ids[1]).Status, "not before its window from the arrival ends")
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 2*time.Minute)
	require.NoError(t, err)
	require.Contains(t, flowtest.Path(h.participant(t, ids[1])), "wait:timeout")
}

// The JSON Schema describes holdouts, experiments and action paths.
func TestSchemaOfOutcomes(t *testing.T) {
	var s map[string]any
	require.NoError(t, json.Unmarshal(flow.Schema(nil), &s))
	defs := s["$defs"].(map[string]any)
	require.Contains(t, defs, "kind.actionPaths")
	require.Contains(t, s["properties"].(map[string]any), "holdout")
	raw, _ := json.Marshal(defs["kinds.SplitExperiment"])
	require.Contains(t, string(raw), "samplePerVariant")
	raw, _ = json.Marshal(defs["kinds.Variant"])
	require.Contains(t, string(raw), "control")
	raw, _ = json.Marshal(defs["kind.actionPaths"])
	require.Contains(t, string(raw), "ranked")
	raw, _ = json.Marshal(defs["kinds.ActionPath"])
	require.Contains(t, string(raw), "includeFromEntrance")
}

// An experiment that ends after a duration, with nothing significant,
// sends later participants down its fallback, and says so.
func TestExperimentEndsAfterDurationWithFallback(t *testing.T) {
	h := newHarness(t, flow.Config{})
	f, err := flow.Parse([]byte(`{"id": "dur", "elements": [
		{"id": "split", "type": "splitAudience", "variants": [{"name": "control", "percent": 50, "control": true}, {"name": "a", "percent": 25}, {"name": "b", "percent": 25}],
		 "experiment": {"endAfter": {"amount": 2, "unit": "days"}, "fallback": "b"}}], ` + purchaseGoal + `}`))
	require.NoError(t, err)
	h.publish(t, f)
	for i := range 30 {
		h.enter(t, "dur", fmt.Sprint("early-", i), nil)
	}
	h.clk.Advance(47 * time.Hour)
	_, err = h.eng.Tick(h.ctx)
	require.NoError(t, err)
	ex, err := h.eng.Experiments(h.ctx, "dur")
	require.NoError(t, err)
	require.Empty(t, ex[0].Winner, "two days have not passed")

	h.clk.Advance(time.Hour)
	_, err = h.eng.Tick(h.ctx)
	require.NoError(t, err)
	ex, err = h.eng.Experiments(h.ctx, "dur")
	require.NoError(t, err)
	require.Equal(t, "b", ex[0].Winner)
	require.True(t, ex[0].DecidedAt.Equal(t0.Add(48*time.Hour)))
	require.Contains(t, ex[0].Reason, "2 days passed since version 1 was published")
	require.Contains(t, ex[0].Reason, `no variant converted significantly more than the control (0%) at 95% confidence: the fallback "b"`)
	for i := range 5 {
		p := h.participant(t, h.enter(t, "dur", fmt.Sprint("late-", i), nil))
		require.Equal(t, "b", p.Journal[0].Branch)
		require.Contains(t, p.Journal[0].Reason, `winning path: variant "b"`)
	}
}
