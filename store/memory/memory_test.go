package memory_test

import (
	"testing"

	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/stretchr/testify/require"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memory.New() },
		storetest.Without(storetest.UpdateByRef, "FindPerson costs no round trip in memory"),
		storetest.Without(storetest.UpdateBatches, "an Update costs no round trip in memory"))
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
	storetest.RunEngine(t, storetest.Backend{
		New: func(*testing.T) store.Store { return memory.New() },
		Processes: func(_ *testing.T, n int) []store.Store {
			s := memory.New()
			out := make([]store.Store, n)
			for i := range out {
				out[i] = s
			}
			return out
		},
	})
}

// bare hides the memory store's optional features.
type bare struct{ store.Store }

// A store without the optional features passes the suite when it declares
// them missing: their subtests are skipped with the reason.
func TestStoreWithoutOptionalFeatures(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return bare{memory.New()} },
		storetest.Without(storetest.ClaimTimers, "bare: one ticker at a time"),
		storetest.Without(storetest.UpdateByRef, "bare: FindPerson, then Update"),
		storetest.Without(storetest.UpdateBatches, "bare: an Update per person"),
		storetest.Without(storetest.Erase, "bare: no erasure"),
		storetest.Without(storetest.PruneHistory, "bare: history kept forever"))
}
