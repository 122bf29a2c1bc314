package memory

import (
	"slices"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// fact is one event of a person's history: an event the store keeps
// (e), or the EnteredFlow event of one of the person's participants
// (entered), which the store makes from the participant when it is read
// instead of keeping it. Every participant has one, and a million
// waiting participants would otherwise keep a million events.
type fact struct {
	e       *event
	entered *part
}

// enteredSuffix ends the ID of the EnteredFlow event of a participant:
// "<participant id>:entered".
const enteredSuffix = ":entered"

// at returns when the event happened.
func (f fact) at() time.Time {
	if f.e != nil {
		return f.e.Time
	}
	return f.entered.enteredAt()
}

// is reports whether the event's ID is id.
func (f fact) is(id string) bool {
	if f.e != nil {
		return f.e.ID == id
	}
	if len(id) != 36+len(enteredSuffix) || id[36:] != enteredSuffix {
		return false
	}
	var buf [36]byte
	return string(appendUUID(buf[:0], f.entered.id)) == id[:36]
}

// id returns the event's ID.
func (f fact) id() string {
	if f.e != nil {
		return f.e.ID
	}
	return f.entered.id.String() + enteredSuffix
}

// matches reports whether q selects the event.
func (f fact) matches(q *store.EventQuery) bool {
	if f.e != nil {
		return q.Matches(&f.e.Event)
	}
	return q.Matches(&store.Event{Category: store.Product, Name: store.EnteredFlow, Time: f.at()})
}

// event returns a copy of the event of person personID for a caller.
func (f fact) event(personID uuid.UUID) *store.Event {
	if f.e != nil {
		return f.e.copy()
	}
	return &store.Event{
		ID: f.id(), PersonID: personID, Category: store.Product, Name: store.EnteredFlow,
		Properties: map[string]any{"flowId": f.entered.flowID}, Time: f.at(),
	}
}

// factOf returns e as ps keeps it: the EnteredFlow event of one of ps's
// participants as made from the participant when it is exactly what the
// participant makes, else e itself.
func (ps *personState) factOf(e *event) fact {
	if e.Category != store.Product || e.Name != store.EnteredFlow || !e.Person.IsZero() || e.PersonID != ps.id ||
		len(e.props) != 1 || e.props[0].name != "flowId" || len(e.ID) != 36+len(enteredSuffix) {
		return fact{e: e}
	}
	id, err := uuid.Parse(e.ID[:36])
	if err != nil {
		return fact{e: e}
	}
	i := partIndex(ps.parts, id)
	if i < 0 {
		return fact{e: e}
	}
	r := ps.parts[i]
	f := fact{entered: r}
	if flowID, ok := e.props[0].value.(string); !ok || flowID != r.flowID || !f.is(e.ID) ||
		!e.Time.Equal(f.at()) || (r.more != nil && r.more.wide != nil) {
		return fact{e: e}
	}
	return f
}

// keepFacts turns the EnteredFlow events made from r back into events
// the store keeps, before r changes what they are made from or goes.
func (ps *personState) keepFacts(r *part) {
	for i, f := range ps.events {
		if f.entered == r {
			ps.events[i] = fact{e: keepEvent(f.event(ps.id))}
		}
	}
}

// enteredChanged reports whether storing p over r changes the
// EnteredFlow event made from r.
func enteredChanged(r *part, p *store.Participant) bool {
	return r.flowID != p.FlowID || !r.enteredAt().Equal(p.EnteredAt)
}

func (ps *personState) addEvent(e *event) {
	f := ps.factOf(e)
	at := f.at()
	i := len(ps.events)
	for i > 0 && ps.events[i-1].at().After(at) {
		i--
	}
	ps.events = slices.Insert(ps.events, i, f)
	if ps.eventIDs != nil {
		ps.eventIDs[e.ID] = struct{}{}
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

// appendUUID appends id in its canonical text form, as id.String() does.
func appendUUID(b []byte, id uuid.UUID) []byte {
	const digits = "0123456789abcdef"
	for i, x := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, digits[x>>4], digits[x&0xf])
	}
	return b
}
