package postgres_test

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// A schema whose person_keys were written before keys were normalized is
// rewritten by Migrate: every spelling finds its person again, and people
// who held spellings of one address keep working, one of them owning it.
func TestMigrateNormalizesKeys(t *testing.T) {
	ctx := t.Context()
	p := testPool(t)
	schema := newSchema(t, p)
	s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	q := pgx.Identifier{schema}.Sanitize()

	at := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	put := func(per *store.Person) {
		per.CreatedAt, per.UpdatedAt = at, at
		require.NoError(t, s.Update(ctx, per.ID, func(tx store.Tx) error { return tx.PutPerson(per.Clone()) }))
	}
	ana := &store.Person{ID: uuid.New(), ExternalID: "ana", Phones: []string{"+385 91 234 5678"}, Emails: []string{"Ana@Example.com"}}
	bob := &store.Person{ID: uuid.New(), Emails: []string{"bob@example.com"}}
	bobby := &store.Person{ID: uuid.New(), Emails: []string{"Bob@Example.com"}}
	carl := &store.Person{ID: uuid.New(), Emails: []string{"carl@EXAMPLE.com"}}
	karl := &store.Person{ID: uuid.New(), Emails: []string{"Carl@example.com"}}
	odd := &store.Person{ID: uuid.New(), Phones: []string{"ext. 12"}}
	put(ana)
	put(bob)
	// The others' keys would conflict today: write their profiles, then
	// their keys the old way, as given.
	for _, per := range []*store.Person{bobby, carl, karl, odd} {
		phones, emails := per.Phones, per.Emails
		per.Phones, per.Emails = nil, nil
		put(per)
		per.Phones, per.Emails = phones, emails
		_, err = p.Exec(ctx, `UPDATE `+q+`.people SET data = jsonb_set(jsonb_set(data::jsonb, '{phones}', coalesce(to_jsonb($2::text[]), 'null')), '{emails}', coalesce(to_jsonb($3::text[]), 'null'))::json WHERE id = $1`,
			per.ID, per.Phones, per.Emails)
		require.NoError(t, err)
	}
	_, err = p.Exec(ctx, `DELETE FROM `+q+`.person_keys`)
	require.NoError(t, err)
	for _, row := range []struct {
		key string
		id  uuid.UUID
	}{
		{"x:ana", ana.ID}, {"p:+385 91 234 5678", ana.ID}, {"e:Ana@Example.com", ana.ID},
		{"e:bob@example.com", bob.ID}, {"e:Bob@Example.com", bobby.ID},
		{"e:carl@EXAMPLE.com", carl.ID}, {"e:Carl@example.com", karl.ID},
		{"p:ext. 12", odd.ID},
	} {
		_, err = p.Exec(ctx, `INSERT INTO `+q+`.person_keys (key, person_id) VALUES ($1, $2)`, row.key, row.id)
		require.NoError(t, err)
	}
	_, err = p.Exec(ctx, `UPDATE `+q+`.schema_version SET version = 2`)
	require.NoError(t, err)

	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Migrate(ctx), "migrating again changes nothing")

	rows, err := p.Query(ctx, `SELECT key FROM `+q+`.person_keys ORDER BY key`)
	require.NoError(t, err)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"e:ana@example.com", "e:bob@example.com", "e:carl@example.com", "p:385912345678", "x:ana"}, keys)

	find := func(ref store.PersonRef) uuid.UUID {
		t.Helper()
		id, err := s.FindPerson(ctx, ref)
		require.NoError(t, err, "%+v", ref)
		return id
	}
	require.Equal(t, ana.ID, find(store.PersonRef{Phone: "00385912345678"}))
	require.Equal(t, ana.ID, find(store.PersonRef{Email: "ana@example.com"}))
	require.Equal(t, bob.ID, find(store.PersonRef{Email: "BOB@example.com"}), "the spelling that was normal keeps its owner")
	require.Equal(t, karl.ID, find(store.PersonRef{Email: "carl@example.com"}), `else the first in byte order: "e:Carl@..." < "e:carl@..."`)

	// The people who lost the key can still be updated, and give it up.
	bobby.FirstName = "Bobby"
	put(bobby)
	bobby.Emails = nil
	put(bobby)
	require.Equal(t, bob.ID, find(store.PersonRef{Email: "bob@example.com"}))
	odd.FirstName = "Odd"
	put(odd)
	got, err := s.FindPerson(ctx, store.PersonRef{ID: bobby.ID})
	require.NoError(t, err)
	require.Equal(t, bobby.ID, got)
	require.NoError(t, s.Update(ctx, karl.ID, func(tx store.Tx) error {
		per, err := tx.Person()
		require.NoError(t, err)
		require.Equal(t, []string{"Carl@example.com"}, per.Emails, "profiles keep their spellings")
		return nil
	}))
}

