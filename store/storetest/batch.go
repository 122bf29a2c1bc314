package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Appended events, the transaction's flow revision, updates by reference
// (store.RefUpdater) and batches of transactions (store.BatchUpdater).

var txTests = []test{
	{"AppendEvent", testAppendEvent},
	{"AppendedDuplicateWritesNothing", testAppendedDuplicateWritesNothing},
	{"AppendedAndAddedKeepTheirOrder", testAppendedAndAddedKeepTheirOrder},
	{"FlowsRevision", testTxFlowsRevision},
}

// refTests need store.RefUpdater.
var refTests = []test{
	{"UpdateRef", testUpdateRef},
	{"UpdateRefCreateRace", testUpdateRefCreateRace},
}

// batchTests need store.BatchUpdater.
var batchTests = []test{
	{"UpdateBatch", testUpdateBatch},
	{"UpdateBatchConflictWritesNothing", testUpdateBatchConflict},
}

func testAppendEvent(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	e := newEvent(t, "Viewed", base)
	e.Properties = map[string]any{"n": 1.0}
	update(t, s, p.ID, func(tx store.Tx) error {
		if err := tx.AppendEvent(e); err != nil {
			return err
		}
		got, err := tx.Events(&store.EventQuery{Name: "Viewed"})
		require.NoError(t, err)
		require.Len(t, got, 1, "reads see the appended event")
		require.Equal(t, p.ID, e.PersonID, "AppendEvent sets the person")
		got[0].Properties["n"] = 3.0 // a read is the caller's copy
		return nil
	})
	e.Properties["n"] = 2.0 // once the transaction ended, the store holds its own copy
	got := queryEvents(t, s, p.ID, store.EventQuery{Name: "Viewed"})
	require.Len(t, got, 1)
	require.Equal(t, e.ID, got[0].ID)
	require.Equal(t, map[string]any{"n": 1.0}, got[0].Properties)
}

// An appended event whose ID the history holds fails the update, at
// AppendEvent or at commit, and nothing of it is written.
func testAppendedDuplicateWritesNothing(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	e := newEvent(t, "Viewed", base)
	update(t, s, p.ID, func(tx store.Tx) error { return tx.AddEvent(e) })
	flow := newFlow(t, s)
	part := newParticipant(t, p.ID, flow)
	err := s.Update(t.Context(), p.ID, func(tx store.Tx) error {
		me, err := tx.Person()
		require.NoError(t, err)
		me.Attributes = map[string]any{"changed": true}
		if err := tx.PutPerson(me); err != nil {
			return err
		}
		if err := tx.PutParticipant(part); err != nil {
			return err
		}
		again := *e
		return tx.AppendEvent(&again)
	})
	require.ErrorIs(t, err, store.ErrDuplicate)
	update(t, s, p.ID, func(tx store.Tx) error {
		me, err := tx.Person()
		require.NoError(t, err)
		require.Empty(t, me.Attributes, "the failed update's person change")
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Empty(t, parts, "the failed update's participant")
		return nil
	})
	require.Len(t, queryEvents(t, s, p.ID, store.EventQuery{}), 1)
}

// Events of one time, appended and added in turn, come back in the order
// they went in; a refused AddEvent among them leaves the others.
func testAppendedAndAddedKeepTheirOrder(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	stored := newEvent(t, "Viewed", base)
	update(t, s, p.ID, func(tx store.Tx) error { return tx.AddEvent(stored) })
	var want []string
	update(t, s, p.ID, func(tx store.Tx) error {
		for i := range 6 {
			e := newEvent(t, "Viewed", base)
			var err error
			if i%2 == 0 {
				err = tx.AppendEvent(e)
			} else {
				err = tx.AddEvent(e)
			}
			if err != nil {
				return err
			}
			want = append(want, e.ID)
			again := *stored
			require.ErrorIs(t, tx.AddEvent(&again), store.ErrDuplicate, "a stored event added again")
		}
		return nil
	})
	var got []string
	for _, e := range queryEvents(t, s, p.ID, store.EventQuery{}) {
		got = append(got, e.ID)
	}
	require.Equal(t, append([]string{stored.ID}, want...), got)
}

