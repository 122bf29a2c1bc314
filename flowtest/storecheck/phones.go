package storecheck

import (
	"testing"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// phoneTests are the engine scenarios of phone numbers in E.164 form.
var phoneTests = []struct {
	name string
	run  func(*testing.T, Backend)
}{
	{"PhonesInNationalFormat", testPhonesNational},
	{"NormalizePhones", testNormalizePhones},
}

// With a default region, a number in national format names the same
// person as its international spellings; it is stored and sent in
// E.164 form; a number that is not one is an input error.
func testPhonesNational(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	sender := flowtest.NewSender(clk)
	eng := newEngine(t, b.New(t), clk, flow.Config{PhoneRegion: "hr", Ports: flow.Ports{Sender: sender}})
	f := flow.New("hello", "Hello").
		Add("sms", &kinds.SendMessage{Channel: "sms", Body: "Hello"}, flow.Next{"sent": "done"}).
		Add("done", &kinds.Exit{}, nil)
	f.Reentry = &flow.Reentry{Rule: flow.ReenterConcurrent}
	activate(t, eng, f)

	p, err := eng.UpdatePerson(ctx, store.PersonRef{ExternalID: "ana"}, func(p *store.Person) error {
		p.Phones = []string{"091 123 4567", "+385 91 123 4567"} // one number, twice
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"+385911234567"}, p.Phones)
	for _, spelling := range []string{"091 123 4567", "0911234567", "+385 91 123 4567", "00385911234567", "385911234567"} {
		_, err := eng.Enter(ctx, "hello", store.PersonRef{Phone: spelling}, nil)
		require.NoError(t, err, spelling)
		ps := participationsOf(t, eng, "ana", "hello")
		require.NotEmpty(t, ps, spelling)
	}
	require.Len(t, participationsOf(t, eng, "ana", "hello"), 5, "every spelling names Ana")
	for _, m := range sender.Sent() {
		require.Equal(t, "+385911234567", m.To)
	}
	_, err = eng.Enter(ctx, "hello", store.PersonRef{Phone: "091 1"}, nil)
	var ie *flow.InputError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "phone", ie.Field)
	require.EqualError(t, err, `person phone "091 1": phone: is not a phone number: too short for its country`)
	_, err = eng.UpdatePerson(ctx, store.PersonRef{ExternalID: "ana"}, func(p *store.Person) error {
		p.Phones = append(p.Phones, "not a number")
		return nil
	})
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "phones[1]", ie.Field)

	// Without a region, a national number is refused, not a new person.
	plain := newEngine(t, b.New(t), clk, flow.Config{})
	_, err = plain.UpdatePerson(ctx, store.PersonRef{Phone: "091 123 4567"}, func(*store.Person) error { return nil })
	require.ErrorContains(t, err, "no default region is set")
}

// putLegacy stores a person as an earlier flowkit did, with phone
// numbers as the host gave them.
func putLegacy(t *testing.T, s store.Store, p *store.Person) uuid.UUID {
	t.Helper()
	p.ID = uuid.Must(uuid.NewV7())
	p.CreatedAt = engineStart
	require.NoError(t, s.Update(t.Context(), p.ID, func(tx store.Tx) error { return tx.PutPerson(p) }))
	return p.ID
}

// NormalizePhones rewrites numbers stored in any spelling into E.164 form
// with their keys, reports a number that is not one and a number another
// person holds, and is idempotent.
func testNormalizePhones(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.New(t)
	b.Features.Need(t, s, storetest.Features{PeopleLister: storetest.Has})
	ana := putLegacy(t, s, &store.Person{ExternalID: "ana", Phones: []string{"+385 91 123 4567"}})
	ivo := putLegacy(t, s, &store.Person{ExternalID: "ivo", Phones: []string{"092 222 2222"}})
	dup := putLegacy(t, s, &store.Person{ExternalID: "dup", Phones: []string{"091 123 4567"}}) // Ana's number, stored as another person
	bad := putLegacy(t, s, &store.Person{ExternalID: "bad", Phones: []string{"12"}})
	mix := putLegacy(t, s, &store.Person{ExternalID: "mix", Phones: []string{"385933333333", "+385 93 333 3333"},
		DoNotContact: []string{"093 333 3333", "mix@example.com"}})
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, s, clk, flow.Config{PhoneRegion: "HR"})

	m, err := eng.NormalizePhones(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 5, m.Scanned)
	require.EqualValues(t, 3, m.Changed, "ana, ivo and mix")
	require.EqualValues(t, 1, m.Conflicts)
	require.EqualValues(t, 1, m.Invalid)
	problems := map[uuid.UUID]flow.PhoneProblem{}
	for _, p := range m.Problems {
		problems[p.PersonID] = p
	}
	require.ErrorIs(t, problems[dup].Err, store.ErrConflict)
	require.Equal(t, "phones[0]", problems[bad].Field)
	require.ErrorContains(t, problems[bad].Err, "too short")

	for ref, want := range map[string]uuid.UUID{"091 123 4567": ana, "092 222 2222": ivo, "+385922222222": ivo, "093 333 3333": mix} {
		p, err := eng.Person(ctx, store.PersonRef{Phone: ref})
		require.NoError(t, err, ref)
		require.Equal(t, want, p.ID, ref)
	}
	p, err := eng.Person(ctx, store.PersonRef{ID: mix})
	require.NoError(t, err)
	require.Equal(t, []string{"+385933333333"}, p.Phones)
	require.Equal(t, []string{"+385933333333", "mix@example.com"}, p.DoNotContact)
	p, err = eng.Person(ctx, store.PersonRef{ID: dup})
	require.NoError(t, err)
	require.Equal(t, []string{"091 123 4567"}, p.Phones, "left as it was")

	again, err := eng.NormalizePhones(ctx)
	require.NoError(t, err)
	require.Zero(t, again.Changed)
	require.EqualValues(t, 1, again.Conflicts)
	require.EqualValues(t, 1, again.Invalid)
}
