package storetest

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// The copy-in, copy-out rule (see store.Store): changing what a store
// returned, or what was put after putting it, changes nothing stored.

func copiedPerson(t *testing.T, s store.Store) *store.Person {
	p := newPerson(t, s)
	p.FirstName = "Ana"
	p.Attributes = map[string]any{"plan": "gold", "pets": []any{"cat", map[string]any{"name": "Rex"}}, "address": map[string]any{"city": "Split", "lines": []any{"Riva 1"}}}
	p.Tags = []string{"vip"}
	p.DoNotContact = []string{p.Emails[0]}
	p.Push = []store.PushRegistration{{App: "shop", Token: "t1"}}
	p.LastContacted = map[string]time.Time{"email": base}
	return p
}

func mutatePerson(q *store.Person) {
	q.FirstName = "Mutated"
	q.Attributes["plan"] = "mutated"
	q.Attributes["pets"].([]any)[0] = "mutated"
	q.Attributes["pets"].([]any)[1].(map[string]any)["name"] = "mutated"
	q.Attributes["address"].(map[string]any)["city"] = "mutated"
	q.Attributes["address"].(map[string]any)["lines"].([]any)[0] = "mutated"
	q.Phones[0] = "mutated"
	q.Emails[0] = "mutated"
	q.Tags[0] = "mutated"
	q.DoNotContact[0] = "mutated"
	q.Push[0].Token = "mutated"
	q.LastContacted["email"] = base.Add(time.Hour)
}

func copiedParticipant(t *testing.T, personID uuid.UUID, flowID string) *store.Participant {
	part := newParticipant(t, personID, flowID)
	part.Status = store.Waiting
	part.Vars = map[string]any{"n": 1.0, "list": []any{"a", []any{"b"}}, "obj": map[string]any{"k": "v", "deep": map[string]any{"x": 1.0}}}
	part.Entry = &store.Event{ID: "entry-" + newID(t).String(), PersonID: personID, Category: store.External, Name: "Signup",
		Properties: map[string]any{"plan": "gold", "items": []any{map[string]any{"sku": "A"}}}, Time: base}
	part.Wait = &store.Wait{Until: base.Add(time.Hour), Deadline: base.Add(time.Hour), Events: []string{"Clicked", "Opened"},
		State: map[string]any{"s": "x", "seen": []any{"a"}, "m": map[string]any{"k": "v"}}}
	// Spare room: a store that kept the caller's array would see steps
	// appended to it later.
	part.Journal = make([]store.Step, 1, 4)
	part.Journal[0] = store.Step{Seq: 1, At: base, Element: "start", Reason: "entered"}
	part.Operations = make([]string, 1, 4)
	part.Operations[0] = "retry-1"
	part.Goals = []string{"purchase"}
	part.Holdout = "split-1"
	return part
}

func mutateParticipant(q *store.Participant) {
	q.Element = "mutated"
	q.Vars["n"] = 99.0
	q.Vars["list"].([]any)[0] = "mutated"
	q.Vars["list"].([]any)[1].([]any)[0] = "mutated"
	q.Vars["obj"].(map[string]any)["k"] = "mutated"
	q.Vars["obj"].(map[string]any)["deep"].(map[string]any)["x"] = 99.0
	q.Vars["added"] = "mutated"
	q.Entry.Name = "Mutated"
	q.Entry.Properties["plan"] = "mutated"
	q.Entry.Properties["items"].([]any)[0].(map[string]any)["sku"] = "mutated"
	q.Wait.Until = base
	q.Wait.Events[0] = "mutated"
	q.Wait.State["s"] = "mutated"
	q.Wait.State["seen"].([]any)[0] = "mutated"
	q.Wait.State["m"].(map[string]any)["k"] = "mutated"
	q.Journal[0].Reason = "mutated"
	q.Journal = append(q.Journal, store.Step{Seq: 2, At: base, Element: "mutated", Reason: "appended"})
	q.Operations[0] = "mutated"
	q.Operations = append(q.Operations, "appended")
}

func testValuesAreCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := copiedPerson(t, s)
	flow := newFlow(t, s)
	part := copiedParticipant(t, p.ID, flow)
	want, wantPart := normPerson(p.Clone()), normParticipant(part.Clone())
	wantPart.Version = 1
	update(t, s, p.ID, func(tx store.Tx) error {
		require.NoError(t, tx.PutPerson(p))
		require.NoError(t, tx.PutParticipant(part))
		// Changed after the put, in the same transaction.
		mutatePerson(p)
		mutateParticipant(part)
		got, err := tx.Person()
		require.NoError(t, err)
		require.Equal(t, want, normPerson(got), "Tx.PutPerson copies the person")
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Len(t, parts, 1)
		require.Equal(t, wantPart, normParticipant(parts[0]), "Tx.PutParticipant copies the participant")
		// Changed as returned, in the same transaction.
		mutatePerson(got)
		mutateParticipant(parts[0])
		return nil
	})
	check := func(what string) {
		t.Helper()
		got, err := txPerson(t, s, p.ID)
		require.NoError(t, err)
		require.Equal(t, want, normPerson(got), what)
		require.Equal(t, wantPart, normParticipant(participant(t, s, part.ID)), what)
		parts := participants(t, s, &store.ParticipantQuery{FlowID: flow})
		require.Len(t, parts, 1)
		require.Equal(t, wantPart, normParticipant(parts[0]), what)
	}
	check("values changed after the put, or as a pending transaction returned them")
	mutatePerson(p)
	mutateParticipant(part)
	check("values changed after their transaction committed")

	mutateParticipant(participant(t, s, part.ID))
	check("Store.Participant returns a copy")
	for _, q := range participants(t, s, &store.ParticipantQuery{FlowID: flow}) {
		mutateParticipant(q)
	}
	check("Store.Participants returns copies")

	update(t, s, p.ID, func(tx store.Tx) error {
		q, err := tx.Person()
		require.NoError(t, err)
		mutatePerson(q)
		parts, err := tx.Participants()
		require.NoError(t, err)
		mutateParticipant(parts[0])
		q, err = tx.Person()
		require.NoError(t, err)
		require.Equal(t, want, normPerson(q), "Tx.Person returns a copy")
		parts, err = tx.Participants()
		require.NoError(t, err)
		require.Equal(t, wantPart, normParticipant(parts[0]), "Tx.Participants returns copies")
		return nil
	})
	check("a transaction that changed stored values as returned committed")

	// A new version put from a returned copy keeps its own values.
	update(t, s, p.ID, func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		q := parts[0]
		q.Journal = append(q.Journal, store.Step{Seq: 2, At: base.Add(time.Minute), Element: "wait", Reason: "waiting"})
		require.NoError(t, tx.PutParticipant(q))
		q.Journal[1].Reason = "mutated"
		return nil
	})
	wantPart.Journal = append(wantPart.Journal, store.Step{Seq: 2, At: base.Add(time.Minute), Element: "wait", Reason: "waiting"})
	wantPart.Version++
	check("a participant put from a returned copy")

	err := s.Update(ctx, p.ID, func(tx store.Tx) error {
		c := want.Clone()
		c.FirstName = "Pending"
		require.NoError(t, tx.PutPerson(c))
		q, err := tx.Person()
		require.NoError(t, err)
		mutatePerson(q)
		q, err = tx.Person()
		require.NoError(t, err)
		require.Equal(t, "Pending", q.FirstName)
		require.Equal(t, "gold", q.Attributes["plan"], "a pending person read back is a copy")
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
}

func mutateEvent(e *store.Event) {
	e.Name = "Mutated"
	e.Properties["plan"] = "mutated"
	e.Properties["items"].([]any)[0].(map[string]any)["sku"] = "mutated"
	e.Properties["added"] = "mutated"
}

func testEventsAreCopies(t *testing.T, s store.Store) {
	a, b := newPerson(t, s), newPerson(t, s)
	// One properties map for two people's events, as an engine may build
	// once for every participant leaving a flow alike.
	props := map[string]any{"plan": "gold", "items": []any{map[string]any{"sku": "A"}}}
	wantProps := clone.Map(props)
	eventOf := func(id string) *store.Event {
		return &store.Event{ID: id, Category: store.Product, Name: "exitedFlow", Properties: props, Time: base}
	}
	for _, who := range []*store.Person{a, b} {
		update(t, s, who.ID, func(tx store.Tx) error {
			e := eventOf("exit")
			require.NoError(t, tx.AddEvent(e))
			mutateEvent(e) // after adding, in the transaction
			evs, err := tx.Events(&store.EventQuery{})
			require.NoError(t, err)
			require.Len(t, evs, 1)
			require.Equal(t, "exitedFlow", evs[0].Name, "Tx.AddEvent copies the event")
			require.Equal(t, wantProps, evs[0].Properties, "Tx.AddEvent copies the properties")
			mutateEvent(evs[0]) // a pending event as returned
			return nil
		})
		props = clone.Map(wantProps)
	}
	check := func(what string) {
		t.Helper()
		for _, who := range []*store.Person{a, b} {
			evs := queryEvents(t, s, who.ID, store.EventQuery{})
			require.Len(t, evs, 1, what)
			require.Equal(t, "exitedFlow", evs[0].Name, what)
			require.Equal(t, wantProps, evs[0].Properties, what)
		}
	}
	check("events changed after adding, or as returned pending")
	mutateEvent(eventOf("other"))
	update(t, s, a.ID, func(tx store.Tx) error {
		for _, q := range []*store.EventQuery{{}, {Limit: 1}, {Name: "exitedFlow"}} {
			evs, err := tx.Events(q)
			require.NoError(t, err)
			require.Len(t, evs, 1)
			mutateEvent(evs[0])
		}
		return nil
	})
	check("Tx.Events returns copies: one person's returned event changes nobody's stored one")
}

func testFlowStatesAreCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	want := *flowState(t, s, flow)
	st := flowState(t, s, flow)
	st.Status, st.Latest, st.UpdatedAt = store.FlowCanceled, 99, base.Add(time.Hour)
	require.Equal(t, want, *flowState(t, s, flow), "Store.Flow returns a copy")
	all, err := s.Flows(ctx)
	require.NoError(t, err)
	for i := range all {
		all[i].Status = store.FlowCanceled
	}
	require.Equal(t, want, *flowState(t, s, flow), "Store.Flows returns copies")
}

func testCountsAreCopies(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	flow := newFlow(t, s)
	update(t, s, p.ID, func(tx store.Tx) error {
		cs := []store.Counter{{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1}}
		tx.Count(cs...)
		cs[0].N, cs[0].Key = 100, "mutated" // the caller reuses its buffer
		return nil
	})
	want := []store.Counter{{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1}}
	got := counters(t, s, flow)
	require.Equal(t, want, got, "Tx.Count copies the counters")
	got[0].N = 100
	require.Equal(t, want, counters(t, s, flow), "Store.Counters returns copies")
}
