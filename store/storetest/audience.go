package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Audience entries: store.PeopleLister, store.AudienceRuns and
// store.ParticipantRemover.

// peopleListTests need store.PeopleLister.
var peopleListTests = []test{
	{"PeoplePaged", testPeoplePaged},
	{"PeopleAreCopies", testPeopleAreCopies},
}

// audienceTests need store.AudienceRuns.
var audienceTests = []test{
	{"AudienceRunLifecycle", testAudienceRunLifecycle},
	{"AudienceRunSkipsExisting", testAudienceRunSkipsExisting},
}

// removeTests need store.AudienceRuns and store.ParticipantRemover.
var removeTests = []test{
	{"RemoveParticipant", testRemoveParticipant},
}

func lister(s store.Store) store.PeopleLister { return s.(store.PeopleLister) }

func runs(s store.Store) store.AudienceRuns { return s.(store.AudienceRuns) }

// allPeople pages through every person, limit at a time.
func allPeople(t *testing.T, l store.PeopleLister, limit int) []*store.Person {
	t.Helper()
	var out []*store.Person
	q := &store.PeopleQuery{Limit: limit}
	for {
		page, err := l.People(t.Context(), q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), limit)
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		q.After = page[len(page)-1].ID
	}
}

// Paging visits every person once, in the store's listing order (the
// same order at every page size), also people created after an earlier
// listing; a transaction that stored no person lists nobody.
func testPeoplePaged(t *testing.T, s store.Store) {
	l := lister(s)
	var mine []uuid.UUID
	for range 23 {
		mine = append(mine, newPerson(t, s).ID)
	}
	// An update that writes no person leaves no one to list.
	ghost := newID(t)
	update(t, s, ghost, func(tx store.Tx) error { return nil })

	var order []uuid.UUID // the listing's order of mine, as a page of 1000 gives it
	check := func(limit int) {
		t.Helper()
		got := allPeople(t, l, limit)
		var ids []uuid.UUID
		for _, p := range got {
			require.NotEqual(t, ghost, p.ID, "a transaction that stored no person lists nobody")
			if slices.Contains(mine, p.ID) {
				ids = append(ids, p.ID)
				require.Equal(t, "x-"+p.ID.String(), p.ExternalID, "the profile comes with the listing")
			}
		}
		require.ElementsMatch(t, mine, ids, "every person once, limit %d", limit)
		if limit == 1000 {
			order = ids
		} else if order != nil && len(order) == len(ids) {
			require.Equal(t, order, ids, "the same order at every page size (limit %d)", limit)
		}
	}
	check(1000)
	check(5)
	check(1)
	mine = append(mine, newPerson(t, s).ID, newPerson(t, s).ID)
	check(4)

	n, err := l.CountPeople(t.Context())
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, int64(len(mine)))
	require.NotContains(t, allPeople(t, l, 3), nil)
}

func testPeopleAreCopies(t *testing.T, s store.Store) {
	l := lister(s)
	p := newPerson(t, s)
	find := func() *store.Person {
		for _, q := range allPeople(t, l, 100) {
			if q.ID == p.ID {
				return q
			}
		}
		t.Fatalf("person %s is not listed", p.ID)
		return nil
	}
	got := find()
	got.ExternalID = "changed"
	got.Emails[0] = "changed@example.com"
	again := find()
	require.Equal(t, p.ExternalID, again.ExternalID)
	require.Equal(t, p.Emails, again.Emails)
}

// pending returns a participant as bulk entry creates it: its first step
// due at due.
func pending(t *testing.T, personID uuid.UUID, flowID string, due time.Time) *store.Participant {
	t.Helper()
	p := newParticipant(t, personID, flowID)
	p.Version = 1
	p.Wait = &store.Wait{Until: due, State: map[string]any{"entry": "e1"}}
	return p
}

func newRun(t *testing.T, s store.Store, flowID string) *store.AudienceRun {
	t.Helper()
	r := &store.AudienceRun{ID: newID(t), FlowID: flowID, FlowVersion: 1, Entry: "e1", StartedAt: base, Total: 3}
	require.NoError(t, runs(s).CreateAudienceRun(t.Context(), r))
	return r
}

