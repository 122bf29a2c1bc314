package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// Times: every time field round-trips to the nanosecond.

var timeTests = []test{
	{"NanosecondRoundTrip", testNanosecondRoundTrip},
	{"TimerDueIsWaitUntil", testTimerDueIsWaitUntil},
	{"EventQueryBoundsToTheNanosecond", testEventQueryBoundsToTheNanosecond},
}

// nanos is a time with nanoseconds, in a zone other than UTC: neither a
// timestamptz alone nor a store that converts carelessly keeps it.
var nanos = time.Date(2030, time.March, 30, 23, 59, 59, 123456789, time.FixedZone("UTC+2", 2*3600))

func at(n int) time.Time {
	return nanos.Add(time.Duration(n)*time.Minute + time.Duration(n)*time.Nanosecond)
}

func testNanosecondRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := uniq(t, "flow")
	v, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: flow, Document: doc(flow), PublishedAt: at(1)})
	require.NoError(t, err)
	fv, err := s.FlowVersion(ctx, flow, v)
	require.NoError(t, err)
	requireTime(t, at(1), fv.PublishedAt, "FlowVersion.PublishedAt")
	requireTime(t, at(1), flowState(t, s, flow).UpdatedAt, "FlowState.UpdatedAt after PublishFlow")
	require.NoError(t, s.SetFlowStatus(ctx, flow, store.FlowDraft, store.FlowActive, at(2)))
	requireTime(t, at(2), flowState(t, s, flow).UpdatedAt, "FlowState.UpdatedAt after SetFlowStatus")
	all, err := s.Flows(ctx)
	require.NoError(t, err)
	i := slices.IndexFunc(all, func(st store.FlowState) bool { return st.FlowID == flow })
	require.GreaterOrEqual(t, i, 0)
	requireTime(t, at(2), all[i].UpdatedAt, "Flows: FlowState.UpdatedAt")

	p := newPerson(t, s)
	p.CreatedAt, p.UpdatedAt = at(3), at(4)
	p.LastContacted = map[string]time.Time{"sms": at(5)}
	p.Attributes = map[string]any{"seen": at(6), "list": []any{at(7)}}
	entry := &store.Event{ID: uniq(t, "entry"), PersonID: p.ID, Category: store.External, Name: "Signup", Time: at(8),
		Properties: map[string]any{"at": at(9)}}
	part := &store.Participant{
		ID: newID(t), PersonID: p.ID, FlowID: flow, FlowVersion: 1, Status: store.Waiting, Element: "wait",
		Vars: map[string]any{"when": at(10)}, Entry: entry,
		EnteredAt: at(11), ArrivedAt: at(12), LastActivityAt: at(13), ExitedAt: at(14),
		Wait:    &store.Wait{Until: at(15), Deadline: at(16), Events: []string{"Clicked"}, State: map[string]any{"since": at(17)}},
		Journal: []store.Step{{Seq: 1, At: at(18), Element: "wait", Reason: "waiting"}},
	}
	ev := &store.Event{ID: uniq(t, "evt"), Category: store.External, Name: "Clicked", Time: at(19), Properties: map[string]any{"at": at(20)}}
	update(t, s, p.ID, func(tx store.Tx) error {
		require.NoError(t, tx.PutPerson(p))
		require.NoError(t, tx.PutParticipant(part))
		return tx.AddEvent(ev)
	})
	got, err := txPerson(t, s, p.ID)
	require.NoError(t, err)
	require.Equal(t, normPerson(p.Clone()), normPerson(got), "the person's times")
	want := normParticipant(part.Clone())
	require.Equal(t, want, normParticipant(participant(t, s, part.ID)), "the participant's times")
	update(t, s, p.ID, func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Equal(t, want, normParticipant(parts[0]), "Tx.Participants: the participant's times")
		return nil
	})
	evs := queryEvents(t, s, p.ID, store.EventQuery{})
	require.Len(t, evs, 1)
	ev.PersonID = p.ID
	require.Equal(t, normEvent(ev), normEvent(evs[0]), "the event's times")
}

