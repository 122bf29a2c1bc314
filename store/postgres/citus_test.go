package postgres_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/flowkit/flowkit/flowtest/storecheck"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// envCitus names the coordinator of a Citus cluster the tests use, such
// as postgres://postgres@127.0.0.1:9700/postgres?sslmode=disable (see
// .ci/run). Every test works in schemas of its own, distributed over the
// cluster's workers, which it drops when it ends.
const envCitus = "FLOWKIT_TEST_CITUS"

var (
	citusOnce    sync.Once
	citusPool    *pgxpool.Pool
	citusPoolErr error
)

// testCitusPool returns the pool on the Citus coordinator shared by the
// tests, or skips the test when FLOWKIT_TEST_CITUS is not set.
func testCitusPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := os.Getenv(envCitus)
	if url == "" {
		tb.Skipf("Citus tests skipped: set %s to a Citus coordinator URL, such as postgres://postgres@127.0.0.1:9700/postgres?sslmode=disable", envCitus)
	}
	citusOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			citusPoolErr = err
			return
		}
		cfg.MaxConns = 32
		citusPool, citusPoolErr = pgxpool.NewWithConfig(context.Background(), cfg)
	})
	require.NoError(tb, citusPoolErr)
	return citusPool
}

// citusShards is the shard count of the tests' distributed tables: a
// few per worker, so that a test's schema is made quickly.
const citusShards = 4

// newCitusStore returns a store in a distributed schema of its own.
func newCitusStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	p := testCitusPool(tb)
	s, err := postgres.New(tb.Context(), postgres.Config{Pool: p, Schema: newSchema(tb, p), Shards: citusShards})
	require.NoError(tb, err)
	return s
}

// The store's contract on Citus, with every table distributed.
func TestCitusStore(t *testing.T) {
	testCitusPool(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newCitusStore(t) }, features)
}

// The engine's scenarios on Citus; several processes are stores with
// pools of their own over one distributed schema.
func TestCitusEngine(t *testing.T) {
	testCitusPool(t)
	storecheck.Run(t, storecheck.Backend{
		New: func(t *testing.T) store.Store { return newCitusStore(t) },
		Processes: func(t *testing.T, n int) []store.Store {
			schema := newSchema(t, testCitusPool(t))
			out := make([]store.Store, n)
			for i := range out {
				s, err := postgres.New(t.Context(), postgres.Config{URL: os.Getenv(envCitus), Schema: schema, Shards: citusShards})
				require.NoError(t, err)
				t.Cleanup(s.Close)
				out[i] = s
			}
			return out
		},
		Features: features,
	})
}

// The live-migration scenarios on Citus.
func TestCitusMigrationScenarios(t *testing.T) {
	testCitusPool(t)
	storecheck.RunMigration(t, func(t *testing.T) store.Store { return newCitusStore(t) }, 1_000)
}
