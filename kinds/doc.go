// Package kinds holds the built-in element kinds a flow is built from
// (Segment Audience, Wait for an Event, Send Message, Call API, ...), the
// host's ports they call (Sender, HTTPDoer, Conversations), their
// settings (Options) and custom kinds made of a host function
// (CustomKind). Each kind implements the contract of package element.
//
// Registry returns a registry of the built-in kinds, the default of
// flow.Config.Elements; RegisterCustom adds a custom kind to it. The
// engine lends the kinds its Services in element.Run.Services.
package kinds
