package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Update

var updateTests = []test{
	{"FailedUpdateWritesNothing", testFailedUpdateWritesNothing},
	{"FailedUpdateKeepsExistingRecords", testFailedUpdateKeepsExistingRecords},
	{"ReadsSeeOwnWrites", testReadsSeeOwnWrites},
	{"ValuesAreCopies", testValuesAreCopies},
	{"TxUnusableAfterUpdate", testTxUnusableAfterUpdate},
	{"PanicWritesNothing", testPanicWritesNothing},
}

func testFailedUpdateWritesNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := newID(t)
	flow := newFlow(t, s)
	part := newParticipant(t, id, flow)
	ev := newEvent(t, "Signup", base)
	boom := errors.New("boom")
	err := s.Update(ctx, id, func(tx store.Tx) error {
		require.NoError(t, tx.PutPerson(&store.Person{ID: id, Emails: []string{email(id, 1)}}))
		require.NoError(t, tx.PutParticipant(part))
		require.NoError(t, tx.AddEvent(ev))
		tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1})
		return boom
	})
	require.ErrorIs(t, err, boom, "Update returns fn's error")

	requireNotFound(t, s, store.PersonRef{ID: id})
	requireNotFound(t, s, store.PersonRef{Email: email(id, 1)})
	_, err = s.Participant(ctx, part.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Empty(t, participants(t, s, &store.ParticipantQuery{FlowID: flow}))
	require.Empty(t, counters(t, s, flow))
	update(t, s, id, func(tx store.Tx) error {
		_, err := tx.Person()
		require.ErrorIs(t, err, store.ErrNotFound)
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Empty(t, parts)
		evs, err := tx.Events(&store.EventQuery{})
		require.NoError(t, err)
		require.Empty(t, evs)
		require.NoError(t, tx.AddEvent(ev), "the event ID was not taken")
		return nil
	})
}

func testFailedUpdateKeepsExistingRecords(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	flow := newFlow(t, s)
	part := newParticipant(t, p.ID, flow)
	part.Vars = map[string]any{"n": 1.0}
	put(t, s, part)
	first := newEvent(t, "First", base)
	update(t, s, p.ID, func(tx store.Tx) error {
		tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1})
		return tx.AddEvent(first)
	})

	err := s.Update(ctx, p.ID, func(tx store.Tx) error {
		q, err := tx.Person()
		require.NoError(t, err)
		q.FirstName = "Changed"
		q.Emails = []string{email(p.ID, 5)}
		require.NoError(t, tx.PutPerson(q))
		c := part.Clone()
		c.Element = "next"
		c.Vars["n"] = 2.0
		require.NoError(t, tx.PutParticipant(c))
		require.NoError(t, tx.AddEvent(newEvent(t, "Second", base.Add(time.Minute))))
		tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 5})
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	got, err := txPerson(t, s, p.ID)
	require.NoError(t, err)
	require.Equal(t, p, normPerson(got))
	requireFound(t, s, store.PersonRef{Email: p.Emails[0]}, p.ID)
	requireNotFound(t, s, store.PersonRef{Email: email(p.ID, 5)})
	gotPart := participant(t, s, part.ID)
	require.Equal(t, int64(1), gotPart.Version)
	require.Equal(t, "start", gotPart.Element)
	require.Equal(t, 1.0, gotPart.Vars["n"])
	require.Equal(t, []string{first.ID}, eventIDs(queryEvents(t, s, p.ID, store.EventQuery{})))
	require.Equal(t, []store.Counter{{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1}}, counters(t, s, flow))
}

func testReadsSeeOwnWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := newID(t)
	flow := newFlow(t, s)
	a := newParticipant(t, id, flow)
	e1, e2 := newEvent(t, "Late", base.Add(2*time.Hour)), newEvent(t, "Early", base.Add(time.Hour))
	update(t, s, id, func(tx store.Tx) error {
		_, err := tx.Person()
		require.ErrorIs(t, err, store.ErrNotFound, "no person yet")
		p := &store.Person{ID: id, FirstName: "Ana", Emails: []string{email(id, 1)}}
		require.NoError(t, tx.PutPerson(p))
		got, err := tx.Person()
		require.NoError(t, err)
		require.Equal(t, "Ana", got.FirstName)
		p.FirstName = "Ivana"
		require.NoError(t, tx.PutPerson(p))
		got, err = tx.Person()
		require.NoError(t, err)
		require.Equal(t, "Ivana", got.FirstName, "the second PutPerson wins")

		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Empty(t, parts)
		require.NoError(t, tx.PutParticipant(a))
		parts, err = tx.Participants()
		require.NoError(t, err)
		require.Len(t, parts, 1)
		require.Equal(t, a.ID, parts[0].ID)
		require.Equal(t, int64(1), parts[0].Version)
		a.Element = "next"
		require.NoError(t, tx.PutParticipant(a))
		require.Equal(t, int64(2), a.Version)
		parts, err = tx.Participants()
		require.NoError(t, err)
		require.Len(t, parts, 1)
		require.Equal(t, "next", parts[0].Element)
		require.Equal(t, int64(2), parts[0].Version)

		require.NoError(t, tx.AddEvent(e1))
		require.NoError(t, tx.AddEvent(e2))
		evs, err := tx.Events(&store.EventQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{e2.ID, e1.ID}, eventIDs(evs), "pending events in time order")
		evs, err = tx.Events(&store.EventQuery{Name: "Late"})
		require.NoError(t, err)
		require.Equal(t, []string{e1.ID}, eventIDs(evs))
		return nil
	})
	got := participant(t, s, a.ID)
	require.Equal(t, int64(2), got.Version)
	require.Equal(t, "next", got.Element)

	// Stored records merge with the pending ones.
	b := newParticipant(t, id, flow)
	e3 := newEvent(t, "Middle", base.Add(90*time.Minute))
	err := s.Update(ctx, id, func(tx store.Tx) error {
		a.Element = "third"
		require.NoError(t, tx.PutParticipant(a))
		require.NoError(t, tx.PutParticipant(b))
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.ElementsMatch(t, []uuid.UUID{a.ID, b.ID}, participantIDs(parts))
		for _, p := range parts {
			if p.ID == a.ID {
				require.Equal(t, "third", p.Element)
				require.Equal(t, int64(3), p.Version)
			}
		}
		require.NoError(t, tx.AddEvent(e3))
		evs, err := tx.Events(&store.EventQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{e2.ID, e3.ID, e1.ID}, eventIDs(evs))
		evs, err = tx.Events(&store.EventQuery{Limit: 2})
		require.NoError(t, err)
		require.Equal(t, []string{e1.ID, e3.ID}, eventIDs(evs))
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
}

func testTxUnusableAfterUpdate(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	flow := newFlow(t, s)
	var saved store.Tx
	update(t, s, p.ID, func(tx store.Tx) error {
		saved = tx
		return nil
	})
	late := p.Clone()
	late.FirstName = "Late"
	require.Error(t, saved.PutPerson(late))
	require.Error(t, saved.PutParticipant(newParticipant(t, p.ID, flow)))
	require.Error(t, saved.AddEvent(newEvent(t, "Late", base)))
	saved.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1})

	got, err := txPerson(t, s, p.ID)
	require.NoError(t, err)
	require.Empty(t, got.FirstName)
	require.Empty(t, participants(t, s, &store.ParticipantQuery{FlowID: flow}))
	require.Empty(t, queryEvents(t, s, p.ID, store.EventQuery{}))
	require.Empty(t, counters(t, s, flow))
}

func testPanicWritesNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	require.Panics(t, func() {
		_ = s.Update(ctx, p.ID, func(tx store.Tx) error {
			q := p.Clone()
			q.FirstName = "Panicked"
			require.NoError(t, tx.PutPerson(q))
			require.NoError(t, tx.AddEvent(newEvent(t, "Panicked", base)))
			panic("storetest: panic in fn")
		})
	})
	// The person is not left locked.
	within(t, 5*time.Second, "an update after a panicking one", func() error {
		return s.Update(ctx, p.ID, func(tx store.Tx) error {
			q, err := tx.Person()
			if err != nil {
				return err
			}
			if q.FirstName != "" {
				return fmt.Errorf("first name %q written by a panicking update", q.FirstName)
			}
			evs, err := tx.Events(&store.EventQuery{})
			if err != nil {
				return err
			}
			if len(evs) != 0 {
				return fmt.Errorf("%d events written by a panicking update", len(evs))
			}
			return nil
		})
	})
}
