// Package storecheck runs the engine's scenarios on a store: the Store
// contract as flow.Engine relies on it, end to end (journeys, ticks of
// several processes, calls in flight, bulk entries, late events, live
// migration, goals after exit, holdouts, experiments and their winning
// paths across processes, action paths). Every store runs it next to storetest.Run, with the same
// storetest.Features:
//
//	func TestEngine(t *testing.T) {
//		storecheck.Run(t, storecheck.Backend{New: newStore, Processes: processes, Features: features})
//	}
//
// It lives above the engine so that the Store's own suite, store/storetest,
// imports only package store:
//
//	flowtest/storecheck   this package: the engine's scenarios on a store
//	flowtest              the test kit over the engine
//	flow, kinds, element, segment
//	store/storetest       the Store contract alone
//	store, clock
package storecheck
