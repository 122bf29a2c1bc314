package postgres

import (
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// uuidHash agrees with the hash Citus places rows by (worker_hash), so
// that a step's counters go to its person's shard.
func TestUUIDHashIsCitus(t *testing.T) {
	url := os.Getenv("FLOWKIT_TEST_CITUS")
	if url == "" {
		t.Skip("Citus tests skipped: set FLOWKIT_TEST_CITUS to a Citus coordinator URL, such as postgres://postgres@127.0.0.1:9700/postgres?sslmode=disable")
	}
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	ids := make([]uuid.UUID, 1000)
	for i := range ids {
		ids[i] = uuid.New()
	}
	ids[0] = uuid.Nil
	rows, _ := conn.Query(t.Context(), `SELECT worker_hash(u) FROM unnest($1::uuid[]) WITH ORDINALITY AS x(u, i) ORDER BY i`, ids)
	want, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	for i, id := range ids {
		require.Equal(t, want[i], uuidHash(id), "hash of %s", id)
	}
}
