package storecheck

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/stretchr/testify/require"
)

// outcomeTests are the engine scenarios of what flows cause: goals
// after exit, holdouts, experiments and their winning paths.
var outcomeTests = []struct {
	name string
	run  func(*testing.T, Backend)
}{
	{"ConversionAfterExit", testConversionAfterExit},
	{"HoldoutReceivesNothing", testHoldoutReceivesNothing},
	{"FlowHoldoutStablePerPerson", testFlowHoldoutStable},
	{"ExperimentFigures", testExperimentFigures},
	{"WinningPathOnAnotherProcess", testWinningPathOnAnotherProcess},
}

func parseFlow(t *testing.T, doc string) *flow.Flow {
	t.Helper()
	f, err := flow.Parse([]byte(doc))
	require.NoError(t, err)
	return f
}

func hasStep(p *store.Participant, part string) bool {
	return slices.ContainsFunc(p.Journal, func(s store.Step) bool { return strings.Contains(s.Reason, part) })
}

// A reminder flow that ends after its last step: a purchase two days
// later, inside the goal's 7-day window, converts the participant that
// left, counted at every element it reached; one nine days later does
// not; a goal without a window converts only in the flow; a canceled
// flow converts no more.
func testConversionAfterExit(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, b.New(t), clk, flow.Config{})
	f := parseFlow(t, `{"id": "remind", "elements": [
		{"id": "tag", "type": "addTag", "tag": "reminded", "next": {"next": "done"}},
		{"id": "done", "type": "exit"}],
	  "goals": [
		{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}},
		{"name": "review", "event": {"category": "external", "name": "Reviewed"}}]}`)
	activate(t, eng, f)
	for _, who := range []string{"inside", "outside", "canceled", "erased"} {
		_, err := eng.Enter(ctx, "remind", store.PersonRef{ExternalID: who}, nil)
		require.NoError(t, err)
	}
	for _, p := range participantsOf(t, eng, "remind") {
		require.Equal(t, store.Completed, p.Status, "the flow ends after its last step")
	}
	// A person erased: what they do after, as a new person under the
	// same key, converts nothing.
	require.NoError(t, eng.Erase(ctx, store.PersonRef{ExternalID: "erased"}))
	deliver(t, eng, "buy-erased", "erased", "Purchased", nil)

	clk.Advance(2 * 24 * time.Hour)
	deliver(t, eng, "buy-1", "inside", "Purchased", nil)
	deliver(t, eng, "buy-2", "inside", "Purchased", nil) // converts once
	deliver(t, eng, "review-1", "inside", "Reviewed", nil)
	clk.Advance(7 * 24 * time.Hour)
	deliver(t, eng, "buy-3", "outside", "Purchased", nil)

	byWho := map[string]*store.Participant{}
	for _, p := range participantsOf(t, eng, "remind") {
		who, err := eng.Person(ctx, store.PersonRef{ID: p.PersonID})
		require.NoError(t, err)
		byWho[who.ExternalID] = p
	}
	require.Equal(t, []string{"purchase"}, byWho["inside"].Goals, "converted after exit inside the window; the windowless goal only in the flow")
	require.True(t, hasStep(byWho["inside"], `converted on goal "purchase" after leaving the flow`))
	require.Equal(t, store.Completed, byWho["inside"].Status)
	require.Empty(t, byWho["outside"].Goals, "nine days after entry is outside the 7-day window")
	st := stats(t, eng, "remind")
	require.EqualValues(t, 1, st["tag"].Conversions["purchase"], "only inside converted: not the erased person")
	require.EqualValues(t, 1, st["tag"].BranchConversions["next"]["purchase"])
	require.EqualValues(t, 1, st["done"].Conversions["purchase"])
	require.Zero(t, st["tag"].Conversions["review"])

	// A flow canceled: its participants convert no more.
	clk.Set(engineStart.Add(24 * time.Hour))
	require.NoError(t, eng.Cancel(ctx, "remind"))
	deliver(t, eng, "buy-4", "canceled", "Purchased", nil)
	for _, p := range participantsOf(t, eng, "remind") {
		if p.PersonID == byWho["canceled"].PersonID {
			require.Empty(t, p.Goals, "a canceled flow stops attribution")
		}
	}
}

