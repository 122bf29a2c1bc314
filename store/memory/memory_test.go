package memory_test

import (
	"testing"

	"github.com/flowkit/flowkit/flowtest/storecheck"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/stretchr/testify/require"
)

// features are the optional interfaces of the memory store.
var features = storetest.Features{
	TimerClaimer:       storetest.Has,
	RefUpdater:         storetest.Has,
	BatchUpdater:       storetest.Has,
	Eraser:             storetest.Has,
	HistoryPruner:      storetest.Has,
	PeopleLister:       storetest.Has,
	AudienceRuns:       storetest.Has,
	ParticipantRemover: storetest.Has,
	SharingTx:          storetest.Has,
	PaceKeeper:         storetest.Has,
	OperationRuns:      storetest.Has,
	ExperimentKeeper:   storetest.Has,
	Inbox:              storetest.Lacks("the memory store shares no transaction with a host"),
	ParticipantCounter: storetest.Has,
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memory.New() }, features)
}

// An unknown person is named in the error as the host named them.
func TestFindPersonNamesTheUnknownKey(t *testing.T) {
	s := memory.New()
	for _, ref := range []store.PersonRef{{ExternalID: "emma"}, {Phone: "+4915112345678"}, {Email: "eve@example.com"}} {
		_, err := s.FindPerson(t.Context(), ref)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorContains(t, err, "person "+ref.ExternalID+ref.Phone+ref.Email+":")
	}
}

func TestEngine(t *testing.T) {
	storecheck.Run(t, storecheck.Backend{
		New: func(*testing.T) store.Store { return memory.New() },
		Processes: func(_ *testing.T, n int) []store.Store {
			s := memory.New()
			out := make([]store.Store, n)
			for i := range out {
				out[i] = s
			}
			return out
		},
		Features: features,
	})
}

// bare hides the memory store's optional features.
type bare struct{ store.Store }

// A store without the optional features passes the suite when it declares
// them missing: their subtests are skipped with the reason.
func TestStoreWithoutOptionalFeatures(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return bare{memory.New()} }, storetest.Features{
		TimerClaimer:       storetest.Lacks("bare: one ticker at a time"),
		RefUpdater:         storetest.Lacks("bare: FindPerson, then Update"),
		BatchUpdater:       storetest.Lacks("bare: an Update per person"),
		Eraser:             storetest.Lacks("bare: no erasure"),
		HistoryPruner:      storetest.Lacks("bare: history kept forever"),
		PeopleLister:       storetest.Lacks("bare: no audience or date entries"),
		AudienceRuns:       storetest.Lacks("bare: no audience or date entries"),
		ParticipantRemover: storetest.Has,
		SharingTx:          storetest.Has,
		PaceKeeper:         storetest.Lacks("bare: sending speeds kept per process"),
		OperationRuns:      storetest.Lacks("bare: no bulk operations"),
		ExperimentKeeper:   storetest.Lacks("bare: no experiment decisions"),
		Inbox:              storetest.Lacks("bare: no inbox"),
		ParticipantCounter: storetest.Lacks("bare: no totals"),
	})
}
