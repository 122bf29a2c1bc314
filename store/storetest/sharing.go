package storetest

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// Records lent by store.SharingTx: a caller that changes them only by
// replacing their parts (and appending to a journal) changes nothing
// stored unless it puts them and the transaction commits; the public
// reads still return copies.

var sharingTests = []test{
	{"SharedReadsMatchCopies", testSharedReadsMatchCopies},
	{"SharedChangesRollBack", testSharedChangesRollBack},
	{"SharedPutCommits", testSharedPutCommits},
	{"SharedPutChecksVersion", testSharedPutChecksVersion},
	{"SharedPutPerson", testSharedPutPerson},
}

// sharing returns tx as a store.SharingTx.
func sharing(t *testing.T, tx store.Tx) store.SharingTx {
	t.Helper()
	sh, ok := tx.(store.SharingTx)
	require.True(t, ok, "the store's Tx (%T) implements store.SharingTx", tx)
	return sh
}

// sharedFixture stores a person with a participant whose every nested
// value is set, and returns both as stored.
func sharedFixture(t *testing.T, s store.Store) (*store.Person, *store.Participant) {
	p := copiedPerson(t, s)
	part := copiedParticipant(t, p.ID, newFlow(t, s))
	update(t, s, p.ID, func(tx store.Tx) error {
		require.NoError(t, tx.PutPerson(p))
		return tx.PutParticipant(part)
	})
	return p, part
}

// replaceParts changes q the way a SharingTx caller may: its fields and
// its Vars map, nested values replaced, a step appended to its journal.
func replaceParts(q *store.Participant) {
	q.Element = "moved"
	q.Status = store.Completed
	q.Vars["n"] = 2.0
	q.Vars["added"] = "new"
	delete(q.Vars, "list")
	q.Wait = nil
	q.Entry = nil
	q.Journal = append(q.Journal, store.Step{Seq: 2, At: base.Add(time.Minute), Element: "moved", Reason: "moved on"})
	q.Operations = []string{"cancel-1"}
	q.Goals = []string{"bought"}
}

func testSharedReadsMatchCopies(t *testing.T, s store.Store) {
	p, part := sharedFixture(t, s)
	update(t, s, p.ID, func(tx store.Tx) error {
		sh := sharing(t, tx)
		got, err := sh.SharedPerson()
		require.NoError(t, err)
		want, err := tx.Person()
		require.NoError(t, err)
		require.Equal(t, normPerson(want), normPerson(got.Clone()), "SharedPerson reads as Person does")
		parts, err := sh.SharedParticipants()
		require.NoError(t, err)
		copies, err := tx.Participants()
		require.NoError(t, err)
		require.Len(t, parts, 1)
		require.Equal(t, part.ID, parts[0].ID)
		require.Equal(t, normParticipant(copies[0]), normParticipant(parts[0].Clone()), "SharedParticipants reads as Participants does")
		return nil
	})
}

