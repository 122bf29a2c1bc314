package flow_test

import (
	"testing"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
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
		Add("byEmail", &kinds.AddToFlow{Flow: "welcome", Participant: &kinds.Contact{Email: "{{email}}"}}, flow.Next{"next": "byPhone"}).
		Add("byPhone", &kinds.AddToFlow{Flow: "welcome", Participant: &kinds.Contact{Phone: "{{phone}}"}}, nil))

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

// A participant waiting for a change of email wakes when the host adds
// an address; another spelling of an address the person has is no change.
func TestWaitForChangeOfEmailWakesOnHostUpdate(t *testing.T) {
	h := newHarness(t, flow.Config{})
	h.publish(t, flow.New("confirm", "Confirm").
		Add("w", &kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "email", Op: segment.IsNotEmpty}},
			WaitFor: segment.Period{Amount: 7, Unit: segment.Days}}, flow.Next{"changed": "yes", "notChanged": "no"}).
		Add("yes", tag("has-email"), nil).
		Add("no", tag("no-email"), nil))
	who := store.PersonRef{Phone: "+385 91 234 5678"}
	id, err := h.eng.Enter(h.ctx, "confirm", who, nil)
	require.NoError(t, err)
	_, err = h.eng.UpdatePerson(h.ctx, who, func(p *store.Person) error {
		p.Emails = []string{"ann@old.example"}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, store.Completed, h.participant(t, id).Status, "an address added wakes the wait")

	id, err = h.eng.Enter(h.ctx, "confirm", store.PersonRef{Email: "ANN@old.example"}, nil)
	require.NoError(t, err, "the same person, found by another spelling, enters again")
	_, err = h.eng.UpdatePerson(h.ctx, who, func(p *store.Person) error {
		p.Emails = []string{"Ann@Old.Example"} // respelt: no change
		p.Phones = []string{"00385912345678"}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, store.Waiting, h.participant(t, id).Status, "a respelt address is no change")
	_, err = h.eng.UpdatePerson(h.ctx, who, func(p *store.Person) error {
		p.Emails = nil // a removal is a change, but not the one awaited
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, store.Waiting, h.participant(t, id).Status)
	_, err = h.eng.UpdatePerson(h.ctx, who, func(p *store.Person) error {
		p.Emails = []string{"ann@new.example"}
		return nil
	})
	require.NoError(t, err)
	p := h.participant(t, id)
	require.Equal(t, store.Completed, p.Status)
	require.Equal(t, `email "ann@new.example" added (email isNotEmpty)`, p.Journal[1].Reason, "%+v", p.Journal)

	evs, err := h.eng.Events(h.ctx, who, store.EventQuery{Category: store.People})
	require.NoError(t, err)
	var got []string
	for _, ev := range evs {
		if ev.Name != store.TagAdded {
			got = append(got, ev.Name+" "+ev.Properties["address"].(string))
		}
	}
	require.Equal(t, []string{
		store.EmailAdded + " ann@old.example",
		store.EmailRemoved + " Ann@Old.Example",
		store.EmailAdded + " ann@new.example",
	}, got)
}
