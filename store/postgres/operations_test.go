package postgres_test

import (
	"testing"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// A schema distributed before operation runs existed gets them as a
// reference table when it is brought up to date, and keeps them.
func TestCitusOperationRunsUpgrade(t *testing.T) {
	ctx := t.Context()
	p := testCitusPool(t)
	schema := newSchema(t, p)
	_, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema, Shards: citusShards})
	require.NoError(t, err)
	q := pgx.Identifier{schema}.Sanitize()
	before := postgres.SchemaVersionBefore("operation_runs")
	require.Positive(t, before)
	_, err = p.Exec(ctx, `DROP TABLE `+q+`.operation_runs`)
	require.NoError(t, err)
	_, err = p.Exec(ctx, `UPDATE `+q+`.schema_version SET version = $1`, before)
	require.NoError(t, err)
	require.NotContains(t, distributedTables(t, p, schema), "operation_runs")

	s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	var method string
	require.NoError(t, p.QueryRow(ctx, `SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = $1::regclass`, q+".operation_runs").Scan(&method))
	require.Equal(t, "n", method, "a reference table")
	eng, err := flow.NewEngine(flow.Config{Store: s})
	require.NoError(t, err)
	_, _, err = eng.Deploy(ctx, bulkFlowDef())
	require.NoError(t, err)
	rep, err := eng.Operate(ctx, flow.Operation{Name: "none", FlowID: bulkFlow, Action: flow.Cancel})
	require.NoError(t, err)
	require.True(t, rep.Done)
	_, err = postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err, "migrating again changes nothing")
}
