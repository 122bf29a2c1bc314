package flow

import (
	"context"
	"log/slog"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Observer sees what the engine does: every step, wait, resume, exit,
// failure, entry and call outside, once each, after it committed. It is
// called synchronously from the engine call that did the work: keep it
// fast, and safe for concurrent use.
type Observer interface {
	Observe(ctx context.Context, o *Observation)
}

// ObserverFunc is an Observer that is a function.
type ObserverFunc func(ctx context.Context, o *Observation)

// Observe calls f.
func (f ObserverFunc) Observe(ctx context.Context, o *Observation) { f(ctx, o) }

// What says what an Observation is of.
type What uint8

// The kinds of observation.
const (
	// ObservedEnter is a person entering a flow.
	ObservedEnter What = iota + 1
	// ObservedStep is an element's step that went on by a branch.
	ObservedStep
	// ObservedWait is a step that holds the participant at its element.
	ObservedWait
	// ObservedResume is a waiting participant woken by an event or its
	// timer.
	ObservedResume
	// ObservedExit is a participant leaving its flow, not by a failure.
	ObservedExit
	// ObservedFailure is a failed step: it took the error branch or
	// failed the participant.
	ObservedFailure
	// ObservedSend is a message sent or refused by the Sender (Send
	// Message, Notify).
	ObservedSend
	// ObservedCall is a call to an API (Call API), to Conversations or to
	// host code (custom elements).
	ObservedCall
)

var whatNames = [...]string{"", "enter", "step", "wait", "resume", "exit", "failure", "send", "call"}

// String names the kind: "step", "wait", ...
func (w What) String() string {
	if int(w) < len(whatNames) {
		return whatNames[w]
	}
	return "unknown"
}

// Observation is one thing the engine did.
type Observation struct {
	What        What
	At          time.Time // the engine's time of it
	FlowID      string
	FlowVersion int
	ElementID   string
	Kind        string // the element's kind, "" for enter and exit
	Participant uuid.UUID
	Person      uuid.UUID
	// Branch is the branch taken, for steps.
	Branch string
	// Reason says why, in words, as the journal does.
	Reason string
	// Duration is how long the step took: the element's Run or Resume
	// and the engine's work on the step before it in the same call (the
	// call outside included, for sends and calls).
	Duration time.Duration
	// Err is the step's error, for failures, sends and calls that failed.
	Err error
}

// emitObservations hands a committed session's observations over, and
// logs its failures.
func (e *Engine) emitObservations(ctx context.Context, obs, failures []Observation) {
	for i := range failures {
		o := &failures[i]
		e.log.LogAttrs(ctx, slog.LevelWarn, "flowkit: a step failed",
			slog.String("flow", o.FlowID), slog.Int("version", o.FlowVersion), slog.String("element", o.ElementID),
			slog.String("participant", o.Participant.String()), slog.String("reason", o.Reason))
	}
	for i := range obs {
		o := &obs[i]
		if e.cfg.Observer != nil {
			e.cfg.Observer.Observe(ctx, o)
		}
		if e.debug {
			e.log.LogAttrs(ctx, slog.LevelDebug, "flowkit: "+o.What.String(),
				slog.String("flow", o.FlowID), slog.Int("version", o.FlowVersion), slog.String("element", o.ElementID),
				slog.String("participant", o.Participant.String()), slog.String("branch", o.Branch), slog.String("reason", o.Reason),
				slog.Duration("duration", o.Duration))
		}
	}
}

// observeStep notes a step's outcome: a step by a branch, a wait, or a
// failure (leaving the flow is noted by leave).
func (s *session) observeStep(p *store.Participant, n *node, out element.Outcome, err error) {
	o := Observation{FlowID: p.FlowID, FlowVersion: p.FlowVersion, ElementID: n.id, Kind: n.element.Kind(),
		Participant: p.ID, Branch: out.Branch, Reason: out.Reason, Duration: s.st.took, Err: err}
	switch {
	case err != nil:
		if _, ok := n.next[element.BranchError]; !ok {
			return // leave notes the failure
		}
		o.What, o.Branch, o.Reason = ObservedFailure, element.BranchError, "failed: "+err.Error()
	case out.Wait != nil:
		o.What = ObservedWait
	case out.Branch == "":
		return
	default:
		o.What = ObservedStep
	}
	s.observe(o)
}

// observeResume notes a waiting participant woken.
func (s *session) observeResume(p *store.Participant, n *node, w element.Wake) {
	if !s.rec.observing {
		return
	}
	reason := "its timer fired"
	if w.Event != nil {
		reason = w.Event.Name + " arrived"
	}
	s.observe(Observation{What: ObservedResume, FlowID: p.FlowID, FlowVersion: p.FlowVersion, ElementID: n.id, Kind: n.element.Kind(), Participant: p.ID, Reason: reason})
}

// startClock starts timing a step, unless the step before it in this
// call left a reading to start from.
func (st *stepper) startClock() {
	if st.mark.IsZero() {
		st.mark = time.Now()
	}
}

// stopClock ends timing a step: took is the time since the mark, which
// the next step starts from.
func (st *stepper) stopClock() {
	now := time.Now()
	st.took = now.Sub(st.mark)
	st.mark = now
}
