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

// ---------------------------------------------------------------------------
// Erasure (store.Eraser)

var eraseTests = []test{
	{"RemovesEverything", testEraseRemovesEverything},
	{"FailedFnErasesNothing", testEraseFailedFnErasesNothing},
	{"UnknownPerson", testEraseUnknownPerson},
}

// Erased is a person with everything a store may hold of them, as
// EraseRecords stores it.
type Erased struct {
	Person       *store.Person
	Participants []*store.Participant // one waiting with a timer, one completed
	Events       []*store.Event
}

// Needles returns what must not be found anywhere in a store once the
// person is erased: their id, lookup keys, participant ids and event ids,
// as text.
func (e *Erased) Needles() []string {
	out := []string{e.Person.ID.String(), e.Person.ExternalID}
	out = append(out, e.Person.Phones...)
	out = append(out, e.Person.Emails...)
	for _, p := range e.Participants {
		out = append(out, p.ID.String())
	}
	for _, ev := range e.Events {
		out = append(out, ev.ID)
	}
	return out
}

// EraseRecords stores a person with keys, events, a waiting participant
// with a timer at due and a completed one in flowID, for erasure tests of
// a store's own (see Erased.Needles).
func EraseRecords(t *testing.T, s store.Store, flowID string, due time.Time) *Erased {
	t.Helper()
	p := newPerson(t, s)
	p.Phones = append(p.Phones, phone(p.ID, 1))
	p.Emails = append(p.Emails, email(p.ID, 1))
	p.Attributes = map[string]any{"plan": "gold"}
	waiting := newParticipant(t, p.ID, flowID)
	waiting.Status, waiting.Element = store.Waiting, "wait"
	waiting.Wait = &store.Wait{Until: due, Deadline: due, Events: []string{"Clicked"}}
	done := newParticipant(t, p.ID, flowID)
	done.Status, done.ExitedAt = store.Completed, base
	e := &Erased{Person: p, Participants: []*store.Participant{waiting, done}}
	for i := range 3 {
		ev := newEvent(t, "Clicked", base.Add(time.Duration(i)*time.Minute))
		ev.Properties = map[string]any{"email": p.Emails[0]}
		e.Events = append(e.Events, ev)
	}
	update(t, s, p.ID, func(tx store.Tx) error {
		require.NoError(t, tx.PutPerson(p))
		for _, q := range e.Participants {
			require.NoError(t, tx.PutParticipant(q))
		}
		for _, ev := range e.Events {
			require.NoError(t, tx.AddEvent(ev))
		}
		tx.Count(store.Counter{FlowID: flowID, FlowVersion: 1, Element: "wait", Key: "waiting", N: 1})
		return nil
	})
	return e
}

func eraser(s store.Store) store.Eraser { return s.(store.Eraser) }

// uncountWaiting is the fn an engine gives Erase: it takes the person's
// waiting participants out of the waiting counts.
func uncountWaiting(tx store.Tx) error {
	parts, err := tx.Participants()
	if err != nil {
		return err
	}
	for _, p := range parts {
		if p.Status == store.Waiting {
			tx.Count(store.Counter{FlowID: p.FlowID, FlowVersion: p.FlowVersion, Element: p.Element, Key: "waiting", N: -1})
		}
	}
	return nil
}

func testEraseRemovesEverything(t *testing.T, s store.Store) {
	ctx := t.Context()
	er := eraser(s)
	flow := newFlow(t, s)
	due := base.Add(time.Hour)
	gone := EraseRecords(t, s, flow, due)
	kept := EraseRecords(t, s, flow, due)
	var created *store.Participant
	require.NoError(t, er.Erase(ctx, gone.Person.ID, func(tx store.Tx) error {
		// Written in the erasing transaction: erased with the rest.
		created = newParticipant(t, gone.Person.ID, flow)
		require.NoError(t, tx.PutParticipant(created))
		require.NoError(t, tx.AddEvent(newEvent(t, "Late", base)))
		return uncountWaiting(tx)
	}))

	requireNotFound(t, s, store.PersonRef{ID: gone.Person.ID})
	for _, k := range gone.Person.Keys() {
		requireNotFound(t, s, refOf(k))
	}
	for _, p := range append(slices.Clone(gone.Participants), created) {
		_, err := s.Participant(ctx, p.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "participant %s of the erased person", p.ID)
	}
	require.Equal(t, participantIDs(kept.Participants), participantIDs(participants(t, s, &store.ParticipantQuery{FlowID: flow})),
		"only the other person's participants are left")
	timers, err := s.DueTimers(ctx, due.Add(time.Hour), 1000)
	require.NoError(t, err)
	for _, tm := range timers {
		require.NotEqual(t, gone.Person.ID, tm.PersonID, "a timer of the erased person is due")
	}
	require.True(t, slices.ContainsFunc(timers, func(tm store.Timer) bool { return tm.PersonID == kept.Person.ID }))
	update(t, s, gone.Person.ID, func(tx store.Tx) error {
		_, err := tx.Person()
		require.ErrorIs(t, err, store.ErrNotFound)
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Empty(t, parts)
		evs, err := tx.Events(&store.EventQuery{})
		require.NoError(t, err)
		require.Empty(t, evs)
		return nil
	})
	require.Equal(t, []store.Counter{{FlowID: flow, FlowVersion: 1, Element: "wait", Key: "waiting", N: 1}}, counters(t, s, flow),
		"the erased person's waiting participant is uncounted, the other's stays")

	// The other person keeps everything; the erased one's keys are free.
	got, err := txPerson(t, s, kept.Person.ID)
	require.NoError(t, err)
	require.Equal(t, kept.Person, normPerson(got))
	require.Len(t, queryEvents(t, s, kept.Person.ID, store.EventQuery{}), len(kept.Events))
	reuse := &store.Person{ID: newID(t), Emails: gone.Person.Emails, CreatedAt: base, UpdatedAt: base}
	update(t, s, reuse.ID, func(tx store.Tx) error { return tx.PutPerson(reuse) })
	requireFound(t, s, store.PersonRef{Email: gone.Person.Emails[0]}, reuse.ID)
	// So are its event ids, for a new person of the same id.
	update(t, s, gone.Person.ID, func(tx store.Tx) error { return tx.AddEvent(gone.Events[0]) })
}

