package flow_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// onStores runs a test on the memory store and, when FLOWKIT_TEST_POSTGRES
// names a database, on a PostgreSQL store in a schema of its own.
func onStores(t *testing.T, test func(t *testing.T, s store.Store)) {
	t.Run("memory", func(t *testing.T) { test(t, memory.New()) })
	t.Run("postgres", func(t *testing.T) {
		s, _, _ := postgresStore(t)
		test(t, s)
	})
}

// postgresStore returns a PostgreSQL store in a schema of its own, dropped
// when the test ends, with its pool and schema; it skips the test unless
// FLOWKIT_TEST_POSTGRES names a database.
func postgresStore(t *testing.T) (*postgres.Store, *pgxpool.Pool, string) {
	t.Helper()
	url := os.Getenv("FLOWKIT_TEST_POSTGRES")
	if url == "" {
		t.Skip("PostgreSQL tests skipped: set FLOWKIT_TEST_POSTGRES to a database URL, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	pool, err := pgxpool.New(t.Context(), url)
	require.NoError(t, err)
	schema := "flowkit_test_" + uuid.NewString()[:8]
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		require.NoError(t, err)
		pool.Close()
	})
	s, err := postgres.New(t.Context(), postgres.Config{Pool: pool, Schema: schema})
	require.NoError(t, err)
	return s, pool, schema
}

var day = 24 * time.Hour

func startEngine(t *testing.T, s store.Store, clk clock.Clock, retention time.Duration, f *flow.Flow) *flow.Engine {
	t.Helper()
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, HistoryRetention: retention})
	require.NoError(t, err)
	_, err = eng.Publish(t.Context(), f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(t.Context(), f.ID))
	return eng
}

// A host that changes an event Engine.Events returned changes nothing
// stored, for that person or another who left the flow alike.
func TestReturnedEventsAreTheHosts(t *testing.T) {
	onStores(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		clk := clock.NewFake(time.Date(2030, 1, 15, 9, 0, 0, 0, time.UTC))
		eng := startEngine(t, s, clk, 0, flow.New("quick", "Quick").Add("done", &kinds.Exit{}, nil))
		ana, bo := store.PersonRef{ExternalID: "ana"}, store.PersonRef{ExternalID: "bo"}
		for _, who := range []store.PersonRef{ana, bo} {
			_, err := eng.Enter(ctx, "quick", who, nil)
			require.NoError(t, err)
		}
		exited := func(who store.PersonRef) *store.Event {
			evs, err := eng.Events(ctx, who, store.EventQuery{Name: store.ExitedFlow})
			require.NoError(t, err)
			require.Len(t, evs, 1)
			return evs[0]
		}
		want := exited(bo).Properties
		require.Equal(t, "quick", want["flowId"])
		got := exited(ana)
		got.Properties["flowId"] = "changed by the host"
		got.Properties["reason"] = "changed by the host"
		got.Properties["extra"] = []any{"added"}
		require.Equal(t, want, exited(bo).Properties, "another person's exit event changed")
		require.Equal(t, "quick", exited(ana).Properties["flowId"], "the person's own stored event changed")
	})
}

// waitClick waits for a click with no time limit.
func waitClick() *flow.Flow {
	return flow.New("clicks", "Clicks").
		Add("wait", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Clicked"}}, flow.Next{"occurred": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

func TestErase(t *testing.T) {
	onStores(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		clk := clock.NewFake(time.Date(2030, 1, 15, 9, 0, 0, 0, time.UTC))
		eng := startEngine(t, s, clk, 0, waitClick())
		ana := store.PersonRef{Email: "ana@example.com"}
		bo := store.PersonRef{Email: "bo@example.com"}
		anaPart, err := eng.Enter(ctx, "clicks", ana, nil)
		require.NoError(t, err)
		boPart, err := eng.Enter(ctx, "clicks", bo, nil)
		require.NoError(t, err)
		waiting := func() int64 {
			st, err := eng.Stats(ctx, "clicks")
			require.NoError(t, err)
			return st["wait"].Waiting
		}
		require.Equal(t, int64(2), waiting())

		require.NoError(t, eng.Erase(ctx, ana))
		require.Equal(t, int64(1), waiting(), "the erased person's participant is not counted as waiting")
		_, err = eng.Person(ctx, ana)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = eng.Participant(ctx, anaPart)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = eng.Events(ctx, ana, store.EventQuery{})
		require.ErrorIs(t, err, store.ErrNotFound)
		require.NoError(t, eng.Erase(ctx, ana), "erasing again succeeds")
		require.ErrorContains(t, eng.Erase(ctx, store.PersonRef{}), "person reference is empty")

		// The other person goes on; a click for the erased address is a
		// stranger's.
		require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "c1", Person: bo, Category: store.External, Name: "Clicked", Time: clk.Now()}))
		p, err := eng.Participant(ctx, boPart)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status)
		require.Equal(t, int64(0), waiting())
		require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "c2", Person: ana, Category: store.External, Name: "Clicked", Time: clk.Now()}))
		stranger, err := eng.Person(ctx, ana)
		require.NoError(t, err)
		require.Equal(t, []string{"ana@example.com"}, stranger.Emails)
		evs, err := eng.Events(ctx, ana, store.EventQuery{})
		require.NoError(t, err)
		require.Len(t, evs, 1, "the stranger's history starts afresh")
	})
}