func testTxFlowsRevision(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	inTx := func() int64 {
		var rev int64
		update(t, s, p.ID, func(tx store.Tx) error {
			var err error
			rev, err = tx.FlowsRevision()
			return err
		})
		return rev
	}
	before, err := s.FlowsRevision(ctx)
	require.NoError(t, err)
	require.Equal(t, before, inTx(), "the transaction's revision is the store's")
	flow := newFlow(t, s)
	after, err := s.FlowsRevision(ctx)
	require.NoError(t, err)
	require.NotEqual(t, before, after)
	require.Equal(t, after, inTx(), "a publish moves the transaction's revision")
	require.NoError(t, s.SetFlowStatus(ctx, flow, store.FlowDraft, store.FlowActive, base))
	require.NotEqual(t, after, inTx(), "a status change moves it")
}

func testUpdateRef(t *testing.T, s store.Store) {
	ctx := t.Context()
	ru := s.(store.RefUpdater)
	p := newPerson(t, s)
	for name, ref := range map[string]store.PersonRef{
		"id":          {ID: p.ID},
		"external id": {ExternalID: p.ExternalID},
		"phone":       {Phone: spaced(p.Phones[0])},
		"email":       {Email: "  " + p.Emails[0]},
	} {
		var inFn uuid.UUID
		got, err := ru.UpdateRef(ctx, ref, newID(t), func(id uuid.UUID, tx store.Tx) error {
			inFn = id
			me, err := tx.Person()
			require.NoError(t, err, name)
			require.Equal(t, p.ID, me.ID, name)
			return nil
		})
		require.NoError(t, err, name)
		require.Equal(t, p.ID, got, name)
		require.Equal(t, p.ID, inFn, name)
	}

	unknown := store.PersonRef{ExternalID: uniq(t, "x")}
	called := false
	_, err := ru.UpdateRef(ctx, unknown, uuid.Nil, func(uuid.UUID, store.Tx) error { called = true; return nil })
	require.ErrorIs(t, err, store.ErrNotFound, "an unknown key without a new id")
	require.False(t, called)

	fresh := newID(t)
	got, err := ru.UpdateRef(ctx, unknown, fresh, func(id uuid.UUID, tx store.Tx) error {
		require.Equal(t, fresh, id)
		_, err := tx.Person()
		require.ErrorIs(t, err, store.ErrNotFound, "the new person is not stored yet")
		return tx.PutPerson(&store.Person{ID: id, ExternalID: unknown.ExternalID, CreatedAt: base, UpdatedAt: base})
	})
	require.NoError(t, err)
	require.Equal(t, fresh, got)
	found, err := s.FindPerson(ctx, unknown)
	require.NoError(t, err)
	require.Equal(t, fresh, found, "the person created under the new id")

	_, err = ru.UpdateRef(ctx, unknown, newID(t), func(id uuid.UUID, tx store.Tx) error {
		require.Equal(t, fresh, id, "a key once created names its person")
		return errRollback
	})
	require.ErrorIs(t, err, errRollback, "fn's error is UpdateRef's")
}

// Calls creating one new key race: every one either runs in the person
// that won or fails with ErrConflict, and one person holds the key.
func testUpdateRefCreateRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	ru := s.(store.RefUpdater)
	for range 5 {
		ref := store.PersonRef{ExternalID: uniq(t, "x")}
		ids := make([]uuid.UUID, 4)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				ids[i], errs[i] = ru.UpdateRef(ctx, ref, newID(t), func(id uuid.UUID, tx store.Tx) error {
					if _, err := tx.Person(); !errors.Is(err, store.ErrNotFound) {
						return err
					}
					return tx.PutPerson(&store.Person{ID: id, ExternalID: ref.ExternalID, CreatedAt: base, UpdatedAt: base})
				})
			})
		}
		wg.Wait()
		owner, err := s.FindPerson(ctx, ref)
		require.NoError(t, err)
		won := 0
		for i, err := range errs {
			if err != nil {
				require.ErrorIs(t, err, store.ErrConflict, "call %d", i)
				continue
			}
			won++
			require.Equal(t, owner, ids[i], "call %d ran in another person than the key's", i)
		}
		require.NotZero(t, won, "no call created the person")
	}
}

func testUpdateBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	bu := s.(store.BatchUpdater)
	flow := newFlow(t, s)
	people := []*store.Person{newPerson(t, s), newPerson(t, s), newPerson(t, s)}
	ids := make([]uuid.UUID, len(people))
	for i, p := range people {
		ids[i] = p.ID
	}
	failing := errors.New("storetest: this one fails")
	parts := make([]*store.Participant, len(people))
	seen := make([]bool, len(people))
	errs, err := bu.UpdateBatch(ctx, ids, func(i int, tx store.Tx) error {
		seen[i] = true
		me, err := tx.Person()
		require.NoError(t, err)
		require.Equal(t, ids[i], me.ID, "fn %d runs over its own person", i)
		me.Attributes = map[string]any{"i": float64(i)}
		if err := tx.PutPerson(me); err != nil {
			return err
		}
		parts[i] = newParticipant(t, me.ID, flow)
		if err := tx.PutParticipant(parts[i]); err != nil {
			return err
		}
		e := newEvent(t, "Batched", base)
		if err := tx.AppendEvent(e); err != nil {
			return err
		}
		tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1})
		got, err := tx.Participants()
		require.NoError(t, err)
		require.Len(t, got, 1, "reads see the transaction's own writes")
		if i == 1 {
			return failing
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, true}, seen)
	require.Len(t, errs, 3)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], failing)
	require.NoError(t, errs[2])
	for i, p := range people {
		var attrs map[string]any
		var got []*store.Participant
		update(t, s, p.ID, func(tx store.Tx) error {
			me, err := tx.Person()
			require.NoError(t, err)
			attrs = me.Attributes
			got, err = tx.Participants()
			return err
		})
		evs := queryEvents(t, s, p.ID, store.EventQuery{Name: "Batched"})
		if i == 1 {
			require.Empty(t, attrs, "a failed call writes nothing")
			require.Empty(t, got)
			require.Empty(t, evs)
			continue
		}
		require.Equal(t, map[string]any{"i": float64(i)}, attrs)
		require.Len(t, got, 1)
		require.Equal(t, parts[i].ID, got[0].ID)
		require.EqualValues(t, 1, got[0].Version)
		require.Len(t, evs, 1)
	}
	var n int64
	for _, c := range counters(t, s, flow) {
		n += c.N
	}
	require.EqualValues(t, 2, n, "the counts of the calls that committed")
	_, err = bu.UpdateBatch(ctx, nil, func(int, store.Tx) error { return nil })
	require.NoError(t, err, "an empty batch")
}

// A conflict of one person at commit fails the whole batch.
func testUpdateBatchConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	bu := s.(store.BatchUpdater)
	a, b, owner := newPerson(t, s), newPerson(t, s), newPerson(t, s)
	_, err := bu.UpdateBatch(ctx, []uuid.UUID{a.ID, b.ID}, func(i int, tx store.Tx) error {
		me, err := tx.Person()
		if err != nil {
			return err
		}
		me.Attributes = map[string]any{"batched": true}
		if i == 1 {
			me.Emails = append(me.Emails, owner.Emails[0]) // another person's
		}
		return tx.PutPerson(me)
	})
	require.ErrorIs(t, err, store.ErrConflict)
	for _, p := range []*store.Person{a, b} {
		update(t, s, p.ID, func(tx store.Tx) error {
			me, err := tx.Person()
			require.NoError(t, err)
			require.Empty(t, me.Attributes, "nothing of a failed batch is written")
			require.False(t, slices.Contains(me.Emails, owner.Emails[0]))
			return nil
		})
	}
}
