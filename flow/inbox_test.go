package flow_test

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// Changes held as data change a profile as UpdatePerson does: standard
// and declared attributes converted to their types, addresses added once
// in any spelling, tags added and removed; an undeclared attribute or
// the external id is refused, naming the field.
func TestChangePerson(t *testing.T) {
	ctx := t.Context()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
		Schema: store.Schema{"plan": store.Text, "visits": store.Number}})
	require.NoError(t, err)
	ana := store.PersonRef{ExternalID: "ana"}
	p, err := eng.ChangePerson(ctx, ana, flow.Changes{
		Set:       map[string]any{"firstName": "Ana", "birthDate": "1990-05-01", "plan": "gold", "visits": 3},
		AddEmails: []string{"ana@example.com"}, AddPhones: []string{"+385 91 123 4567"}, AddTags: []string{"vip", "new"},
	})
	require.NoError(t, err)
	require.Equal(t, "Ana", p.FirstName)
	require.True(t, time.Date(1990, 5, 1, 0, 0, 0, 0, time.UTC).Equal(p.BirthDate))
	require.Equal(t, 3.0, p.Attributes["visits"])
	require.Equal(t, []string{"+385911234567"}, p.Phones)

	p, err = eng.ChangePerson(ctx, ana, flow.Changes{
		Set:       map[string]any{"plan": nil},
		AddEmails: []string{"ANA@example.com"}, AddPhones: []string{"00385911234567"}, RemoveTags: []string{"new"},
	})
	require.NoError(t, err)
	require.Equal(t, []string{"ana@example.com"}, p.Emails, "the same address in another spelling")
	require.Equal(t, []string{"+385911234567"}, p.Phones)
	require.Equal(t, []string{"vip"}, p.Tags)
	require.NotContains(t, p.Attributes, "plan", "nil empties an attribute")

	var ie *flow.InputError
	_, err = eng.ChangePerson(ctx, ana, flow.Changes{Set: map[string]any{"shoeSize": 42}})
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "set.shoeSize", ie.Field)
	_, err = eng.ChangePerson(ctx, ana, flow.Changes{Set: map[string]any{"visits": "many"}})
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "set.visits", ie.Field)
	_, err = eng.ChangePerson(ctx, ana, flow.Changes{Set: map[string]any{"externalId": "bob"}})
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "set.externalId", ie.Field)
}

// The memory store keeps no inbox: the transactional calls say so.
func TestTxCallsNeedAnInbox(t *testing.T) {
	eng, err := flow.NewEngine(flow.Config{Store: memory.New()})
	require.NoError(t, err)
	_, err = eng.EnterTx(t.Context(), nil, "f", store.PersonRef{ExternalID: "a"}, nil)
	require.ErrorIs(t, err, flow.ErrNoInbox)
	_, err = eng.DeliverTx(t.Context(), nil, &store.Event{ID: "e", Person: store.PersonRef{ExternalID: "a"}, Category: store.External, Name: "E"})
	require.ErrorIs(t, err, flow.ErrNoInbox)
	_, err = eng.Recorded(t.Context(), [16]byte{1})
	require.ErrorIs(t, err, flow.ErrNoInbox)
}
