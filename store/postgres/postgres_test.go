package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// envURL names the database the tests use, such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Every test
// works in schemas of its own, which it drops when it ends.
const envURL = "FLOWKIT_TEST_POSTGRES"

// sharedPool is a pool the tests share, opened on first use from the URL
// in an environment variable; without it the tests that need it skip.
type sharedPool struct {
	env, what string
	// example is a URL to show when env is not set.
	example string
	once    sync.Once
	pool    *pgxpool.Pool
	err     error
}

// get returns the pool, or skips the test when the variable is not set.
func (s *sharedPool) get(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := os.Getenv(s.env)
	if url == "" {
		tb.Skipf("%s tests skipped: set %s to its URL, such as %s", s.what, s.env, s.example)
	}
	s.once.Do(func() {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			s.err = err
			return
		}
		cfg.MaxConns = 32
		s.pool, s.err = pgxpool.NewWithConfig(context.Background(), cfg)
	})
	require.NoError(tb, s.err)
	return s.pool
}

var plainPool = &sharedPool{env: envURL, what: "PostgreSQL", example: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"}

// testPool returns the pool shared by the tests, or skips the test when
// FLOWKIT_TEST_POSTGRES is not set.
func testPool(tb testing.TB) *pgxpool.Pool { tb.Helper(); return plainPool.get(tb) }

// newSchema returns a fresh schema name and drops the schema when the test
// ends.
func newSchema(tb testing.TB, p *pgxpool.Pool) string {
	tb.Helper()
	schema := "flowkit_test_" + uuid.NewString()[:8]
	tb.Cleanup(func() {
		// On Citus, dropping distributed tables while parallel tests create
		// theirs may be chosen as a distributed deadlock's victim: again.
		var err error
		for range 5 {
			_, err = p.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			if !postgres.Deadlocked(err) {
				break
			}
		}
		require.NoError(tb, err)
	})
	return schema
}

// newStore returns a store in a schema of its own.
func newStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	p := testPool(tb)
	s, err := postgres.New(tb.Context(), postgres.Config{Pool: p, Schema: newSchema(tb, p)})
	require.NoError(tb, err)
	tb.Cleanup(s.Close)
	return s
}

func TestStore(t *testing.T) {
	testPool(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) }, features)
}

// features are the optional interfaces of the PostgreSQL store: all of
// them.
var features = storetest.Features{
	TimerClaimer:       storetest.Has,
	RefUpdater:         storetest.Has,
	BatchUpdater:       storetest.Has,
	Eraser:             storetest.Has,
	HistoryPruner:      storetest.Has,
	PeopleLister:       storetest.Has,
	AudienceRuns:       storetest.Has,
	ParticipantRemover: storetest.Has,
	SharingTx:          storetest.Has,
	PaceKeeper:         storetest.Has,
	OperationRuns:      storetest.Has,
	ExperimentKeeper:   storetest.Has,
	Inbox:              storetest.Has,
	ParticipantCounter: storetest.Has,
}

func TestConfig(t *testing.T) {
	_, err := postgres.New(t.Context(), postgres.Config{})
	require.ErrorContains(t, err, "needs a Pool or a URL")
	_, err = postgres.New(t.Context(), postgres.Config{URL: "postgres://x", CounterShards: 1000})
	require.ErrorContains(t, err, "counter shards")
}

// TestURL opens a store by URL with the default schema name taken from a
// test schema, migrates twice, and closes.
func TestURL(t *testing.T) {
	p := testPool(t)
	schema := newSchema(t, p)
	s, err := postgres.New(t.Context(), postgres.Config{URL: os.Getenv(envURL), Schema: schema})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()), "migrating again changes nothing")
	_, err = s.PublishFlow(t.Context(), &store.FlowVersion{FlowID: "f", Document: []byte(`{}`), PublishedAt: time.Now()})
	require.NoError(t, err)
	s.Close()
	require.NoError(t, p.Ping(t.Context()), "a store by URL closes its own pool only")

	// SkipMigrate on a schema that exists.
	s, err = postgres.New(t.Context(), postgres.Config{Pool: p, Schema: schema, SkipMigrate: true})
	require.NoError(t, err)
	st, err := s.Flow(t.Context(), "f")
	require.NoError(t, err)
	require.Equal(t, 1, st.Latest)
}

