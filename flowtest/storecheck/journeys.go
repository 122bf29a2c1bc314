package storecheck

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// journeyTests are the engine scenarios of the layer above the elements:
// entry points, re-entry rules, exit rules, goals and Add to Flow.
var journeyTests = []struct {
	name string
	run  func(*testing.T, Backend)
}{
	{"EventEntryConditions", testEventEntryConditions},
	{"ReentryRules", testReentryRules},
	{"ExitRuleOnEvent", testExitRuleOnEvent},
	{"ExitRuleUnlessSegment", testExitRuleUnless},
	{"GoalsBySplitVariant", testGoalsBySplitVariant},
	{"AddToFlowRefusals", testAddToFlowRefusals},
	{"EnterWithKey", testEnterWithKey},
	{"AddToFlowOtherPersonOnce", testAddToFlowOtherPersonOnce},
}

func external(name string, where ...segment.PropertyCondition) *segment.EventSpec {
	return &segment.EventSpec{Category: store.External, Name: name, Where: where}
}

func deliver(t *testing.T, eng *flow.Engine, id, who, name string, props map[string]any) {
	t.Helper()
	require.NoError(t, eng.Deliver(t.Context(), &store.Event{ID: id, Person: store.PersonRef{ExternalID: who}, Category: store.External, Name: name, Properties: props}))
}

func participantsOf(t *testing.T, eng *flow.Engine, flowID string) []*store.Participant {
	t.Helper()
	ps, err := eng.Participants(t.Context(), store.ParticipantQuery{FlowID: flowID})
	require.NoError(t, err)
	return ps
}

func stats(t *testing.T, eng *flow.Engine, flowID string) map[string]*flow.ElementStats {
	t.Helper()
	st, err := eng.Stats(t.Context(), flowID)
	require.NoError(t, err)
	return st
}

// A trigger on CartAbandoned where total > 50: only big carts enter, the
// participant says how it came in, and the flow takes no API entries.
func testEventEntryConditions(t *testing.T, b Backend) {
	eng := newEngine(t, b.New(t), clock.NewFake(engineStart), flow.Config{})
	f := flow.New("big-carts", "Big carts").Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryEvent, Event: external("CartAbandoned", segment.Prop("total", segment.GreaterThan, 50))}}
	activate(t, eng, f)

	deliver(t, eng, "c1", "ana", "CartAbandoned", map[string]any{"total": 30})
	require.Empty(t, participantsOf(t, eng, "big-carts"), "a small cart does not enter")
	deliver(t, eng, "c2", "ana", "CartAbandoned", map[string]any{"total": 80})
	ps := participantsOf(t, eng, "big-carts")
	require.Len(t, ps, 1)
	require.Equal(t, "event CartAbandoned", ps[0].EnteredBy)
	require.Equal(t, "c2", ps[0].Entry.ID)

	_, err := eng.Enter(t.Context(), "big-carts", store.PersonRef{ExternalID: "bo"}, nil)
	require.ErrorIs(t, err, flow.ErrNoEntryPoint, "the flow declares no api entry")
}

// Each re-entry rule admits and refuses as documented, and a refusal
// names its rule.
func testReentryRules(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, b.New(t), clk, flow.Config{})
	// Each flow holds a person for a day, then lets them go.
	mk := func(id string, r *flow.Reentry) {
		f := flow.New(id, id).Add("hold", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, nil)
		f.Reentry = r
		activate(t, eng, f)
	}
	mk("default", nil)
	mk("once", &flow.Reentry{Rule: flow.ReenterOnce})
	mk("cool", &flow.Reentry{Rule: flow.ReenterAfterCoolDown, CoolDown: segment.Period{Amount: 3, Unit: segment.Days}})
	mk("twice", &flow.Reentry{Rule: flow.ReenterConcurrent, Max: 2})
	who := store.PersonRef{ExternalID: "rita"}
	enter := func(flowID string) error {
		_, err := eng.Enter(ctx, flowID, who, nil)
		return err
	}
	refused := func(flowID, rule string) {
		t.Helper()
		err := enter(flowID)
		require.ErrorIs(t, err, flow.ErrAlreadyInFlow, flowID)
		require.ErrorContains(t, err, "re-entry rule "+rule, flowID)
	}
	for _, id := range []string{"default", "once", "cool", "twice"} {
		require.NoError(t, enter(id), id)
	}
	refused("default", flow.ReenterAfterExit)
	refused("once", flow.ReenterOnce)
	refused("cool", flow.ReenterAfterCoolDown)
	require.NoError(t, enter("twice"))
	refused("twice", flow.ReenterConcurrent)

	// A day later every participation has ended.
	_, err := flowtest.Advance(ctx, eng, clk, 25*time.Hour)
	require.NoError(t, err)
	require.NoError(t, enter("default"), "again after the previous participation ended")
	refused("once", flow.ReenterOnce)
	refused("cool", flow.ReenterAfterCoolDown) // 25 hours after entry, the cool-down is 3 days
	clk.Advance(2 * 24 * time.Hour)
	require.NoError(t, enter("cool"), "the cool-down has passed")
}

