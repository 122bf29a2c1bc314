package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// Events

var eventTests = []test{
	{"DuplicateID", testEventDuplicateID},
	{"EventsAreCopies", testEventsAreCopies},
	{"DuplicateIDInLongHistory", testEventDuplicateIDInLongHistory},
	{"Query", testEventQuery},
	{"Pages", testEventPages},
	{"InsertedByTime", testEventsInsertedByTime},
	{"RoundTrip", testEventRoundTrip},
}

func testEventDuplicateID(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, q := newPerson(t, s), newPerson(t, s)
	e := newEvent(t, "Clicked", base)
	e.Properties = map[string]any{"n": 1.0}
	later := newEvent(t, "Later", base.Add(time.Minute))
	update(t, s, p.ID, func(tx store.Tx) error {
		require.NoError(t, tx.AddEvent(e))
		again := *e
		again.Name = "Again"
		require.ErrorIs(t, tx.AddEvent(&again), store.ErrDuplicate, "in the same transaction")
		// The transaction goes on.
		return tx.AddEvent(later)
	})
	again := *e
	again.Name = "Again"
	again.Time = base.Add(time.Hour)
	err := s.Update(ctx, p.ID, func(tx store.Tx) error {
		err := tx.AddEvent(&again)
		require.ErrorIs(t, err, store.ErrDuplicate, "in a later transaction")
		return err
	})
	require.ErrorIs(t, err, store.ErrDuplicate)

	evs := queryEvents(t, s, p.ID, store.EventQuery{})
	require.Equal(t, []string{e.ID, later.ID}, eventIDs(evs))
	require.Equal(t, "Clicked", evs[0].Name, "a duplicate does not replace the original")
	require.Equal(t, 1.0, evs[0].Properties["n"])

	update(t, s, q.ID, func(tx store.Tx) error {
		return tx.AddEvent(&again)
	}) // IDs are unique per person
	require.Equal(t, []string{e.ID}, eventIDs(queryEvents(t, s, q.ID, store.EventQuery{})))
}

func testEventDuplicateIDInLongHistory(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	var ids []string
	update(t, s, p.ID, func(tx store.Tx) error {
		for i := range 20 {
			e := newEvent(t, "Bulk", base.Add(time.Duration(i)*time.Second))
			ids = append(ids, e.ID)
			require.NoError(t, tx.AddEvent(e))
		}
		return nil
	})
	for i := 20; i < 40; i++ {
		e := newEvent(t, "Single", base.Add(time.Duration(i)*time.Second))
		ids = append(ids, e.ID)
		update(t, s, p.ID, func(tx store.Tx) error { return tx.AddEvent(e) })
	}
	for i, id := range ids {
		err := s.Update(ctx, p.ID, func(tx store.Tx) error {
			return tx.AddEvent(&store.Event{ID: id, Category: store.External, Name: "Again", Time: base.Add(time.Hour)})
		})
		require.ErrorIs(t, err, store.ErrDuplicate, "event %d of %d", i, len(ids))
	}

	// A long pending batch is deduplicated too.
	update(t, s, p.ID, func(tx store.Tx) error {
		var batch []string
		for i := range 40 {
			e := newEvent(t, "Batch", base.Add(time.Hour+time.Duration(i)*time.Second))
			batch = append(batch, e.ID)
			require.NoError(t, tx.AddEvent(e))
		}
		for _, i := range []int{0, 20, 39} {
			require.ErrorIs(t, tx.AddEvent(&store.Event{ID: batch[i], Category: store.External, Name: "Again", Time: base}),
				store.ErrDuplicate, "pending event %d", i)
		}
		require.ErrorIs(t, tx.AddEvent(&store.Event{ID: ids[0], Category: store.External, Name: "Again", Time: base}),
			store.ErrDuplicate, "stored event 0")
		return nil
	})
	require.Len(t, queryEvents(t, s, p.ID, store.EventQuery{}), 80)
}

