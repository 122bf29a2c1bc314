// Package flowotel reports what a flowkit engine does to OpenTelemetry: a
// span per step and counters and histograms for steps, waits, exits,
// failures, sends and API calls.
//
// It is a [flow.Observer]: hand the one NewObserver returns to
// [flow.Config].Observer.
//
//	obs, err := flowotel.NewObserver(flowotel.Options{}) // the global providers
//	if err != nil {
//		return err
//	}
//	eng, err := flow.NewEngine(flow.Config{Store: st, Observer: obs})
//
// Each element's step (one that went on by a branch, one that holds the
// participant in a wait, and a failed one) becomes a span named
// "flowkit.step <kind>", from the engine's time of the step less the
// element call's duration to the engine's time of the step, a child of
// the span in the context of the engine call that ran it (Deliver, Tick,
// Enter). Spans carry the attributes flowkit.flow.id,
// flowkit.flow.version, flowkit.element.id, flowkit.element.kind,
// flowkit.branch (when the step took one), flowkit.observed ("step",
// "wait" or "failure"), flowkit.participant.id and flowkit.person.id. A
// failure's span has status Error with the error, recorded as an
// exception event too. A participant that fails without an error branch
// to take is observed without its element's kind and call duration: its
// span is a moment named "flowkit.step", with the failure's reason as its
// status.
//
// The metrics, each with the attributes flowkit.flow.id,
// flowkit.element.id, and flowkit.element.kind and flowkit.branch where
// the observation has them (branches on steps, sends and calls only):
//
//	flowkit.entries        counter    participants that entered a flow
//	flowkit.steps          counter    steps that went on by a branch, the error branch included
//	flowkit.waits          counter    steps that held a participant in a wait
//	flowkit.resumes        counter    waiting participants woken by an event or a timer
//	flowkit.exits          counter    participants that left a flow, not by a failure
//	flowkit.failures       counter    failed steps and failed participants
//	flowkit.sends          counter    messages sent or refused (Send Message, Notify)
//	flowkit.step.duration  histogram  seconds an element's step took
//	flowkit.api.duration   histogram  seconds a call outside took (Call API, Conversations, custom elements)
//
// A send or call that failed carries error.type "_OTHER". Participants and
// people are never metric attributes, so the number of series stays that
// of the flows' elements and branches.
package flowotel
