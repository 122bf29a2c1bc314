package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Features declares which optional interfaces of package store a store
// implements. Every field must be declared, Has or Lacks(reason): Run
// fails on one left out, on a Has the store does not implement and on a
// Lacks it does, and skips the subtests of a feature it lacks, naming
// the reason. The suites above the store (flowtest/storecheck) take the
// same value.
type Features struct {
	// TimerClaimer (store.TimerClaimer): ticks that run at once take
	// different timers.
	TimerClaimer Feature
	// RefUpdater (store.RefUpdater): a person found and their
	// transaction begun in one step.
	RefUpdater Feature
	// BatchUpdater (store.BatchUpdater): the transactions of several
	// people committed together.
	BatchUpdater Feature
	// Eraser (store.Eraser): a person erased, which flow.Engine.Erase
	// needs.
	Eraser Feature
	// HistoryPruner (store.HistoryPruner): old events dropped, which a
	// history retention (flow.Config.HistoryRetention) needs.
	HistoryPruner Feature
	// PeopleLister (store.PeopleLister): people listed, which audience
	// and date entries need.
	PeopleLister Feature
	// AudienceRuns (store.AudienceRuns): the durable progress of bulk
	// entries, which audience and date entries need.
	AudienceRuns Feature
	// ParticipantRemover (store.ParticipantRemover, on the store's Tx):
	// a participant removed, which a store with AudienceRuns needs.
	ParticipantRemover Feature
	// SharingTx (store.SharingTx, on the store's Tx): records lent
	// inside a transaction instead of copied.
	SharingTx Feature
	// PaceKeeper (store.PaceKeeper): sending-speed budgets shared by
	// every process.
	PaceKeeper Feature
	// OperationRuns (store.OperationRuns): the durable progress of bulk
	// operations on participants, which flow.Engine.Operate needs.
	OperationRuns Feature
	// ExperimentKeeper (store.ExperimentKeeper): the decisions of
	// experiments, which a Split Audience's winning path needs.
	ExperimentKeeper Feature
	// Inbox (store.Inbox, and store.InboxCompleter on the store's Tx):
	// calls recorded in a host's transaction, which flow.Engine.EnterTx,
	// DeliverTx and UpdatePersonTx need.
	Inbox Feature
	// ParticipantCounter (store.ParticipantCounter): the participants a
	// query selects counted, for a console's totals.
	ParticipantCounter Feature
}

// Feature declares whether a store implements one optional interface:
// Has, or Lacks with the reason. The zero Feature is undeclared.
type Feature struct {
	declared, has bool
	reason        string
}

// Has declares a feature the store implements.
var Has = Feature{declared: true, has: true}

// Lacks declares a feature the store does not implement, and why; the
// feature's subtests are skipped with the reason.
func Lacks(reason string) Feature { return Feature{declared: true, reason: reason} }

// feature is one field of Features: its name, the declaration and
// whether a store implements it.
type feature struct {
	name        string
	f           Feature
	implemented func(context.Context, store.Store) bool
}

// list returns the features of f in a fixed order.
func (f Features) list() []feature {
	return []feature{
		{"TimerClaimer", f.TimerClaimer, implements[store.TimerClaimer]},
		{"RefUpdater", f.RefUpdater, implements[store.RefUpdater]},
		{"BatchUpdater", f.BatchUpdater, implements[store.BatchUpdater]},
		{"Eraser", f.Eraser, implements[store.Eraser]},
		{"HistoryPruner", f.HistoryPruner, implements[store.HistoryPruner]},
		{"PeopleLister", f.PeopleLister, implements[store.PeopleLister]},
		{"AudienceRuns", f.AudienceRuns, implements[store.AudienceRuns]},
		{"ParticipantRemover", f.ParticipantRemover, removesParticipants},
		{"SharingTx", f.SharingTx, sharesRecords},
		{"PaceKeeper", f.PaceKeeper, implements[store.PaceKeeper]},
		{"OperationRuns", f.OperationRuns, implements[store.OperationRuns]},
		{"ExperimentKeeper", f.ExperimentKeeper, implements[store.ExperimentKeeper]},
		{"Inbox", f.Inbox, implements[store.Inbox]},
		{"ParticipantCounter", f.ParticipantCounter, implements[store.ParticipantCounter]},
	}
}