// holdoutFlow splits people into a variant and a control group, waits a
// day, then sends an email and calls a messaging API.
const holdoutFlow = `{"id": "holdout", "elements": [
	{"id": "split", "type": "splitAudience", "variants": [{"name": "a", "percent": 50}, {"name": "control", "percent": 50, "control": true}],
	 "experiment": {"goal": "purchase"}, "next": {"a": "wait", "control": "wait"}},
	{"id": "wait", "type": "pause", "mode": "for", "period": {"amount": 1, "unit": "days"}, "next": {"next": "email"}},
	{"id": "email", "type": "sendMessage", "channel": "email", "subject": "Your cart", "body": "Come back", "next": {"sent": "push"}},
	{"id": "push", "type": "callApi", "url": "https://push.example.com/send", "method": "POST", "messaging": true, "next": {"2xx": "done"}},
	{"id": "done", "type": "exit"}],
  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}}]}`

// A control group's participants take its branch and wait like the
// others, but the email and the messaging call are skipped and
// journaled as held out (the recording Sender and HTTP fake saw none of
// theirs), and they still convert.
func testHoldoutReceivesNothing(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	sender, api := flowtest.NewSender(clk), flowtest.NewHTTP(clk)
	api.Handle("POST push.example.com/send", flowtest.Response{Body: `{}`})
	eng := newEngine(t, b.New(t), clk, flow.Config{Ports: flow.Ports{Sender: sender, HTTP: api,
		Variants: flowtest.ForceVariants(map[string]string{"ann": "a", "bob": "control"})}})
	activate(t, eng, parseFlow(t, holdoutFlow))
	ids := map[string]store.PersonRef{}
	for _, who := range []string{"ann", "bob"} {
		ref := store.PersonRef{ExternalID: who}
		_, err := eng.UpdatePerson(ctx, ref, func(p *store.Person) error { p.Emails = []string{who + "@example.com"}; return nil })
		require.NoError(t, err)
		_, err = eng.Enter(ctx, "holdout", ref, nil)
		require.NoError(t, err)
		ids[who] = ref
	}
	_, err := flowtest.Advance(ctx, eng, clk, 2*24*time.Hour)
	require.NoError(t, err)
	deliver(t, eng, "buy-bob", "bob", "Purchased", nil)

	require.Len(t, sender.To("ann@example.com"), 1, "the variant gets its message")
	require.Empty(t, sender.To("bob@example.com"), "the control group gets no message")
	require.Len(t, sender.Sent(), 1)
	reqs := api.Requests()
	require.Len(t, reqs, 1, "only the variant's messaging call is made")

	for _, p := range participantsOf(t, eng, "holdout") {
		who, err := eng.Person(ctx, store.PersonRef{ID: p.PersonID})
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status)
		require.Equal(t, []string{"split", "wait", "email", "push", "done"}, elementsOf(p), "both go the same way")
		switch who.ExternalID {
		case "bob":
			require.Equal(t, "split", p.Holdout)
			require.True(t, hasStep(p, `held out: sendMessage skipped, the participant is in the control group of split "split"`))
			require.True(t, hasStep(p, "held out: callApi skipped"))
			require.Equal(t, []string{"purchase"}, p.Goals, "the control group converts")
		case "ann":
			require.Empty(t, p.Holdout)
			require.False(t, hasStep(p, "held out"))
		}
	}
	st := stats(t, eng, "holdout")
	require.EqualValues(t, 1, st["email"].Other["heldOut"])
	require.EqualValues(t, 1, st["push"].Other["heldOut"])
	ex, err := eng.Experiments(ctx, "holdout")
	require.NoError(t, err)
	require.Len(t, ex, 1)
	require.Equal(t, "control", ex[0].Variants[1].Name)
	require.True(t, ex[0].Variants[1].Control)
	require.EqualValues(t, 1, ex[0].Variants[1].Participants)
	require.EqualValues(t, 1, ex[0].Variants[1].Conversions, "the control's conversion is counted")
	require.EqualValues(t, 0, ex[0].Variants[0].Conversions)
}

