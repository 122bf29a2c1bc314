// Package flownats delivers events from a NATS JetStream stream to a
// flowkit engine, so that hosts that keep their events in a broker feed
// their flows without plumbing of their own.
//
// Events travel as JSON store.Event values on subjects by person,
// <prefix>.<partition>.<person>, where the partition is a hash of the
// person's reference: a Publisher writes them so, with the event's id
// (and its person) as JetStream's message id, so a publish sent twice
// within the stream's duplicate window is stored once.
//
//	js, _ := jetstream.New(nc)
//	_, err := js.CreateOrUpdateStream(ctx, flownats.StreamConfig("EVENTS", "flowkit.events"))
//	pub := flownats.NewPublisher(js, flownats.Config{})
//	_, err = pub.Publish(ctx, &store.Event{ID: "order-1001", Person: store.PersonRef{ExternalID: "ana"},
//		Category: store.External, Name: "OrderCompleted"})
//
// A Consumer, in every process that consumes, delivers them
// (flow.Engine.Deliver):
//
//	c, err := flownats.NewConsumer(ctx, flownats.Config{Engine: eng, JetStream: js, Stream: "EVENTS"})
//	err = c.Run(ctx) // until ctx is done
//
// Each partition has a durable consumer that hands out one message at a
// time (MaxAckPending 1), whichever process asks: so the events of one
// person are applied in the order the stream holds them, however many
// processes consume, and the partitions spread the work among them. A
// message is acknowledged only after the engine committed it (Deliver
// returned); one whose process died before is delivered again after
// Config.AckWait, and an event id the person's history holds changes
// nothing, so a redelivered event is applied once. A message that is not
// an event, or an event the engine refuses as bad input, is terminated
// (never delivered again) and reported to Config.OnBad; one the engine
// could not apply for now (the store did not answer) is delivered again
// after a second, before the partition's later messages.
package flownats
