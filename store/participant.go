package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/flowkit/flowkit/internal/clone"
	"github.com/google/uuid"
)

// Status is where a participant stands in its flow.
type Status string

// The participant statuses. Active, Waiting and InFlight participants are
// in the flow; the others have left it.
const (
	Active    Status = "active"    // between steps, about to run
	Waiting   Status = "waiting"   // held by a wait until a time, an event or a change
	Completed Status = "completed" // left the flow by an exit or an unconnected branch
	Failed    Status = "failed"    // left the flow on an error, recorded in Reason
	Canceled  Status = "canceled"  // removed because its flow was canceled
	// InFlight participants are in a step that calls outside the engine
	// (an API, a Sender, host code): the call runs with no transaction
	// held, and Effect says which step and until when it is leased.
	InFlight Status = "inflight"
)

// Done reports whether a participant with this status has left its flow.
func (s Status) Done() bool { return s == Completed || s == Failed || s == Canceled }

// Participant is one person in one flow version.
type Participant struct {
	ID          uuid.UUID `json:"id"`
	PersonID    uuid.UUID `json:"personId"`
	FlowID      string    `json:"flowId"`
	FlowVersion int       `json:"flowVersion"`
	Status      Status    `json:"status"`
	// Element is the id of the element the participant is at (or left from).
	Element string         `json:"element"`
	Vars    map[string]any `json:"vars,omitempty"`
	// Entry is the event that entered the participant into the flow, if any.
	Entry *Event `json:"entry,omitempty"`
	// EnteredBy says in words by which entry point the participant came
	// in: "the API", "event OrderCompleted", "another flow", "audience",
	// "date birthDate".
	EnteredBy string `json:"enteredBy,omitempty"`

	EnteredAt      time.Time `json:"enteredAt"`
	ArrivedAt      time.Time `json:"arrivedAt"`      // when it reached Element
	LastActivityAt time.Time `json:"lastActivityAt"` // when an element was last activated
	ExitedAt       time.Time `json:"exitedAt,omitzero"`
	Reason         string    `json:"reason,omitempty"` // why it left the flow, in words

	// Seq counts the steps taken; with ID it makes idempotency keys.
	Seq  int64 `json:"seq"`
	Wait *Wait `json:"wait,omitempty"`
	// Journal holds the most recent steps, oldest first.
	Journal []Step `json:"journal,omitempty"`
	// Goals are the flow's goals the participant converted on.
	Goals []string `json:"goals,omitempty"`
	// Holdout names the control group the participant is in, whose steps
	// that would reach the person are skipped: the id of the Split
	// Audience element whose control variant it took, or "flow" for the
	// flow's holdout; "" when it is not held out.
	Holdout string `json:"holdout,omitempty"`
	// Effect is the step in flight while Status is InFlight, else nil.
	Effect *Effect `json:"effect,omitempty"`
	// Operations names the bulk operations (see OperationRun) that
	// changed the participant, oldest first; the engine keeps the most
	// recent few.
	Operations []string `json:"operations,omitempty"`
	// Version is the optimistic-concurrency version, set by the Store: a
	// PutParticipant with a Version other than the stored one fails with
	// ErrConflict, and a successful one increments it.
	Version int64 `json:"version"`
}

// Wait is what a waiting participant waits for.
type Wait struct {
	// Until is when the participant's timer fires; zero for no timer.
	Until time.Time `json:"until,omitzero"`
	// Deadline is the element's own time limit; Until may come earlier
	// when the flow's schedule end or the inactivity limit comes first.
	Deadline time.Time `json:"deadline,omitzero"`
	// Events are the names of the events that may wake the participant;
	// profile changes arrive as AttributeChanged events.
	Events []string `json:"events,omitempty"`
	// State is the waiting element's own state.
	State map[string]any `json:"state,omitempty"`
	// Parked is set while the flow is paused: the timer stays due but does
	// not fire until the flow resumes.
	Parked bool `json:"parked,omitempty"`
}

// Effect is a step in flight: its intent is committed, its call outside
// the engine is under way with no transaction held, and its result is
// committed by a second transaction that checks Seq and Attempt. While a
// participant is in flight its Wait.Until is the lease's end: when the
// process performing the call dies, the timer fires and the step is
// tried again with the same idempotency key.
type Effect struct {
	// Seq is the step's sequence number: the step's idempotency key is
	// the participant's ID and Seq, the same on every attempt.
	Seq int64 `json:"seq"`
	// Attempt counts the attempts; a result is committed only by the
	// attempt that is still current.
	Attempt int `json:"attempt"`
	// Started is when the current attempt began.
	Started time.Time `json:"started"`
	// Resumed is the wait the step resumes, nil when the participant
	// arrived at the element; Event is the event that woke it, if any.
	Resumed *Wait  `json:"resumed,omitempty"`
	Event   *Event `json:"event,omitempty"`
	// Held are the person's events delivered while the step was in
	// flight, handed to the participant once its result is committed.
	Held []*Event `json:"held,omitempty"`
}

// Step is one journal entry: what a participant did at one element.
type Step struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Element string    `json:"element"`
	Branch  string    `json:"branch,omitempty"`
	Reason  string    `json:"reason"`
}

