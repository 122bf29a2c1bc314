// Package element holds the element kinds a flow is built from and the
// contract they implement.
//
// An Element is a typed configuration. Validate checks it and compiles its
// expressions, templates and segments once, when its flow is published; Run
// executes one step for one participant and returns an Outcome: go on by a
// named branch, wait, or exit. Waiting kinds also implement Resumer, called
// when their timer fires or an event they wait for arrives.
//
// Elements never touch the Store. They see a Run: the time, the person, the
// participant's variables and the host's ports, and they describe effects
// (profile changes, tags, events) that the engine commits atomically with
// the step.
//
// Kinds are found by name in a Registry, one per engine: NewRegistry holds
// the built-in kinds, and hosts add their own with Registry.Register and
// Registry.RegisterCustom.
package element
