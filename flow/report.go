package flow

import (
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Report says what an Enter or Deliver call did: whom it entered where,
// whom it woke, which entries the flows' rules refused and why. Ask for
// one with ReportTo. Steps that call outside run after the call's own
// transaction; what they lead to is not in the report.
type Report struct {
	// Entered are the participants the call created, in every flow.
	Entered []Entrant
	// Woken are the waiting participants an event resumed.
	Woken []uuid.UUID
	// Refused are the entries the flows' rules refused (the flow is not
	// active, takes no one that way, or its re-entry rule said no).
	Refused []Refusal
	// Duplicate is set when Deliver found the event's id in the person's
	// history already: the call changed nothing.
	Duplicate bool
	// Mismatches are the conditions on the event (an event entry's, a
	// waiting participant's, an exit rule's) it did not match only
	// because a property held a value of another type than the condition
	// compares, such as "total": "99.5" (text) against greaterThan 50.
	Mismatches []Mismatch
}

// Mismatch is a condition an event did not match because of a value's
// type.
type Mismatch struct {
	FlowID string
	// Participant is the participant whose wait or exit rule it was;
	// uuid.Nil for an event entry.
	Participant uuid.UUID
	// Where names the condition: "entry" for an event entry, the element's
	// id for a wait, "exitRules.<name>" for an exit rule.
	Where string
	// Reason says which property and why, such as `property "total" is
	// text "99.5", not a number: total greaterThan 50 cannot compare it`.
	Reason string
}

// Entrant is one participant a call created.
type Entrant struct {
	FlowID      string
	Participant uuid.UUID
	// By says how it came in, as Participant.EnteredBy does.
	By string
}

// Refusal is an entry a flow's rules refused.
type Refusal struct {
	FlowID string
	// Err says why; it wraps ErrFlowNotActive, ErrAlreadyInFlow or
	// ErrNoEntryPoint.
	Err error
}

// CallOption changes how Enter or Deliver runs.
type CallOption func(*callOptions)

type callOptions struct {
	key    string
	report *Report
	// inbox is the recorded call a drain runs (see inbox.go).
	inbox *store.InboxItem
}

// WithKey makes an entry idempotent: entering again with the same key (a
// retry after an unclear error, say) returns the participant the first
// entry made, and enters no one. Keys are per flow. Deliver ignores it:
// events are idempotent by their id.
func WithKey(key string) CallOption { return func(o *callOptions) { o.key = "api:" + key } }

// ReportTo fills r with what the call did, once it returns (also when it
// returns an error: then with what it would have done, none of which
// happened).
func ReportTo(r *Report) CallOption { return func(o *callOptions) { o.report = r } }

func options(opts []CallOption) callOptions {
	if len(opts) == 0 {
		return callOptions{} // without options, nothing escapes to the heap
	}
	var o callOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
