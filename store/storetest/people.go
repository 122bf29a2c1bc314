package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// People

var peopleTests = []test{
	{"FindPerson", testFindPerson},
	{"PersonRoundTrip", testPersonRoundTrip},
	{"FindPersonByAnySpelling", testFindPersonByAnySpelling},
	{"KeyOfAnotherPersonConflicts", testKeyOfAnotherPersonConflicts},
	{"ChangedKeysAreReindexed", testChangedKeysAreReindexed},
	{"PutPersonOfAnotherID", testPutPersonOfAnotherID},
}

func testFindPerson(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := newID(t)
	p := &store.Person{
		ID:         id,
		ExternalID: "x-" + id.String(),
		Phones:     []string{phone(id, 1), phone(id, 2)},
		Emails:     []string{email(id, 1), email(id, 2)},
		CreatedAt:  base,
		UpdatedAt:  base,
	}
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(p) })
	other := newPerson(t, s)

	for _, ref := range []store.PersonRef{
		{ID: id},
		{ExternalID: p.ExternalID},
		{Phone: p.Phones[0]}, {Phone: p.Phones[1]},
		{Email: p.Emails[0]}, {Email: p.Emails[1]},
		// The first non-empty field names the person.
		{ExternalID: p.ExternalID, Phone: other.Phones[0], Email: other.Emails[0]},
		{Phone: p.Phones[1], Email: other.Emails[0]},
	} {
		got, err := s.FindPerson(ctx, ref)
		require.NoError(t, err, "%+v", ref)
		require.Equal(t, id, got, "%+v", ref)
	}
	got, err := s.FindPerson(ctx, store.PersonRef{ID: other.ID, ExternalID: p.ExternalID})
	require.NoError(t, err)
	require.Equal(t, other.ID, got, "the ID comes first")

	unknown := newID(t)
	for _, ref := range []store.PersonRef{
		{},
		{ID: unknown},
		{ExternalID: "x-" + unknown.String()},
		{Phone: phone(unknown, 1)},
		{Email: email(unknown, 1)},
		{ID: unknown, Email: p.Emails[0]}, // the ID names nobody
	} {
		_, err := s.FindPerson(ctx, ref)
		require.ErrorIs(t, err, store.ErrNotFound, "%+v", ref)
	}
}

// Phones and emails are keys in their normalized forms: any spelling
// finds the person, the profile keeps the spellings it was given, and two
// spellings of one number on one person are one key.
func testFindPersonByAnySpelling(t *testing.T, s store.Store) {
	id := newID(t)
	ph := phone(id, 3)
	em := email(id, 3)
	p := &store.Person{
		ID:        id,
		Phones:    []string{spaced(ph), "00" + ph},
		Emails:    []string{"Bob." + strings.ToUpper(em)},
		CreatedAt: base,
		UpdatedAt: base,
	}
	c := p.Clone()
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(c) })
	got, err := txPerson(t, s, id)
	require.NoError(t, err)
	require.Equal(t, p, normPerson(got), "the profile keeps the spellings it was given")

	for _, ref := range []store.PersonRef{
		{Phone: ph}, {Phone: "+" + ph}, {Phone: "00" + ph}, {Phone: spaced(ph)},
		{Phone: " +" + ph[:3] + "-" + ph[3:] + " "}, {Phone: "+" + ph[:3] + " (0)" + ph[3:]},
		{Email: "bob." + em}, {Email: "BOB." + strings.ToUpper(em)}, {Email: "  Bob." + em + "\t"},
	} {
		requireFound(t, s, ref, id)
	}
	for _, ref := range []store.PersonRef{
		{Phone: ph + "1"}, {Phone: "tel:" + ph}, {Phone: "+ "}, {Email: " "}, {Email: em},
	} {
		requireNotFound(t, s, ref)
	}

	// Another spelling of the same number keeps the key; dropping the
	// number frees it in every spelling.
	p.Phones = []string{ph}
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(p.Clone()) })
	requireFound(t, s, store.PersonRef{Phone: spaced(ph)}, id)
	p.Phones, p.Emails = nil, []string{em}
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(p.Clone()) })
	requireNotFound(t, s, store.PersonRef{Phone: "+" + ph})
	requireNotFound(t, s, store.PersonRef{Email: "bob." + em})
	requireFound(t, s, store.PersonRef{Email: strings.ToUpper(em)}, id)
}

func testPersonRoundTrip(t *testing.T, s store.Store) {
	id := newID(t)
	p := &store.Person{
		ID:                id,
		ExternalID:        "x-" + id.String(),
		FirstName:         "Ana",
		LastName:          "Horvat",
		Gender:            "female",
		BirthDate:         time.Date(1992, time.February, 29, 0, 0, 0, 0, time.UTC),
		City:              "Zagreb",
		Country:           "HR",
		PreferredLanguage: "hr",
		TimeZone:          "Europe/Zagreb",
		Attributes: map[string]any{
			"plan":     "gold",
			"score":    4.5,
			"vip":      true,
			"signedUp": time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC),
			"lastSeen": base.Add(-90 * time.Minute),
			"pets":     []any{"cat", 2.0},
			"address":  map[string]any{"street": "Ilica", "no": 1.0},
		},
		Phones:        []string{phone(id, 1)},
		Emails:        []string{email(id, 1), email(id, 2)},
		Push:          []store.PushRegistration{{App: "shop", Token: "tok-" + id.String()}},
		Tags:          []string{"a", "b"},
		DoNotContact:  []string{email(id, 2)},
		LastContacted: map[string]time.Time{"email": base.Add(-time.Hour)},
		CreatedAt:     base.Add(-24 * time.Hour),
		UpdatedAt:     base,
	}
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(p) })
	got, err := txPerson(t, s, id)
	require.NoError(t, err)
	require.Equal(t, p, normPerson(got))
}

