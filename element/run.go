package element

import (
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/internal/steprun"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

func init() {
	steprun.Set(steprun.Hooks[Run, Outcome]{
		Reset:         (*Run).reset,
		Effects:       (*Run).effects,
		Counters:      func(r *Run) []store.Counter { return r.counters },
		Redact:        (*Run).redact,
		RedactOutcome: (*Run).redactOutcome,
	})
}

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
	// Services are what the engine lends the kinds of its registry beyond
	// this contract: the built-in kinds find the host's ports (a Sender,
	// an HTTP client) in a *kinds.Services here. Custom elements need not
	// read it.
	Services any

	emitted  []*store.Event
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

	// lookup reads the host settings of {{env.NAME}} placeholders; nil
	// reads environment variables.
	lookup func(name string) (value string, ok bool)
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
	if store.Equal(old, v) {
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

// reset makes r the Run given, keeping the capacity of its effect lists
// (see steprun.Hooks.Reset).
func (r *Run) reset(to Run, settings func(name string) (string, bool)) {
	emitted, counters, env, eval := r.emitted[:0], r.counters[:0], r.envMap, r.eval
	clear(r.emitted)
	*r = to
	r.subject = segment.Subject{}
	r.emitted, r.counters, r.envMap, r.eval = emitted, counters, env, eval
	r.lookup = settings
}

// effects returns the person when the step changed it and the events it
// emitted.
func (r *Run) effects() (changed *store.Person, events []*store.Event) {
	if r.changed {
		changed = r.Person
	}
	return changed, r.emitted
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
