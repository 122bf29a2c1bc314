// Package store is the persistence port of flowkit: the records the engine
// keeps (people, events, flow versions, participants, counters) and the Store
// interface that keeps them.
//
// Every record belongs to a person. One engine step is one transaction over
// one person's records (Store.Update), so implementations can lock, and later
// shard, by person. Implementations live in subpackages: store/memory is the
// embedded default, store/postgres the scale-out store; store/storetest is
// the conformance suite each one runs. The optional interfaces a Store may
// implement are listed on Store.
//
// Package store and everything under store/ sit below the engine: beside
// clock they import only flowkit's internal leaf packages (how phone
// numbers and email addresses are normalized, deep copies of values),
// never flow, kinds, element, segment or flowtest.
package store
