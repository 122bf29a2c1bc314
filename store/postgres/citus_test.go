package postgres_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest/storecheck"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// envCitus names the coordinator of a Citus cluster the tests use, such
// as postgres://postgres@127.0.0.1:9700/postgres?sslmode=disable (see
// .ci/run). Every test works in schemas of its own, distributed over the
// cluster's workers, which it drops when it ends.
const envCitus = "FLOWKIT_TEST_CITUS"

var citusPoolShared = &sharedPool{env: envCitus, what: "Citus", example: "postgres://postgres@127.0.0.1:9700/postgres?sslmode=disable"}

// testCitusPool returns the pool on the Citus coordinator shared by the
// tests, or skips the test when FLOWKIT_TEST_CITUS is not set.
func testCitusPool(tb testing.TB) *pgxpool.Pool { tb.Helper(); return citusPoolShared.get(tb) }

// citusShards is the shard count of the tests' distributed tables: a
// few per worker, so that a test's schema is made quickly.
const citusShards = 4

// newCitusStore returns a store in a distributed schema of its own.
func newCitusStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	p := testCitusPool(tb)
	s, err := postgres.New(tb.Context(), postgres.Config{Pool: p, Schema: newSchema(tb, p), Shards: citusShards})
	require.NoError(tb, err)
	return s
}

// The store's contract on Citus, with every table distributed.
func TestCitusStore(t *testing.T) {
	testCitusPool(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newCitusStore(t) }, features)
}

// The engine's scenarios on Citus; several processes are stores with
// pools of their own over one distributed schema.
func TestCitusEngine(t *testing.T) {
	testCitusPool(t)
	storecheck.Run(t, storecheck.Backend{
		New: func(t *testing.T) store.Store { return newCitusStore(t) },
		Processes: func(t *testing.T, n int) []store.Store {
			schema := newSchema(t, testCitusPool(t))
			out := make([]store.Store, n)
			for i := range out {
				s, err := postgres.New(t.Context(), postgres.Config{URL: os.Getenv(envCitus), Schema: schema, Shards: citusShards})
				require.NoError(t, err)
				t.Cleanup(s.Close)
				out[i] = s
			}
			return out
		},
		Features: features,
	})
}

// The live-migration scenarios on Citus.
func TestCitusMigrationScenarios(t *testing.T) {
	testCitusPool(t)
	storecheck.RunMigration(t, func(t *testing.T) store.Store { return newCitusStore(t) }, 1_000)
}

// statementLog is a pgx tracer that keeps each statement the store sends,
// with its arguments.
type statementLog struct {
	mu    sync.Mutex
	stmts []loggedStatement
}

type loggedStatement struct {
	sql  string
	args []any
	node string // the server it went to, host:port
}

func (l *statementLog) add(c *pgx.Conn, sql string, args []any) {
	node := net.JoinHostPort(c.Config().Host, strconv.Itoa(int(c.Config().Port)))
	l.mu.Lock()
	l.stmts = append(l.stmts, loggedStatement{sql, slices.Clone(args), node})
	l.mu.Unlock()
}

func (l *statementLog) take() []loggedStatement {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.stmts
	l.stmts = nil
	return out
}

func (l *statementLog) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.add(c, d.SQL, d.Args)
	return ctx
}
func (l *statementLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (l *statementLog) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (l *statementLog) TraceBatchQuery(_ context.Context, c *pgx.Conn, d pgx.TraceBatchQueryData) {
	l.add(c, d.SQL, d.Args)
}
func (l *statementLog) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// explain returns the plan of a statement on db.
func explain(t *testing.T, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string, args ...any) string {
	t.Helper()
	rows, _ := db.Query(t.Context(), "EXPLAIN "+sql, args...)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err, "EXPLAIN %s", sql)
	return strings.Join(lines, "\n")
}

// plan returns Citus's plan of a logged statement.
func plan(t *testing.T, st loggedStatement) string {
	t.Helper()
	return explain(t, testCitusPool(t), st.sql, st.args...)
}

// planOn returns the plan of a logged statement on the node it went to.
func planOn(t *testing.T, st loggedStatement) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(os.Getenv(envCitus))
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(st.node)
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	cfg.Host, cfg.Port, cfg.Fallbacks = host, uint16(n), nil
	c, err := pgx.ConnectConfig(t.Context(), cfg)
	require.NoError(t, err)
	defer c.Close(t.Context())
	return explain(t, c, st.sql, st.args...)
}