func elementsOf(p *store.Participant) []string {
	var out []string
	for _, s := range p.Journal {
		if len(out) == 0 || out[len(out)-1] != s.Element {
			out = append(out, s.Element)
		}
	}
	return out
}

// A flow's holdout keeps about its share of people out of every message,
// the same people in every flow with the same share, and counts their
// conversions apart.
func testFlowHoldoutStable(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	sender := flowtest.NewSender(clk)
	eng := newEngine(t, b.New(t), clk, flow.Config{Ports: flow.Ports{Sender: sender}})
	doc := func(id string) string {
		return `{"id": "` + id + `", "holdout": {"percent": 30}, "elements": [
			{"id": "email", "type": "sendMessage", "channel": "email", "body": "Hello", "next": {"sent": "done"}},
			{"id": "done", "type": "exit"}],
		  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}}]}`
	}
	activate(t, eng, parseFlow(t, doc("welcome-a")))
	activate(t, eng, parseFlow(t, doc("welcome-b")))
	const people = 60
	for i := range people {
		who := fmt.Sprint("h", i)
		ref := store.PersonRef{ExternalID: who}
		_, err := eng.UpdatePerson(ctx, ref, func(p *store.Person) error { p.Emails = []string{who + "@example.com"}; return nil })
		require.NoError(t, err)
		for _, f := range []string{"welcome-a", "welcome-b"} {
			_, err = eng.Enter(ctx, f, ref, nil)
			require.NoError(t, err)
		}
	}
	_, err := flowtest.Advance(ctx, eng, clk, time.Minute)
	require.NoError(t, err)
	held := map[string]map[string]bool{}
	for _, f := range []string{"welcome-a", "welcome-b"} {
		held[f] = map[string]bool{}
		for _, p := range participantsOf(t, eng, f) {
			who, err := eng.Person(ctx, store.PersonRef{ID: p.PersonID})
			require.NoError(t, err)
			if p.Holdout == flow.HoldoutGroup {
				held[f][who.ExternalID] = true
				require.True(t, hasStep(p, "held out: sendMessage skipped, the participant is in the flow's holdout"))
			}
		}
	}
	require.Equal(t, held["welcome-a"], held["welcome-b"], "the same people are held out of both flows")
	n := len(held["welcome-a"])
	require.True(t, n >= 5 && n <= 33, "about 30%% of %d people held out, got %d", people, n)
	require.Len(t, sender.Sent(), 2*(people-n), "nobody held out got a message")
	var buyer string
	for who := range held["welcome-a"] {
		buyer = who
		break
	}
	deliver(t, eng, "buy-held", buyer, "Purchased", nil)
	ex, err := eng.Experiments(ctx, "welcome-a")
	require.NoError(t, err)
	require.Len(t, ex, 1)
	require.True(t, ex[0].Holdout)
	require.Equal(t, "holdout", ex[0].Variants[0].Name)
	require.EqualValues(t, n, ex[0].Variants[0].Participants)
	require.EqualValues(t, 1, ex[0].Variants[0].Conversions)
	require.EqualValues(t, people-n, ex[0].Variants[1].Participants)
}

// figuresFlow splits people among a control and two variants; each
// variant's branch leaves the flow at once, and the goal converts after
// exit.
const figuresFlow = `{"id": "figures", "elements": [
	{"id": "split", "type": "splitAudience", "variants": [
		{"name": "control", "percent": 34, "control": true}, {"name": "b", "percent": 33}, {"name": "c", "percent": 33}],
	 "experiment": {"goal": "purchase"}, "next": {"b": "b-tag", "c": "c-tag"}},
	{"id": "b-tag", "type": "addTag", "tag": "b"},
	{"id": "c-tag", "type": "addTag", "tag": "c"}],
  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}}]}`

