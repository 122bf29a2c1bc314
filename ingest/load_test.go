package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/ingest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// 10,000 track calls of 1,000 people, in batches of 100 over HTTP from
// two clients, on PostgreSQL (FLOWKIT_TEST_POSTGRES): every event is in
// its person's history once, in order, and each person's first event
// entered them into a flow that their last one completed. The batches
// are sent twice: the second time changes nothing.
func TestLoadOnPostgres(t *testing.T) {
	url := os.Getenv("FLOWKIT_TEST_POSTGRES")
	if url == "" {
		t.Skip("PostgreSQL tests skipped: set FLOWKIT_TEST_POSTGRES to its URL, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	schema := "flowkit_test_" + uuid.NewString()[:8]
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		require.NoError(t, err)
	})
	st, err := postgres.New(ctx, postgres.Config{Pool: pool, Schema: schema})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clock.Real{}})
	require.NoError(t, err)
	f := flow.New("shop", "Shop").
		Add("wait", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Order Completed"}}, flow.Next{"occurred": "done"}).
		Add("done", &kinds.Exit{}, nil)
	f.Trigger = &flow.Trigger{Category: store.External, Name: "Signed Up"}
	_, _, err = eng.Deploy(ctx, f)
	require.NoError(t, err)
	h, err := ingest.New(eng, ingest.Options{Authenticate: ingest.WriteKeys(writeKey)})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	const people, perPerson, batch = 1000, 10, 100
	base := time.Now().Add(-time.Hour).UTC()
	names := func(k int) string {
		switch k {
		case 0:
			return "Signed Up"
		case perPerson - 1:
			return "Order Completed"
		}
		return "Product Viewed"
	}
	bodies := make([][]byte, people*perPerson/batch)
	for j := range bodies {
		var calls []map[string]any
		for i := j * batch; i < (j+1)*batch; i++ {
			p, k := i%people, i/people
			calls = append(calls, map[string]any{
				"type": "track", "userId": fmt.Sprint("load-", p), "event": names(k),
				"messageId": fmt.Sprintf("load-%d-%d", p, k), "properties": map[string]any{"k": k},
				"timestamp": base.Add(time.Duration(k) * time.Second).Format(time.RFC3339Nano),
			})
		}
		b, err := json.Marshal(map[string]any{"batch": calls})
		require.NoError(t, err)
		bodies[j] = b
	}
	send := func() time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		// Two clients; a person's batches all go through one, in order.
		for c := range 2 {
			wg.Go(func() {
				for j := c; j < len(bodies); j += 2 {
					req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/batch", bytes.NewReader(bodies[j]))
					if err != nil {
						t.Error(err)
						return
					}
					req.SetBasicAuth(writeKey, "")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					var res ingest.Response
					err = json.NewDecoder(resp.Body).Decode(&res)
					_ = resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || !res.Success || res.Accepted != batch {
						t.Errorf("batch %d: %d %+v %v", j, resp.StatusCode, res, err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	took := send()
	t.Logf("10,000 events in batches of 100: %v, %.0f events/s", took.Round(time.Millisecond), people*perPerson/took.Seconds())
	again := send()
	t.Logf("sent again (all duplicates): %v", again.Round(time.Millisecond))

	var events, persons int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT person_id) FROM `+pgx.Identifier{schema, "events"}.Sanitize()+
		` WHERE category = 'external'`).Scan(&events, &persons))
	require.Equal(t, people*perPerson, events, "every event once")
	require.Equal(t, people, persons)
	for _, p := range []int{0, 499, 999} {
		evs, err := eng.Events(ctx, store.PersonRef{ExternalID: fmt.Sprint("load-", p)}, store.EventQuery{Category: store.External})
		require.NoError(t, err)
		require.Len(t, evs, perPerson)
		for k, ev := range evs {
			require.Equal(t, float64(k), ev.Properties["k"], "in order")
		}
	}
	stats, err := eng.Stats(ctx, "shop")
	require.NoError(t, err)
	require.EqualValues(t, people, stats["wait"].Entered)
	var completed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "participants"}.Sanitize()+` WHERE status = 'completed'`).Scan(&completed))
	require.Equal(t, people, completed, "each first event entered, each last completed")
}
