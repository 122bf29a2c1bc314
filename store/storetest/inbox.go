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

// Calls recorded in host transactions: store.Inbox. The suite records
// with a nil host transaction (one of the store's own); a store's own
// tests show that an item recorded in a host transaction commits and
// rolls back with it.

// inboxTests need store.Inbox.
var inboxTests = []test{
	{"InboxCompletesOnceInOrder", testInboxCompletesOnceInOrder},
	{"InboxRoutesByPerson", testInboxRoutesByPerson},
	{"InboxClaims", testInboxClaims},
	{"InboxRefusesInvalid", testInboxRefusesInvalid},
}

// inboxEraseTests need store.Inbox and store.Eraser.
var inboxEraseTests = []test{
	{"InboxErased", testInboxErased},
}

// Erasing a person removes their recorded calls, pending or done.
func testInboxErased(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	a := record(t, s, store.PersonRef{ID: p.ID}, `{"a":1}`)
	b := record(t, s, store.PersonRef{ExternalID: p.ExternalID}, `{"b":1}`)
	require.NoError(t, complete(t, s, a, `{}`, nil))
	require.NoError(t, s.(store.Eraser).Erase(t.Context(), p.ID, nil))
	for _, id := range []uuid.UUID{a.ID, b.ID} {
		_, err := inbox(s).InboxItem(t.Context(), id)
		require.ErrorIs(t, err, store.ErrNotFound)
	}
}

func inbox(s store.Store) store.Inbox { return s.(store.Inbox) }

func record(t *testing.T, s store.Store, ref store.PersonRef, call string) *store.InboxItem {
	t.Helper()
	it := &store.InboxItem{ID: newID(t), Person: ref, Call: []byte(call), RecordedAt: base}
	require.NoError(t, inbox(s).RecordInbox(t.Context(), nil, it))
	require.NotEqual(t, uuid.Nil, it.PersonID)
	return it
}

func inboxItem(t *testing.T, s store.Store, id uuid.UUID) *store.InboxItem {
	t.Helper()
	it, err := inbox(s).InboxItem(t.Context(), id)
	require.NoError(t, err)
	return it
}

// complete runs CompleteInbox in the person's transaction, with more
// (when not nil) after it, and returns Update's error.
func complete(t *testing.T, s store.Store, it *store.InboxItem, result string, more func(store.Tx) error) error {
	t.Helper()
	return s.Update(t.Context(), it.PersonID, func(tx store.Tx) error {
		ic, ok := tx.(store.InboxCompleter)
		require.True(t, ok, "the Tx of a store with an inbox is a store.InboxCompleter")
		if err := ic.CompleteInbox(it, []byte(result), base.Add(time.Second)); err != nil {
			return err
		}
		if more != nil {
			return more(tx)
		}
		return nil
	})
}

// An item completes once, in its person's transaction and with it, and
// only after the person's earlier items; a failed item is done too.
func testInboxCompletesOnceInOrder(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	ref := store.PersonRef{ID: p.ID}
	a := record(t, s, ref, `{"a":1}`)
	b := record(t, s, ref, `{"b":2}`)
	require.Equal(t, p.ID, a.PersonID, "a reference by id routes to that person")
	require.Less(t, a.Seq, b.Seq, "items of one person are ordered as recorded")

	got := inboxItem(t, s, a.ID)
	require.False(t, got.Done)
	require.JSONEq(t, `{"a":1}`, string(got.Call))
	require.Equal(t, ref, got.Person)
	requireTime(t, base, got.RecordedAt, "recorded")

	require.ErrorIs(t, complete(t, s, b, `{}`, nil), store.ErrConflict, "b waits for a")
	boom := errors.New("boom")
	require.ErrorIs(t, complete(t, s, a, `{}`, func(store.Tx) error { return boom }), boom)
	require.False(t, inboxItem(t, s, a.ID).Done, "a transaction that rolled back left the item pending")

	require.NoError(t, complete(t, s, a, `{"ran":true}`, func(tx store.Tx) error {
		return tx.AddEvent(&store.Event{ID: "ev-" + a.ID.String(), Category: store.External, Name: "Paid", Time: base})
	}))
	got = inboxItem(t, s, a.ID)
	require.True(t, got.Done)
	require.JSONEq(t, `{"ran":true}`, string(got.Result))
	requireTime(t, base.Add(time.Second), got.DoneAt, "done")
	require.ErrorIs(t, complete(t, s, a, `{}`, nil), store.ErrNotFound, "an item completes once")

	require.NoError(t, inbox(s).FailInbox(t.Context(), b, []byte(`{"err":"refused"}`), base))
	require.True(t, inboxItem(t, s, b.ID).Done)
	require.ErrorIs(t, inbox(s).FailInbox(t.Context(), b, nil, base), store.ErrNotFound)
	require.ErrorIs(t, complete(t, s, b, `{}`, nil), store.ErrNotFound)

	// Recording an item again is a no-op.
	again := &store.InboxItem{ID: a.ID, Person: ref, Call: []byte(`{"other":1}`), RecordedAt: base}
	require.NoError(t, inbox(s).RecordInbox(t.Context(), nil, again))
	got = inboxItem(t, s, a.ID)
	require.True(t, got.Done)
	require.JSONEq(t, `{"a":1}`, string(got.Call))
	_, err := inbox(s).InboxItem(t.Context(), newID(t))
	require.ErrorIs(t, err, store.ErrNotFound)
}

