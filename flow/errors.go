package flow

import (
	"errors"
	"strconv"
	"strings"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
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

// InputError is host input the engine refuses: a person reference that
// names nobody it may use, an attribute or variable value that does not
// fit its declaration, or a bad event. It names the person as the host
// referred to them, never by an id the host did not give. A host serving
// HTTP maps it to 400 Bad Request, or to 404 Not Found when it wraps
// store.ErrNotFound (an unknown person, see Config.RefuseUnknownPeople).
type InputError struct {
	// Ref is the person reference as given, such as `externalId "ann-1"`;
	// empty when the input names no person.
	Ref string
	// Field is the part of the input at fault, such as
	// `attributes.shoeSize`, `timeZone`, `vars.cartId` or `category`;
	// empty when it is the reference itself.
	Field string
	// Err is the problem; it wraps ErrBadEvent for a bad event and
	// store.ErrNotFound for an unknown person.
	Err error
}

// Error names the person and the field, then the problem.
func (e *InputError) Error() string {
	msg := ""
	if e.Ref != "" {
		msg = "person " + e.Ref + ": "
	}
	if e.Field != "" {
		msg += e.Field + ": "
	}
	return msg + e.Err.Error()
}

// Unwrap returns Err.
func (e *InputError) Unwrap() error { return e.Err }

// refName writes a person reference as the host gave it: by the field
// the engine goes by (see store.PersonRef).
func refName(r store.PersonRef) string {
	switch {
	case r.ID != uuid.Nil:
		return "id " + r.ID.String()
	case r.ExternalID != "":
		return "externalId " + quoteShort(r.ExternalID)
	case r.Phone != "":
		return "phone " + quoteShort(r.Phone)
	case r.Email != "":
		return "email " + quoteShort(r.Email)
	}
	return ""
}

// quoteShort quotes s, or the start of it and its length when it is too
// long to repeat in an error.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(strings.ToValidUTF8(s[:max], "")) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// inputError returns err as an *InputError about who, keeping one that
// is one already and giving it the reference it lacks.
func inputError(who store.PersonRef, field string, err error) error {
	var ie *InputError
	if errors.As(err, &ie) {
		if ie.Ref == "" {
			c := *ie
			c.Ref = refName(who)
			return &c
		}
		return err
	}
	return &InputError{Ref: refName(who), Field: field, Err: err}
}