func implements[I any](_ context.Context, s store.Store) bool {
	_, ok := s.(I)
	return ok
}

// removesParticipants reports whether s's transactions implement
// store.ParticipantRemover, looking at the transaction of a person the
// store does not hold and writing nothing.
func removesParticipants(ctx context.Context, s store.Store) bool {
	var ok bool
	errLook := errors.New("storetest: looked at the transaction")
	err := s.Update(ctx, uuid.Must(uuid.NewV7()), func(tx store.Tx) error {
		_, ok = tx.(store.ParticipantRemover)
		return errLook
	})
	return ok && errors.Is(err, errLook)
}

// sharesRecords reports whether s's transactions implement
// store.SharingTx, as removesParticipants does.
func sharesRecords(ctx context.Context, s store.Store) bool {
	var ok bool
	errLook := errors.New("storetest: looked at the transaction")
	err := s.Update(ctx, uuid.Must(uuid.NewV7()), func(tx store.Tx) error {
		_, ok = tx.(store.SharingTx)
		return errLook
	})
	return ok && errors.Is(err, errLook)
}

// validate returns what is wrong with the declarations themselves.
func (f Features) validate() error {
	var errs []error
	for _, x := range f.list() {
		switch {
		case !x.f.declared:
			errs = append(errs, fmt.Errorf("storetest: Features.%s is not declared: set it to storetest.Has or storetest.Lacks(reason)", x.name))
		case !x.f.has && x.f.reason == "":
			errs = append(errs, fmt.Errorf("storetest: Features.%s: Lacks needs a reason", x.name))
		}
	}
	if f.AudienceRuns.has && f.ParticipantRemover.declared && !f.ParticipantRemover.has {
		errs = append(errs, errors.New("storetest: Features.AudienceRuns needs Features.ParticipantRemover: a store with audience runs removes participants"))
	}
	return errors.Join(errs...)
}

// check returns the reason to skip a test needing the features need
// marks Has ("" to run it), or an error when a declaration is missing or
// does not match s.
func (f Features) check(ctx context.Context, s store.Store, need Features) (skip string, err error) {
	declared := f.list()
	var errs []error
	for i, x := range need.list() {
		if !x.f.has {
			continue
		}
		d := declared[i]
		switch has := d.implemented(ctx, s); {
		case !d.f.declared:
			errs = append(errs, fmt.Errorf("storetest: Features.%s is not declared: set it to storetest.Has or storetest.Lacks(reason)", d.name))
		case d.f.has && !has:
			errs = append(errs, fmt.Errorf("storetest: the store (%T) does not implement store.%s, declared with storetest.Has", s, d.name))
		case !d.f.has && has:
			errs = append(errs, fmt.Errorf("storetest: the store (%T) implements store.%s, declared missing with storetest.Lacks(%q)", s, d.name, d.f.reason))
		case !has && skip == "":
			skip = fmt.Sprintf("the store does not implement store.%s: %s", d.name, d.f.reason)
		}
	}
	return skip, errors.Join(errs...)
}

// Need skips t, with the declared reason, when f declares that s lacks
// one of the features need marks Has, and fails t when such a feature is
// undeclared or declared unlike what s implements. Suites above the
// store call it before a scenario that needs an optional interface.
func (f Features) Need(t testing.TB, s store.Store, need Features) {
	t.Helper()
	skip, err := f.check(t.Context(), s, need)
	if err != nil {
		t.Fatal(err)
	}
	if skip != "" {
		t.Skip(skip)
	}
}