// Due reports whether the participant's timer is due at now.
func (p *Participant) Due(now time.Time) bool {
	return p.Wait != nil && !p.Wait.Until.IsZero() && !p.Wait.Parked && !p.Wait.Until.After(now)
}

// Clone returns a deep copy of p: Vars, Entry, Wait (Events and State
// included), Journal, Goals, Operations and Effect are copied, so
// changing the copy, in place or nested, never changes p.
func (p *Participant) Clone() *Participant {
	c := *p
	c.Vars = clone.Map(p.Vars)
	c.Entry = p.Entry.Clone()
	c.Wait = p.Wait.Clone()
	c.Journal = slices.Clone(p.Journal)
	c.Goals = slices.Clone(p.Goals)
	c.Operations = slices.Clone(p.Operations)
	c.Effect = p.Effect.Clone()
	return &c
}

// Clone returns a deep copy of e (its wait and events included), nil for
// nil.
func (e *Effect) Clone() *Effect {
	if e == nil {
		return nil
	}
	c := *e
	c.Resumed = e.Resumed.Clone()
	c.Event = e.Event.Clone()
	if e.Held != nil {
		c.Held = make([]*Event, len(e.Held))
		for i, h := range e.Held {
			c.Held[i] = h.Clone()
		}
	}
	return &c
}

// Clone returns a deep copy of w, nil for nil.
func (w *Wait) Clone() *Wait {
	if w == nil {
		return nil
	}
	c := *w
	c.Events = slices.Clone(w.Events)
	c.State = clone.Map(w.State)
	return &c
}

// Check returns an error wrapping ErrInvalid when p lacks an ID, a
// PersonID or a FlowID, which every stored participant has: a Store
// refuses to keep such a participant.
func (p *Participant) Check() error {
	switch {
	case p.ID == uuid.Nil:
		return fmt.Errorf("participant of person %s in flow %q: participant id is nil: %w", p.PersonID, p.FlowID, ErrInvalid)
	case p.PersonID == uuid.Nil:
		return fmt.Errorf("participant %s: person id is nil: %w", p.ID, ErrInvalid)
	case p.FlowID == "":
		return fmt.Errorf("participant %s: flow id is empty: %w", p.ID, ErrInvalid)
	}
	return nil
}

// Timer names a participant whose timer is due.
type Timer struct {
	Due           time.Time
	PersonID      uuid.UUID
	ParticipantID uuid.UUID
	// Orphaned is set by TimerClaimer.ClaimTimers for a participant in
	// flight whose call was being made by a process the store knows is
	// dead: its step is to be run again now, before Due (its lease).
	Orphaned bool
	// Shard groups the timers of people the store keeps together, such as
	// on one shard of a distributed database, where a batch of one
	// shard's people commits without a distributed transaction: from 1 on
	// a store that spreads people over shards, 0 on one that does not.
	// The engine fires the timers of one Shard together, and ClaimTimers
	// returns them by Shard.
	Shard int
}

// ParticipantQuery selects participants for inspection.
type ParticipantQuery struct {
	FlowID   string   // required
	Statuses []Status // empty for any
	Element  string   // only participants at (or, when they left, last at) this element; "" for any
	// Version selects the participants of one version of the flow; 0
	// for every version.
	Version int
	// Reason selects the participants whose Reason (for a failed one, the
	// failure) contains this text; "" for any.
	Reason string
	After  uuid.UUID // only IDs greater than this one; uuid.Nil for no bound
	// Before selects only IDs smaller than this one; uuid.Nil for no
	// bound. With Descending it pages back: the page before a page is
	// Before its first ID, Descending, reversed.
	Before uuid.UUID
	// Descending lists participants in descending ID order (newest
	// first, as IDs are time-ordered) instead of ascending.
	Descending bool
	Limit      int // 0 for all
}

// ParticipantCounter is implemented by stores that count the participants
// a query selects without reading them, for a console's totals.
type ParticipantCounter interface {
	// CountParticipants returns how many participants q selects, leaving
	// out its After, Before and Limit.
	CountParticipants(ctx context.Context, q *ParticipantQuery) (int64, error)
}

// FlowStatus is the lifecycle state of a flow.
type FlowStatus string

// The flow statuses. A flow starts as Draft, is Activated, may be Paused and
// Resumed, and ends Finished (no new entries, participants run out) or
// Canceled (every participant leaves).
const (
	FlowDraft    FlowStatus = "draft"
	FlowActive   FlowStatus = "active"
	FlowPaused   FlowStatus = "paused"
	FlowFinished FlowStatus = "finished"
	FlowCanceled FlowStatus = "canceled"
)

// FlowVersion is one published, immutable version of a flow.
type FlowVersion struct {
	FlowID      string
	Version     int
	Document    []byte // the flow's JSON form
	PublishedAt time.Time
}

// FlowState is a flow's lifecycle state and latest version.
type FlowState struct {
	FlowID    string
	Status    FlowStatus
	Latest    int // the version new participants enter
	UpdatedAt time.Time
}

// Counter is a per-element statistic: Key counts something at an element of
// a flow version ("entered", "errors", "left:<branch>", "waiting", or a
// kind-specific figure such as a send).
type Counter struct {
	FlowID      string
	FlowVersion int
	Element     string
	Key         string
	N           int64
}
