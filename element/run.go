package element

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

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
	// Services are the host's ports and the engine's helpers.
	Services *Services

	emitted  []*store.Event
	envMap   map[string]any
	changed  bool
	counters []store.Counter
	subject  segment.Subject // lent by subjectOf, reused across steps

	// revealed are the host settings the step read (see Redact).
	revealed []revealedSetting
}

// Services are what the host and the engine lend to elements.
type Services struct {
	Schema store.Schema
	Logger *slog.Logger
	// Sender sends messages; nil when the host has none.
	Sender Sender
	// HTTP performs Call API requests.
	HTTP HTTPDoer
	// Conversations starts conversations with agents; nil when the host
	// has none.
	Conversations Conversations
	// History reads the person's event history, including events recorded
	// earlier in this transaction.
	History func(q *store.EventQuery) ([]*store.Event, error)
	// Flows lets a step enter a person into another flow.
	Flows Flows
	// Options are the host's settings of the built-in kinds.
	Options Options
	// Settings looks up the host settings that {{env.NAME}} placeholders
	// read, when a step runs; nil reads environment variables.
	Settings func(name string) (value string, ok bool)
	// Variants, when set, may choose a Split Audience's variant for a
	// person instead of the split's hash (see SplitAudience).
	Variants func(flowID, elementID string, person *store.Person) (variant string, ok bool)
}

// HTTPDoer performs HTTP requests; *http.Client implements it.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Sender sends one message and returns the channel's message id. A send is
// at-least-once: Message.IdempotencyKey is stable across retries of a step.
type Sender interface {
	Send(ctx context.Context, m *Message) (messageID string, err error)
}

// Message is one message to send.
type Message struct {
	Channel        string // "sms", "email", "push", or another name
	To             string // phone number, email address or push token
	From           string
	Subject        string
	Body           string
	Data           map[string]any
	PersonID       uuid.UUID // uuid.Nil for internal recipients
	FlowID         string
	ElementID      string
	IdempotencyKey string
}

// Conversations starts a conversation between a person and live agents.
type Conversations interface {
	Start(ctx context.Context, c *Conversation) (id string, err error)
}

// Conversation is a request for a conversation with agents.
type Conversation struct {
	PersonID       uuid.UUID
	Tag            string // what it is about, for the agent
	Context        map[string]any
	FlowID         string
	IdempotencyKey string
}

// Flows enters people into flows on behalf of a step.
type Flows interface {
	// Enter enters the person (the step's own when who is the zero
	// PersonRef) into the flow's active version, with vars. It fails when
	// the flow is not active. Entering another person happens after the
	// step commits, keyed by key so that a retried step enters once.
	Enter(ctx context.Context, flowID string, who store.PersonRef, vars map[string]any, key string) error
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

// Counters returns the counters the step added with Count. The engine
// commits them whether or not the step failed: they count what happened,
// such as messages sent before a failure.
func (r *Run) Counters() []store.Counter { return r.counters }

// Reset makes r the Run given, keeping the capacity of its effect lists, so
// that an engine can reuse one Run value for many steps. The lists are
// emptied: the engine must take the previous step's effects first.
func (r *Run) Reset(to Run) {
	emitted, counters, env := r.emitted[:0], r.counters[:0], r.envMap
	clear(r.emitted)
	*r = to
	r.subject = segment.Subject{}
	r.emitted, r.counters, r.envMap = emitted, counters, env
}

// Effects returns what the step recorded: the person when it changed (nil
// otherwise) and the events emitted. The engine calls it after Run or
// Resume and commits them unless the step failed.
func (r *Run) Effects() (changed *store.Person, events []*store.Event) {
	if r.changed {
		changed = r.Person
	}
	return changed, r.emitted
}

// TimeZone returns the person's time zone when personal is set and the
// person has a valid one, and the flow's otherwise.
func (r *Run) TimeZone(personal bool) *time.Location {
	if personal && r.Person != nil && r.Person.TimeZone != "" {
		if loc, err := LoadLocation(r.Person.TimeZone); err == nil {
			return loc
		}
	}
	if r.Location == nil {
		return time.UTC
	}
	return r.Location
}
