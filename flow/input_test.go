package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

func inputEngine(t *testing.T, refuse bool) *flow.Engine {
	t.Helper()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
		Schema: store.Schema{"score": store.Number}, RefuseUnknownPeople: refuse})
	require.NoError(t, err)
	f := flow.New("welcome", "Welcome").Var("n", store.Number, 0).
		Add("tag", &kinds.AddTag{Tag: "new"}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
	integPublish(t, eng, f)
	return eng
}

// requireInput checks that err is an *InputError with the reference as
// the host gave it and the field at fault.
func requireInput(t *testing.T, err error, ref, field, msg string) *flow.InputError {
	t.Helper()
	var ie *flow.InputError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, ref, ie.Ref)
	require.Equal(t, field, ie.Field)
	require.EqualError(t, err, msg)
	return ie
}

// Bad host input is an *InputError naming the reference as given and the
// field, which a host maps to 400.
func TestInputErrors(t *testing.T) {
	ctx := context.Background()
	eng := inputEngine(t, false)
	ann := store.PersonRef{ExternalID: "ann-1"}

	_, err := eng.UpdatePerson(ctx, ann, func(p *store.Person) error {
		p.Attributes = map[string]any{"shoeSize": 38.0}
		return nil
	})
	requireInput(t, err, `externalId "ann-1"`, "attributes.shoeSize",
		`person externalId "ann-1": attributes.shoeSize: attribute "shoeSize" is not declared in the schema`)
	_, err = eng.UpdatePerson(ctx, ann, func(p *store.Person) error {
		p.Attributes = map[string]any{"score": "high"}
		return nil
	})
	requireInput(t, err, `externalId "ann-1"`, "attributes.score", `person externalId "ann-1": attributes.score: attribute "score": text value high (string) is not a number`)
	_, err = eng.UpdatePerson(ctx, store.PersonRef{Email: "Ann@Example.com"}, func(p *store.Person) error {
		p.TimeZone = "Mars/Olympus"
		return nil
	})
	requireInput(t, err, `email "Ann@Example.com"`, "timeZone", `person email "Ann@Example.com": timeZone: time zone "Mars/Olympus" is not an IANA name`)

	_, err = eng.Enter(ctx, "welcome", ann, map[string]any{"n": "many"})
	requireInput(t, err, `externalId "ann-1"`, "vars.n", `person externalId "ann-1": vars.n: flow "welcome": variable "n": text value many (string) is not a number`)
	_, err = eng.Enter(ctx, "welcome", ann, map[string]any{"coupon": "x"})
	requireInput(t, err, `externalId "ann-1"`, "vars.coupon", `person externalId "ann-1": vars.coupon: flow "welcome": variable "coupon" is not declared`)

	err = eng.Deliver(ctx, &store.Event{ID: "e1", Person: store.PersonRef{Phone: "+385 91 123 4567"}, Category: "website", Name: "Visited"})
	requireInput(t, err, `phone "+385 91 123 4567"`, "category", `person phone "+385 91 123 4567": category: bad event: event "e1": unknown category "website"`)
	require.ErrorIs(t, err, flow.ErrBadEvent)
	err = eng.Deliver(ctx, &store.Event{ID: "e2", Person: ann, Category: store.External, Name: "Visited", Properties: map[string]any{"at": struct{}{}}})
	requireInput(t, err, `externalId "ann-1"`, "properties.at", `person externalId "ann-1": properties.at: bad event: event "e2": property "at" has unsupported type struct {}`)
	require.ErrorIs(t, err, flow.ErrBadEvent)

	_, err = eng.Enter(ctx, "welcome", store.PersonRef{Phone: "call me"}, nil)
	requireInput(t, err, `phone "call me"`, "phone", `person phone "call me": phone: is not a phone number: it must hold digits, with only spaces, hyphens, dots, slashes, parentheses and a leading + between them`)
	_, err = eng.Enter(ctx, "welcome", store.PersonRef{}, nil)
	requireInput(t, err, "", "", `person reference is empty: give an id, externalId, phone or email`)

	_, err = eng.Person(ctx, store.PersonRef{ExternalID: "nobody"})
	requireInput(t, err, `externalId "nobody"`, "", `person externalId "nobody": not found`)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Nothing refused changed anything: ann was never created.
	_, err = eng.Person(ctx, ann)
	require.ErrorIs(t, err, store.ErrNotFound)
}

// With RefuseUnknownPeople, events and entries for people the store does
// not know are refused, naming the reference; UpdatePerson still creates
// people, after which they are welcome.
func TestRefuseUnknownPeople(t *testing.T) {
	ctx := context.Background()
	eng := inputEngine(t, true)
	bob := store.PersonRef{Email: "bob@example.com"}

	err := eng.Deliver(ctx, &store.Event{ID: "e1", Person: bob, Category: store.External, Name: "Visited"})
	requireInput(t, err, `email "bob@example.com"`, "", `person email "bob@example.com": not found`)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = eng.Enter(ctx, "welcome", bob, nil)
	requireInput(t, err, `email "bob@example.com"`, "", `person email "bob@example.com": not found`)
	_, err = eng.Person(ctx, bob)
	require.ErrorIs(t, err, store.ErrNotFound, "no one was created")

	_, err = eng.UpdatePerson(ctx, bob, func(p *store.Person) error { p.FirstName = "Bob"; return nil })
	require.NoError(t, err)
	require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "e1", Person: store.PersonRef{Email: "Bob@Example.com"}, Category: store.External, Name: "Visited"}))
	id, err := eng.Enter(ctx, "welcome", bob, nil)
	require.NoError(t, err)
	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Completed, p.Status)
}

// Add to Flow with another participant refuses an unknown one by its
// "failed" branch when the engine refuses unknown people.
func TestRefuseUnknownPeopleAddToFlow(t *testing.T) {
	ctx := context.Background()
	eng := inputEngine(t, true)
	invite := flow.New("invite", "Invite").
		Add("add", &kinds.AddToFlow{Flow: "friends", Participant: &kinds.Contact{Email: "zed@example.com"}}, flow.Next{"next": "done", "failed": "sorry"}).
		Add("done", &kinds.Exit{}, nil).
		Add("sorry", &kinds.Exit{}, nil)
	friends := flow.New("friends", "Friends").Add("hi", &kinds.Exit{}, nil)
	friends.Entries = []*flow.Entry{{Type: flow.EntryExistingFlow}}
	integPublish(t, eng, friends)
	integPublish(t, eng, invite)
	ann := store.PersonRef{ExternalID: "ann"}
	_, err := eng.UpdatePerson(ctx, ann, func(p *store.Person) error { p.Emails = []string{"ann@example.com"}; return nil })
	require.NoError(t, err)
	id, err := eng.Enter(ctx, "invite", ann, nil)
	require.NoError(t, err)
	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "sorry", p.Element)
	require.Contains(t, p.Journal[0].Reason, `person email "zed@example.com": not found`)
}
