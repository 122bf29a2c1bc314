package kinds

// Options are the host's settings of the built-in kinds, the same for
// every flow of an engine (flow.Config.ElementOptions). The zero value
// holds each kind's defaults.
type Options struct {
	// CallAPI configures Call API elements.
	CallAPI CallAPIOptions
	// SendMessage configures Send Message elements.
	SendMessage SendMessageOptions
}

// SendMessageOptions are the host's settings for Send Message elements.
type SendMessageOptions struct {
	// FrequencyCap limits how many messages Send Message sends one person
	// across all flows. Defaults to no cap.
	FrequencyCap FrequencyCap
	// QuietHours are the hours, in each person's time zone, when Send
	// Message waits instead of sending. Defaults to none.
	QuietHours QuietHours
}