// A reference by key routes to the person holding the key, or to one id
// for every item of an unknown key.
func testInboxRoutesByPerson(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	require.Equal(t, p.ID, record(t, s, store.PersonRef{ExternalID: p.ExternalID}, `{}`).PersonID)
	require.Equal(t, p.ID, record(t, s, store.PersonRef{Email: p.Emails[0]}, `{}`).PersonID)
	unknown := store.PersonRef{ExternalID: uniq(t, "nobody")}
	x, y := record(t, s, unknown, `{}`), record(t, s, unknown, `{}`)
	require.Equal(t, x.PersonID, y.PersonID, "an unknown key routes to one id")
	require.NotEqual(t, record(t, s, store.PersonRef{ExternalID: uniq(t, "other")}, `{}`).PersonID, x.PersonID)
}

// A claimed item is not handed out again within its lease unless
// released; after the lease it is; a person's later items come after
// the earlier ones.
func testInboxClaims(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	ref := store.PersonRef{ID: p.ID}
	a, b := record(t, s, ref, `{}`), record(t, s, ref, `{}`)
	mine := func(items []*store.InboxItem) []uuid.UUID {
		var out []uuid.UUID
		for _, it := range items {
			if it.PersonID == p.ID {
				out = append(out, it.ID)
			}
		}
		return out
	}
	claim := func(at time.Time) []uuid.UUID {
		items, err := inbox(s).ClaimInbox(ctx, at, 10000, time.Minute)
		require.NoError(t, err)
		return mine(items)
	}
	var got []uuid.UUID
	for range 50 { // a store may hand its buckets out shortly after the first claim
		if got = claim(base); len(got) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, []uuid.UUID{a.ID, b.ID}, got, "in order")
	require.Empty(t, claim(base), "claimed within the lease")
	require.NoError(t, inbox(s).ReleaseInbox(ctx, []*store.InboxItem{a, b}))
	require.Equal(t, []uuid.UUID{a.ID, b.ID}, claim(base), "released")
	require.Equal(t, []uuid.UUID{a.ID, b.ID}, claim(base.Add(2*time.Minute)), "after the lease")
	require.NoError(t, complete(t, s, a, `{}`, nil))
	require.Equal(t, []uuid.UUID{b.ID}, claim(base.Add(4*time.Minute)), "a done item is not claimed")
	n, err := inbox(s).PruneInbox(ctx, base.Add(2*time.Second))
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 1)
	_, err = inbox(s).InboxItem(ctx, a.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "pruned")
	require.False(t, slices.Contains(claim(base.Add(6*time.Minute)), a.ID))
}

// Items without an id, a call or a person are refused.
func testInboxRefusesInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	ref := store.PersonRef{ExternalID: uniq(t, "x")}
	for _, it := range []*store.InboxItem{
		{Person: ref, Call: []byte(`{}`)},
		{ID: newID(t), Person: ref},
		{ID: newID(t), Call: []byte(`{}`)},
	} {
		require.ErrorIs(t, inbox(s).RecordInbox(ctx, nil, it), store.ErrInvalid)
	}
}
