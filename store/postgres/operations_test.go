package postgres_test

import (
	"testing"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// A schema distributed before operation runs existed gets them as a
// reference table when it is brought up to date, and keeps them.
func TestCitusOperationRunsUpgrade(t *testing.T) {
	ctx := t.Context()
	p, schema, q := citusSchemaBefore(t, "operation_runs")
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

// citusSchemaBefore returns a distributed schema as it stood before the
// migration that created table: the table is gone and the schema's version
// is the one before; q is the schema's quoted name.
func citusSchemaBefore(t *testing.T, table string) (p *pgxpool.Pool, schema, q string) {
	t.Helper()
	p = testCitusPool(t)
	schema = newSchema(t, p)
	_, err := postgres.New(t.Context(), postgres.Config{Pool: p, Schema: schema, Shards: citusShards})
	require.NoError(t, err)
	q = pgx.Identifier{schema}.Sanitize()
	before := postgres.SchemaVersionBefore(table)
	require.Positive(t, before)
	_, err = p.Exec(t.Context(), `DROP TABLE `+q+`.`+table)
	require.NoError(t, err)
	_, err = p.Exec(t.Context(), `UPDATE `+q+`.schema_version SET version = $1`, before)
	require.NoError(t, err)
	require.NotContains(t, distributedTables(t, p, schema), table)
	return p, schema, q
}
