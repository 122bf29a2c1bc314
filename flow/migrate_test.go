package flow_test

import (
	"testing"

	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/flowkit/flowkit/store/storetest"
)

// The live-migration scenarios on the memory store, with 10,000 waiting
// participants (2,000 with -short).
func TestMigrationScenarios(t *testing.T) {
	people := 10_000
	if testing.Short() {
		people = 2_000
	}
	storetest.RunMigration(t, func(*testing.T) store.Store { return memory.New() }, people)
}