func getRun(t *testing.T, s store.Store, id uuid.UUID) *store.AudienceRun {
	t.Helper()
	r, err := runs(s).AudienceRun(t.Context(), id)
	require.NoError(t, err)
	return r
}

// A run is created once, advances page by page with its participants,
// refuses a page read after a stale cursor, and finishes.
func testAudienceRunLifecycle(t *testing.T, s store.Store) {
	rs := runs(s)
	ctx := t.Context()
	flowID := newFlow(t, s)
	r := newRun(t, s, flowID)
	err := rs.CreateAudienceRun(ctx, &store.AudienceRun{ID: r.ID, FlowID: flowID, StartedAt: base})
	require.ErrorIs(t, err, store.ErrDuplicate, "a run is started once")
	_, err = rs.AudienceRun(ctx, newID(t))
	require.ErrorIs(t, err, store.ErrNotFound)

	got := getRun(t, s, r.ID)
	require.Equal(t, r.ID, got.ID)
	require.Equal(t, flowID, got.FlowID)
	require.Equal(t, 1, got.FlowVersion)
	require.Equal(t, "e1", got.Entry)
	requireTime(t, base, got.StartedAt, "started")
	require.Equal(t, uuid.Nil, got.Cursor)
	require.EqualValues(t, 3, got.Total)
	require.False(t, got.Done)

	a, b := newPerson(t, s), newPerson(t, s)
	due := base.Add(time.Minute)
	pa, pb := pending(t, a.ID, flowID, due), pending(t, b.ID, flowID, due)
	n, err := rs.AdvanceAudienceRun(ctx, &store.AdvanceAudienceRunParams{
		RunID: r.ID, From: uuid.Nil, To: b.ID, Scanned: 2, Participants: []*store.Participant{pa.Clone(), pb.Clone()},
	})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	got = getRun(t, s, r.ID)
	require.Equal(t, b.ID, got.Cursor)
	require.EqualValues(t, 2, got.Scanned)
	require.EqualValues(t, 2, got.Entered)

	// The participants are stored, with their timers armed.
	for _, p := range []*store.Participant{pa, pb} {
		stored := participant(t, s, p.ID)
		require.Equal(t, store.Active, stored.Status)
		require.EqualValues(t, 1, stored.Version)
		requireTime(t, due, stored.Wait.Until, "due")
		require.Equal(t, "e1", stored.Wait.State["entry"])
	}
	timers, err := s.DueTimers(ctx, due, 10_000)
	require.NoError(t, err)
	var timed []uuid.UUID
	for _, tm := range timers {
		timed = append(timed, tm.ParticipantID)
	}
	require.Contains(t, timed, pa.ID)
	require.Contains(t, timed, pb.ID)

	// A page read after the old cursor lost the race: nothing happens.
	c := newPerson(t, s)
	stale := pending(t, c.ID, flowID, due)
	_, err = rs.AdvanceAudienceRun(ctx, &store.AdvanceAudienceRunParams{
		RunID: r.ID, From: uuid.Nil, To: c.ID, Scanned: 1, Participants: []*store.Participant{stale},
	})
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = s.Participant(ctx, stale.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "a refused page creates no one")
	require.EqualValues(t, 2, getRun(t, s, r.ID).Scanned)

	unfinished, err := rs.AudienceRuns(ctx, &store.AudienceRunQuery{FlowID: flowID, Unfinished: true})
	require.NoError(t, err)
	require.Len(t, unfinished, 1)

	n, err = rs.AdvanceAudienceRun(ctx, &store.AdvanceAudienceRunParams{
		RunID: r.ID, From: b.ID, To: b.ID, Done: true, FinishedAt: base.Add(time.Hour),
	})
	require.NoError(t, err)
	require.Zero(t, n)
	got = getRun(t, s, r.ID)
	require.True(t, got.Done)
	requireTime(t, base.Add(time.Hour), got.FinishedAt, "finished")
	_, err = rs.AdvanceAudienceRun(ctx, &store.AdvanceAudienceRunParams{RunID: r.ID, From: b.ID, To: b.ID, Done: true})
	require.ErrorIs(t, err, store.ErrConflict, "a done run takes no more pages")

	unfinished, err = rs.AudienceRuns(ctx, &store.AudienceRunQuery{FlowID: flowID, Unfinished: true})
	require.NoError(t, err)
	require.Empty(t, unfinished)
	second := newRun(t, s, flowID)
	all, err := rs.AudienceRuns(ctx, &store.AudienceRunQuery{FlowID: flowID})
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, r.ID, all[0].ID)
	require.Equal(t, second.ID, all[1].ID)
	every, err := rs.AudienceRuns(ctx, &store.AudienceRunQuery{Unfinished: true})
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(every, func(x *store.AudienceRun) bool { return x.ID == second.ID }))
}