// Processes starting together migrate the same schema at once.
func TestConcurrentMigrate(t *testing.T) {
	p := testPool(t)
	schema := newSchema(t, p)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = postgres.New(t.Context(), postgres.Config{Pool: p, Schema: schema})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// Two stores with two pools on one schema stand for two processes: many
// goroutines read, change and write one person's participant through both,
// and no increment is lost.
func TestTwoProcessesNoLostUpdates(t *testing.T) {
	p := testPool(t)
	schema := newSchema(t, p)
	url := os.Getenv(envURL)
	var stores []*postgres.Store
	for range 2 {
		s, err := postgres.New(t.Context(), postgres.Config{URL: url, Schema: schema})
		require.NoError(t, err)
		t.Cleanup(s.Close)
		stores = append(stores, s)
	}
	ctx := t.Context()
	personID, partID := uuid.New(), uuid.New()
	require.NoError(t, stores[0].Update(ctx, personID, func(tx store.Tx) error {
		if err := tx.PutPerson(&store.Person{ID: personID, ExternalID: "two-" + personID.String()}); err != nil {
			return err
		}
		return tx.PutParticipant(&store.Participant{ID: partID, PersonID: personID, FlowID: "f", FlowVersion: 1,
			Status: store.Active, Element: "start", Vars: map[string]any{"n": 0.0}})
	}))

	const workers, rounds = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		s := stores[w%2]
		wg.Go(func() {
			for r := range rounds {
				errs <- s.Update(ctx, personID, func(tx store.Tx) error {
					parts, err := tx.Participants()
					if err != nil {
						return err
					}
					cur := parts[0]
					cur.Vars["n"] = cur.Vars["n"].(float64) + 1
					if err := tx.PutParticipant(cur); err != nil {
						return err
					}
					q, err := tx.Person()
					if err != nil {
						return err
					}
					q.Attributes = map[string]any{"last": fmt.Sprintf("%d/%d", w, r)}
					if err := tx.PutPerson(q); err != nil {
						return err
					}
					tx.Count(store.Counter{FlowID: "f", FlowVersion: 1, Element: "start", Key: "steps", N: 1})
					return tx.AddEvent(&store.Event{ID: fmt.Sprintf("%d/%d", w, r), Category: store.External, Name: "Step", Time: time.Now()})
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, s := range stores {
		got, err := s.Participant(ctx, partID)
		require.NoError(t, err)
		require.Equal(t, float64(workers*rounds), got.Vars["n"], "every increment lands")
		require.Equal(t, int64(workers*rounds+1), got.Version)
		cs, err := s.Counters(ctx, "f")
		require.NoError(t, err)
		require.Equal(t, []store.Counter{{FlowID: "f", FlowVersion: 1, Element: "start", Key: "steps", N: workers * rounds}}, cs)
	}
	require.NoError(t, stores[1].Update(ctx, personID, func(tx store.Tx) error {
		evs, err := tx.Events(&store.EventQuery{})
		require.NoError(t, err)
		require.Len(t, evs, workers*rounds)
		return nil
	}))
}

// Custom attributes and variables keep their Go types, also where JSON
// would confuse them: a time, a map that looks like a tagged value, a
// string holding NUL, nanoseconds, an instant in another zone.
func TestValueTypesRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	zagreb, err := time.LoadLocation("Europe/Zagreb")
	require.NoError(t, err)
	at := time.Date(2030, 3, 31, 2, 30, 0, 123456789, zagreb)
	values := map[string]any{
		"text":     "a\x00b \u2028 \"quoted\"",
		"number":   -1.25e-7,
		"big":      1e300,
		"bool":     false,
		"date":     time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"datetime": at,
		"list":     []any{"a", 1.0, true, at, []any{}, map[string]any{"t": at}},
		"object":   map[string]any{"nested": map[string]any{"when": at, "n": 2.0}},
		"tagLike":  map[string]any{"$t": "2030-01-01T00:00:00Z"},
		"objLike":  map[string]any{"$o": map[string]any{"$t": "x"}},
		"twoKeys":  map[string]any{"$t": "x", "$o": 1.0},
	}
	want := storetest.InUTC(values).(map[string]any)
	id := uuid.New()
	part := &store.Participant{ID: uuid.New(), PersonID: id, FlowID: "f", FlowVersion: 1, Status: store.Waiting, Element: "w",
		Vars: values, EnteredAt: at, Wait: &store.Wait{Until: at, State: values},
		Entry: &store.Event{ID: "e", Category: store.External, Name: "In", Properties: values, Time: at}}
	ev := &store.Event{ID: "ev", Category: store.External, Name: "Typed", Properties: values, Time: at}
	require.NoError(t, s.Update(ctx, id, func(tx store.Tx) error {
		if err := tx.PutPerson(&store.Person{ID: id, Attributes: values}); err != nil {
			return err
		}
		if err := tx.AddEvent(ev); err != nil {
			return err
		}
		return tx.PutParticipant(part)
	}))
	require.NoError(t, s.Update(ctx, id, func(tx store.Tx) error {
		p, err := tx.Person()
		require.NoError(t, err)
		require.Equal(t, want, p.Attributes)
		evs, err := tx.Events(&store.EventQuery{Since: at, Until: at.Add(time.Nanosecond)})
		require.NoError(t, err)
		require.Len(t, evs, 1, "an event is found at its very nanosecond")
		require.Equal(t, want, evs[0].Properties)
		require.Equal(t, at.UTC(), evs[0].Time)
		evs, err = tx.Events(&store.EventQuery{Since: at.Add(time.Nanosecond)})
		require.NoError(t, err)
		require.Empty(t, evs, "and not a nanosecond after")
		return nil
	}))
	got, err := s.Participant(ctx, part.ID)
	require.NoError(t, err)
	require.Equal(t, want, got.Vars)
	require.Equal(t, want, got.Wait.State)
	require.Equal(t, want, got.Entry.Properties)
	require.Equal(t, at.UTC(), got.EnteredAt)

	// The timer is due at Wait.Until to the nanosecond.
	due, err := s.DueTimers(ctx, at.Add(-time.Nanosecond), 10)
	require.NoError(t, err)
	require.Empty(t, due)
	due, err = s.DueTimers(ctx, at, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.True(t, at.Equal(due[0].Due), "due %v, want %v", due[0].Due, at)
	next, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, at.UTC(), next)
}

// A database error inside fn breaks the transaction: later calls fail and
// Update returns the error even when fn ignores it.
func TestBrokenTransaction(t *testing.T) {
	s := newStore(t)
	id := uuid.New()
	ctx, cancel := context.WithCancel(t.Context())
	err := s.Update(ctx, id, func(tx store.Tx) error {
		cancel()
		err := tx.AddEvent(&store.Event{ID: "x", Category: store.External, Name: "X", Time: time.Now()})
		require.Error(t, err)
		require.Error(t, tx.PutPerson(&store.Person{ID: id}))
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.FindPerson(t.Context(), store.PersonRef{ID: id})
	require.ErrorIs(t, err, store.ErrNotFound)
}

// Concurrent claims of one email by new people: one wins, the others get
// ErrConflict.
func TestKeyRace(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	email := uuid.NewString() + "@example.com"
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := uuid.New()
			errs[i] = s.Update(ctx, id, func(tx store.Tx) error {
				return tx.PutPerson(&store.Person{ID: id, Emails: []string{email}})
			})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			require.ErrorIs(t, err, store.ErrConflict)
		}
	}
	require.Equal(t, 1, won)
}

// Counters summed over shards: the same counter counted by many people
// (spread over shards) adds up.
func TestCounterShards(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			id := uuid.New()
			require.NoError(t, s.Update(ctx, id, func(tx store.Tx) error {
				tx.Count(store.Counter{FlowID: "f", FlowVersion: 1, Element: "a", Key: "entered", N: 1})
				tx.Count(store.Counter{FlowID: "f", FlowVersion: 1, Element: "b", Key: "entered", N: 2})
				return nil
			}))
		})
	}
	wg.Wait()
	cs, err := s.Counters(ctx, "f")
	require.NoError(t, err)
	require.Equal(t, []store.Counter{
		{FlowID: "f", FlowVersion: 1, Element: "a", Key: "entered", N: 40},
		{FlowID: "f", FlowVersion: 1, Element: "b", Key: "entered", N: 80},
	}, cs)
}

// The Tx may be shared among goroutines inside fn.
func TestTxSharedByGoroutines(t *testing.T) {
	s := newStore(t)
	id := uuid.New()
	require.NoError(t, s.Update(t.Context(), id, func(tx store.Tx) error {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				errs[i] = tx.AddEvent(&store.Event{ID: fmt.Sprint(i), Category: store.External, Name: "G", Time: time.Now()})
				_, err := tx.Events(&store.EventQuery{})
				errs[i] = errors.Join(errs[i], err)
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}))
	require.NoError(t, s.Update(t.Context(), id, func(tx store.Tx) error {
		evs, err := tx.Events(&store.EventQuery{})
		require.NoError(t, err)
		ids := make([]string, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
		}
		slices.Sort(ids)
		require.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7"}, ids)
		return nil
	}))
}

// After Erase, no row of any table of the schema holds the person's id,
// keys, participant ids or event ids, in any column.
func TestEraseLeavesNoTrace(t *testing.T) {
	p := testPool(t)
	ctx := t.Context()
	schema := newSchema(t, p)
	s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	_, err = s.PublishFlow(ctx, &store.FlowVersion{FlowID: "f", Document: []byte(`{}`), PublishedAt: time.Now()})
	require.NoError(t, err)
	due := time.Date(2030, 1, 15, 10, 0, 0, 0, time.UTC)
	gone := storetest.EraseRecords(t, s, "f", due)
	kept := storetest.EraseRecords(t, s, "f", due)
	// A claimed timer leaves a trace in its row until the row goes.
	_, err = s.ClaimTimers(ctx, due, 10, time.Hour)
	require.NoError(t, err)

	count := func(needle string) map[string]int {
		rows, err := p.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, schema)
		require.NoError(t, err)
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Contains(t, tables, "participants")
		found := map[string]int{}
		for _, tbl := range tables {
			var n int
			q := `SELECT count(*) FROM ` + pgx.Identifier{schema, tbl}.Sanitize() + ` AS t WHERE strpos(t::text, $1) > 0`
			require.NoError(t, p.QueryRow(ctx, q, needle).Scan(&n))
			if n > 0 {
				found[tbl] = n
			}
		}
		return found
	}
	for _, needle := range gone.Needles() {
		require.NotEmpty(t, count(needle), "%s is stored before the erasure", needle)
	}
	require.NoError(t, s.Erase(ctx, gone.Person.ID, nil))
	for _, needle := range gone.Needles() {
		require.Empty(t, count(needle), "%s is still stored", needle)
	}
	for _, needle := range kept.Needles() {
		require.NotEmpty(t, count(needle), "%s of another person is gone", needle)
	}
}
