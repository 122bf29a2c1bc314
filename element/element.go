package element

import (
	"context"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// Element is one kind of flow element, holding its configuration.
// Implementations are used concurrently by many participants once
// validated: Run and Resume must not change the element.
type Element interface {
	// Kind is the element's type name in the flow's JSON form.
	Kind() string
	// Branches are the names of the exits Run may take.
	Branches() []string
	// Validate checks the configuration and compiles what it needs. It is
	// called once, at Publish, before any Run.
	Validate(c *Compiler) error
	// Run executes one step for the participant at this element.
	Run(ctx context.Context, r *Run) (Outcome, error)
}

// Resumer is implemented by elements that wait: Resume is called when the
// participant's timer fires or an event the wait names arrives. r.Wait holds
// the wait in force.
type Resumer interface {
	Resume(ctx context.Context, r *Run, w Wake) (Outcome, error)
}

// External is implemented by kinds whose steps call outside the engine:
// an API, a Sender, Conversations or host code. The engine never holds a
// transaction while such a step runs: it commits the step's intent (the
// participant is in flight, with its idempotency key and a lease), calls
// Run or Resume with nothing held, and commits the result in a second
// transaction. A step whose process dies meanwhile is run again after the
// lease with the same Run.Seq, so its idempotency key is the same.
//
// Such a step sees the person and variables as they were when its intent
// committed; its person changes are applied to the person as it is when
// the result commits.
//
// Such a step calls Run.Calling just before its call outside begins:
// the engine then starts the next participant's step, so that what steps
// do before calling (delivery windows, sending speeds, frequency caps)
// happens in order while the calls themselves overlap. A step that never
// calls it is taken to call outside from its start to its end.
type External interface {
	// External reports whether steps of the element call outside.
	External() bool
}

// Sends is implemented by kinds whose steps send messages through
// Ports.Sender, to the person or to the host's staff: the engine observes
// their calls as sends (flow.ObservedSend) rather than calls.
type Sends interface {
	// Sends reports whether steps of the element send messages.
	Sends() bool
}

// WaitsForEvents is implemented by kinds that wait for events, so that
// the engine's checks can tell which: an exit rule on the same event
// takes the participant out before the wait sees it (flow.Flow.Warnings).
type WaitsForEvents interface {
	// WaitsForEvents returns the events the element waits for.
	WaitsForEvents() []EventName
}

// EventName names a kind of event: a category and a name.
type EventName struct {
	Category store.Category
	Name     string
}

// EntersFlow is implemented by kinds whose steps enter people into a flow
// by its Existing Flow entry point (Ports.Flows): at Publish, the engine
// refuses such an element when the flow it enters is known and takes no
// one by that entry point. A flow not yet published is checked when the
// step runs.
type EntersFlow interface {
	// EntersFlow returns the id of the flow the element's steps enter and
	// the configuration field that names it, for the error.
	EntersFlow() (flowID, field string)
}

// Blanker is implemented by elements whose type alone does not make an
// element of their kind, such as the uses of a custom kind: Blank returns
// a new, unconfigured element of the same kind, which the element's JSON
// form decodes into. flow.Flow.Clone copies an element that does not
// implement it into a new zero value of its type.
type Blanker interface {
	Blank() Element
}

// Wake says why a waiting participant is resumed.
type Wake struct {
	// Timer is set when the wait's Until has come.
	Timer bool
	// Event is the event that arrived, when not woken by the timer.
	Event *store.Event
}

// Outcome is the result of a step.
type Outcome struct {
	// Branch is the exit taken; "" with Wait nil means the participant
	// leaves the flow.
	Branch string
	// Wait, when set, holds the participant at this element.
	Wait *Wait
	// Reason says in words why, for the participant's journal.
	Reason string
	// Mismatch, on a Wait a Resume returns for an event, says in words
	// that the event did not match the element's conditions only because
	// a property held a value of another type than a condition compares
	// (see segment.Where.Mismatch): the engine journals it and reports it
	// to the caller of Deliver (flow.Report.Mismatches).
	Mismatch string
}

// Wait holds a participant at an element until a time or an event.
type Wait struct {
	// Until is when the element wants to be resumed by its timer; zero to
	// wait indefinitely (bounded by the flow's schedule end and the
	// inactivity limit).
	Until time.Time
	// Events are names of events that resume the participant (profile
	// changes arrive as store.AttributeChanged events).
	Events []string
	// State is kept with the wait and handed back in Run.Wait on Resume.
	State map[string]any
}

// Next returns an Outcome that goes on by branch.
func Next(branch, reason string) Outcome { return Outcome{Branch: branch, Reason: reason} }

// Leave returns an Outcome that leaves the flow.
func Leave(reason string) Outcome { return Outcome{Reason: reason} }

// Hold returns an Outcome that waits.
func Hold(w Wait, reason string) Outcome { return Outcome{Wait: &w, Reason: reason} }

// The branch names every flow knows.
const (
	// BranchNext is the exit of an element that has one.
	BranchNext = "next"
	// BranchError is the exit any element may connect: a step that fails
	// takes it, or fails the participant when it is not connected.
	BranchError = "error"
)

// FieldError is a configuration error in one field of an element.
type FieldError struct {
	Field string
	Err   error
}

// Error returns the field and the problem.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// Errorf returns a *FieldError for field.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// ReachesPerson is implemented by kinds whose steps may reach the person:
// messages, conversations, calls marked as messaging. A participant held
// out (one that took a Split Audience's control variant, or is in its
// flow's holdout) does not run such steps: the engine journals the step
// as held out and takes the branch HeldOutBranch names instead, so the
// participant goes on, waits and converts as the others do.
type ReachesPerson interface {
	// HeldOutBranch reports whether the element's steps reach the person
	// and, when they do, the branch a held-out participant takes in
	// their place.
	HeldOutBranch() (branch string, reaches bool)
}

// Experimenter is implemented by kinds that divide participants among
// variants and so make experiments (Split Audience): the engine reports
// each variant's participants and conversions (flow.Engine.Experiments),
// holds out the participants of a control variant, and, for an
// experiment that ends, sends later participants down the winner.
type Experimenter interface {
	// SplitExperiment returns the element's experiment, nil when it
	// makes none.
	SplitExperiment() *Experiment
}

// Experiment is what an Experimenter's element compares.
type Experiment struct {
	// Variants are the element's variants, in its order; each is the
	// name of a branch.
	Variants []ExperimentVariant
	// Goal names the flow goal whose conversions measure the variants;
	// "" when the element does not say (the engine then takes the flow's
	// first goal).
	Goal string
	// EndAfter ends the experiment that long after the version's first
	// participant reached the element; zero for no time limit.
	EndAfter segment.Period
	// SamplePerVariant ends the experiment once every variant has had
	// that many participants; 0 for no sample limit. An experiment with
	// neither limit never ends: it reports figures only.
	SamplePerVariant int64
	// Confidence is the level a winner's difference from the control
	// must reach to be significant, such as 0.95.
	Confidence float64
	// Fallback is the variant later participants take when the
	// experiment ends with no variant significantly better than the
	// control.
	Fallback string
}

// ExperimentVariant is one variant of an Experiment.
type ExperimentVariant struct {
	Name string
	// Control marks the control group, whose participants are held out
	// (see ReachesPerson).
	Control bool
}
