package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Participants

var participantTests = []test{
	{"Versioning", testParticipantVersioning},
	{"ConflictLeavesTxUsable", testParticipantConflictLeavesTxUsable},
	{"DuplicateIDOfAnotherPerson", testParticipantDuplicateIDOfAnotherPerson},
	{"DuplicateIDOfAnOpenTransaction", testParticipantDuplicateIDOfOpenTransaction},
	{"ParticipantOfAnotherPerson", testParticipantOfAnotherPerson},
	{"RoundTrip", testParticipantRoundTrip},
	{"CopiedInAndOut", testParticipantCopiedInAndOut},
	{"NotFound", testParticipantNotFound},
	{"TxParticipantsInEveryFlow", testTxParticipantsInEveryFlow},
	{"Query", testParticipantsQuery},
	{"QueryVersionReasonAndOrder", testParticipantsQueryVersionReasonOrder},
}

var countTests = []test{
	{"Count", testCountParticipants},
}

func testParticipantVersioning(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	flow := newFlow(t, s)
	a := newParticipant(t, p.ID, flow)
	require.Zero(t, a.Version)
	put(t, s, a)
	require.Equal(t, int64(1), a.Version, "PutParticipant updates p.Version")
	require.Equal(t, int64(1), participant(t, s, a.ID).Version)

	a.Element = "b"
	put(t, s, a)
	require.Equal(t, int64(2), a.Version)
	got := participant(t, s, a.ID)
	require.Equal(t, int64(2), got.Version)
	require.Equal(t, "b", got.Element)

	for _, v := range []int64{1, 3} {
		stale := a.Clone()
		stale.Version = v
		stale.Element = "stale"
		err := s.Update(ctx, p.ID, func(tx store.Tx) error {
			err := tx.PutParticipant(stale)
			require.ErrorIs(t, err, store.ErrConflict, "version %d, stored 2", v)
			return err
		})
		require.ErrorIs(t, err, store.ErrConflict)
	}

	dup := newParticipant(t, p.ID, flow)
	dup.ID = a.ID
	dup.Element = "dup"
	err := s.Update(ctx, p.ID, func(tx store.Tx) error {
		err := tx.PutParticipant(dup)
		require.ErrorIs(t, err, store.ErrDuplicate, "a new participant with an existing ID")
		return err
	})
	require.ErrorIs(t, err, store.ErrDuplicate)

	got = participant(t, s, a.ID)
	require.Equal(t, int64(2), got.Version, "refused writes change nothing")
	require.Equal(t, "b", got.Element)

	// A participant that does not exist has no version to match.
	ghost := newParticipant(t, p.ID, flow)
	ghost.Version = 3
	err = s.Update(ctx, p.ID, func(tx store.Tx) error { return tx.PutParticipant(ghost) })
	require.True(t, errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound),
		"an unknown participant with version 3: want ErrConflict or ErrNotFound, got %v", err)
	_, err = s.Participant(ctx, ghost.ID)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Several puts in one transaction each count.
	b := newParticipant(t, p.ID, flow)
	update(t, s, p.ID, func(tx store.Tx) error {
		require.NoError(t, tx.PutParticipant(b))
		b.Element = "x"
		require.NoError(t, tx.PutParticipant(b))
		stale := b.Clone()
		stale.Version = 1
		require.ErrorIs(t, tx.PutParticipant(stale), store.ErrConflict, "stale against the pending version")
		return nil
	})
	require.Equal(t, int64(2), b.Version)
	got = participant(t, s, b.ID)
	require.Equal(t, int64(2), got.Version)
	require.Equal(t, "x", got.Element)
}

// A refused write is an answer, not a broken transaction: when fn goes on
// and returns nil, its other writes take effect.
func testParticipantConflictLeavesTxUsable(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	flow := newFlow(t, s)
	a := newParticipant(t, p.ID, flow)
	put(t, s, a)
	b := newParticipant(t, p.ID, flow)
	ev := newEvent(t, "After", base)
	update(t, s, p.ID, func(tx store.Tx) error {
		stale := a.Clone()
		stale.Version = 7
		require.ErrorIs(t, tx.PutParticipant(stale), store.ErrConflict)
		dup := newParticipant(t, p.ID, flow)
		dup.ID = a.ID
		require.ErrorIs(t, tx.PutParticipant(dup), store.ErrDuplicate)
		require.NoError(t, tx.PutParticipant(b))
		require.NoError(t, tx.AddEvent(ev))
		return nil
	})
	require.Equal(t, int64(1), participant(t, s, a.ID).Version)
	require.Equal(t, int64(1), participant(t, s, b.ID).Version)
	require.Equal(t, []string{ev.ID}, eventIDs(queryEvents(t, s, p.ID, store.EventQuery{})))
}

