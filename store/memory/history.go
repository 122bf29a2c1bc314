package memory

import (
	"slices"
	"time"

	"github.com/flowkit/flowkit/internal/uuidtext"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// fact is one event of a person's history: an event the store keeps
// (e), or the EnteredFlow or ExitedFlow event of one of the person's
// participants (of), which the store makes from the participant when it
// is read instead of keeping it. Every participant has them, and a
// million participants would otherwise keep a million events each.
type fact struct {
	e    *event
	of   *part
	exit bool // the ExitedFlow event of, else its EnteredFlow event
}

// The suffixes of the IDs of the events made from a participant:
// "<participant id>:entered" and "<participant id>:exited".
const (
	enteredSuffix = ":entered"
	exitedSuffix  = ":exited"
)

// The bits of part.facts: which of its events the history makes from it.
const (
	enteredFact uint8 = 1 << iota
	exitedFact
)

// at returns when the event happened.
func (f fact) at() time.Time {
	switch {
	case f.e != nil:
		return f.e.Time
	case f.exit:
		return f.of.more.exitedAt
	}
	return f.of.enteredAt()
}

func (f fact) suffix() string {
	if f.exit {
		return exitedSuffix
	}
	return enteredSuffix
}

// is reports whether the event's ID is id.
func (f fact) is(id string) bool {
	if f.e != nil {
		return f.e.ID == id
	}
	if len(id) != 36+len(f.suffix()) || id[36:] != f.suffix() {
		return false
	}
	var buf [36]byte
	return string(uuidtext.Append(buf[:0], f.of.id)) == id[:36]
}

// id returns the event's ID.
func (f fact) id() string {
	if f.e != nil {
		return f.e.ID
	}
	return f.of.id.String() + f.suffix()
}

// name returns the event's name.
func (f fact) name() string {
	if f.exit {
		return store.ExitedFlow
	}
	return store.EnteredFlow
}

// matches reports whether q selects the event.
func (f fact) matches(q *store.EventQuery) bool {
	if f.e != nil {
		return q.Matches(&f.e.Event)
	}
	return q.Matches(&store.Event{Category: store.Product, Name: f.name(), Time: f.at()})
}

// event returns a copy of the event of person personID for a caller.
func (f fact) event(personID uuid.UUID) *store.Event {
	if f.e != nil {
		return f.e.copy()
	}
	props := map[string]any{"flowId": f.of.origin.flowID}
	if f.exit {
		props["reason"], props["status"] = f.of.reason(), string(f.of.Status())
	}
	return &store.Event{
		ID: f.id(), PersonID: personID, Category: store.Product, Name: f.name(),
		Properties: props, Time: f.at(),
	}
}

// factOf returns the event e, which the transaction appended, as ps
// keeps it: made from one of ps's participants when it is exactly the
// EnteredFlow or ExitedFlow event the participant makes, else a copy.
func (ps *personState) factOf(e *store.Event) fact {
	if f, ok := ps.madeFrom(e); ok {
		if f.exit {
			f.of.facts |= exitedFact
		} else {
			f.of.facts |= enteredFact
		}
		return f
	}
	return fact{e: keepEvent(e)}
}

func (ps *personState) madeFrom(e *store.Event) (fact, bool) {
	if e.Category != store.Product || !e.Person.IsZero() || e.PersonID != ps.id || len(e.ID) < 36 {
		return fact{}, false
	}
	var f fact
	switch e.Name {
	case store.EnteredFlow:
	case store.ExitedFlow:
		f.exit = true
	default:
		return fact{}, false
	}
	id, err := uuid.Parse(e.ID[:36])
	if err != nil {
		return fact{}, false
	}
	i := partIndex(ps.parts, id)
	if i < 0 {
		return fact{}, false
	}
	f.of = ps.parts[i]
	if f.exit && (f.of.more == nil || !f.of.Status().Done()) {
		return fact{}, false // no exit to make it from
	}
	if !f.is(e.ID) || !e.Time.Equal(f.at()) || (f.of.more != nil && f.of.more.wide != nil) {
		return fact{}, false
	}
	is := func(k, v string) bool { s, ok := e.Properties[k].(string); return ok && s == v }
	if !f.exit {
		return f, len(e.Properties) == 1 && is("flowId", f.of.origin.flowID)
	}
	return f, len(e.Properties) == 3 && is("flowId", f.of.origin.flowID) && is("reason", f.of.reason()) && is("status", string(f.of.Status()))
}

// keepFacts turns the events made from r back into events the store
// keeps, before r changes what they are made from or goes.
func (ps *personState) keepFacts(r *part) {
	if r.facts == 0 {
		return
	}
	for i, f := range ps.events {
		if f.of == r {
			ps.events[i] = fact{e: keepEvent(f.event(ps.id))}
		}
	}
	r.facts = 0
}

// factsChange reports whether storing p over r changes an event made
// from r.
func factsChange(r *part, p *store.Participant) bool {
	switch {
	case r.facts == 0:
		return false
	case r.origin.flowID != p.FlowID:
		return true
	case r.facts&enteredFact != 0 && !r.enteredAt().Equal(p.EnteredAt):
		return true
	}
	return r.facts&exitedFact != 0 && (r.Status() != p.Status || r.reason() != p.Reason || !r.more.exitedAt.Equal(p.ExitedAt))
}

// addEvent adds an event to the history, in time order.
func (ps *personState) addEvent(f fact) {
	at := f.at()
	i := len(ps.events)
	for i > 0 && ps.events[i-1].at().After(at) {
		i--
	}
	ps.events = slices.Insert(ps.events, i, f)
	if ps.eventIDs != nil {
		ps.eventIDs[f.id()] = struct{}{}
	} else if len(ps.events) > 32 {
		ps.eventIDs = make(map[string]struct{}, len(ps.events))
		for _, f := range ps.events {
			ps.eventIDs[f.id()] = struct{}{}
		}
	}
}

func (ps *personState) hasEvent(id string) bool {
	if ps.eventIDs != nil {
		_, ok := ps.eventIDs[id]
		return ok
	}
	return slices.ContainsFunc(ps.events, func(f fact) bool { return f.is(id) })
}

// txEvent is an event a transaction added: a copy the store keeps (kept),
// or, for an appended event, the caller's (given), which the commit
// copies unless the history makes it from a participant.
type txEvent struct {
	kept  *event
	given *store.Event
}

func (e txEvent) event() *store.Event {
	if e.kept != nil {
		return &e.kept.Event
	}
	return e.given
}

// copy returns a copy of the event for a caller.
func (e txEvent) copy() *store.Event {
	if e.kept != nil {
		return e.kept.copy()
	}
	return e.given.Clone()
}