func testEventQuery(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	e1 := newEvent(t, "Viewed", at(0))
	e2 := newEvent(t, "Clicked", at(1))
	e3 := newEvent(t, store.MessageSent, at(2))
	e3.Category = store.Channel
	e4 := newEvent(t, "Viewed", at(3))
	e5 := newEvent(t, store.AttributeChanged, at(4))
	e5.Category = store.People
	all := []*store.Event{e1, e2, e3, e4, e5}
	ids := func(es ...*store.Event) []string { return eventIDs(es) }

	cases := []struct {
		name string
		q    store.EventQuery
		want []string
	}{
		{"all", store.EventQuery{}, ids(e1, e2, e3, e4, e5)},
		{"name", store.EventQuery{Name: "Viewed"}, ids(e1, e4)},
		{"category", store.EventQuery{Category: store.External}, ids(e1, e2, e4)},
		{"name and category", store.EventQuery{Name: "Viewed", Category: store.Channel}, nil},
		{"unknown name", store.EventQuery{Name: "Nope"}, nil},
		{"since is inclusive", store.EventQuery{Since: at(1)}, ids(e2, e3, e4, e5)},
		{"until is exclusive", store.EventQuery{Until: at(3)}, ids(e1, e2, e3)},
		{"since and until", store.EventQuery{Since: at(1), Until: at(3)}, ids(e2, e3)},
		{"empty window", store.EventQuery{Since: at(2), Until: at(2)}, nil},
		{"between events", store.EventQuery{Since: at(1).Add(time.Minute), Until: at(2)}, nil},
		{"limit is newest first", store.EventQuery{Limit: 2}, ids(e5, e4)},
		{"limit above count", store.EventQuery{Limit: 10}, ids(e5, e4, e3, e2, e1)},
		{"name and limit", store.EventQuery{Name: "Viewed", Limit: 1}, ids(e4)},
		{"since and limit", store.EventQuery{Since: at(1), Limit: 2}, ids(e5, e4)},
		{"until and limit", store.EventQuery{Until: at(3), Limit: 2}, ids(e3, e2)},
		{"category, window and limit", store.EventQuery{Category: store.External, Since: at(1), Until: at(4), Limit: 5}, ids(e4, e2)},
	}
	run := func(tx store.Tx, when string) {
		for _, c := range cases {
			got, err := tx.Events(&c.q)
			require.NoError(t, err)
			require.Equal(t, c.want, eventIDs(got), "%s: %s", when, c.name)
			for _, e := range got {
				require.True(t, c.q.Matches(e), "%s: %s: event %s", when, c.name, e.ID)
			}
		}
	}

	err := s.Update(ctx, p.ID, func(tx store.Tx) error {
		for _, e := range all {
			require.NoError(t, tx.AddEvent(e))
		}
		run(tx, "pending")
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	update(t, s, p.ID, func(tx store.Tx) error {
		for _, e := range []*store.Event{e4, e1, e5} {
			require.NoError(t, tx.AddEvent(e))
		}
		return nil
	})
	err = s.Update(ctx, p.ID, func(tx store.Tx) error {
		require.NoError(t, tx.AddEvent(e3))
		require.NoError(t, tx.AddEvent(e2))
		run(tx, "stored and pending")
		return nil
	})
	require.NoError(t, err)
	update(t, s, p.ID, func(tx store.Tx) error {
		run(tx, "stored")
		return nil
	})
}

func testEventsInsertedByTime(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	e := make([]*store.Event, 6)
	for i := range e {
		e[i] = newEvent(t, "Seen", at(i*10))
	}
	add := func(es ...*store.Event) {
		update(t, s, p.ID, func(tx store.Tx) error {
			for _, x := range es {
				if err := tx.AddEvent(x); err != nil {
					return err
				}
			}
			return nil
		})
	}
	add(e[3])
	add(e[1])
	add(e[2], e[0])
	add(e[5])
	add(e[4])
	require.Equal(t, eventIDs(e), eventIDs(queryEvents(t, s, p.ID, store.EventQuery{})))
	require.Equal(t, eventIDs([]*store.Event{e[5], e[4], e[3]}), eventIDs(queryEvents(t, s, p.ID, store.EventQuery{Limit: 3})))
	require.Equal(t, eventIDs(e[1:3]), eventIDs(queryEvents(t, s, p.ID, store.EventQuery{Since: at(5), Until: at(25)})))
}

func testEventRoundTrip(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	e := &store.Event{
		ID:       "evt-" + newID(t).String(),
		PersonID: p.ID,
		Category: store.Channel,
		Name:     store.MessageClicked,
		Properties: map[string]any{
			"messageId": "m-1",
			"channel":   "email",
			"n":         2.0,
			"ok":        true,
			"links":     []any{"https://example.com/a", 1.0},
			"meta":      map[string]any{"k": "v"},
		},
		Time: base.Add(1500 * time.Millisecond),
	}
	update(t, s, p.ID, func(tx store.Tx) error { return tx.AddEvent(e) })
	got := queryEvents(t, s, p.ID, store.EventQuery{})
	require.Len(t, got, 1)
	g := normEvent(got[0])
	require.Equal(t, e.ID, g.ID)
	require.Equal(t, e.PersonID, g.PersonID)
	require.Equal(t, e.Category, g.Category)
	require.Equal(t, e.Name, g.Name)
	require.Equal(t, e.Properties, g.Properties)
	require.Equal(t, e.Time, g.Time)
}

// testEventPages lists a history newest first, a page at a time, with
// Until and UntilID after each page's last event: every page holds at
// most its limit, however many events share a time, and the pages hold
// each event once, stored or pending.
func testEventPages(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	var all []*store.Event // in the history's order
	for i := range 3 {
		all = append(all, newEvent(t, "Early", at(0).Add(time.Duration(i)*time.Minute)))
	}
	for range 7 {
		all = append(all, newEvent(t, "Tied", at(1)))
	}
	all = append(all, newEvent(t, "Late", at(2)))
	newestFirst := func(es []*store.Event) []string {
		ids := eventIDs(es)
		slices.Reverse(ids)
		return ids
	}
	// Stored: the first tied events in two updates, the rest pending.
	update(t, s, p.ID, func(tx store.Tx) error {
		for _, e := range all[:5] {
			require.NoError(t, tx.AddEvent(e))
		}
		return nil
	})
	update(t, s, p.ID, func(tx store.Tx) error {
		for _, e := range all[5:7] {
			require.NoError(t, tx.AddEvent(e))
		}
		return nil
	})
	pages := func(tx store.Tx, when string, q store.EventQuery) []string {
		var got []string
		for range len(all) + 1 {
			page, err := tx.Events(&q)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), q.Limit, "%s: limit %d", when, q.Limit)
			got = append(got, eventIDs(page)...)
			if len(page) < q.Limit {
				break
			}
			last := page[len(page)-1]
			q.Until, q.UntilID = last.Time, last.ID
		}
		return got
	}
	err := s.Update(ctx, p.ID, func(tx store.Tx) error {
		for _, e := range all[7:] {
			require.NoError(t, tx.AddEvent(e))
		}
		for limit := 1; limit <= 4; limit++ {
			require.Equal(t, newestFirst(all), pages(tx, "stored and pending", store.EventQuery{Limit: limit}), "limit %d", limit)
			require.Equal(t, newestFirst(all[3:10]), pages(tx, "stored and pending", store.EventQuery{Name: "Tied", Limit: limit}), "tied, limit %d", limit)
		}
		return nil
	})
	require.NoError(t, err)
	update(t, s, p.ID, func(tx store.Tx) error {
		for limit := 1; limit <= 4; limit++ {
			require.Equal(t, newestFirst(all), pages(tx, "stored", store.EventQuery{Limit: limit}), "limit %d", limit)
		}
		// The cursor is a place in the whole history, whatever the query's
		// name: the tied events before the fifth.
		got, err := tx.Events(&store.EventQuery{Name: "Tied", Until: at(1), UntilID: all[7].ID, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, newestFirst(all[3:7]), eventIDs(got))
		got, err = tx.Events(&store.EventQuery{Until: at(1), UntilID: all[7].ID})
		require.NoError(t, err)
		require.Equal(t, eventIDs(all[:7]), eventIDs(got), "oldest first without a limit")
		// An ID the history does not hold at that time selects none of it.
		for _, id := range []string{"no-such-event", all[10].ID} {
			got, err = tx.Events(&store.EventQuery{Until: at(1), UntilID: id, Limit: 10})
			require.NoError(t, err)
			require.Equal(t, newestFirst(all[:3]), eventIDs(got), "UntilID %q", id)
		}
		return nil
	})
}
