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
//
// # What a host provides or calls
//
// Beside the element types, which a host may use to build flows in Go,
// and the names of their branches and settings, the package holds what a
// host plugs in:
//
//   - custom kinds: CustomKind, RegisterCustom, NewCustom, CustomCall,
//     CustomResult;
//   - the HTTP client of Call API: NewHTTPClient (the engine's default),
//     HTTPClientOptions, and for a host that brings its own client,
//     CheckRedirect, BlockedAddress and ErrAddressBlocked;
//   - sending speeds: Pacer, with NewPacer its in-process default;
//   - settings of every flow: Options, CallAPIOptions, SendMessageOptions,
//     FrequencyCap, QuietHours.
package kinds
