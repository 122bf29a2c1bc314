package postgres_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// envChild names the schema a child process of TestAudienceRunSurvivesKill
// works in.
const envChild = "FLOWKIT_TEST_AUDIENCE_CHILD"

// addPeople writes n people in bulk, every other one on the gold plan,
// and returns the gold ones' IDs.
func addPeople(tb testing.TB, p *pgxpool.Pool, schema string, n int) map[uuid.UUID]bool {
	tb.Helper()
	gold := map[uuid.UUID]bool{}
	rows := make([][]any, 0, n)
	now := time.Now().UTC()
	for i := range n {
		id, err := uuid.NewV7()
		require.NoError(tb, err)
		plan := "free"
		if i%2 == 0 {
			plan, gold[id] = "gold", true
		}
		data, err := postgres.EncodePerson(&store.Person{ID: id, ExternalID: fmt.Sprint("p", i), Attributes: map[string]any{"plan": plan}})
		require.NoError(tb, err)
		rows = append(rows, []any{id, string(data), now})
	}
	_, err := p.CopyFrom(tb.Context(), pgx.Identifier{schema, "people"}, []string{"id", "data", "updated_at"}, pgx.CopyFromRows(rows))
	require.NoError(tb, err)
	return gold
}

var schemaPlan = store.Schema{"plan": store.Text}

// goldFlow enters everyone on the gold plan, who then wait a day.
func goldFlow() *flow.Flow {
	gold := segment.Attr("plan", segment.Is, "gold")
	f := flow.New("gold", "Gold").
		Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &gold}}
	return f
}

// TestAudienceRunChild is the entering process of
// TestAudienceRunSurvivesKill: it ticks until it is killed.
func TestAudienceRunChild(t *testing.T) {
	schema := os.Getenv(envChild)
	if schema == "" {
		t.Skip("runs as the child process of TestAudienceRunSurvivesKill")
	}
	s, err := postgres.New(context.Background(), postgres.Config{URL: os.Getenv(envURL), Schema: schema})
	require.NoError(t, err)
	eng, err := flow.NewEngine(flow.Config{Store: s, Schema: schemaPlan, AudiencePage: 100, AudiencePagesPerTick: 1})
	require.NoError(t, err)
	for {
		_, err := eng.Tick(context.Background())
		require.NoError(t, err)
	}
}

// A process entering a large audience is killed half-way; another
// process resumes the run, and every matching person has entered exactly
// once.
func TestAudienceRunSurvivesKill(t *testing.T) {
	p := testPool(t)
	ctx := t.Context()
	schema := newSchema(t, p)
	s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	n := 6_000
	if testing.Short() {
		n = 2_000
	}
	gold := addPeople(t, p, schema, n)
	eng, err := flow.NewEngine(flow.Config{Store: s, Schema: schemaPlan})
	require.NoError(t, err)
	_, err = eng.Publish(ctx, goldFlow())
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "gold")) // starts the run, which the child works through

	child := exec.Command(os.Args[0], "-test.run", "^TestAudienceRunChild$", "-test.count=1")
	child.Env = append(os.Environ(), envChild+"="+schema)
	began := time.Now()
	require.NoError(t, child.Start())
	progress := func() *store.AudienceRun {
		runs, err := eng.AudienceRuns(ctx, "gold")
		require.NoError(t, err)
		require.Len(t, runs, 1)
		return runs[0]
	}
	deadline := time.Now().Add(2 * time.Minute)
	for progress().Scanned < int64(n/3) {
		require.True(t, time.Now().Before(deadline), "the child makes no progress")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	killed := progress()
	require.False(t, killed.Done, "killed half-way")
	require.Less(t, killed.Scanned, int64(n))
	t.Logf("killed after %s at %d of %d people looked at, %d participants created", time.Since(began), killed.Scanned, killed.Total, killed.Entered)

	// The new process resumes the run and runs the first steps.
	// Its clock is past the lease of the timers the child had claimed.
	began = time.Now()
	clk := clock.NewFake(began.Add(2 * time.Minute))
	eng2, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, Schema: schemaPlan})
	require.NoError(t, err)
	_, err = flowtest.AdvanceTo(ctx, eng2, clk, clk.Now())
	require.NoError(t, err)
	t.Logf("resumed and ran every first step in %s", time.Since(began))
	done := progress()
	require.True(t, done.Done)
	require.EqualValues(t, n, done.Scanned, "every person looked at once")
	require.EqualValues(t, len(gold), done.Entered)

	rows, err := p.Query(ctx, `SELECT person_id, count(*), min(status) FROM `+pgx.Identifier{schema}.Sanitize()+`.participants GROUP BY person_id`)
	require.NoError(t, err)
	seen := map[uuid.UUID]bool{}
	var id uuid.UUID
	var count int
	var status string
	_, err = pgx.ForEachRow(rows, []any{&id, &count, &status}, func() error {
		require.True(t, gold[id], "person %s does not match", id)
		require.Equal(t, 1, count, "person %s entered once", id)
		require.Equal(t, string(store.Waiting), status, "person %s reached their first wait", id)
		seen[id] = true
		return nil
	})
	require.NoError(t, err)
	require.Len(t, seen, len(gold), "every matching person entered")
	st, err := eng2.Stats(ctx, "gold")
	require.NoError(t, err)
	require.EqualValues(t, len(gold), st["wait"].Entered)
	require.EqualValues(t, len(gold), st["wait"].Waiting)
}

