// Package element is the contract between the engine and the element
// kinds a flow is built from; package kinds holds the built-in ones.
//
// An Element is a typed configuration. Validate checks it and compiles its
// expressions (Compiler.Expr), templates (Compiler.Template) and segments
// once, when its flow is published, and returns a *FieldError (Errorf)
// naming the field at fault. Run executes one step for one participant and
// returns an Outcome: go on by a named branch (Next), wait (Hold), or leave
// the flow (Leave). Waiting kinds also implement Resumer, called when their
// timer fires or an event they wait for arrives; kinds that call outside
// the engine implement External, so that no transaction is held while
// they do.
//
// Elements never touch the Store. They see a Run: the time, the person,
// the participant's variables and event history, and the Ports the engine
// lends (the host's Sender, HTTP client and Conversations, entering people
// into flows, the host's settings). They describe effects (profile
// changes, tags, events, counters) that the engine reads back with
// Run.Effects and commits atomically with the step. What else the engine
// needs to know of a kind it asks through optional interfaces: Resumer,
// External, Sends and EntersFlow.
//
// Package elementtest runs one element alone, as the engine does, with
// recording fakes of the ports: custom kinds are unit-tested the way the
// built-in kinds are.
//
// Kinds are found by name in a Registry, one per engine
// (flow.Config.Elements): kinds.Registry holds the built-in kinds, and a
// host adds its own with Registry.Register.
package element
