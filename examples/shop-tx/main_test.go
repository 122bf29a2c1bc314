package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// The example on the database in FLOWKIT_TEST_POSTGRES: the committed
// orders' customers get their email, the declined one leaves nothing.
func TestShopTx(t *testing.T) {
	url := os.Getenv("FLOWKIT_TEST_POSTGRES")
	if url == "" {
		t.Skip("set FLOWKIT_TEST_POSTGRES to a PostgreSQL URL, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	pool, err := pgxpool.New(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	schema := "flowkit_test_" + uuid.NewString()[:8]
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	var out strings.Builder
	require.NoError(t, run(t.Context(), &out, pool, schema))
	t.Log("\n" + out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 6)
	require.Equal(t, "order 1001: committed with its OrderPlaced event", lines[0])
	require.Contains(t, lines[1], "email to ana@example.com")
	require.Contains(t, lines[1], "Order 1001: Thank you, Ana: 42.5 EUR, on its way.")
	require.Equal(t, "order 1002: payment declined; rolled back: no order, no event", lines[2])
	require.Contains(t, lines[4], "email to cid@example.com")
	require.Equal(t, "orders stored: 2; bob known to flowkit: false", lines[5])
}