// Experiment figures against hand-computed values: 100 people per
// variant; the control converts 10, b 22 and c 13.
//
// Wilson 95% (z = 1.959964): p = x/n, center = (p + z²/2n) / (1 + z²/n),
// half = z/(1 + z²/n) · √(p(1-p)/n + z²/4n²):
// control 10/100 → [0.05523, 0.17437]; b 22/100 → [0.15001, 0.31070];
// c 13/100 → [0.07757, 0.20980].
//
// Two-proportion z test against the control, pooled: b: pool 32/200 =
// 0.16, se = √(0.16·0.84·(2/100)) = 0.051846, z = 0.12/0.051846 =
// 2.3146, p = erfc(z/√2) = 0.02064, significant; lift 0.22/0.10 - 1 =
// 1.2. c: pool 0.115, se = 0.045116, z = 0.66494, p = 0.50609, not
// significant; lift 0.3.
func testExperimentFigures(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	assign := map[string]string{}
	buys := map[string]bool{}
	for i := range 300 {
		who := fmt.Sprint("x", i)
		v := []string{"control", "b", "c"}[i%3]
		assign[who] = v
		k := i / 3 // 0..99 within the variant
		buys[who] = (v == "control" && k < 10) || (v == "b" && k < 22) || (v == "c" && k < 13)
	}
	eng := newEngine(t, b.New(t), clk, flow.Config{Ports: flow.Ports{Variants: flowtest.ForceVariants(assign)}})
	activate(t, eng, parseFlow(t, figuresFlow))
	for i := range 300 {
		_, err := eng.Enter(ctx, "figures", store.PersonRef{ExternalID: fmt.Sprint("x", i)}, nil)
		require.NoError(t, err)
	}
	clk.Advance(3 * 24 * time.Hour)
	for i := range 300 {
		if who := fmt.Sprint("x", i); buys[who] {
			deliver(t, eng, "buy-"+who, who, "Purchased", nil)
		}
	}
	ex, err := eng.Experiments(ctx, "figures")
	require.NoError(t, err)
	require.Len(t, ex, 1)
	r := ex[0]
	require.Equal(t, "split", r.Element)
	require.Equal(t, 1, r.Version)
	require.Equal(t, "purchase", r.Goal)
	require.Empty(t, r.Winner, "an experiment without an end reports figures only")
	want := []struct {
		name                   string
		branch                 string
		n, x                   int64
		rate, low, high, lift  float64
		pValue                 float64
		significant, isControl bool
	}{
		{"control", "", 100, 10, 0.10, 0.05523, 0.17437, 0, 1, false, true},
		{"b", "b-tag", 100, 22, 0.22, 0.15001, 0.31070, 1.2, 0.02064, true, false},
		{"c", "c-tag", 100, 13, 0.13, 0.07757, 0.20980, 0.3, 0.50609, false, false},
	}
	require.Len(t, r.Variants, 3)
	for i, w := range want {
		v := r.Variants[i]
		require.Equal(t, w.name, v.Name)
		require.Equal(t, w.branch, v.Branch)
		require.Equal(t, w.isControl, v.Control)
		require.Equal(t, w.n, v.Participants, w.name)
		require.Equal(t, w.x, v.Conversions, w.name)
		require.InDelta(t, w.rate, v.Rate, 1e-9, w.name)
		require.InDelta(t, w.low, v.Low, 1e-5, w.name)
		require.InDelta(t, w.high, v.High, 1e-5, w.name)
		require.InDelta(t, w.lift, v.Lift, 1e-9, w.name)
		require.InDelta(t, w.pValue, v.PValue, 1e-5, w.name)
		require.Equal(t, w.significant, v.Significant, w.name)
	}
}

// winningFlow is an A/B/control test that ends once every variant has
// had 20 participants.
const winningFlow = `{"id": "winning", "elements": [
	{"id": "split", "type": "splitAudience", "variants": [
		{"name": "control", "percent": 34, "control": true}, {"name": "a", "percent": 33}, {"name": "b", "percent": 33}],
	 "experiment": {"goal": "purchase", "samplePerVariant": 20}, "next": {"a": "a-tag", "b": "b-tag"}},
	{"id": "a-tag", "type": "addTag", "tag": "a"},
	{"id": "b-tag", "type": "addTag", "tag": "b"}],
  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}}]}`

