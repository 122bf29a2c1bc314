package flow_test

import (
	"testing"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// Add to Flow names the other person by a contact from a variable, in
// whatever spelling it was typed: a known friend is found, not created a
// second time.
func TestAddToFlowFindsAFriendInAnySpelling(t *testing.T) {
	h := newHarness(t, flow.Config{})
	h.publish(t, flow.New("welcome", "Welcome").Add("t", tag("referred"), nil))
	h.publish(t, flow.New("refer", "Refer").Var("email", store.Text, nil).Var("phone", store.Text, nil).
		Add("byEmail", &element.AddToFlow{Flow: "welcome", Participant: &element.Contact{Email: "{{email}}"}}, flow.Next{"next": "byPhone"}).
		Add("byPhone", &element.AddToFlow{Flow: "welcome", Participant: &element.Contact{Phone: "{{phone}}"}}, nil))

	bob, err := h.eng.UpdatePerson(h.ctx, store.PersonRef{Email: "bob@example.com"}, func(p *store.Person) error { return nil })
	require.NoError(t, err)
	cid, err := h.eng.UpdatePerson(h.ctx, store.PersonRef{Phone: "00385 91 234 5678"}, func(p *store.Person) error { return nil })
	require.NoError(t, err)

	_, err = h.eng.Enter(h.ctx, "refer", store.PersonRef{ExternalID: "ann"},
		map[string]any{"email": " Bob@Example.COM", "phone": "+385 91 234 5678"})
	require.NoError(t, err)

	ps, err := h.eng.Participants(h.ctx, store.ParticipantQuery{FlowID: "welcome"})
	require.NoError(t, err)
	var whom []any
	for _, p := range ps {
		whom = append(whom, p.PersonID)
	}
	require.ElementsMatch(t, []any{bob.ID, cid.ID}, whom, "the known people entered, nobody new")
	for _, ref := range []store.PersonRef{{Email: "BOB@example.com"}, {Phone: "385912345678"}} {
		p, err := h.eng.Person(h.ctx, ref)
		require.NoError(t, err)
		require.Equal(t, []string{"referred"}, p.Tags)
	}
	got, err := h.eng.Person(h.ctx, store.PersonRef{ID: bob.ID})
	require.NoError(t, err)
	require.Equal(t, []string{"bob@example.com"}, got.Emails, "the profile keeps its own spelling")
}