// The purchase of this cart ends this abandoned-cart participation only,
// wherever it is; statistics and the journal name the rule.
func testExitRuleOnEvent(t *testing.T, b Backend) {
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, b.New(t), clk, flow.Config{})
	f := flow.New("cart", "Cart").Var("cartId", store.Text, nil).
		Add("set", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "cartId", Value: "{{entry.properties.cartId}}"}}}, flow.Next{"next": "wait"}).
		Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 4, Unit: segment.Hours}}, flow.Next{"next": "remind"}).
		Add("remind", &kinds.AddTag{Tag: "reminded"}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryEvent, Event: external("CartAbandoned")}}
	f.Reentry = &flow.Reentry{Rule: flow.ReenterConcurrent}
	f.ExitRules = []*flow.ExitRule{{Name: "purchased", Event: external("OrderCompleted", segment.Prop("cartId", segment.Is, "{{cartId}}"))}}
	activate(t, eng, f)

	deliver(t, eng, "a1", "ana", "CartAbandoned", map[string]any{"cartId": "c-100"})
	deliver(t, eng, "a2", "ana", "CartAbandoned", map[string]any{"cartId": "c-200"})
	require.Len(t, participantsOf(t, eng, "cart"), 2)
	deliver(t, eng, "o1", "ana", "OrderCompleted", map[string]any{"cartId": "c-200"})

	byCart := map[string]*store.Participant{}
	for _, p := range participantsOf(t, eng, "cart") {
		byCart[p.Vars["cartId"].(string)] = p
	}
	require.Equal(t, store.Waiting, byCart["c-100"].Status, "another cart's purchase does not end it")
	left := byCart["c-200"]
	require.Equal(t, store.Completed, left.Status)
	require.Contains(t, left.Reason, `exit rule "purchased"`)
	require.Equal(t, left.Reason, left.Journal[len(left.Journal)-1].Reason)
	st := stats(t, eng, "cart")
	require.Equal(t, int64(1), st["wait"].ExitRules["purchased"])
	require.Equal(t, int64(1), st["wait"].Waiting)
}

// A person who stops matching the rule's segment leaves at once.
func testExitRuleUnless(t *testing.T, b Backend) {
	ctx := t.Context()
	eng := newEngine(t, b.New(t), clock.NewFake(engineStart), flow.Config{})
	f := flow.New("news", "News").Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 7, Unit: segment.Days}}, nil)
	f.ExitRules = []*flow.ExitRule{{Name: "unsubscribed", Unless: &segment.Condition{Tag: "subscribed", Op: segment.Has}}}
	activate(t, eng, f)
	who := store.PersonRef{ExternalID: "ivo"}
	_, err := eng.UpdatePerson(ctx, who, func(p *store.Person) error { p.AddTag("subscribed"); return nil })
	require.NoError(t, err)
	id, err := eng.Enter(ctx, "news", who, nil)
	require.NoError(t, err)
	_, err = eng.UpdatePerson(ctx, who, func(p *store.Person) error { p.FirstName = "Ivo"; return nil })
	require.NoError(t, err)
	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Waiting, p.Status, "still in the segment")
	_, err = eng.UpdatePerson(ctx, who, func(p *store.Person) error { p.RemoveTag("subscribed"); return nil })
	require.NoError(t, err)
	p, err = eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Completed, p.Status)
	require.Contains(t, p.Reason, `exit rule "unsubscribed": no longer in the rule's segment`)
}