// routed reports whether a plan is a router query: one task on one
// shard (or a reference table's placement), with no step through the
// coordinator.
func routed(p string) bool {
	return strings.Count(p, "Task Count: 1\n") == 1 && !strings.Contains(p, "Task Count: 0") &&
		!strings.Contains(p, "Distributed Subplan") && !strings.Contains(p, "INSERT ... SELECT")
}

// tracedCitusStore returns the shared Citus pool, a fresh schema on it,
// and a store of that schema whose statements log records.
func tracedCitusStore(t *testing.T) (*pgxpool.Pool, string, *statementLog, *postgres.Store) {
	t.Helper()
	p := testCitusPool(t)
	schema := newSchema(t, p)
	log := &statementLog{}
	cfg, err := pgxpool.ParseConfig(os.Getenv(envCitus))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = log
	tp, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(tp.Close)
	s, err := postgres.New(t.Context(), postgres.Config{Pool: tp, Schema: schema, Shards: citusShards})
	require.NoError(t, err)
	return p, schema, log, s
}

// Every statement of a journey's steps (enter, wait, an event, a timeout,
// a profile update, exit) for people who exist is a router query on one
// shard: the statements were captured through a pgx tracer on the pool,
// and each is explained by Citus, the tick's claim of each timer
// included. The ticker's own statements (the liveness keeper's, finding
// the due timers of its buckets, NextDue) are not a step's, and are left
// out.
func TestCitusStepsAreSingleShard(t *testing.T) {
	ctx := t.Context()
	p, schema, log, s := tracedCitusStore(t)
	tp := s.Pool()
	clk := clock.NewFake(start)
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, Schema: store.Schema{"orders": store.Number}})
	require.NoError(t, err)
	_, err = eng.Publish(ctx, journeyFlow())
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "journey"))
	// People of one shard, so that the timers of the tick, which fire
	// together, are one shard's as well.
	const people = 6
	var ids []uuid.UUID
	var first int64
	for len(ids) < people {
		id := uuid.New()
		var shard int64
		require.NoError(t, p.QueryRow(ctx, `SELECT get_shard_id_for_distribution_column($1::regclass, $2::uuid)`,
			pgx.Identifier{schema, "people"}.Sanitize(), id).Scan(&shard))
		if first == 0 {
			first = shard
		}
		if shard == first {
			ids = append(ids, id)
		}
	}
	for i, id := range ids {
		require.NoError(t, s.Update(ctx, id, func(tx store.Tx) error {
			return tx.PutPerson(&store.Person{ID: id, ExternalID: fmt.Sprint("setup-", i), CreatedAt: start, UpdatedAt: start})
		}))
	}
	log.take() // people created under new keys: the documented exception

	for i := range people {
		who := store.PersonRef{ExternalID: fmt.Sprint("setup-", i)}
		_, err := eng.Enter(ctx, "journey", who, nil)
		require.NoError(t, err)
		if i%2 == 1 {
			require.NoError(t, eng.Deliver(ctx, &store.Event{ID: fmt.Sprint("order-", i), Person: who, Category: store.External,
				Name: "OrderCompleted", Time: clk.Now()}))
		}
	}
	clk.Advance(2 * time.Hour)
	_, err = eng.Tick(ctx)
	require.NoError(t, err)
	stmts := log.take()

	parts, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "journey", Statuses: []store.Status{store.Completed}})
	require.NoError(t, err)
	require.Len(t, parts, people, "every journey ran to its end")

	// The ticker's own statements are not a step's: the liveness
	// keeper's (advisory locks, pg_locks and the processes table, on the
	// coordinator by design), NextDue and the one look-up of where the
	// shards are (pg_dist_shard). Finding the due timers of an
	// owned bucket is a query of one shard's own table on the node that
	// holds it, checked below; claiming each timer is a single-row
	// update, checked like the steps' statements.
	// The inbox's look-up of pending calls and its pruning of done ones
	// (once a minute) ask every shard, as NextDue does; claiming a call
	// and marking it done are single-row router statements.
	tick := []string{"advisory_lock", "advisory_unlock", ".processes", "pg_locks", "WHERE caller = $1", "ORDER BY at, ns", "pg_dist_shard",
		".inbox AS i", ".inbox WHERE done_at < $1"}
	coordinator := net.JoinHostPort(tp.Config().ConnConfig.Host, strconv.Itoa(int(tp.Config().ConnConfig.Port)))
	shardTable := regexp.MustCompile(`participants_[0-9]+`)
	seen := map[string]bool{}
	checked, claims, finds := 0, false, 0
	for _, st := range stmts {
		sql := strings.TrimSpace(st.sql)
		if st.node != coordinator {
			// A search for due timers on a worker: one shard's table,
			// planned there as a plain query of that table.
			tables := slices.Compact(slices.Sorted(slices.Values(shardTable.FindAllString(sql, -1))))
			require.Len(t, tables, 1, "a statement sent to node %s names one shard's table:\n%s", st.node, sql)
			pl := planOn(t, st)
			require.NotContains(t, pl, "Citus", "the shard's query on %s is a local one:\n%s", st.node, pl)
			finds++
			continue
		}
		if seen[sql] || strings.HasPrefix(sql, "BEGIN") || sql == "COMMIT" || sql == "ROLLBACK" ||
			slices.ContainsFunc(tick, func(s string) bool { return strings.Contains(sql, s) }) {
			continue
		}
		seen[sql] = true
		claims = claims || strings.Contains(sql, "claimed_by = $6")
		pl := plan(t, st)
		require.True(t, routed(pl), "not a router query:\n%s\n%s", sql, pl)
		checked++
	}
	require.Positive(t, finds, "the tick searched the shards it owns on their nodes")
	require.GreaterOrEqual(t, checked, 8, "statements of the steps checked")
	require.True(t, claims, "the tick's claims of timers were checked")
	t.Logf("%d statements of %d, each a router query; %d searches for due timers, each of one shard on its node", checked, len(stmts), finds)
}

