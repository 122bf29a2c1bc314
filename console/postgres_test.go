package console_test

import (
	"context"
	"os"
	"testing"

	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// envPostgres names the database of the PostgreSQL runs, such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const envPostgres = "FLOWKIT_TEST_POSTGRES"

// postgresStore returns a PostgreSQL store in a schema of its own, dropped
// when the test ends, or skips the test when FLOWKIT_TEST_POSTGRES is not
// set.
func postgresStore(tb testing.TB) store.Store {
	tb.Helper()
	url := os.Getenv(envPostgres)
	if url == "" {
		tb.Skipf("PostgreSQL run skipped: set %s to a database URL, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable", envPostgres)
	}
	schema := "console_test_" + uuid.NewString()[:8]
	s, err := postgres.New(context.Background(), postgres.Config{URL: url, Schema: schema})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err == nil {
			_, err = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			conn.Close(context.Background())
		}
		s.Close()
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return s
}
