package kinds

import "github.com/flowkit/flowkit/element"

// Options are the host's settings of the built-in kinds, the same for
// every flow of an engine (flow.Config.ElementOptions). The zero value
// holds each kind's defaults.
type Options struct {
	// CallAPI configures Call API elements.
	CallAPI CallAPIOptions
	// SendMessage configures Send Message elements.
	SendMessage SendMessageOptions
	// Pacer spaces out the actions of elements with a sending speed
	// (Call API, Send Message, Notify). The engine defaults it to the
	// Store's budgets when the Store keeps them (store.PaceKeeper), else
	// to NewPacer(), which keeps them in its process.
	Pacer Pacer
}

// Bind gives el the options of its kind when it is a built-in kind that
// has some (Call API, Send Message, Notify); other elements are left as they are.
// The engine binds its Config.ElementOptions to each element of the flows
// it compiles, before validating it; an element never bound has each
// kind's defaults.
func (o *Options) Bind(el element.Element) {
	if b, ok := el.(binder); ok {
		b.bind(o)
	}
}

// binder is implemented by the kinds that have options.
type binder interface{ bind(o *Options) }

// SendMessageOptions are the host's settings for Send Message elements.
type SendMessageOptions struct {
	// FrequencyCap limits how many messages Send Message sends one person
	// across all flows. Defaults to no cap.
	FrequencyCap FrequencyCap
	// FrequencyCaps are more caps, each checked with FrequencyCap: a send
	// over any of them goes on by "capped". Per-channel and calendar caps
	// ("3 SMS per calendar day, 10 messages per calendar week, in the
	// person's time zone") go here. Defaults to none.
	FrequencyCaps []FrequencyCap
	// QuietHours are the hours, in each person's time zone, when Send
	// Message waits instead of sending. Defaults to none.
	QuietHours QuietHours
}
