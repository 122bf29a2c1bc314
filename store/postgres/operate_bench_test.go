package postgres_test

import (
	"testing"

	"github.com/flowkit/flowkit/flowtest/storecheck"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/stretchr/testify/require"
)

// BenchmarkOperations retries 100,000 failed participants (2,000 with
// -short) in bulk on plain PostgreSQL and on Citus, then cancels them
// (see storecheck.BenchOperations and BenchmarkJourneyStatements for the
// variables). Run with -benchtime 1x.
func BenchmarkOperations(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			p := be.pool(b)
			n := 100_000
			if testing.Short() {
				n = 2_000
			}
			schema := newSchema(b, p)
			s, err := postgres.New(b.Context(), postgres.Config{Pool: p, Schema: schema, Shards: be.shards})
			require.NoError(b, err)
			addPeople(b, p, schema, n)
			b.ReportAllocs()
			storecheck.BenchOperations(b, s, n)
		})
	}
}