// bare hides a store's optional features.
type bare struct{ store.Store }

func TestEraseNeedsAnEraser(t *testing.T) {
	eng, err := flow.NewEngine(flow.Config{Store: bare{memory.New()}})
	require.NoError(t, err)
	require.ErrorContains(t, eng.Erase(t.Context(), store.PersonRef{ExternalID: "ana"}), "does not implement store.Eraser")
	_, err = flow.NewEngine(flow.Config{Store: bare{memory.New()}, HistoryRetention: day})
	require.ErrorContains(t, err, "HistoryRetention: the store (flow_test.bare) does not implement store.HistoryPruner")
	_, err = flow.NewEngine(flow.Config{Store: memory.New(), HistoryRetention: -day})
	require.ErrorContains(t, err, "must not be negative")
}

// PruneHistory drops events past the retention age, but a participant
// still in its flow keeps the events from its entrance on: a wait that
// looks back to the entrance still sees them.
func TestPruneHistory(t *testing.T) {
	onStores(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		start := time.Date(2030, 1, 15, 9, 0, 0, 0, time.UTC)
		clk := clock.NewFake(start)
		eng := startEngine(t, s, clk, 30*day, flow.New("later", "Later").
			Add("pause", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 40, Unit: segment.Days}}, flow.Next{"next": "bought"}).
			Add("bought", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Bought"},
				IncludeFromEntrance: true, WaitFor: segment.Period{Amount: 1, Unit: segment.Days}},
				flow.Next{"occurred": "done", "timeout": "done"}).
			Add("done", &kinds.Exit{}, nil))
		ana, bo := store.PersonRef{ExternalID: "ana"}, store.PersonRef{ExternalID: "bo"}
		deliver := func(who store.PersonRef, id, name string) {
			t.Helper()
			require.NoError(t, eng.Deliver(ctx, &store.Event{ID: id, Person: who, Category: store.External, Name: name, Time: clk.Now()}))
		}
		deliver(ana, "a-viewed", "Viewed") // before Ana enters: pruned
		deliver(bo, "b-viewed", "Viewed")  // Bo is in no flow: pruned
		clk.Advance(day)
		part, err := eng.Enter(ctx, "later", ana, nil)
		require.NoError(t, err)
		clk.Advance(day)
		deliver(ana, "a-bought", "Bought") // while paused: only the history holds it

		_, err = flowtest.AdvanceTo(ctx, eng, clk, start.Add(35*day))
		require.NoError(t, err)
		n, err := eng.PruneHistory(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n, "the two Viewed events")
		ids := func(who store.PersonRef) []string {
			evs, err := eng.Events(ctx, who, store.EventQuery{})
			require.NoError(t, err)
			var out []string
			for _, e := range evs {
				out = append(out, e.ID)
			}
			return out
		}
		require.Equal(t, []string{part.String() + ":entered", "a-bought"}, ids(ana), "Ana keeps what her wait looks back to")
		require.Empty(t, ids(bo))

		_, err = flowtest.AdvanceTo(ctx, eng, clk, start.Add(45*day))
		require.NoError(t, err)
		p, err := eng.Participant(ctx, part)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status)
		require.Contains(t, p.Journal[len(p.Journal)-2].Reason, "since entering the flow", "the look-back found the kept event: %+v", p.Journal)

		// Ana left the flow: her old events go too now.
		n, err = eng.PruneHistory(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n, "Ana's entered and bought events")
	})
}
