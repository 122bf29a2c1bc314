// Package steprun gives the engine the operations on an element.Run that
// are the engine's alone, so that they stay out of the element contract:
// reusing one Run for many steps, reading back what a step recorded, and
// taking the host settings a step read out of its texts. Package element
// sets the hooks in its init; package flow calls them.
package steprun

import "github.com/flowkit/flowkit/store"

// Hooks are the engine's operations on a Run of type R, whose steps end in
// Outcomes of type O (element.Run and element.Outcome).
type Hooks[R, O any] struct {
	// Reset makes *r the Run to, keeping the capacity of r's effect lists,
	// so that one Run value serves many steps; the lists are emptied, so
	// the engine takes the previous step's effects first. settings looks
	// up the host settings that {{env.NAME}} placeholders read (nil reads
	// environment variables).
	Reset func(r *R, to R, settings func(name string) (string, bool))
	// Effects returns what the step recorded: the person when it changed
	// (nil otherwise) and the events emitted. The engine commits them
	// unless the step failed.
	Effects func(r *R) (changed *store.Person, events []*store.Event)
	// Counters returns the counters the step added with Run.Count. The
	// engine commits them whether or not the step failed: they count what
	// happened, such as messages sent before a failure.
	Counters func(r *R) []store.Counter
	// Redact replaces in text the values of the host settings the step
	// read by their placeholders ({{env.NAME}}), in every spelling the
	// engine writes (as they are, URL-escaped, JSON-escaped, Go-quoted)
	// and, for a URL, by its host too.
	Redact func(r *R, text string) string
	// RedactOutcome applies Redact to an outcome's reason and an error's
	// text, and to the text of the participant's variables, the profile
	// attributes the step changed and the events it emitted; the error
	// still matches what err matches with errors.Is and errors.As. It
	// then forgets the step's settings: a second call changes nothing.
	RedactOutcome func(r *R, out O, err error) (O, error)
}

var hooks any

// Set installs the hooks; package element calls it in its init.
func Set[R, O any](h Hooks[R, O]) { hooks = h }

// Get returns the hooks Set installed for R and O.
func Get[R, O any]() Hooks[R, O] {
	h, _ := hooks.(Hooks[R, O])
	return h
}
