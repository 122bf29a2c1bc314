package storetest

import (
	"context"
	"testing"

	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// memoryFeatures declares the memory store truthfully.
var memoryFeatures = Features{
	TimerClaimer:       Has,
	RefUpdater:         Has,
	BatchUpdater:       Has,
	Eraser:             Has,
	HistoryPruner:      Has,
	PeopleLister:       Has,
	AudienceRuns:       Has,
	ParticipantRemover: Has,
	SharingTx:          Has,
	PaceKeeper:         Has,
	OperationRuns:      Has,
	ExperimentKeeper:   Has,
	Inbox:              Lacks("the memory store shares no transaction with a host"),
	ParticipantCounter: Has,
}

// Every optional interface is declared, a missing one with a reason, and
// a store with audience runs removes participants.
func TestFeaturesValidate(t *testing.T) {
	require.NoError(t, memoryFeatures.validate())

	f := memoryFeatures
	f.PaceKeeper = Feature{}
	require.ErrorContains(t, f.validate(), "Features.PaceKeeper is not declared")

	f = memoryFeatures
	f.Eraser = Lacks("")
	require.ErrorContains(t, f.validate(), "Features.Eraser: Lacks needs a reason")

	f = memoryFeatures
	f.ParticipantRemover = Lacks("none")
	require.ErrorContains(t, f.validate(), "Features.AudienceRuns needs Features.ParticipantRemover")
}

// plain hides every optional interface of the store it wraps, its
// transactions' included.
type plain struct{ store.Store }

func (p plain) Update(ctx context.Context, id uuid.UUID, fn func(store.Tx) error) error {
	return p.Store.Update(ctx, id, func(tx store.Tx) error { return fn(struct{ store.Tx }{tx}) })
}

// A declaration unlike what the store implements fails, naming the
// interface; a true Lacks skips with its reason; only what a test needs
// is looked at.
func TestFeaturesCheck(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	all := Features{TimerClaimer: Has, RefUpdater: Has, BatchUpdater: Has, Eraser: Has, HistoryPruner: Has,
		PeopleLister: Has, AudienceRuns: Has, ParticipantRemover: Has, SharingTx: Has, PaceKeeper: Has, OperationRuns: Has, ExperimentKeeper: Has, ParticipantCounter: Has}

	skip, err := memoryFeatures.check(ctx, s, Features{TimerClaimer: Has, ParticipantRemover: Has})
	require.NoError(t, err)
	require.Empty(t, skip)

	f := memoryFeatures
	f.RefUpdater = Lacks("no round trip to save")
	skip, err = f.check(ctx, plain{s}, Features{RefUpdater: Has})
	require.NoError(t, err)
	require.Equal(t, "the store does not implement store.RefUpdater: no round trip to save", skip)

	skip, err = memoryFeatures.check(ctx, s, Features{})
	require.NoError(t, err)
	require.Empty(t, skip, "a test that needs nothing runs")

	f = memoryFeatures
	f.TimerClaimer = Lacks("one ticker")
	_, err = f.check(ctx, s, all)
	require.ErrorContains(t, err, "implements store.TimerClaimer, declared missing with storetest.Lacks(\"one ticker\")")

	_, err = memoryFeatures.check(ctx, plain{s}, Features{BatchUpdater: Has})
	require.ErrorContains(t, err, "does not implement store.BatchUpdater, declared with storetest.Has")

	f = memoryFeatures
	f.PaceKeeper = Feature{}
	_, err = f.check(ctx, s, Features{PaceKeeper: Has})
	require.ErrorContains(t, err, "Features.PaceKeeper is not declared")

	_, err = memoryFeatures.check(ctx, plain{s}, Features{ParticipantRemover: Has})
	require.ErrorContains(t, err, "does not implement store.ParticipantRemover, declared with storetest.Has",
		"the transactions are looked at")
}