// The engine matches a timer to its participant's wait by
// Timer.Due.Equal(Wait.Until).
func testTimerDueIsWaitUntil(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	w := waiter(t, s, flow, at(30))
	due := func(now time.Time) *store.Timer {
		timers, err := s.DueTimers(ctx, now, 1<<20)
		require.NoError(t, err)
		for _, tm := range timers {
			if tm.ParticipantID == w.ID {
				return &tm
			}
		}
		return nil
	}
	require.Nil(t, due(at(30).Add(-time.Nanosecond)), "not due a nanosecond early")
	tm := due(at(30))
	require.NotNil(t, tm, "due at its very nanosecond")
	require.True(t, tm.Due.Equal(w.Wait.Until), "Timer.Due %v equals Wait.Until %v", tm.Due, w.Wait.Until)
	require.True(t, tm.Due.Equal(participant(t, s, w.ID).Wait.Until), "Timer.Due equals the stored Wait.Until")
}

func testEventQueryBoundsToTheNanosecond(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	ev := &store.Event{ID: uniq(t, "evt"), Category: store.External, Name: "Clicked", Time: at(40)}
	update(t, s, p.ID, func(tx store.Tx) error { return tx.AddEvent(ev) })
	next := at(40).Add(time.Nanosecond)
	require.Len(t, queryEvents(t, s, p.ID, store.EventQuery{Since: at(40)}), 1, "Since is inclusive")
	require.Empty(t, queryEvents(t, s, p.ID, store.EventQuery{Since: next}), "a nanosecond later")
	require.Empty(t, queryEvents(t, s, p.ID, store.EventQuery{Until: at(40)}), "Until is exclusive")
	require.Len(t, queryEvents(t, s, p.ID, store.EventQuery{Until: next}), 1, "a nanosecond later")
}

// ---------------------------------------------------------------------------
// Cancellation: a done ctx makes every method fail with its error and
// write nothing.

var cancelTests = []test{
	{"CanceledContext", testCanceledContext},
}

func testCanceledContext(t *testing.T, s store.Store) {
	live := t.Context()
	flow := newFlow(t, s)
	e := EraseRecords(t, s, flow, base.Add(time.Hour))
	ctx, cancel := context.WithCancel(live)
	cancel()
	canceled := func(what string, err error) {
		t.Helper()
		require.ErrorIs(t, err, context.Canceled, what)
	}

	newFlowID := uniq(t, "flow")
	_, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: newFlowID, Document: doc(newFlowID), PublishedAt: base})
	canceled("PublishFlow", err)
	_, err = s.FlowVersion(ctx, flow, 1)
	canceled("FlowVersion", err)
	_, err = s.Flow(ctx, flow)
	canceled("Flow", err)
	_, err = s.Flows(ctx)
	canceled("Flows", err)
	canceled("SetFlowStatus", s.SetFlowStatus(ctx, flow, store.FlowDraft, store.FlowActive, base))
	_, err = s.FindPerson(ctx, store.PersonRef{ID: e.Person.ID})
	canceled("FindPerson by id", err)
	_, err = s.FindPerson(ctx, store.PersonRef{Email: e.Person.Emails[0]})
	canceled("FindPerson by key", err)
	called := false
	canceled("Update", s.Update(ctx, e.Person.ID, func(tx store.Tx) error {
		called = true
		return tx.AddEvent(newEvent(t, "Canceled", base))
	}))
	require.False(t, called, "Update ran fn with a canceled ctx")
	_, err = s.DueTimers(ctx, base.Add(2*time.Hour), 10)
	canceled("DueTimers", err)
	_, _, err = s.NextDue(ctx)
	canceled("NextDue", err)
	_, err = s.Participant(ctx, e.Participants[0].ID)
	canceled("Participant", err)
	_, err = s.Participants(ctx, &store.ParticipantQuery{FlowID: flow})
	canceled("Participants", err)
	_, err = s.Counters(ctx, flow)
	canceled("Counters", err)
	if c, ok := s.(store.TimerClaimer); ok {
		_, err = c.ClaimTimers(ctx, base.Add(2*time.Hour), 10, time.Hour)
		canceled("ClaimTimers", err)
	}
	if er, ok := s.(store.Eraser); ok {
		canceled("Erase", er.Erase(ctx, e.Person.ID, nil))
	}
	if pr, ok := s.(store.HistoryPruner); ok {
		_, err = pr.PruneEvents(ctx, &store.PruneParams{Before: base.Add(time.Hour)})
		canceled("PruneEvents", err)
	}

	// Nothing was written.
	_, err = s.Flow(live, newFlowID)
	require.ErrorIs(t, err, store.ErrNotFound, "PublishFlow wrote")
	require.Equal(t, store.FlowDraft, flowState(t, s, flow).Status, "SetFlowStatus wrote")
	requireFound(t, s, store.PersonRef{Email: e.Person.Emails[0]}, e.Person.ID)
	require.Len(t, queryEvents(t, s, e.Person.ID, store.EventQuery{}), len(e.Events), "Update, Erase or PruneEvents wrote")
	require.Len(t, participants(t, s, &store.ParticipantQuery{FlowID: flow}), 2, "Erase wrote")
	timers, err := s.DueTimers(live, base.Add(2*time.Hour), 1<<20)
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(timers, func(tm store.Timer) bool { return tm.ParticipantID == e.Participants[0].ID }),
		"ClaimTimers claimed")
}