func testSharedChangesRollBack(t *testing.T, s store.Store) {
	p, part := sharedFixture(t, s)
	want := normParticipant(participant(t, s, part.ID))
	err := s.Update(t.Context(), p.ID, func(tx store.Tx) error {
		sh := sharing(t, tx)
		parts, err := sh.SharedParticipants()
		require.NoError(t, err)
		replaceParts(parts[0])
		// Another read in the transaction lends the stored participant
		// again, not the changed one, which was not put.
		again, err := sh.SharedParticipants()
		require.NoError(t, err)
		require.Equal(t, want, normParticipant(again[0].Clone()), "a shared participant changed but not put")
		require.NoError(t, sh.PutSharedParticipant(parts[0]))
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	require.Equal(t, want, normParticipant(participant(t, s, part.ID)), "a shared participant put in a transaction that rolled back")

	// The next transaction appends to the journal where the rolled-back
	// one did, and sees none of it.
	update(t, s, p.ID, func(tx store.Tx) error {
		parts, err := sharing(t, tx).SharedParticipants()
		require.NoError(t, err)
		require.Len(t, parts[0].Journal, 1)
		return nil
	})
}

func testSharedPutCommits(t *testing.T, s store.Store) {
	p, part := sharedFixture(t, s)
	var put *store.Participant
	update(t, s, p.ID, func(tx store.Tx) error {
		sh := sharing(t, tx)
		parts, err := sh.SharedParticipants()
		require.NoError(t, err)
		replaceParts(parts[0])
		require.NoError(t, sh.PutSharedParticipant(parts[0]))
		require.Equal(t, part.Version+1, parts[0].Version, "PutSharedParticipant updates the version")
		reread, err := tx.Participants()
		require.NoError(t, err)
		require.Equal(t, "moved", reread[0].Element, "reads see a shared put")
		put = parts[0].Clone()
		return nil
	})
	want := normParticipant(put)
	require.Equal(t, want, normParticipant(participant(t, s, part.ID)))
	require.Len(t, want.Journal, 2)
	require.Equal(t, map[string]any{"n": 2.0, "obj": want.Vars["obj"], "added": "new"}, want.Vars)

	// The public reads hand out copies of what was put shared.
	got := participant(t, s, part.ID)
	got.Journal[0].Reason = "mutated"
	got.Vars["obj"].(map[string]any)["k"] = "mutated"
	require.Equal(t, want, normParticipant(participant(t, s, part.ID)), "Store.Participant returns a copy of a shared put")

	// A new participant put shared is stored too.
	fresh := newParticipant(t, p.ID, part.FlowID)
	fresh.Vars = map[string]any{"x": "y"}
	update(t, s, p.ID, func(tx store.Tx) error { return sharing(t, tx).PutSharedParticipant(fresh) })
	require.Equal(t, int64(1), fresh.Version)
	require.Equal(t, map[string]any{"x": "y"}, participant(t, s, fresh.ID).Vars)
}

func testSharedPutChecksVersion(t *testing.T, s store.Store) {
	p, part := sharedFixture(t, s)
	err := s.Update(t.Context(), p.ID, func(tx store.Tx) error {
		parts, err := sharing(t, tx).SharedParticipants()
		require.NoError(t, err)
		parts[0].Version++
		return sharing(t, tx).PutSharedParticipant(parts[0])
	})
	require.ErrorIs(t, err, store.ErrConflict)
	dup := newParticipant(t, p.ID, part.FlowID)
	dup.ID = part.ID
	err = s.Update(t.Context(), p.ID, func(tx store.Tx) error { return sharing(t, tx).PutSharedParticipant(dup) })
	require.ErrorIs(t, err, store.ErrDuplicate)
	bad := newParticipant(t, p.ID, "")
	err = s.Update(t.Context(), p.ID, func(tx store.Tx) error { return sharing(t, tx).PutSharedParticipant(bad) })
	require.ErrorIs(t, err, store.ErrInvalid)
}

// A person put shared is stored as put, read by copies, and refused in
// another person's transaction.
func testSharedPutPerson(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	changed := p.Clone()
	changed.Attributes = map[string]any{"tier": "gold", "obj": map[string]any{"k": "v"}}
	changed.Tags = []string{"vip"}
	changed.UpdatedAt = base.Add(time.Hour)
	update(t, s, p.ID, func(tx store.Tx) error {
		require.NoError(t, sharing(t, tx).PutSharedPerson(changed))
		got, err := tx.Person()
		require.NoError(t, err)
		require.Equal(t, normPerson(changed.Clone()), normPerson(got), "reads see a shared put")
		got.Attributes["tier"] = "mutated" // a read is the caller's copy
		return nil
	})
	want := normPerson(changed.Clone())
	got, err := txPerson(t, s, p.ID)
	require.NoError(t, err)
	require.Equal(t, want, normPerson(got))
	got.Attributes["obj"].(map[string]any)["k"] = "mutated"
	got, err = txPerson(t, s, p.ID)
	require.NoError(t, err)
	require.Equal(t, want, normPerson(got), "reads of a shared put are copies")

	other := newPerson(t, s)
	err = s.Update(t.Context(), other.ID, func(tx store.Tx) error { return sharing(t, tx).PutSharedPerson(changed) })
	require.Error(t, err, "a person put in another person's transaction")
}