func testKeyOfAnotherPersonConflicts(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name  string
		claim func(p *store.Person, owner *store.Person)
	}{
		{"externalId", func(p, owner *store.Person) { p.ExternalID = owner.ExternalID }},
		{"phone", func(p, owner *store.Person) { p.Phones = append(p.Phones, owner.Phones[0]) }},
		{"email", func(p, owner *store.Person) { p.Emails = append(p.Emails, owner.Emails[0]) }},
		// Keys are normalized: another spelling is the same key.
		{"phoneSpelling", func(p, owner *store.Person) { p.Phones = append(p.Phones, spaced(owner.Phones[0])) }},
		{"emailSpelling", func(p, owner *store.Person) { p.Emails = append(p.Emails, " "+strings.ToUpper(owner.Emails[0])) }},
	} {
		for _, existing := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/existing=%v", tc.name, existing), func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				owner := newPerson(t, s)
				flow := newFlow(t, s)
				var p *store.Person
				if existing {
					p = newPerson(t, s)
				} else {
					id := newID(t)
					p = &store.Person{ID: id, Emails: []string{email(id, 1)}}
				}
				claimant := p.Clone()
				claimant.FirstName = "Claimant"
				claimant.Emails = append(claimant.Emails, email(p.ID, 9))
				tc.claim(claimant, owner)
				part := newParticipant(t, p.ID, flow)
				err := s.Update(ctx, p.ID, func(tx store.Tx) error {
					if err := tx.PutPerson(claimant); err != nil {
						return err
					}
					if err := tx.PutParticipant(part); err != nil {
						return err
					}
					if err := tx.AddEvent(newEvent(t, "Claimed", base)); err != nil {
						return err
					}
					tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1})
					return nil
				})
				require.ErrorIs(t, err, store.ErrConflict)

				requireFound(t, s, store.PersonRef{ExternalID: owner.ExternalID}, owner.ID)
				requireFound(t, s, store.PersonRef{Phone: owner.Phones[0]}, owner.ID)
				requireFound(t, s, store.PersonRef{Email: owner.Emails[0]}, owner.ID)
				requireNotFound(t, s, store.PersonRef{Email: email(p.ID, 9)})
				if existing {
					got, err := txPerson(t, s, p.ID)
					require.NoError(t, err)
					require.Equal(t, p, normPerson(got), "the person is unchanged")
					requireFound(t, s, store.PersonRef{Email: p.Emails[0]}, p.ID)
				} else {
					requireNotFound(t, s, store.PersonRef{ID: p.ID})
					requireNotFound(t, s, store.PersonRef{Email: p.Emails[0]})
				}
				_, err = s.Participant(ctx, part.ID)
				require.ErrorIs(t, err, store.ErrNotFound, "the participant was not written")
				require.Empty(t, queryEvents(t, s, p.ID, store.EventQuery{}), "the event was not written")
				require.Empty(t, counters(t, s, flow), "the counter was not written")
			})
		}
	}
}

func testChangedKeysAreReindexed(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	old := p.Clone()
	p.ExternalID = "x2-" + p.ID.String()
	p.Phones = []string{phone(p.ID, 7)}
	p.Emails = []string{email(p.ID, 7), old.Emails[0] + ".new"}
	update(t, s, p.ID, func(tx store.Tx) error { return tx.PutPerson(p.Clone()) })

	requireNotFound(t, s, store.PersonRef{ExternalID: old.ExternalID})
	requireNotFound(t, s, store.PersonRef{Phone: old.Phones[0]})
	requireNotFound(t, s, store.PersonRef{Email: old.Emails[0]})
	requireFound(t, s, store.PersonRef{ExternalID: p.ExternalID}, p.ID)
	requireFound(t, s, store.PersonRef{Phone: p.Phones[0]}, p.ID)
	requireFound(t, s, store.PersonRef{Email: p.Emails[0]}, p.ID)
	requireFound(t, s, store.PersonRef{Email: p.Emails[1]}, p.ID)

	// Adding an email keeps the others.
	p.Emails = append(p.Emails, email(p.ID, 8))
	update(t, s, p.ID, func(tx store.Tx) error { return tx.PutPerson(p.Clone()) })
	for _, e := range p.Emails {
		requireFound(t, s, store.PersonRef{Email: e}, p.ID)
	}

	// Released keys are free for somebody else.
	q := newPerson(t, s)
	q.ExternalID = old.ExternalID
	q.Phones = append(q.Phones, old.Phones[0])
	q.Emails = append(q.Emails, old.Emails[0])
	update(t, s, q.ID, func(tx store.Tx) error { return tx.PutPerson(q) })
	requireFound(t, s, store.PersonRef{ExternalID: old.ExternalID}, q.ID)
	requireFound(t, s, store.PersonRef{Phone: old.Phones[0]}, q.ID)
	requireFound(t, s, store.PersonRef{Email: old.Emails[0]}, q.ID)
}

func testPutPersonOfAnotherID(t *testing.T, s store.Store) {
	id, other := newID(t), newID(t)
	err := s.Update(t.Context(), id, func(tx store.Tx) error {
		return tx.PutPerson(&store.Person{ID: other, Emails: []string{email(other, 1)}})
	})
	require.Error(t, err, "a person's ID must be the transaction's")
	requireNotFound(t, s, store.PersonRef{ID: id})
	requireNotFound(t, s, store.PersonRef{ID: other})
	requireNotFound(t, s, store.PersonRef{Email: email(other, 1)})
}
