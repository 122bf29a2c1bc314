package postgres_test

import (
	"os"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest/storecheck"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/stretchr/testify/require"
)

// The engine's scenarios on PostgreSQL; several processes are stores with
// pools of their own over one schema.
func TestEngine(t *testing.T) {
	testPool(t)
	storecheck.Run(t, storecheck.Backend{
		New: func(t *testing.T) store.Store { return newStore(t) },
		Processes: func(t *testing.T, n int) []store.Store {
			schema := newSchema(t, testPool(t))
			out := make([]store.Store, n)
			for i := range out {
				s, err := postgres.New(t.Context(), postgres.Config{URL: os.Getenv(envURL), Schema: schema})
				require.NoError(t, err)
				t.Cleanup(s.Close)
				out[i] = s
			}
			return out
		},
		Features: features,
	})
}

// start is a time with nanoseconds, which a timestamptz alone would lose.
var start = time.Date(2026, 1, 5, 10, 0, 0, 123456789, time.UTC)

func newEngine(t *testing.T, s store.Store, clk clock.Clock) *flow.Engine {
	t.Helper()
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, Schema: store.Schema{"score": store.Number}})
	require.NoError(t, err)
	return eng
}
