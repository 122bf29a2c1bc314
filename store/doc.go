// Package store is the persistence port of flowkit: the records the engine
// keeps (people, events, flow versions, participants, counters) and the Store
// interface that keeps them.
//
// Every record belongs to a person. One engine step is one transaction over
// one person's records (Store.Update), so implementations can lock, and later
// shard, by person. Implementations live in subpackages: store/memory is the
// embedded default; store/storetest is the conformance suite each one runs.
package store