// A participant whose ID exists is skipped, not doubled nor replaced.
func testAudienceRunSkipsExisting(t *testing.T, s store.Store) {
	rs := runs(s)
	ctx := t.Context()
	flowID := newFlow(t, s)
	r := newRun(t, s, flowID)
	a, b := newPerson(t, s), newPerson(t, s)
	existing := newParticipant(t, a.ID, flowID)
	existing.Status, existing.Element = store.Completed, "done"
	put(t, s, existing)

	dup := pending(t, a.ID, flowID, base)
	dup.ID = existing.ID
	fresh := pending(t, b.ID, flowID, base)
	n, err := rs.AdvanceAudienceRun(ctx, &store.AdvanceAudienceRunParams{
		RunID: r.ID, To: b.ID, Scanned: 2, Participants: []*store.Participant{dup, fresh},
	})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.EqualValues(t, 1, getRun(t, s, r.ID).Entered)
	kept := participant(t, s, existing.ID)
	require.Equal(t, store.Completed, kept.Status, "the existing participant is kept as it was")
	require.Equal(t, store.Active, participant(t, s, fresh.ID).Status)
	var parts []*store.Participant
	update(t, s, a.ID, func(tx store.Tx) error {
		var err error
		parts, err = tx.Participants()
		return err
	})
	require.Len(t, parts, 1)
}

// A removed participant is gone with the transaction: from the person's
// participants, the store's lists and the timers; a transaction that
// fails removes nothing.
func testRemoveParticipant(t *testing.T, s store.Store) {
	ctx := t.Context()
	flowID := newFlow(t, s)
	p := newPerson(t, s)
	keep := newParticipant(t, p.ID, flowID)
	put(t, s, keep)
	gone := newParticipant(t, p.ID, flowID)
	gone.Wait = &store.Wait{Until: base}
	put(t, s, gone)

	remove := func(fn func(tx store.Tx) error) error {
		return s.Update(ctx, p.ID, func(tx store.Tx) error {
			r, ok := tx.(store.ParticipantRemover)
			require.True(t, ok, "a store with audience runs removes participants")
			if err := r.RemoveParticipant(gone.ID); err != nil {
				return err
			}
			return fn(tx)
		})
	}
	err := remove(func(tx store.Tx) error { return errRollback })
	require.ErrorIs(t, err, errRollback)
	require.Equal(t, gone.ID, participant(t, s, gone.ID).ID, "a failed transaction removes nothing")

	require.NoError(t, remove(func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{keep.ID}, participantIDs(parts), "the transaction sees its removal")
		return nil
	}))
	_, err = s.Participant(ctx, gone.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	listed := participants(t, s, &store.ParticipantQuery{FlowID: flowID})
	require.Equal(t, []uuid.UUID{keep.ID}, participantIDs(listed))
	timers, err := s.DueTimers(ctx, base.Add(time.Hour), 10_000)
	require.NoError(t, err)
	for _, tm := range timers {
		require.NotEqual(t, gone.ID, tm.ParticipantID, "its timer is gone")
	}
	update(t, s, p.ID, func(tx store.Tx) error {
		err := tx.(store.ParticipantRemover).RemoveParticipant(newID(t))
		require.True(t, errors.Is(err, store.ErrNotFound), "removing an unknown participant: %v", err)
		return nil
	})
}
