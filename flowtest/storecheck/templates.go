package storecheck

import (
	"time"

	"testing"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// templateTests are the engine scenarios of templates and conditions
// that surprise: missing and empty values, values of another type.
var templateTests = []struct {
	name string
	run  func(*testing.T, Backend)
}{
	{"TemplateMissingValues", testTemplateMissingValues},
	{"DeliverReportsTypeMismatch", testDeliverReportsTypeMismatch},
}

// A missing entry property renders empty and the journal notes it; an
// empty first name compares as "" and a default fills it.
func testTemplateMissingValues(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	sender := flowtest.NewSender(clk)
	eng := newEngine(t, b.New(t), clk, flow.Config{Ports: flow.Ports{Sender: sender}})
	f := flow.New("hi", "Hi").
		Add("sms", &kinds.SendMessage{Channel: "sms",
			Body: `Hi {{person.firstName != "" ? person.firstName : "friend"}}, {{person.lastName | default("no surname")}}; cart {{entry.properties.nope}}.`},
			flow.Next{"sent": "done"}).
		Add("done", &kinds.Exit{}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryEvent, Event: external("CartAbandoned")}}
	activate(t, eng, f)
	setPerson(t, eng, "ana", func(p *store.Person) { p.Phones = []string{"+385911111111"} })
	deliver(t, eng, "e1", "ana", "CartAbandoned", map[string]any{"cartId": "c1"})
	_, err := flowtest.AdvanceTo(ctx, eng, clk, engineStart.Add(time.Minute))
	require.NoError(t, err)

	sent := sender.Sent()
	require.Len(t, sent, 1)
	require.Equal(t, "Hi friend, no surname; cart .", sent[0].Body)
	ps := participationsOf(t, eng, "ana", "hi")
	require.Len(t, ps, 1)
	require.Equal(t, store.Completed, ps[0].Status, ps[0].Reason)
	require.Contains(t, journalReason(ps[0], "sms", kinds.BranchSent), "body: {{entry.properties.nope}} has no value: rendered empty")
}

// Deliver's report says when an event entry, a wait or an exit rule did
// not match an event because a property held text where a number was
// compared; the wait's journal says so too.
func testDeliverReportsTypeMismatch(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, b.New(t), clk, flow.Config{})
	big := segment.PropertyCondition{Property: "total", Op: segment.GreaterThan, Value: 50}
	entryFlow := flow.New("big-cart", "Big cart").Add("done", &kinds.Exit{}, nil)
	entryFlow.Entries = []*flow.Entry{{Type: flow.EntryEvent, Event: external("CartAbandoned", big)}}
	activate(t, eng, entryFlow)
	waitFlow := flow.New("wait", "Wait").
		Add("wait", &kinds.WaitForEvent{Event: *external("OrderCompleted", big), WaitFor: segment.Period{Amount: 1, Unit: segment.Days}},
			flow.Next{"occurred": "done", "timeout": "done"}).
		Add("done", &kinds.Exit{}, nil)
	waitFlow.ExitRules = []*flow.ExitRule{{Name: "refunded", Event: external("Refunded", big)}}
	activate(t, eng, waitFlow)
	id, err := eng.Enter(ctx, "wait", store.PersonRef{ExternalID: "ana"}, nil)
	require.NoError(t, err)

	for _, tc := range []struct {
		event, where, flowID string
		participant          uuid.UUID
	}{
		{"CartAbandoned", "entry", "big-cart", uuid.Nil},
		{"OrderCompleted", "wait", "wait", id},
		{"Refunded", "exitRules.refunded", "wait", id},
	} {
		var rep flow.Report
		require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "e-" + tc.event, Person: store.PersonRef{ExternalID: "ana"},
			Category: store.External, Name: tc.event, Properties: map[string]any{"total": "99.5"}}, flow.ReportTo(&rep)))
		require.Len(t, rep.Mismatches, 1, tc.event)
		m := rep.Mismatches[0]
		require.Equal(t, tc.flowID, m.FlowID, tc.event)
		require.Equal(t, tc.participant, m.Participant, tc.event)
		require.Equal(t, tc.where, m.Where, tc.event)
		require.Equal(t, `property "total" is text "99.5", not a number: total greaterThan 50 cannot compare it`, m.Reason[len(m.Reason)-len(`property "total" is text "99.5", not a number: total greaterThan 50 cannot compare it`):], tc.event)
		require.Empty(t, rep.Entered, tc.event)
	}
	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Waiting, p.Status, "nothing matched")
	require.Contains(t, p.Journal[len(p.Journal)-1].Reason, `still waiting: event OrderCompleted "e-OrderCompleted" did not match: property "total" is text`)

	// A number matches, and the report holds no mismatch.
	var rep flow.Report
	require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "e-ok", Person: store.PersonRef{ExternalID: "ana"},
		Category: store.External, Name: "OrderCompleted", Properties: map[string]any{"total": 99.5}}, flow.ReportTo(&rep)))
	require.Empty(t, rep.Mismatches)
	require.Equal(t, []uuid.UUID{id}, rep.Woken)
}
