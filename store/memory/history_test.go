package memory

import (
	"context"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// The EnteredFlow and ExitedFlow events the engine appends are made from
// their participant when read, and read exactly as appended; once the
// participant changes what they are made from, or goes, they are kept
// as they were.
func TestHistoryMakesEntryAndExitFromTheParticipant(t *testing.T) {
	ctx := context.Background()
	s := New()
	personID, partID := uuid.New(), uuid.New()
	t1 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t2 := t1.Add(2 * time.Hour)
	update := func(fn func(tx store.Tx) error) {
		t.Helper()
		require.NoError(t, s.Update(ctx, personID, fn))
	}
	entered := &store.Event{ID: partID.String() + ":entered", Category: store.Product, Name: store.EnteredFlow,
		Properties: map[string]any{"flowId": "cart"}, Time: t1}
	exited := &store.Event{ID: partID.String() + ":exited", Category: store.Product, Name: store.ExitedFlow,
		Properties: map[string]any{"flowId": "cart", "reason": "bought", "status": "completed"}, Time: t2}
	// Another product event of the participant, with a property more: kept.
	other := &store.Event{ID: partID.String() + ":entered:again", Category: store.Product, Name: store.EnteredFlow,
		Properties: map[string]any{"flowId": "cart", "via": "test"}, Time: t1}
	p := &store.Participant{ID: partID, PersonID: personID, FlowID: "cart", FlowVersion: 1, Status: store.Waiting,
		Element: "wait", EnteredAt: t1, ArrivedAt: t1, LastActivityAt: t1, Wait: &store.Wait{Until: t1.Add(4 * time.Hour)}}
	update(func(tx store.Tx) error {
		require.NoError(t, tx.PutPerson(&store.Person{ID: personID, ExternalID: "ada"}))
		require.NoError(t, tx.PutParticipant(p))
		require.NoError(t, tx.AppendEvent(entered))
		return tx.AppendEvent(other)
	})
	history := func() []*store.Event {
		t.Helper()
		var out []*store.Event
		update(func(tx store.Tx) error {
			var err error
			out, err = tx.Events(&store.EventQuery{})
			return err
		})
		return out
	}
	made := func() (n int) {
		ps := s.state(personID, false)
		ps.mu.Lock()
		defer ps.mu.Unlock()
		for _, f := range ps.events {
			if f.of != nil {
				n++
			}
		}
		return n
	}
	want := func(evs ...*store.Event) {
		t.Helper()
		got := history()
		require.Len(t, got, len(evs))
		for i, e := range evs {
			require.Equal(t, e.ID, got[i].ID)
			require.Equal(t, personID, got[i].PersonID)
			require.Equal(t, e.Category, got[i].Category)
			require.Equal(t, e.Name, got[i].Name)
			require.Equal(t, e.Properties, got[i].Properties)
			require.True(t, e.Time.Equal(got[i].Time), "%s at %s, want %s", e.ID, got[i].Time, e.Time)
		}
	}
	want(entered, other)
	require.Equal(t, 1, made(), "the entry is made from the participant; the other event is kept")

	// Leaving: the exit is made from the participant too.
	update(func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		q := parts[0]
		q.Status, q.Reason, q.ExitedAt, q.Wait = store.Completed, "bought", t2, nil
		require.NoError(t, tx.PutParticipant(q))
		return tx.AppendEvent(exited)
	})
	want(entered, other, exited)
	require.Equal(t, 2, made())
	err := s.Update(ctx, personID, func(tx store.Tx) error { return tx.AppendEvent(exited) })
	require.ErrorIs(t, err, store.ErrDuplicate, "an event made from a participant is found by its ID")

	// A retry changes the status and reason: the events are kept as they were.
	update(func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		q := parts[0]
		q.Status, q.Reason, q.ExitedAt = store.Active, "", time.Time{}
		return tx.PutParticipant(q)
	})
	want(entered, other, exited)
	require.Zero(t, made())

	// A participant that goes leaves its entry behind.
	other2 := uuid.New()
	entered2 := &store.Event{ID: other2.String() + ":entered", Category: store.Product, Name: store.EnteredFlow,
		Properties: map[string]any{"flowId": "cart"}, Time: t2}
	update(func(tx store.Tx) error {
		q := *p
		q.ID, q.EnteredAt, q.Version = other2, t2, 0
		require.NoError(t, tx.PutParticipant(&q))
		return tx.AppendEvent(entered2)
	})
	require.Equal(t, 1, made())
	update(func(tx store.Tx) error { return tx.(store.ParticipantRemover).RemoveParticipant(other2) })
	want(entered, other, exited, entered2)
	require.Zero(t, made())
}