// Add to Flow on PostgreSQL finds a friend by an email in another
// spelling instead of creating a second person.
func TestEngineAddToFlowFindsAnySpelling(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	eng := newEngine(t, s, clock.NewFake(start))
	for _, f := range []*flow.Flow{
		flow.New("welcome", "Welcome").Add("t", &kinds.AddTag{Tag: "referred"}, nil),
		flow.New("refer", "Refer").Var("email", store.Text, nil).
			Add("add", &kinds.AddToFlow{Flow: "welcome", Participant: &kinds.Contact{Email: "{{email}}"}}, nil),
	} {
		_, err := eng.Publish(ctx, f)
		require.NoError(t, err)
		require.NoError(t, eng.Activate(ctx, f.ID))
	}
	bob, err := eng.UpdatePerson(ctx, store.PersonRef{Email: "bob@example.com"}, func(*store.Person) error { return nil })
	require.NoError(t, err)
	_, err = eng.Enter(ctx, "refer", store.PersonRef{ExternalID: "ann"}, map[string]any{"email": "Bob@Example.com"})
	require.NoError(t, err)
	ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "welcome"})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, bob.ID, ps[0].PersonID)
}

// On PostgreSQL too, a host adding an email wakes a participant waiting
// for a change of email.
func TestEngineWaitForEmailAdded(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	eng := newEngine(t, s, clock.NewFake(start))
	f := flow.New("confirm", "Confirm").
		Add("w", &kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "email"}}}, flow.Next{"changed": "yes"}).
		Add("yes", &kinds.AddTag{Tag: "has-email"}, nil)
	_, err := eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "confirm"))
	who := store.PersonRef{Phone: "+385 91 234 5678"}
	id, err := eng.Enter(ctx, "confirm", who, nil)
	require.NoError(t, err)
	_, err = eng.UpdatePerson(ctx, store.PersonRef{Phone: "385912345678"}, func(p *store.Person) error {
		p.Emails = []string{"ann@example.com"}
		return nil
	})
	require.NoError(t, err)
	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Completed, p.Status, "%+v", p.Journal)
	person, err := eng.Person(ctx, store.PersonRef{Email: "Ann@Example.com"})
	require.NoError(t, err)
	require.Equal(t, []string{"has-email"}, person.Tags)
}

// UpdateRef runs in the transaction of whoever holds the key once the
// lock is taken: a key moved to another person while UpdateRef waited on
// the first one's lock takes it to the second.
func TestUpdateRefFollowsAMovedKey(t *testing.T) {
	ctx := t.Context()
	p := testPool(t)
	schema := newSchema(t, p)
	s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	a, b := uuid.New(), uuid.New()
	const ext = "moved-key"
	for _, person := range []*store.Person{{ID: a, ExternalID: ext}, {ID: b}} {
		require.NoError(t, s.Update(ctx, person.ID, func(tx store.Tx) error { return tx.PutPerson(person) }))
	}

	// Another transaction holds a's lock and moves the key to b.
	other, err := p.Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(ctx)
	_, err = other.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))`, a.String())
	require.NoError(t, err)
	_, err = other.Exec(ctx, `UPDATE `+pgx.Identifier{schema}.Sanitize()+`.person_keys SET person_id = $1 WHERE key = $2`,
		b, store.Key{Kind: store.ByExternalID, Value: ext}.String())
	require.NoError(t, err)

	type result struct {
		id, inFn uuid.UUID
		locked   bool // fn ran holding the lock of the person it ran for
		err      error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.id, r.err = s.UpdateRef(ctx, store.PersonRef{ExternalID: ext}, uuid.Nil, func(id uuid.UUID, tx store.Tx) error {
			r.inFn = id
			var free bool
			err := pgx.BeginFunc(ctx, p, func(probe pgx.Tx) error {
				return probe.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1::text, 0))`, id.String()).Scan(&free)
			})
			r.locked = !free
			return err
		})
		done <- r
	}()
	select {
	case r := <-done:
		t.Fatalf("UpdateRef did not wait for the lock of the key's holder: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, other.Commit(ctx))
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, b, r.id, "the person holding the key when the lock was taken")
	require.Equal(t, b, r.inFn)
	require.True(t, r.locked, "fn ran without the lock of the person it ran for")
}