// Conversions by split variant over 10,000 participants match a hand
// count; a conversion after the attribution window does not count, and
// none counts twice.
func testGoalsBySplitVariant(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, b.New(t), clk, flow.Config{})
	f := flow.New("ab", "A/B").
		Add("split", &kinds.SplitAudience{Variants: []kinds.Variant{{Name: "a", Percent: 50}, {Name: "b", Percent: 50}}}, flow.Next{"a": "wait", "b": "wait"}).
		Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 30, Unit: segment.Days}}, nil)
	f.Goals = []*flow.Goal{{Name: "purchase", Event: *external("Purchased"), Within: segment.Period{Amount: 7, Unit: segment.Days}}}
	activate(t, eng, f)

	people := 10_000 // the figure; a few hundred under -short
	if testing.Short() {
		people = 300
	}
	variant := map[string]string{}
	for i := range people {
		who := fmt.Sprint("p", i)
		id, err := eng.Enter(ctx, "ab", store.PersonRef{ExternalID: who}, nil)
		require.NoError(t, err)
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		variant[who] = p.Journal[0].Branch
	}
	want := map[string]int64{}
	for i := range people {
		who := fmt.Sprint("p", i)
		if i%3 == 0 {
			deliver(t, eng, "buy-"+who, who, "Purchased", nil)
			deliver(t, eng, "again-"+who, who, "Purchased", nil) // counts once
			want[variant[who]]++
		}
	}
	clk.Advance(8 * 24 * time.Hour)
	for i := range people {
		if who := fmt.Sprint("p", i); i%3 == 1 {
			deliver(t, eng, "late-"+who, who, "Purchased", nil) // past the window
		}
	}
	st := stats(t, eng, "ab")
	require.Equal(t, want["a"], st["split"].BranchConversions["a"]["purchase"])
	require.Equal(t, want["b"], st["split"].BranchConversions["b"]["purchase"])
	require.Equal(t, want["a"]+want["b"], st["split"].Conversions["purchase"])
	require.Equal(t, want["a"]+want["b"], st["wait"].Conversions["purchase"])
	require.Positive(t, want["a"])
	require.Positive(t, want["b"])
}

// Every refusal of Add to Flow takes failed: a target without an
// existingFlow entry, and a person already in a target that refuses
// re-entry; nobody enters.
func testAddToFlowRefusals(t *testing.T, b Backend) {
	ctx := t.Context()
	eng := newEngine(t, b.New(t), clock.NewFake(engineStart), flow.Config{})
	hold := func(id string) *flow.Flow {
		return flow.New(id, id).Add("hold", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, nil)
	}
	activate(t, eng, hold("target"))
	src := flow.New("src", "Source").
		Add("add", &kinds.AddToFlow{Flow: "target"}, flow.Next{"next": "ok", "failed": "no"}).
		Add("ok", &kinds.AddTag{Tag: "added"}, nil).
		Add("no", &kinds.AddTag{Tag: "refused"}, nil)
	src.Reentry = &flow.Reentry{Rule: flow.ReenterConcurrent}
	activate(t, eng, src)

	who := store.PersonRef{ExternalID: "zoe"}
	_, err := eng.Enter(ctx, "src", who, nil)
	require.NoError(t, err)
	_, err = eng.Enter(ctx, "src", who, nil) // already in target: refused
	require.NoError(t, err)
	require.Len(t, participantsOf(t, eng, "target"), 1)
	st := stats(t, eng, "src")
	require.Equal(t, int64(1), st["add"].Left["next"])
	require.Equal(t, int64(1), st["add"].Left["failed"])
	for _, p := range participantsOf(t, eng, "src") {
		if p.Journal[0].Branch == "failed" {
			require.Contains(t, p.Journal[0].Reason, "re-entry rule")
		}
	}

	// A target published later without an existingFlow entry.
	closed := hold("closed")
	closed.Entries = []*flow.Entry{{Type: flow.EntryAPI}}
	late := flow.New("late", "Late").
		Add("add", &kinds.AddToFlow{Flow: "closed"}, flow.Next{"next": "ok", "failed": "no"}).
		Add("ok", &kinds.AddTag{Tag: "added"}, nil).
		Add("no", &kinds.AddTag{Tag: "refused"}, nil)
	activate(t, eng, late)
	activate(t, eng, closed)
	_, err = eng.Enter(ctx, "late", store.PersonRef{ExternalID: "yan"}, nil)
	require.NoError(t, err)
	require.Empty(t, participantsOf(t, eng, "closed"))
	require.Equal(t, int64(1), stats(t, eng, "late")["add"].Left["failed"])

	// And Publish refuses it once the target is known.
	_, err = eng.Publish(ctx, late)
	var ve *flow.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	require.Equal(t, "add", ve.ElementID)
	require.Equal(t, "flow", ve.Field)
}