// BenchmarkAudienceEntry enters an audience of 100,000 people (5,000
// with -short) on plain PostgreSQL and on Citus (see
// BenchmarkJourneyStatements for the variables). It reports bulk-entries/s, the rate at
// which the run creates the participants (their first step due), and
// entries/s, the rate from Activate to everyone at their first wait, with
// four goroutines ticking (each first step is a transaction of its own).
func BenchmarkAudienceEntry(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) { benchAudienceEntry(b, be) })
	}
}

func benchAudienceEntry(b *testing.B, be backend) {
	p := be.pool(b)
	ctx := context.Background()
	n := 100_000
	if testing.Short() {
		n = 5_000
	}
	b.ReportAllocs()
	var bulk, total time.Duration
	for range b.N {
		b.StopTimer()
		schema := newSchema(b, p)
		s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema, Shards: be.shards})
		require.NoError(b, err)
		addPeople(b, p, schema, n)
		clk := clock.NewFake(time.Now())
		eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, Schema: schemaPlan, AudiencePagesPerTick: 1_000_000})
		require.NoError(b, err)
		f := goldFlow()
		all := segment.All()
		f.Entries[0].Segment = &all
		_, err = eng.Publish(ctx, f)
		require.NoError(b, err)
		b.StartTimer()
		start := time.Now()
		require.NoError(b, eng.Activate(ctx, "gold"))
		// Four tickers: each works through the run's pages (a page another
		// took is refused and skipped) and fires due first steps.
		done := make(chan error, 4)
		for range 4 {
			go func() {
				for {
					fired, err := eng.Tick(ctx)
					if err != nil || fired == 0 {
						done <- err
						return
					}
				}
			}()
		}
		for {
			runs, err := eng.AudienceRuns(ctx, "gold")
			require.NoError(b, err)
			if runs[0].Done {
				require.EqualValues(b, n, runs[0].Entered)
				break
			}
			time.Sleep(time.Millisecond)
		}
		bulk += time.Since(start)
		for range 4 {
			require.NoError(b, <-done)
		}
		total += time.Since(start)
		b.StopTimer()
		st, err := eng.Stats(ctx, "gold")
		require.NoError(b, err)
		require.EqualValues(b, n, st["wait"].Waiting)
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/bulk.Seconds(), "bulk-entries/s")
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "entries/s")
}