// A winning path decided after a fixed sample on one process is taken by
// every later entrant on another: b converts 10 of 20, a 3 of 20, the
// control 1 of 20; the decision, its time and figures are journaled and
// read alike from both processes.
func testWinningPathOnAnotherProcess(t *testing.T, b Backend) {
	b.Features.Need(t, b.New(t), storetest.Features{ExperimentKeeper: storetest.Has})
	ctx := t.Context()
	stores := processes(t, b, 2)
	clk := clock.NewFake(engineStart)
	assign := map[string]string{}
	buys := map[string]bool{}
	for i := range 60 {
		who := fmt.Sprint("w", i)
		v := []string{"control", "a", "b"}[i%3]
		assign[who] = v
		k := i / 3
		buys[who] = (v == "control" && k < 1) || (v == "a" && k < 3) || (v == "b" && k < 10)
	}
	variants := flowtest.ForceVariants(assign)
	one := newEngine(t, stores[0], clk, flow.Config{Ports: flow.Ports{Variants: variants}})
	two := newEngine(t, stores[1], clk, flow.Config{Ports: flow.Ports{Variants: variants}})
	activate(t, one, parseFlow(t, winningFlow))
	for i := range 59 {
		_, err := one.Enter(ctx, "winning", store.PersonRef{ExternalID: fmt.Sprint("w", i)}, nil)
		require.NoError(t, err)
	}
	for i := range 60 {
		if who := fmt.Sprint("w", i); buys[who] {
			deliver(t, one, "buy-"+who, who, "Purchased", nil)
		}
	}
	clk.Advance(time.Hour)
	_, err := one.Tick(ctx)
	require.NoError(t, err)
	ex, err := one.Experiments(ctx, "winning")
	require.NoError(t, err)
	require.Empty(t, ex[0].Winner, "b has 19 participants: the sample is not complete")

	_, err = one.Enter(ctx, "winning", store.PersonRef{ExternalID: "w59"}, nil)
	require.NoError(t, err)
	clk.Advance(time.Hour)
	_, err = one.Tick(ctx)
	require.NoError(t, err)
	decidedAt := clk.Now()

	// Later entrants, on the other process, all take b.
	clk.Advance(time.Hour)
	for i := range 6 {
		_, err := two.Enter(ctx, "winning", store.PersonRef{ExternalID: fmt.Sprint("late", i)}, nil)
		require.NoError(t, err)
	}
	late := 0
	for _, p := range participantsOf(t, two, "winning") {
		who, err := two.Person(ctx, store.PersonRef{ID: p.PersonID})
		require.NoError(t, err)
		if !strings.HasPrefix(who.ExternalID, "late") {
			continue
		}
		late++
		require.Equal(t, "b", p.Journal[0].Branch, "a later entrant takes the winner")
		require.Contains(t, p.Journal[0].Reason, `winning path: variant "b", decided at `+decidedAt.UTC().Format(time.RFC3339))
		require.Contains(t, p.Journal[0].Reason, "b 10 of 20")
	}
	require.Equal(t, 6, late)

	for _, eng := range []*flow.Engine{one, two} {
		ex, err := eng.Experiments(ctx, "winning")
		require.NoError(t, err)
		require.Len(t, ex, 1)
		r := ex[0]
		require.Equal(t, "b", r.Winner)
		require.True(t, r.DecidedAt.Equal(decidedAt), "decided at %s, want %s", r.DecidedAt, decidedAt)
		require.Contains(t, r.Reason, "every variant had 20 participants")
		require.Len(t, r.Decided, 3)
		require.EqualValues(t, 20, r.Decided[2].Participants)
		require.EqualValues(t, 10, r.Decided[2].Conversions)
		require.True(t, r.Decided[2].Significant)
		require.EqualValues(t, 20, r.Variants[2].Participants, "the experiment's figures leave the winning path's entrants out")
	}
	// A decision made again, by either process, changes nothing.
	_, err = two.Tick(ctx)
	require.NoError(t, err)
	ex, err = one.Experiments(ctx, "winning")
	require.NoError(t, err)
	require.True(t, ex[0].DecidedAt.Equal(decidedAt))
}