// A batch of people of several shards (how the engine fires timers) and
// a page of an audience run cost statements per shard, not per person,
// and none goes through the coordinator: the batch's locks, reads and
// participant updates are a router query per shard, and the page's
// inserts are split by shard.
func TestCitusBatchAndPageByShard(t *testing.T) {
	ctx := t.Context()
	p, schema, log, s := tracedCitusStore(t)
	const people = 40
	addPeople(t, p, schema, people)
	all, err := s.People(ctx, &store.PeopleQuery{})
	require.NoError(t, err)
	require.Len(t, all, people)

	// A page of the audience run: every person enters.
	run := &store.AudienceRun{ID: uuid.New(), FlowID: "f", FlowVersion: 1, Entry: "e", StartedAt: start}
	require.NoError(t, s.CreateAudienceRun(ctx, run))
	var parts []*store.Participant
	ids := make([]uuid.UUID, people)
	for i, pe := range all {
		ids[i] = pe.ID
		parts = append(parts, &store.Participant{ID: uuid.New(), PersonID: pe.ID, FlowID: "f", FlowVersion: 1,
			Status: store.Waiting, Element: "w", Version: 1, EnteredAt: start, Wait: &store.Wait{Until: start.Add(time.Hour)}})
	}
	log.take()
	n, err := s.AdvanceAudienceRun(ctx, &store.AdvanceAudienceRunParams{RunID: run.ID, From: uuid.Nil, To: ids[people-1],
		Scanned: people, Done: true, FinishedAt: start, Participants: parts})
	require.NoError(t, err)
	require.Equal(t, people, n)
	for _, st := range log.take() {
		if sql := strings.TrimSpace(st.sql); strings.HasPrefix(sql, "begin") || sql == "commit" || strings.HasPrefix(sql, "SET LOCAL") {
			continue
		}
		pl := plan(t, st)
		require.False(t, strings.Contains(pl, "INSERT ... SELECT") || strings.Contains(pl, "Distributed Subplan"),
			"through the coordinator:\n%s\n%s", st.sql, pl)
	}

	// A batch of every person: each moves their participant on.
	errs, err := s.UpdateBatch(ctx, ids, func(i int, tx store.Tx) error {
		ps, err := tx.Participants()
		if err != nil || len(ps) != 1 {
			return fmt.Errorf("participants of %s: %d, %v", ids[i], len(ps), err)
		}
		ps[0].Element = "next"
		return tx.PutParticipant(ps[0])
	})
	require.NoError(t, err)
	for _, err := range errs {
		require.NoError(t, err)
	}
	stmts := log.take()
	for _, st := range stmts {
		sql := strings.TrimSpace(st.sql)
		if strings.HasPrefix(sql, "BEGIN") || sql == "COMMIT" {
			continue
		}
		pl := plan(t, st)
		require.True(t, routed(pl), "not a router query:\n%s\n%s", sql, pl)
	}
	// BEGIN, COMMIT, and per shard: locks, reads, updates.
	require.LessOrEqual(t, len(stmts), 2+3*citusShards, "statements of a batch of %d people on %d shards", people, citusShards)
	moved, err := s.Participants(ctx, &store.ParticipantQuery{FlowID: "f"})
	require.NoError(t, err)
	require.Len(t, moved, people)
	for _, pt := range moved {
		require.Equal(t, "next", pt.Element)
	}

	// Their timers are claimed grouped by shard, each with its shard, so
	// that the engine commits one shard's people per batch.
	claimed, err := s.ClaimTimers(ctx, start.Add(2*time.Hour), 1000, time.Minute)
	require.NoError(t, err)
	require.Len(t, claimed, people)
	done := map[int]bool{}
	for i, tm := range claimed {
		require.Equal(t, postgres.ShardOf(s, tm.PersonID), tm.Shard)
		if i > 0 && claimed[i-1].Shard != tm.Shard {
			require.False(t, done[tm.Shard], "grouped by shard")
			done[claimed[i-1].Shard] = true
		}
	}
	require.NotEqual(t, claimed[0].Shard, claimed[people-1].Shard)
}

