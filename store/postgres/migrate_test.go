package postgres_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/flowkit/flowkit/flowtest/storecheck"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// The live-migration scenarios on PostgreSQL, migrating 2,000 waiting
// participants while events and ticks run: about ten seconds on two
// cores. FLOWKIT_TEST_MIGRATION_PEOPLE sets another number, such as the
// 10,000 the memory store's test migrates.
func TestMigrationScenarios(t *testing.T) {
	testPool(t)
	people := 2_000
	if v := os.Getenv("FLOWKIT_TEST_MIGRATION_PEOPLE"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "FLOWKIT_TEST_MIGRATION_PEOPLE")
		require.GreaterOrEqual(t, n, 20, "FLOWKIT_TEST_MIGRATION_PEOPLE")
		people = n
	}
	storecheck.RunMigration(t, func(t *testing.T) store.Store { return newStore(t) }, people)
}