func testParticipantDuplicateIDOfAnotherPerson(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newPerson(t, s), newPerson(t, s)
	flow := newFlow(t, s)
	pa := newParticipant(t, a.ID, flow)
	put(t, s, pa)
	pb := newParticipant(t, b.ID, flow)
	pb.ID = pa.ID
	err := s.Update(ctx, b.ID, func(tx store.Tx) error { return tx.PutParticipant(pb) })
	require.ErrorIs(t, err, store.ErrDuplicate, "participant IDs are unique across people")

	got := participant(t, s, pa.ID)
	require.Equal(t, a.ID, got.PersonID)
	require.Equal(t, []uuid.UUID{pa.ID}, participantIDs(participants(t, s, &store.ParticipantQuery{FlowID: flow})))
	update(t, s, b.ID, func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Empty(t, parts)
		return nil
	})
}

func testParticipantOfAnotherPerson(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newPerson(t, s), newPerson(t, s)
	flow := newFlow(t, s)
	p := newParticipant(t, b.ID, flow)
	err := s.Update(ctx, a.ID, func(tx store.Tx) error { return tx.PutParticipant(p) })
	require.Error(t, err, "a participant of b in a's transaction")
	_, err = s.Participant(ctx, p.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testParticipantRoundTrip(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	flow := newFlow(t, s)
	entry := newEvent(t, "OrderStarted", base)
	entry.Person = store.PersonRef{Email: p.Emails[0]}
	entry.PersonID = p.ID
	entry.Properties = map[string]any{"cartId": "c1", "total": 12.5, "gift": false}
	part := &store.Participant{
		ID:          newID(t),
		PersonID:    p.ID,
		FlowID:      flow,
		FlowVersion: 1,
		Status:      store.Waiting,
		Element:     "wait-order",
		Vars: map[string]any{
			"cartId": "c1",
			"count":  3.0,
			"ok":     true,
			"items":  []any{"a", 1.0, map[string]any{"sku": "x"}},
			"meta":   map[string]any{"nested": map[string]any{"k": "v"}},
		},
		Entry:          entry,
		EnteredAt:      base,
		ArrivedAt:      base.Add(time.Minute),
		LastActivityAt: base.Add(time.Minute),
		Seq:            3,
		Wait: &store.Wait{
			Until:    base.Add(4 * time.Hour),
			Deadline: base.Add(5 * time.Hour),
			Events:   []string{"OrderCompleted", "OrderCanceled"},
			State:    map[string]any{"matched": 0.0},
		},
		Journal: []store.Step{
			{Seq: 1, At: base, Element: "start", Branch: "next", Reason: "entered by event"},
			{Seq: 2, At: base.Add(time.Minute), Element: "wait-order", Reason: "waiting for OrderCompleted"},
		},
	}
	put(t, s, part)
	check := func() {
		t.Helper()
		require.Equal(t, part, normParticipant(participant(t, s, part.ID)), "Store.Participant")
		list := participants(t, s, &store.ParticipantQuery{FlowID: flow})
		require.Len(t, list, 1)
		require.Equal(t, part, normParticipant(list[0]), "Store.Participants")
		update(t, s, p.ID, func(tx store.Tx) error {
			parts, err := tx.Participants()
			require.NoError(t, err)
			require.Len(t, parts, 1)
			require.Equal(t, part, normParticipant(parts[0]), "Tx.Participants")
			return nil
		})
	}
	check()

	part.Wait.Parked = true
	put(t, s, part)
	check()

	part.Status = store.Failed
	part.Wait = nil
	part.ExitedAt = base.Add(2 * time.Hour)
	part.Reason = "call API: 500 Internal Server Error"
	part.Seq = 4
	put(t, s, part)
	check()
}

// testParticipantCopiedInAndOut checks that a participant put and one
// read are copies: changing either in place, nested values included,
// never changes what the store holds.
func testParticipantCopiedInAndOut(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	flow := newFlow(t, s)
	held := newEvent(t, "Viewed", base)
	held.PersonID = p.ID
	held.Properties = map[string]any{"page": "home"}
	fresh := func(id uuid.UUID) *store.Participant {
		return &store.Participant{
			ID: id, PersonID: p.ID, FlowID: flow, FlowVersion: 1, Status: store.InFlight, Element: "call",
			Vars:      map[string]any{"meta": map[string]any{"k": "v"}, "items": []any{"a"}},
			EnteredAt: base, Seq: 2,
			Journal: []store.Step{{Seq: 1, At: base, Element: "start", Reason: "entered"}},
			Goals:   []string{"purchase"},
			Effect:  &store.Effect{Seq: 2, Attempt: 1, Started: base, Held: []*store.Event{held}},
		}
	}
	part := fresh(newID(t))
	want := fresh(part.ID)
	put(t, s, part)
	want.Version = part.Version

	// The caller changes what it put.
	part.Vars["meta"].(map[string]any)["k"] = "changed"
	part.Vars["items"].([]any)[0] = "changed"
	part.Journal[0].Reason = "changed"
	part.Goals[0] = "changed"
	part.Effect.Attempt = 9
	part.Effect.Held[0] = nil
	require.Equal(t, want, normParticipant(participant(t, s, part.ID)), "changing what was put")

	// The caller changes what it read.
	got := participant(t, s, part.ID)
	got.Vars["meta"].(map[string]any)["k"] = "changed"
	got.Journal[0].Reason = "changed"
	got.Goals[0] = "changed"
	got.Effect.Attempt = 9
	got.Effect.Held[0].Name = "changed"
	require.Equal(t, want, normParticipant(participant(t, s, part.ID)), "changing what was read")
	update(t, s, p.ID, func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Len(t, parts, 1)
		parts[0].Goals[0] = "changed"
		parts[0].Effect.Held[0].Name = "changed"
		return nil
	})
	require.Equal(t, want, normParticipant(participant(t, s, part.ID)), "changing what a transaction read")
}

func testParticipantNotFound(t *testing.T, s store.Store) {
	_, err := s.Participant(t.Context(), newID(t))
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testTxParticipantsInEveryFlow(t *testing.T, s store.Store) {
	p, other := newPerson(t, s), newPerson(t, s)
	f1, f2 := newFlow(t, s), newFlow(t, s)
	a, b := newParticipant(t, p.ID, f1), newParticipant(t, p.ID, f2)
	put(t, s, a)
	put(t, s, b)
	put(t, s, newParticipant(t, other.ID, f1))
	update(t, s, p.ID, func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.ElementsMatch(t, []uuid.UUID{a.ID, b.ID}, participantIDs(parts))
		return nil
	})
}

func testParticipantsQuery(t *testing.T, s store.Store) {
	flow, other := newFlow(t, s), newFlow(t, s)
	people := []*store.Person{newPerson(t, s), newPerson(t, s), newPerson(t, s)}
	statuses := []store.Status{store.Active, store.Waiting, store.Completed, store.Failed, store.Waiting, store.Canceled}
	parts := make([]*store.Participant, len(statuses))
	for i, st := range statuses {
		parts[i] = newParticipant(t, people[i%3].ID, flow)
		parts[i].Status = st
		if i%2 == 1 {
			parts[i].Element = "later"
		}
	}
	for _, i := range []int{3, 0, 5, 1, 4, 2} { // not in ID order
		put(t, s, parts[i])
	}
	for _, p := range people {
		put(t, s, newParticipant(t, p.ID, other))
	}
	slices.SortFunc(parts, func(a, b *store.Participant) int { return compareIDs(a.ID, b.ID) })
	all := participantIDs(parts)
	where := func(keep func(*store.Participant) bool) []uuid.UUID {
		var out []*store.Participant
		for _, p := range parts {
			if keep(p) {
				out = append(out, p)
			}
		}
		return participantIDs(out)
	}
	query := func(q store.ParticipantQuery) []uuid.UUID {
		t.Helper()
		q.FlowID = flow
		got := participants(t, s, &q)
		for _, p := range got {
			require.Equal(t, flow, p.FlowID)
		}
		return participantIDs(got)
	}

	require.Equal(t, all, query(store.ParticipantQuery{}), "in ID order")
	require.Equal(t, where(func(p *store.Participant) bool { return p.Status == store.Waiting }),
		query(store.ParticipantQuery{Statuses: []store.Status{store.Waiting}}))
	require.Equal(t, where(func(p *store.Participant) bool { return p.Status == store.Active || p.Status == store.Completed }),
		query(store.ParticipantQuery{Statuses: []store.Status{store.Completed, store.Active}}))
	require.Equal(t, all[:4], query(store.ParticipantQuery{Limit: 4}))
	require.Equal(t, all[2:], query(store.ParticipantQuery{After: all[1]}), "After is exclusive")
	require.Equal(t, all[2:4], query(store.ParticipantQuery{After: all[1], Limit: 2}))
	require.Empty(t, query(store.ParticipantQuery{After: all[5]}))

	var paged []uuid.UUID
	after := uuid.Nil
	for range len(all) + 1 {
		page := query(store.ParticipantQuery{After: after, Limit: 4})
		if len(page) == 0 {
			break
		}
		require.LessOrEqual(t, len(page), 4)
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	require.Equal(t, all, paged, "paging by After and Limit")

	waiting := where(func(p *store.Participant) bool { return p.Status == store.Waiting })
	require.Equal(t, waiting[1:], query(store.ParticipantQuery{Statuses: []store.Status{store.Waiting}, After: waiting[0], Limit: 1}))

	later := where(func(p *store.Participant) bool { return p.Element == "later" })
	require.Len(t, later, 3)
	require.Equal(t, later, query(store.ParticipantQuery{Element: "later"}), "by element")
	require.Equal(t, where(func(p *store.Participant) bool { return p.Element == "later" && p.Status == store.Waiting }),
		query(store.ParticipantQuery{Element: "later", Statuses: []store.Status{store.Waiting}}), "by element and status")
	require.Equal(t, later[1:2], query(store.ParticipantQuery{Element: "later", After: later[0], Limit: 1}), "by element, paged")
	require.Empty(t, query(store.ParticipantQuery{Element: "nowhere"}))

	require.Empty(t, participants(t, s, &store.ParticipantQuery{FlowID: uniq(t, "flow")}))
}

// Two people's transactions writing a new participant of one ID: one
// commits it, and the other's Update fails with ErrDuplicate, but never
// while the first is open, so that a caller who tries again finds what
// the first committed (the engine's callers racing to create one person
// under one key do).
func testParticipantDuplicateIDOfOpenTransaction(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newPerson(t, s), newPerson(t, s)
	flow := newFlow(t, s)
	pa, pb := newParticipant(t, a.ID, flow), newParticipant(t, b.ID, flow)
	pb.ID = pa.ID
	written, release := make(chan struct{}), make(chan struct{})
	first, second := make(chan error, 1), make(chan error, 1)
	go func() {
		first <- s.Update(ctx, a.ID, func(tx store.Tx) error {
			err := tx.PutParticipant(pa)
			close(written)
			<-release
			return err
		})
	}()
	<-written
	go func() { second <- s.Update(ctx, b.ID, func(tx store.Tx) error { return tx.PutParticipant(pb) }) }()
	var secondErr error
	secondDone := false
	select {
	case secondErr = <-second:
		// A store that writes new participants at commit: the second
		// committed first, or waits no longer.
		require.NotErrorIs(t, secondErr, store.ErrDuplicate, "ErrDuplicate while the transaction holding the ID is open")
		secondDone = true
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	firstErr := <-first
	if !secondDone {
		secondErr = <-second
	}
	owner := a.ID
	if firstErr == nil {
		require.ErrorIs(t, secondErr, store.ErrDuplicate)
	} else {
		require.ErrorIs(t, firstErr, store.ErrDuplicate)
		require.NoError(t, secondErr)
		owner = b.ID
	}
	require.Equal(t, owner, participant(t, s, pa.ID).PersonID, "the participant is the one that committed")
}

// versionsAndReasons stores six participants of a new flow on versions 1
// and 2 with failure reasons, and returns the flow and them in ID order.
func versionsAndReasons(t *testing.T, s store.Store) (string, []*store.Participant) {
	flow, other := newFlow(t, s), newFlow(t, s)
	person := newPerson(t, s)
	reasons := []string{"", "element \"call\": HTTP 503", "", "element \"call\": timeout", "HTTP 503 again", ""}
	parts := make([]*store.Participant, len(reasons))
	for i, r := range reasons {
		parts[i] = newParticipant(t, person.ID, flow)
		parts[i].FlowVersion = 1 + i%2
		parts[i].Reason = r
		if r != "" {
			parts[i].Status = store.Failed
		}
	}
	for _, i := range []int{4, 1, 5, 0, 2, 3} {
		put(t, s, parts[i])
	}
	o := newParticipant(t, person.ID, other)
	o.Reason = "HTTP 503"
	put(t, s, o)
	slices.SortFunc(parts, func(a, b *store.Participant) int { return compareIDs(a.ID, b.ID) })
	return flow, parts
}

// A query selects by version and by a text of the reason, and pages in
// either direction.
func testParticipantsQueryVersionReasonOrder(t *testing.T, s store.Store) {
	flow, parts := versionsAndReasons(t, s)
	all := participantIDs(parts)
	where := func(keep func(*store.Participant) bool) []uuid.UUID {
		var out []uuid.UUID
		for _, p := range parts {
			if keep(p) {
				out = append(out, p.ID)
			}
		}
		return out
	}
	query := func(q store.ParticipantQuery) []uuid.UUID {
		t.Helper()
		q.FlowID = flow
		return participantIDs(participants(t, s, &q))
	}
	reversed := func(ids []uuid.UUID) []uuid.UUID {
		out := slices.Clone(ids)
		slices.Reverse(out)
		return out
	}

	require.Equal(t, where(func(p *store.Participant) bool { return p.FlowVersion == 2 }), query(store.ParticipantQuery{Version: 2}), "by version")
	require.Empty(t, query(store.ParticipantQuery{Version: 3}))
	require.Equal(t, where(func(p *store.Participant) bool { return strings.Contains(p.Reason, "HTTP 503") }),
		query(store.ParticipantQuery{Reason: "HTTP 503"}), "by a text of the reason")
	require.Equal(t, where(func(p *store.Participant) bool { return strings.Contains(p.Reason, "HTTP 503") && p.FlowVersion == 1 }),
		query(store.ParticipantQuery{Reason: "HTTP 503", Version: 1}), "by reason and version")
	require.Empty(t, query(store.ParticipantQuery{Reason: "http 503"}), "the text is matched as written")
	require.Empty(t, query(store.ParticipantQuery{Reason: "%"}), "no pattern characters")

	require.Equal(t, reversed(all), query(store.ParticipantQuery{Descending: true}), "newest first")
	require.Equal(t, reversed(all)[:2], query(store.ParticipantQuery{Descending: true, Limit: 2}))
	require.Equal(t, all[:3], query(store.ParticipantQuery{Before: all[3]}), "Before is exclusive")
	require.Equal(t, reversed(all[:3])[:2], query(store.ParticipantQuery{Before: all[3], Descending: true, Limit: 2}),
		"the page before a page")
	require.Equal(t, all[2:4], query(store.ParticipantQuery{After: all[1], Before: all[4]}), "between two IDs")
	require.Equal(t, reversed(where(func(p *store.Participant) bool { return p.FlowVersion == 1 })),
		query(store.ParticipantQuery{Version: 1, Descending: true}))
}

// CountParticipants counts what a query selects, whatever its paging.
func testCountParticipants(t *testing.T, s store.Store) {
	flow, parts := versionsAndReasons(t, s)
	c := s.(store.ParticipantCounter)
	count := func(q store.ParticipantQuery) int64 {
		t.Helper()
		q.FlowID = flow
		n, err := c.CountParticipants(t.Context(), &q)
		require.NoError(t, err)
		return n
	}
	require.EqualValues(t, len(parts), count(store.ParticipantQuery{}))
	require.EqualValues(t, 3, count(store.ParticipantQuery{Version: 2}))
	require.EqualValues(t, 3, count(store.ParticipantQuery{Statuses: []store.Status{store.Failed}}))
	require.EqualValues(t, 2, count(store.ParticipantQuery{Reason: "HTTP 503"}))
	require.EqualValues(t, 2, count(store.ParticipantQuery{Element: "start", Reason: "element", Version: 0}))
	require.EqualValues(t, len(parts), count(store.ParticipantQuery{After: parts[2].ID, Limit: 1}), "paging left out")
	require.Zero(t, count(store.ParticipantQuery{Element: "nowhere"}))

	_, err := c.CountParticipants(t.Context(), &store.ParticipantQuery{})
	require.ErrorIs(t, err, store.ErrInvalid, "a query names a flow")
}
