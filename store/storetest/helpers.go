package storetest

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Helpers

func newID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	require.NoError(t, err)
	return id
}

func uniq(t *testing.T, prefix string) string { return prefix + "-" + newID(t).String() }

func email(id uuid.UUID, n int) string { return fmt.Sprintf("p%d-%s@example.com", n, id) }

// phone returns a phone number unique to id and n.
func phone(id uuid.UUID, n int) string {
	return fmt.Sprintf("385%d%d", n, binary.BigEndian.Uint64(id[8:])>>1)
}

// spaced writes a phone number as people type it: "+385 91 234 5678".
func spaced(ph string) string { return "+" + ph[:3] + " " + ph[3:5] + " " + ph[5:8] + " " + ph[8:] }

func doc(flowID string) []byte { return fmt.Appendf(nil, `{"id":%q}`, flowID) }

func publish(t *testing.T, s store.Store, flowID string) int {
	t.Helper()
	v, err := s.PublishFlow(t.Context(), &store.FlowVersion{FlowID: flowID, Document: doc(flowID), PublishedAt: base})
	require.NoError(t, err)
	return v
}

func newFlow(t *testing.T, s store.Store) string {
	t.Helper()
	id := uniq(t, "flow")
	publish(t, s, id)
	return id
}

func flowState(t *testing.T, s store.Store, flowID string) *store.FlowState {
	t.Helper()
	st, err := s.Flow(t.Context(), flowID)
	require.NoError(t, err)
	return st
}

func update(t *testing.T, s store.Store, personID uuid.UUID, fn func(store.Tx) error) {
	t.Helper()
	require.NoError(t, s.Update(t.Context(), personID, fn))
}

// newPerson stores a new person with an external id, a phone and an email.
func newPerson(t *testing.T, s store.Store) *store.Person {
	t.Helper()
	id := newID(t)
	p := &store.Person{
		ID:         id,
		ExternalID: "x-" + id.String(),
		Phones:     []string{phone(id, 0)},
		Emails:     []string{email(id, 0)},
		CreatedAt:  base,
		UpdatedAt:  base,
	}
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(p) })
	return p
}

func txPerson(t *testing.T, s store.Store, id uuid.UUID) (*store.Person, error) {
	t.Helper()
	var p *store.Person
	var perr error
	update(t, s, id, func(tx store.Tx) error {
		p, perr = tx.Person()
		return nil
	})
	return p, perr
}

func requireFound(t *testing.T, s store.Store, ref store.PersonRef, want uuid.UUID) {
	t.Helper()
	got, err := s.FindPerson(t.Context(), ref)
	require.NoError(t, err, "%+v", ref)
	require.Equal(t, want, got, "%+v", ref)
}

func requireNotFound(t *testing.T, s store.Store, ref store.PersonRef) {
	t.Helper()
	_, err := s.FindPerson(t.Context(), ref)
	require.ErrorIs(t, err, store.ErrNotFound, "%+v", ref)
}

func newParticipant(t *testing.T, personID uuid.UUID, flowID string) *store.Participant {
	t.Helper()
	return &store.Participant{
		ID:             newID(t),
		PersonID:       personID,
		FlowID:         flowID,
		FlowVersion:    1,
		Status:         store.Active,
		Element:        "start",
		EnteredAt:      base,
		ArrivedAt:      base,
		LastActivityAt: base,
	}
}

// put stores p in its own transaction; p.Version follows.
func put(t *testing.T, s store.Store, p *store.Participant) {
	t.Helper()
	update(t, s, p.PersonID, func(tx store.Tx) error { return tx.PutParticipant(p) })
}

// waiter stores a new person with one participant waiting until until.
func waiter(t *testing.T, s store.Store, flowID string, until time.Time) *store.Participant {
	t.Helper()
	w := newParticipant(t, newPerson(t, s).ID, flowID)
	w.Status = store.Waiting
	w.Element = "wait"
	w.Wait = &store.Wait{Until: until, Deadline: until}
	put(t, s, w)
	return w
}

func participant(t *testing.T, s store.Store, id uuid.UUID) *store.Participant {
	t.Helper()
	p, err := s.Participant(t.Context(), id)
	require.NoError(t, err)
	return p
}

func participants(t *testing.T, s store.Store, q *store.ParticipantQuery) []*store.Participant {
	t.Helper()
	ps, err := s.Participants(t.Context(), q)
	require.NoError(t, err)
	return ps
}

