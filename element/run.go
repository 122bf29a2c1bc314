package element

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Run is the engine's view of one step for one participant. Elements read
// the person and variables, change variables in Vars, and change the person
// only through Run's methods, which record the People events the engine
// commits with the step. A Run is valid only during the call it is given
// to: the engine reuses it for the next step.
type Run struct {
	Now         time.Time
	Location    *time.Location // the flow's time zone
	FlowID      string
	FlowVersion int
	ElementID   string
	Participant uuid.UUID
	// Seq numbers this step within the participant; with Participant it
	// makes the step's idempotency key.
	Seq       int64
	EnteredAt time.Time // when the participant entered the flow
	ArrivedAt time.Time // when it reached this element
	// Person is the person as changed so far in this step. Read it freely;
	// change it only through Edit and the methods that record events.
	Person *store.Person
	// Vars are the participant's flow variables.
	Vars map[string]any
	// Entry is the event that entered the participant, if any.
	Entry *store.Event
	// Event is the event being handled, if any: on Resume by an event, and
	// on the first step of a participant entered by an event.
	Event *store.Event
	// Wait is the wait in force, on Resume.
	Wait *Wait
	// History reads the person's event history, including events recorded
	// earlier in this step's transaction; nil when the step has none.
	History func(q *store.EventQuery) ([]*store.Event, error)
	// Ports are what the engine lends the step: the host's ports (a
	// Sender, an HTTP client), entering people into flows, the host's
	// settings.
	Ports Ports

	emitted  []*store.Event
	notes    []string
	envMap   map[string]any
	changed  bool
	counters []store.Counter
	subject  segment.Subject // lent by Subject, reused across steps
	eval     *evaluator      // lent to evaluations, reused across steps
	// loopStart is when the step's evaluations first looped, and produced
	// the bytes of their results: both count against the Budget across
	// the step, whose fields (a message's, a request's) are many
	// evaluations.
	loopStart time.Time
	produced  int64

	// revealed are the host settings the step read (see redact).
	revealed []revealedSetting
	// redactor replaces the spellings of the revealed settings' values,
	// redactForms; nil until redact needs it.
	redactor    *strings.Replacer
	redactForms []string
	// before is the person as the step found it, kept by Edit so that
	// redactOutcome knows what the step changed.
	before *store.Person
}

// IdempotencyKey is the step's stable key for external effects.
func (r *Run) IdempotencyKey() string {
	return r.Participant.String() + ":" + strconv.FormatInt(r.Seq, 10)
}

// Edit returns the person for changing: the first call in a step copies
// it, so that a step that fails leaves the person as it was. Changes made
// through Edit record no events; SetAttribute, AddTag and RemoveTag do.
func (r *Run) Edit() *store.Person {
	if !r.changed {
		r.before = r.Person
		r.Person = r.Person.Clone()
		r.changed = true
	}
	return r.Person
}

// SetAttribute sets a person attribute to v (nil empties it) and records
// an AttributeChanged event when the value changes. v must already have the
// attribute's type.
func (r *Run) SetAttribute(name string, v any) {
	old, ok := r.Person.Get(name)
	if !ok {
		old = nil // an empty standard attribute reads "", not empty
	}
	if v != nil {
		if s, ok := v.(string); ok && s == "" {
			v = nil
		}
	}
	if values.Equal(old, v) {
		return
	}
	r.Edit().Set(name, v)
	r.Emit(store.People, store.AttributeChanged, map[string]any{"attribute": name, "old": old, "new": v})
}

// AddTag tags the person, recording a TagAdded event when the tag is new.
func (r *Run) AddTag(tag string) bool {
	if r.Person.HasTag(tag) {
		return false
	}
	r.Edit().AddTag(tag)
	r.Emit(store.People, store.TagAdded, map[string]any{"tag": tag})
	return true
}

// RemoveTag removes a tag, recording a TagRemoved event when the person had
// it.
func (r *Run) RemoveTag(tag string) bool {
	if !r.Person.HasTag(tag) {
		return false
	}
	r.Edit().RemoveTag(tag)
	r.Emit(store.People, store.TagRemoved, map[string]any{"tag": tag})
	return true
}

// Emit records an event about the person, stored and delivered to the
// person's waiting participants when the step commits.
func (r *Run) Emit(c store.Category, name string, props map[string]any) {
	if props == nil {
		props = map[string]any{}
	}
	props["flowId"] = r.FlowID
	props["participantId"] = r.Participant.String()
	props["elementId"] = r.ElementID
	r.emitted = append(r.emitted, &store.Event{
		ID:         r.IdempotencyKey() + ":" + strconv.Itoa(len(r.emitted)),
		PersonID:   r.Person.ID,
		Category:   c,
		Name:       name,
		Properties: props,
		Time:       r.Now,
	})
}