// ---------------------------------------------------------------------------
// Empty references: lookups by an empty id find nothing, writes and
// queries lacking a required id are refused, and nothing panics.

var emptyRefTests = []test{
	{"EmptyReferences", testEmptyReferences},
}

func testEmptyReferences(t *testing.T, s store.Store) {
	ctx := t.Context()
	notFound := func(what string, err error) {
		t.Helper()
		require.ErrorIs(t, err, store.ErrNotFound, what)
	}
	invalid := func(what string, err error) {
		t.Helper()
		require.ErrorIs(t, err, store.ErrInvalid, what)
	}
	_, err := s.FindPerson(ctx, store.PersonRef{})
	notFound("FindPerson of a zero PersonRef", err)
	_, err = s.FindPerson(ctx, store.PersonRef{ID: uuid.Nil})
	notFound("FindPerson of uuid.Nil", err)
	called := false
	notFound("Update of uuid.Nil", s.Update(ctx, uuid.Nil, func(store.Tx) error { called = true; return nil }))
	require.False(t, called)
	_, err = s.Participant(ctx, uuid.Nil)
	notFound("Participant of uuid.Nil", err)
	_, err = s.Flow(ctx, "")
	notFound("Flow of an empty id", err)
	_, err = s.FlowVersion(ctx, "", 1)
	notFound("FlowVersion of an empty id", err)
	notFound("SetFlowStatus of an empty id", s.SetFlowStatus(ctx, "", store.FlowDraft, store.FlowActive, base))
	if er, ok := s.(store.Eraser); ok {
		notFound("Erase of uuid.Nil", er.Erase(ctx, uuid.Nil, nil))
	}

	_, err = s.PublishFlow(ctx, &store.FlowVersion{Document: doc(""), PublishedAt: base})
	invalid("PublishFlow without a flow id", err)
	_, err = s.Participants(ctx, &store.ParticipantQuery{})
	invalid("Participants without a flow id", err)
	_, err = s.Participants(ctx, nil)
	invalid("Participants without a query", err)
	_, err = s.Counters(ctx, "")
	invalid("Counters without a flow id", err)

	p := newPerson(t, s)
	flow := newFlow(t, s)
	update(t, s, p.ID, func(tx store.Tx) error {
		noID := newParticipant(t, p.ID, flow)
		noID.ID = uuid.Nil
		invalid("PutParticipant without an id", tx.PutParticipant(noID))
		noFlow := newParticipant(t, p.ID, flow)
		noFlow.FlowID = ""
		invalid("PutParticipant without a flow id", tx.PutParticipant(noFlow))
		noPerson := newParticipant(t, p.ID, flow)
		noPerson.PersonID = uuid.Nil
		invalid("PutParticipant without a person id", tx.PutParticipant(noPerson))
		invalid("AddEvent without an id", tx.AddEvent(&store.Event{Category: store.External, Name: "X", Time: base}))
		_, err := tx.Events(nil)
		invalid("Events without a query", err)
		return nil
	})
	require.Empty(t, participants(t, s, &store.ParticipantQuery{FlowID: flow}), "a refused participant was stored")
	require.Empty(t, queryEvents(t, s, p.ID, store.EventQuery{}), "a refused event was stored")
}
