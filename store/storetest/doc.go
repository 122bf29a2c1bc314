// Package storetest is the conformance suite for store.Store
// implementations. Every Store runs it from its own tests, declaring in
// one Features value which optional interfaces it implements:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(*testing.T) store.Store { return mystore.New() }, storetest.Features{
//			TimerClaimer: storetest.Has,
//			RefUpdater:   storetest.Has,
//			Eraser:       storetest.Lacks("people are kept forever"),
//			// ... every field, Has or Lacks(reason)
//		})
//	}
//
// The suite checks the behaviour documented in package store: flow
// versions and states, people and their lookup keys, the atomicity and
// isolation of Store.Update, participant versioning, the event history,
// timers, counters, concurrent use, the copy-in, copy-out rule, exact time
// round-trips, canceled contexts, empty references, and the optional
// interfaces (timer claims, updates by reference, batches, erasure,
// history pruning, people lists, audience runs, participant removal,
// sending-speed budgets) the store declares. A change to what a Store
// does lands here first.
//
// The suite imports only package store (and the standard library, uuid
// and testify), so a store's author tests it without the engine. The
// engine's scenarios on a store, which every store also runs, live above
// the engine in flowtest/storecheck:
//
//	flowtest/storecheck   the engine's scenarios on a store
//	flow, kinds, element, segment
//	store/storetest       this suite: the Store contract alone
//	store                 records and the Store port
//
// Nothing under store/ imports flow, kinds, element, segment or flowtest.
package storetest
