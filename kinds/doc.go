// Package kinds holds the built-in element kinds a flow is built from
// (Segment Audience, Wait for an Event, Send Message, Call API, ...), their
// settings (Options) and custom kinds made of a host function
// (CustomKind). Each kind implements the contract of package element and
// calls the host's ports (a Sender, an HTTP client, Conversations) the
// engine lends it in element.Run.Ports.
//
// Registry returns a registry of the built-in kinds, the default of
// flow.Config.Elements; RegisterCustom adds a custom kind to it. The
// engine binds its flow.Config.ElementOptions to the built-in kinds of the
// flows it compiles (Options.Bind).
package kinds