// backend is a database the benchmarks run on: plain PostgreSQL or a
// Citus cluster, each skipped where its variable is not set.
type backend struct {
	name   string
	env    string
	pool   func(testing.TB) *pgxpool.Pool
	shards int // Config.Shards
}

// backends are the databases of the benchmarks. On Citus they take
// Citus's default shard count, as a deployment does.
var backends = []backend{
	{name: "postgres", env: envURL, pool: testPool},
	{name: "citus", env: envCitus, pool: testCitusPool},
}

// distributedTables returns the schema's tables that Citus distributes
// or copies to every node.
func distributedTables(t *testing.T, p *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, _ := p.Query(t.Context(), `SELECT c.relname::text FROM pg_dist_partition d JOIN pg_class c ON c.oid = d.logicalrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1`, schema)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// A schema of plain tables on a Citus database keeps its layout under
// LayoutAuto, and LayoutDistributed moves it, with its rows, to the
// shards: the person is found by key, their participant waits on and
// fires, and the counters add up.
func TestCitusUpgrade(t *testing.T) {
	ctx := t.Context()
	p := testCitusPool(t)
	schema := newSchema(t, p)
	local, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema, Layout: postgres.LayoutLocal})
	require.NoError(t, err)
	require.Empty(t, distributedTables(t, p, schema), "LayoutLocal")
	clk := clock.NewFake(start)
	journeyEngine := func(s store.Store) *flow.Engine {
		eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, Schema: store.Schema{"orders": store.Number}})
		require.NoError(t, err)
		return eng
	}
	eng := journeyEngine(local)
	_, err = eng.Publish(ctx, journeyFlow())
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "journey"))
	for i := range 4 {
		_, err := eng.Enter(ctx, "journey", store.PersonRef{ExternalID: fmt.Sprint("u-", i)}, nil)
		require.NoError(t, err)
	}

	_, err = postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	require.Empty(t, distributedTables(t, p, schema), "an existing schema keeps its layout under LayoutAuto")

	dist, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema, Layout: postgres.LayoutDistributed, Shards: citusShards})
	require.NoError(t, err)
	require.Equal(t, []string{"audience_runs", "counters", "decisions", "events", "flow_versions", "flows", "inbox", "operation_runs", "paces",
		"participant_ids", "participants", "people", "person_keys"}, distributedTables(t, p, schema))
	eng = journeyEngine(dist)
	parts, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "journey"})
	require.NoError(t, err)
	require.Len(t, parts, 4)
	got, err := eng.Participant(ctx, parts[0].ID)
	require.NoError(t, err)
	require.Equal(t, parts[0].PersonID, got.PersonID)
	require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "order-1", Person: store.PersonRef{ExternalID: "u-1"},
		Category: store.External, Name: "OrderCompleted", Time: clk.Now()}))
	clk.Advance(2 * time.Hour)
	_, err = eng.Tick(ctx)
	require.NoError(t, err)
	st, err := eng.Stats(ctx, "journey")
	require.NoError(t, err)
	require.EqualValues(t, 4, st["wait"].Entered, "counted before and after the move")
	require.EqualValues(t, 4, st["done"].Entered)
	require.EqualValues(t, 1, st["update"].Entered)
	// A new person under a key, after the move.
	_, err = eng.Enter(ctx, "journey", store.PersonRef{ExternalID: "u-new"}, nil)
	require.NoError(t, err)
	_, err = eng.Enter(ctx, "journey", store.PersonRef{ExternalID: "u-0"}, nil)
	require.NoError(t, err, "a person from before enters again")
	n, err := dist.CountPeople(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 5, n)
}
