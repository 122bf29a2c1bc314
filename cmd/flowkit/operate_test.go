package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// deploy and cancel on a PostgreSQL store: a document is published once,
// an older one is not published again, -migrate moves the waiting, and a
// cancel by element, dry run first, takes them out once.
func TestDeployAndCancelPostgres(t *testing.T) {
	url := os.Getenv("FLOWKIT_TEST_POSTGRES")
	if url == "" {
		t.Skip("FLOWKIT_TEST_POSTGRES is not set: no PostgreSQL store to deploy to")
	}
	ctx := context.Background()
	schema := fmt.Sprintf("flowkit_ops_%d_%d", os.Getpid(), time.Now().UnixNano())
	st, err := postgres.New(ctx, postgres.Config{URL: url, Schema: schema})
	require.NoError(t, err)
	defer st.Close()
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			conn.Close(ctx)
		}
	})
	dir := t.TempDir()
	// Release A pauses two days, release B three.
	write := func(name, days string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(`{"id": "reply", "elements": [
		  {"id": "wait", "type": "pause", "mode": "for", "period": {"amount": `+days+`, "unit": "days"}, "next": {"next": "done"}},
		  {"id": "done", "type": "exit"}]}`), 0o644))
		return path
	}
	a, b := write("a.json", "2"), write("b.json", "3")
	deploy := func(args ...string) string {
		t.Helper()
		status, out, errOut := flowkit(t, append([]string{"deploy", "-postgres", url, "-postgres-schema", schema}, args...)...)
		require.Equal(t, exitOK, status, errOut)
		return out
	}
	require.Equal(t, "flow reply: published version 1\n", deploy(a))
	eng, err := flow.NewEngine(flow.Config{Store: st})
	require.NoError(t, err)
	for _, who := range []string{"ana", "ben"} {
		_, err := eng.Enter(ctx, "reply", store.PersonRef{ExternalID: who}, nil)
		require.NoError(t, err)
	}
	require.Equal(t, "flow reply: published version 2\n  migrated to version 2: 2 moved, 0 refused, 0 exited\n", deploy("-migrate", b))
	require.Equal(t, "flow reply: version 1 had this document; the latest stays version 2 (-republish publishes it again)\n", deploy("-migrate", a))

	cancel := func(args ...string) string {
		t.Helper()
		status, out, errOut := flowkit(t, append([]string{"cancel", "-postgres", url, "-postgres-schema", schema, "-flow", "reply"}, args...)...)
		require.Equal(t, exitOK, status, errOut)
		return out
	}
	require.Equal(t, "dry run: 2 would be canceled, 0 refused\n", cancel("-element", "wait", "-dry-run"))
	require.Equal(t, "operation stop: 1 of 1 canceled, 0 refused, done: true\n", cancel("-name", "stop", "-person", "ana"))
	require.Equal(t, "operation stop (resumed): 1 of 1 canceled, 0 refused, done: true\n", cancel("-name", "stop", "-person", "ana"))
	ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "reply", Statuses: []store.Status{store.Canceled}})
	require.NoError(t, err)
	require.Len(t, ps, 1)

	status, _, errOut := flowkit(t, "cancel", "-postgres", url, "-postgres-schema", schema, "-flow", "reply", "-name", "x", "-status", "failed")
	require.Equal(t, exitProblem, status)
	require.Contains(t, errOut, "Select.Statuses: cancel cannot act on failed participants")
}