func testEraseFailedFnErasesNothing(t *testing.T, s store.Store) {
	er := eraser(s)
	flow := newFlow(t, s)
	e := EraseRecords(t, s, flow, base.Add(time.Hour))
	errStop := errors.New("storetest: stop")
	err := er.Erase(t.Context(), e.Person.ID, func(tx store.Tx) error {
		tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "wait", Key: "waiting", N: -1})
		return errStop
	})
	require.ErrorIs(t, err, errStop)
	requireFound(t, s, store.PersonRef{Email: e.Person.Emails[1]}, e.Person.ID)
	require.Len(t, participants(t, s, &store.ParticipantQuery{FlowID: flow}), 2)
	require.Len(t, queryEvents(t, s, e.Person.ID, store.EventQuery{}), 3)
	require.Equal(t, int64(1), counters(t, s, flow)[0].N)
}

func testEraseUnknownPerson(t *testing.T, s store.Store) {
	er := eraser(s)
	require.NoError(t, er.Erase(t.Context(), newID(t), nil), "erasing nobody succeeds")
	p := newPerson(t, s)
	require.NoError(t, er.Erase(t.Context(), p.ID, nil), "a nil fn erases")
	requireNotFound(t, s, store.PersonRef{ID: p.ID})
	require.NoError(t, er.Erase(t.Context(), p.ID, nil), "erasing twice succeeds")
	require.ErrorIs(t, er.Erase(t.Context(), uuid.Nil, nil), store.ErrNotFound)
}

func refOf(k store.Key) store.PersonRef {
	switch k.Kind {
	case store.ByPhone:
		return store.PersonRef{Phone: k.Value}
	case store.ByEmail:
		return store.PersonRef{Email: k.Value}
	}
	return store.PersonRef{ExternalID: k.Value}
}

// ---------------------------------------------------------------------------
// Retention (store.HistoryPruner). These subtests see every event of
// their store.

var retentionTests = []test{
	{"KeepsWhatWaitsLookBackTo", testPruneKeepsWhatWaitsLookBackTo},
}

func testPruneKeepsWhatWaitsLookBackTo(t *testing.T, s store.Store) {
	ctx := t.Context()
	pr := s.(store.HistoryPruner)
	flow := newFlow(t, s)
	day := 24 * time.Hour
	entered := base.Add(-5*day + 123*time.Nanosecond)
	times := []time.Time{base.Add(-10 * day), entered.Add(-time.Nanosecond), entered, base.Add(-day), base}
	history := func(status store.Status) (uuid.UUID, []*store.Event) {
		p := newPerson(t, s)
		var evs []*store.Event
		update(t, s, p.ID, func(tx store.Tx) error {
			if status != "" {
				part := newParticipant(t, p.ID, flow)
				part.Status, part.EnteredAt = status, entered
				require.NoError(t, tx.PutParticipant(part))
			}
			for _, at := range times {
				ev := newEvent(t, "Viewed", at)
				evs = append(evs, ev)
				require.NoError(t, tx.AddEvent(ev))
			}
			return nil
		})
		return p.ID, evs
	}
	waiting, waitingEvs := history(store.Waiting) // still in the flow: looks back to its entrance
	done, doneEvs := history(store.Completed)
	nobody, nobodyEvs := history("")

	_, err := pr.PruneEvents(ctx, &store.PruneParams{})
	require.ErrorIs(t, err, store.ErrInvalid, "a zero cutoff")
	n, err := pr.PruneEvents(ctx, &store.PruneParams{Before: base.Add(-2 * day)})
	require.NoError(t, err)
	require.Equal(t, 2+3+3, n)
	require.Equal(t, eventIDs(waitingEvs[2:]), eventIDs(queryEvents(t, s, waiting, store.EventQuery{})),
		"a participant in its flow keeps the events from its entrance on, to the nanosecond")
	require.Equal(t, eventIDs(doneEvs[3:]), eventIDs(queryEvents(t, s, done, store.EventQuery{})),
		"a participant that left keeps nothing old")
	require.Equal(t, eventIDs(nobodyEvs[3:]), eventIDs(queryEvents(t, s, nobody, store.EventQuery{})))
	n, err = pr.PruneEvents(ctx, &store.PruneParams{Before: base.Add(-2 * day)})
	require.NoError(t, err)
	require.Zero(t, n, "pruning again finds nothing")
	// A pruned event's id may be added again.
	update(t, s, done, func(tx store.Tx) error { return tx.AddEvent(doneEvs[0]) })
}
