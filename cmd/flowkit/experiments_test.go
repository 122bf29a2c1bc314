package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// experiments on a PostgreSQL store: a control converting 1 of 4 and a
// variant 3 of 4, before and after the experiment ends on its sample,
// as a table and as JSON.
func TestExperimentsPostgres(t *testing.T) {
	url := os.Getenv("FLOWKIT_TEST_POSTGRES")
	if url == "" {
		t.Skip("FLOWKIT_TEST_POSTGRES is not set: no PostgreSQL store to read")
	}
	ctx := context.Background()
	schema := fmt.Sprintf("flowkit_exp_%d_%d", os.Getpid(), time.Now().UnixNano())
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
	assign := map[string]string{}
	for i := range 8 {
		assign[fmt.Sprint("p", i)] = []string{"control", "b"}[i%2]
	}
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clk, Ports: flow.Ports{Variants: flowtest.ForceVariants(assign)}})
	require.NoError(t, err)
	f, err := flow.Parse([]byte(`{"id": "ab", "elements": [
		{"id": "split", "type": "splitAudience", "variants": [{"name": "control", "percent": 50, "control": true}, {"name": "b", "percent": 50}],
		 "experiment": {"goal": "purchase", "samplePerVariant": 4}, "next": {"b": "tag"}},
		{"id": "tag", "type": "addTag", "tag": "b"}],
	  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}}]}`))
	require.NoError(t, err)
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "ab"))
	for i := range 8 {
		who := store.PersonRef{ExternalID: fmt.Sprint("p", i)}
		_, err := eng.Enter(ctx, "ab", who, nil)
		require.NoError(t, err)
		if i == 0 || i == 1 || i == 3 || i == 5 { // control p0; b p1, p3, p5
			require.NoError(t, eng.Deliver(ctx, &store.Event{ID: fmt.Sprint("buy-", i), Person: who, Category: store.External, Name: "Purchased"}))
		}
	}
	show := func(args ...string) string {
		t.Helper()
		status, out, errOut := flowkit(t, append([]string{"experiments", "-postgres", url, "-postgres-schema", schema, "-flow", "ab"}, args...)...)
		require.Equal(t, exitOK, status, errOut)
		return out
	}
	// control 1/4: Wilson 95% [4.56%, 69.94%]; b 3/4: [30.06%, 95.44%];
	// pooled 4/8, se = √(0.25·0.5) = 0.35355, z = 1.41421, p = 0.1573.
	require.Equal(t, `flow ab version 1, split split, goal purchase, 95% confidence
running
            variant  participants  conversions    rate       interval     lift  p-value  significant
  control (control)             4            1  25.00%   4.56%-69.94%        -        -            -
                  b             4            3  75.00%  30.06%-95.44%  +200.0%   0.1573           no
`, show())

	clk.Advance(time.Minute)
	_, err = eng.Tick(ctx)
	require.NoError(t, err)
	out := show()
	require.Contains(t, out, "winner b, decided at 2026-03-02T09:01:00Z: the experiment ended (every variant had 4 participants): no variant converted significantly more than the control (25%) at 95% confidence: the fallback \"b\"")
	var ex []flow.ExperimentResult
	require.NoError(t, json.Unmarshal([]byte(show("-json")), &ex))
	require.Len(t, ex, 1)
	require.Equal(t, "b", ex[0].Winner)
	require.EqualValues(t, 3, ex[0].Variants[1].Conversions)

	status, _, errOut := flowkit(t, "experiments", "-postgres", url, "-postgres-schema", schema)
	require.Equal(t, exitUsage, status)
	require.Contains(t, errOut, "name the store's -postgres URL and the -flow")
}
