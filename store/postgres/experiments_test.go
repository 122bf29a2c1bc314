package postgres_test

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// A schema distributed before decisions existed gets them as a reference
// table when it is brought up to date, and a decision is kept there.
func TestCitusDecisionsUpgrade(t *testing.T) {
	ctx := t.Context()
	p := testCitusPool(t)
	schema := newSchema(t, p)
	_, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema, Shards: citusShards})
	require.NoError(t, err)
	q := pgx.Identifier{schema}.Sanitize()
	before := postgres.SchemaVersionBefore("decisions")
	require.Positive(t, before)
	_, err = p.Exec(ctx, `DROP TABLE `+q+`.decisions`)
	require.NoError(t, err)
	_, err = p.Exec(ctx, `UPDATE `+q+`.schema_version SET version = $1`, before)
	require.NoError(t, err)
	require.NotContains(t, distributedTables(t, p, schema), "decisions")

	s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	var method string
	require.NoError(t, p.QueryRow(ctx, `SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = $1::regclass`, q+".decisions").Scan(&method))
	require.Equal(t, "n", method, "a reference table")
	_, err = s.PublishFlow(ctx, &store.FlowVersion{FlowID: "f", Document: []byte(`{"id":"f"}`), PublishedAt: time.Unix(0, 0)})
	require.NoError(t, err)
	d, stored, err := s.Decide(ctx, &store.Decision{FlowID: "f", FlowVersion: 1, Element: "split", Winner: "b", DecidedAt: time.Unix(5, 7), Reason: "b won"})
	require.NoError(t, err)
	require.True(t, stored)
	require.Equal(t, "b", d.Winner)
	all, err := s.Decisions(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.True(t, all[0].DecidedAt.Equal(time.Unix(5, 7)))
	_, err = postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err, "migrating again changes nothing")
}