func participantIDs(ps []*store.Participant) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

func compareIDs(a, b uuid.UUID) int { return strings.Compare(string(a[:]), string(b[:])) }

func newEvent(t *testing.T, name string, at time.Time) *store.Event {
	t.Helper()
	return &store.Event{ID: "evt-" + newID(t).String(), Category: store.External, Name: name, Time: at}
}

func queryEvents(t *testing.T, s store.Store, personID uuid.UUID, q store.EventQuery) []*store.Event {
	t.Helper()
	var out []*store.Event
	update(t, s, personID, func(tx store.Tx) error {
		var err error
		out, err = tx.Events(&q)
		return err
	})
	return out
}

// eventIDs returns the events' IDs, nil for none.
func eventIDs(es []*store.Event) []string {
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

func counters(t *testing.T, s store.Store, flowID string) []store.Counter {
	t.Helper()
	cs, err := s.Counters(t.Context(), flowID)
	require.NoError(t, err)
	return cs
}

func requireTime(t *testing.T, want, got time.Time, msgAndArgs ...any) {
	t.Helper()
	require.True(t, want.Equal(got), "time %v, want %v %s", got, want, fmt.Sprint(msgAndArgs...))
}

// requireTimers checks that got names the participants' timers, in order.
func requireTimers(t *testing.T, got []store.Timer, want ...*store.Participant) {
	t.Helper()
	gotIDs := make([]uuid.UUID, len(got))
	for i, tm := range got {
		gotIDs[i] = tm.ParticipantID
	}
	require.Equal(t, participantIDs(want), gotIDs, "due participants")
	for i, w := range want {
		require.Equal(t, w.PersonID, got[i].PersonID, "timer %d", i)
		requireTime(t, w.Wait.Until, got[i].Due, "timer ", i)
	}
}

// within runs fn and fails the test when it does not return in d.
func within(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		require.NoError(t, err, what)
	case <-time.After(d):
		t.Fatalf("%s did not return in %v", what, d)
	}
}

// Stores may hand back times in another location or without a monotonic
// reading; the norm functions put every time of a record in UTC so that
// records compare with require.Equal.

func normPerson(p *store.Person) *store.Person {
	p.BirthDate = p.BirthDate.UTC()
	p.CreatedAt = p.CreatedAt.UTC()
	p.UpdatedAt = p.UpdatedAt.UTC()
	if p.Attributes != nil {
		p.Attributes = InUTC(p.Attributes).(map[string]any)
	}
	for k, v := range p.LastContacted {
		p.LastContacted[k] = v.UTC()
	}
	return p
}

func normParticipant(p *store.Participant) *store.Participant {
	p.EnteredAt = p.EnteredAt.UTC()
	p.ArrivedAt = p.ArrivedAt.UTC()
	p.LastActivityAt = p.LastActivityAt.UTC()
	p.ExitedAt = p.ExitedAt.UTC()
	if p.Vars != nil {
		p.Vars = InUTC(p.Vars).(map[string]any)
	}
	if p.Entry != nil {
		p.Entry = normEvent(p.Entry)
	}
	if p.Wait != nil {
		p.Wait.Until = p.Wait.Until.UTC()
		p.Wait.Deadline = p.Wait.Deadline.UTC()
		if p.Wait.State != nil {
			p.Wait.State = InUTC(p.Wait.State).(map[string]any)
		}
	}
	for i := range p.Journal {
		p.Journal[i].At = p.Journal[i].At.UTC()
	}
	if e := p.Effect; e != nil {
		e.Started = e.Started.UTC()
		if w := e.Resumed; w != nil {
			w.Until, w.Deadline = w.Until.UTC(), w.Deadline.UTC()
			if w.State != nil {
				w.State = InUTC(w.State).(map[string]any)
			}
		}
		if e.Event != nil {
			e.Event = normEvent(e.Event)
		}
		for i, h := range e.Held {
			e.Held[i] = normEvent(h)
		}
	}
	return p
}

// normEvent returns a normalized copy of e.
func normEvent(e *store.Event) *store.Event {
	c := *e
	c.Time = c.Time.UTC()
	if c.Properties != nil {
		c.Properties = InUTC(c.Properties).(map[string]any)
	}
	return &c
}

// InUTC returns a deep copy of a stored value with its times in UTC, as
// stores hand values back: compare what a store returns with InUTC of what
// it was given.
func InUTC(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = InUTC(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = InUTC(e)
		}
		return c
	}
	return v
}