// Enter with a key enters once, however often it is retried.
func testEnterWithKey(t *testing.T, b Backend) {
	ctx := t.Context()
	eng := newEngine(t, b.New(t), clock.NewFake(engineStart), flow.Config{})
	f := flow.New("k", "Keyed").Add("hold", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, nil)
	f.Reentry = &flow.Reentry{Rule: flow.ReenterConcurrent}
	activate(t, eng, f)
	who := store.PersonRef{ExternalID: "kim"}
	a, err := eng.Enter(ctx, "k", who, nil, flow.WithKey("signup-1"))
	require.NoError(t, err)
	b2, err := eng.Enter(ctx, "k", who, nil, flow.WithKey("signup-1"))
	require.NoError(t, err)
	require.Equal(t, a, b2)
	c, err := eng.Enter(ctx, "k", who, nil, flow.WithKey("signup-2"))
	require.NoError(t, err)
	require.NotEqual(t, a, c)
	require.Len(t, participantsOf(t, eng, "k"), 2)

	// A key names one entry of the flow: another person's entry with it
	// is refused, with no participant id, and creates nobody.
	bo := store.PersonRef{ExternalID: "bo"}
	d, err := eng.Enter(ctx, "k", bo, nil, flow.WithKey("signup-1"))
	require.ErrorIs(t, err, store.ErrDuplicate)
	require.ErrorContains(t, err, "another person's entry")
	require.Equal(t, uuid.Nil, d, "no participant was entered")
	_, err = eng.Person(ctx, bo)
	require.ErrorIs(t, err, store.ErrNotFound, "the refused entry created nobody")
	require.Len(t, participantsOf(t, eng, "k"), 2)
}

// Entering another person is durable: a process dying after the friend
// entered but before the step's result committed leaves the step to run
// again, and the friend is in the flow once.
func testAddToFlowOtherPersonOnce(t *testing.T, b Backend) {
	ctx := t.Context()
	d := &dyingStore{Store: b.New(t)}
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, d, clk, flow.Config{EffectLease: time.Minute})
	friend := flow.New("friend", "Friend").Add("hold", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, nil)
	activate(t, eng, friend)
	refer := flow.New("refer", "Refer").Var("email", store.Text, nil).
		Add("add", &kinds.AddToFlow{Flow: "friend", Participant: &kinds.Contact{Email: "{{email}}"}}, flow.Next{"next": "ok", "failed": "no"}).
		Add("ok", &kinds.AddTag{Tag: "referred"}, nil).
		Add("no", &kinds.AddTag{Tag: "refused"}, nil)
	activate(t, eng, refer)

	d.die.Store(1)
	_, err := eng.Enter(ctx, "refer", store.PersonRef{ExternalID: "ana"}, map[string]any{"email": "Bob@Example.com"})
	require.ErrorContains(t, err, "died")
	require.Len(t, participantsOf(t, eng, "friend"), 1, "the friend entered before the process died")
	_, err = flowtest.Advance(ctx, eng, clk, 2*time.Minute)
	require.NoError(t, err)
	require.Len(t, participantsOf(t, eng, "friend"), 1, "the retried step does not enter the friend again")
	st := stats(t, eng, "refer")
	require.Equal(t, int64(1), st["add"].Left["next"])
	// The friend is found in any spelling of the address.
	p, err := eng.Person(ctx, store.PersonRef{Email: "bob@example.com"})
	require.NoError(t, err)
	require.Equal(t, participantsOf(t, eng, "friend")[0].PersonID, p.ID)
}
