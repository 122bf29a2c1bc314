package flow

import (
	"errors"
	"strconv"
)

// Sentinel errors of the engine.
var (
	// ErrFlowNotActive is returned by Enter for a flow that is not active
	// (draft, paused, finished, canceled) or outside its schedule.
	ErrFlowNotActive = errors.New("flow is not active")
	// ErrAlreadyInFlow is returned by Enter for a person the flow's
	// re-entry rule (Flow.Reentry) refuses; the error names the rule.
	ErrAlreadyInFlow = errors.New("person is already in the flow")
	// ErrNoEntryPoint is returned by Enter, and taken as Add to Flow's
	// failed branch, for a flow that declares no entry point of that kind
	// (Flow.Entries: api, existingFlow).
	ErrNoEntryPoint = errors.New("flow has no such entry point")
	// ErrBadEvent is returned by Deliver for an event without an id, a
	// person, a valid category or a name.
	ErrBadEvent = errors.New("bad event")
	// ErrBadTransition is returned by the lifecycle methods for a move the
	// flow's status does not allow, such as activating a canceled flow.
	ErrBadTransition = errors.New("flow status does not allow this")
)

// ValidationError is a flow that cannot be published: it names the element
// (empty for the flow's own settings) and the field at fault.
type ValidationError struct {
	ElementID string
	Field     string
	Err       error
}

// Error names the element and field, then the problem.
func (e *ValidationError) Error() string {
	msg := ""
	if e.ElementID != "" {
		msg = "element " + strconv.Quote(e.ElementID) + ": "
	}
	if e.Field != "" {
		msg += e.Field + ": "
	}
	return msg + e.Err.Error()
}

// Unwrap returns Err.
func (e *ValidationError) Unwrap() error { return e.Err }

// ValidationErrors returns the *ValidationError values in err, in order:
// the problems Parse, Validate or Publish found. It returns nil when err
// holds none.
func ValidationErrors(err error) []*ValidationError {
	var out []*ValidationError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *ValidationError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}