// Count adds n to a per-element counter of the step's element, such as
// Notify's engagements; the engine commits it with the step and reports it
// in flow.ElementStats.Other under key. Keys the engine uses itself
// ("entered", "waiting", "errors", "left:<branch>") are not for elements.
func (r *Run) Count(key string, n int64) {
	r.counters = append(r.counters, store.Counter{FlowID: r.FlowID, FlowVersion: r.FlowVersion, Element: r.ElementID, Key: key, N: n})
}

// Calling tells the engine that the step begins its call outside now
// (see External): kinds that call a port or host code call it just
// before. It may be called more than once; outside the engine's External
// steps it does nothing.
func (r *Run) Calling() {
	if r.Ports.Calling != nil {
		r.Ports.Calling()
	}
}

// Effects are what a step recorded through its Run, for the engine to
// commit with the step.
type Effects struct {
	// Person is the person as the step changed it; nil when it did not.
	Person *store.Person
	// Events are the events the step emitted, in order.
	Events []*store.Event
	// Counters are the counters the step added with Count. The engine
	// commits them whether or not the step failed: they count what
	// happened, such as messages sent before a failure.
	Counters []store.Counter
	// Notes are the step's notes (Note), which the engine adds to the
	// step's journal entry.
	Notes []string
}

// maxNotes bounds the notes one step keeps.
const maxNotes = 8

// Note records a remark about the step for its journal entry, such as a
// placeholder that rendered empty for want of a value. A step keeps its
// first 8 notes, each once.
func (r *Run) Note(text string) {
	if len(r.notes) < maxNotes && !slices.Contains(r.notes, text) {
		r.notes = append(r.notes, text)
	}
}

// Effects returns what the step recorded so far. The engine commits the
// person and events unless the step failed. What it returns is valid
// until the Run is Reset.
func (r *Run) Effects() Effects {
	e := Effects{Events: r.emitted, Counters: r.counters, Notes: r.notes}
	if r.changed {
		e.Person = r.Person
	}
	return e
}

// Reset makes r the Run to, for the engine's next step: what r recorded
// is dropped, and the capacity of its lists kept, so that one Run serves
// many steps. It is the engine's (and elementtest's); elements never call
// it.
func (r *Run) Reset(to Run) {
	emitted, counters, env, eval := r.emitted[:0], r.counters[:0], r.envMap, r.eval
	clear(r.emitted)
	*r = to
	r.subject = segment.Subject{}
	r.emitted, r.counters, r.envMap, r.eval = emitted, counters, env, eval
	r.changed, r.revealed, r.notes = false, nil, nil
}

// RedactText returns text with the values of the host settings the step
// read replaced by their placeholders ({{env.NAME}}), in every spelling
// the engine writes, for kinds that write text the outcome does not carry
// (a log record). The engine redacts outcomes and errors itself.
func (r *Run) RedactText(text string) string { return r.redact(text) }

// Redact returns a step's outcome and error with the values of the host
// settings the step read ({{env.NAME}}) replaced by their placeholders in
// the reason and the error's text, so that journals, participant
// reasons, errors and observers never hold them. The error returned still
// matches what err matches with errors.Is and errors.As. The engine
// redacts every step's outcome; elements need not.
func (r *Run) Redact(out Outcome, err error) (Outcome, error) {
	return r.redactOutcome(out, err)
}

// Subject returns the step's person, variables, entry event and history
// as a segment subject, for segments compiled with
// Compiler.SegmentOptions. It lives in r, so that a step allocates none:
// it is valid until the next call of Subject.
func (r *Run) Subject() *segment.Subject {
	sub := &r.subject
	*sub = segment.Subject{Person: r.Person, Now: r.Now, Location: r.Location, EnteredAt: r.EnteredAt, Vars: r.Vars, Entry: r.Entry, Events: r.History}
	return sub
}

// TimeZone returns the person's time zone when personal is set and the
// person has a valid one, and the flow's otherwise.
func (r *Run) TimeZone(personal bool) *time.Location {
	if personal && r.Person != nil && r.Person.TimeZone != "" {
		if loc, err := wall.LoadLocation(r.Person.TimeZone); err == nil {
			return loc
		}
	}
	if r.Location == nil {
		return time.UTC
	}
	return r.Location
}
