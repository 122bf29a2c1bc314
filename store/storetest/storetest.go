package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
)

// Run runs the conformance suite against the stores newStore returns,
// which implement the optional interfaces features declares.
//
// Every subtest calls newStore once, with its own *testing.T, and runs in
// parallel with the others. The store it gets must be empty of timers and
// events: DueTimers, NextDue and HistoryPruner.PruneEvents see the whole
// store, so the timer and retention subtests need a store of their own (a
// new memory store, a fresh database schema). Every other subtest uses
// fresh ids (uuid.NewV7 and flow ids made from them), so newStore may hand
// them one shared store.
//
// Run fails when features leaves an optional interface undeclared or
// declares one unlike what the store implements; the subtests of an
// interface declared with Lacks are skipped with the reason.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, features Features) {
	t.Helper()
	if err := features.validate(); err != nil {
		t.Fatal(err)
	}
	// Groups of one name run under one subtest: the tests of a group that
	// need an optional interface are listed apart, with what they need.
	groups := []struct {
		name  string
		tests []test
		needs Features
	}{
		{"Flows", flowTests, Features{}},
		{"People", peopleTests, Features{}},
		{"Update", updateTests, Features{}},
		{"Participants", participantTests, Features{}},
		{"Participants", countTests, Features{ParticipantCounter: Has}},
		{"Events", eventTests, Features{}},
		{"Transactions", txTests, Features{}},
		{"Transactions", refTests, Features{RefUpdater: Has}},
		{"Transactions", batchTests, Features{BatchUpdater: Has}},
		{"Transactions", sharingTests, Features{SharingTx: Has}},
		{"Timers", timerTests, Features{}},
		{"Timers", claimTests, Features{TimerClaimer: Has}},
		{"Counters", counterTests, Features{}},
		{"Concurrency", concurrencyTests, Features{}},
		{"Effects", effectTests, Features{}},
		{"Audience", peopleListTests, Features{PeopleLister: Has}},
		{"Audience", audienceTests, Features{AudienceRuns: Has}},
		{"Audience", removeTests, Features{AudienceRuns: Has, ParticipantRemover: Has}},
		{"Times", timeTests, Features{}},
		{"Cancellation", cancelTests, Features{}},
		{"EmptyReferences", emptyRefTests, Features{}},
		{"Erase", eraseTests, Features{Eraser: Has}},
		{"Retention", retentionTests, Features{HistoryPruner: Has}},
		{"Pace", paceTests, Features{PaceKeeper: Has}},
		{"Operations", operationTests, Features{OperationRuns: Has}},
		{"Experiments", experimentTests, Features{ExperimentKeeper: Has}},
		{"Inbox", inboxTests, Features{Inbox: Has}},
		{"Inbox", inboxEraseTests, Features{Inbox: Has, Eraser: Has}},
	}
	var names []string
	for _, g := range groups {
		if !slices.Contains(names, g.name) {
			names = append(names, g.name)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, g := range groups {
				if g.name != name {
					continue
				}
				for _, tc := range g.tests {
					t.Run(tc.name, func(t *testing.T) {
						t.Parallel()
						s := newStore(t)
						features.Need(t, s, g.needs)
						tc.run(t, s)
					})
				}
			}
		})
	}
}

// test is one subtest of a group.
type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// base is the time the suite's records are about. Times stay on whole
// milliseconds so that stores keeping microseconds round-trip them.
var base = time.Date(2030, time.January, 15, 9, 30, 0, 0, time.UTC)

// errRollback is returned from Update functions to discard their writes.
var errRollback = errors.New("storetest: roll back")
