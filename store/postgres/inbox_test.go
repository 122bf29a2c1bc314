package postgres_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
)

// placedAt is a time with nanoseconds, which the recorded call keeps.
var placedAt = time.Date(2026, 1, 5, 10, 0, 0, 123456789, time.UTC)

// ordersFlow waits for the person's order to ship, then exits.
func ordersFlow() *flow.Flow {
	return flow.New("orders", "Orders").Var("orderId", store.Text, "").
		Add("wait", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "OrderShipped"}}, flow.Next{"occurred": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

// txSetup is a store on a schema of its own with the orders flow active,
// an engine on the real clock and the host's own table of orders.
type txSetup struct {
	pool   *pgxpool.Pool
	schema string
	st     *postgres.Store
	eng    *flow.Engine
	orders string // the host's table, quoted
}

func newTxSetup(t testing.TB, be backend) *txSetup {
	t.Helper()
	p := be.pool(t)
	schema := newSchema(t, p)
	st, err := postgres.New(t.Context(), postgres.Config{Pool: p, Schema: schema, Shards: citusShards})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clock.Real{}, Schema: store.Schema{"score": store.Number}})
	require.NoError(t, err)
	_, _, err = eng.Deploy(t.Context(), ordersFlow())
	require.NoError(t, err)
	orders := pgx.Identifier{schema, "orders"}.Sanitize()
	_, err = p.Exec(t.Context(), `CREATE TABLE `+orders+` (id text PRIMARY KEY, person text NOT NULL)`)
	require.NoError(t, err)
	return &txSetup{pool: p, schema: schema, st: st, eng: eng, orders: orders}
}

// placeOrder is what a host does in one transaction: it stores the
// order, enters the person, delivers the event that ships it, and
// changes their profile. It returns the ids of the three recorded calls.
func (s *txSetup) placeOrder(ctx context.Context, t *testing.T, htx any, exec func(string, ...any) error, person, order string) (enter, deliver, update uuid.UUID) {
	t.Helper()
	require.NoError(t, exec(`INSERT INTO `+s.orders+` (id, person) VALUES ($1, $2)`, order, person))
	ref := store.PersonRef{ExternalID: person}
	var err error
	enter, err = s.eng.EnterTx(ctx, htx, "orders", ref, map[string]any{"orderId": order})
	require.NoError(t, err)
	deliver, err = s.eng.DeliverTx(ctx, htx, &store.Event{ID: "shipped-" + order, Person: ref, Category: store.External, Name: "OrderShipped",
		Properties: map[string]any{"orderId": order, "placedAt": placedAt, "items": []any{map[string]any{"sku": "a-1", "n": 2.0}}}})
	require.NoError(t, err)
	update, err = s.eng.UpdatePersonTx(ctx, htx, ref, flow.Changes{Set: map[string]any{"firstName": "Ana", "score": 7}, AddTags: []string{"buyer"}})
	require.NoError(t, err)
	return enter, deliver, update
}

func TestInboxInHostTransaction(t *testing.T)      { testInboxInHostTransaction(t, backends[0]) }
func TestCitusInboxInHostTransaction(t *testing.T) { testInboxInHostTransaction(t, backends[1]) }

// A host transaction that rolls back leaves no participant, event,
// profile change or recorded call, with a pgx.Tx and with a *sql.Tx; one
// that commits runs its calls once, in order, as the plain calls would:
// the entry, the event that wakes the participant, the profile change,
// each with its report readable after; a redelivered event id changes
// nothing and a refused re-entry says why.
func testInboxInHostTransaction(t *testing.T, be backend) {
	ctx := t.Context()
	s := newTxSetup(t, be)
	db := stdlib.OpenDBFromPool(s.pool)
	t.Cleanup(func() { _ = db.Close() })

	kinds := map[string]func(t *testing.T, person, order string, commit bool) (uuid.UUID, uuid.UUID, uuid.UUID){
		"pgx.Tx": func(t *testing.T, person, order string, commit bool) (uuid.UUID, uuid.UUID, uuid.UUID) {
			tx, err := s.pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			a, b, c := s.placeOrder(ctx, t, tx, func(q string, args ...any) error { _, err := tx.Exec(ctx, q, args...); return err }, person, order)
			if commit {
				require.NoError(t, tx.Commit(ctx))
			}
			return a, b, c
		},
		"sql.Tx": func(t *testing.T, person, order string, commit bool) (uuid.UUID, uuid.UUID, uuid.UUID) {
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			a, b, c := s.placeOrder(ctx, t, tx, func(q string, args ...any) error { _, err := tx.ExecContext(ctx, q, args...); return err }, person, order)
			if commit {
				require.NoError(t, tx.Commit())
			}
			return a, b, c
		},
	}
	for name, place := range kinds {
		t.Run(name, func(t *testing.T) {
			person, order := "ana-"+name, "o-1-"+name
			enter, deliver, update := place(t, person, order, false)
			_, err := s.eng.Tick(ctx)
			require.NoError(t, err)
			_, err = s.eng.Participant(ctx, enter)
			require.ErrorIs(t, err, store.ErrNotFound, "no participant")
			_, err = s.eng.Person(ctx, store.PersonRef{ExternalID: person})
			require.ErrorIs(t, err, store.ErrNotFound, "no person, so no events and no profile change")
			for _, id := range []uuid.UUID{enter, deliver, update} {
				_, err = s.eng.Recorded(ctx, id)
				require.ErrorIs(t, err, store.ErrNotFound, "no recorded call")
			}
			var n int
			require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.orders+` WHERE person = $1`, person).Scan(&n))
			require.Zero(t, n, "nor the host's order")

			enter, deliver, update = place(t, person, order, true)
			rc, err := s.eng.Recorded(ctx, enter)
			require.NoError(t, err)
			require.False(t, rc.Done, "pending until a tick")
			_, err = s.eng.Tick(ctx)
			require.NoError(t, err)

			p, err := s.eng.Participant(ctx, enter)
			require.NoError(t, err)
			require.Equal(t, store.Completed, p.Status, "entered, woken by the event, exited")
			require.Equal(t, order, p.Vars["orderId"])
			who, err := s.eng.Person(ctx, store.PersonRef{ExternalID: person})
			require.NoError(t, err)
			require.Equal(t, "Ana", who.FirstName)
			require.Equal(t, 7.0, who.Attributes["score"])
			require.True(t, who.HasTag("buyer"))
			evs, err := s.eng.Events(ctx, store.PersonRef{ExternalID: person}, store.EventQuery{Category: store.External})
			require.NoError(t, err)
			require.Len(t, evs, 1)
			require.True(t, placedAt.Equal(evs[0].Properties["placedAt"].(time.Time)), "a time property kept its type and nanoseconds")
			require.Equal(t, []any{map[string]any{"sku": "a-1", "n": 2.0}}, evs[0].Properties["items"])

			rc, err = s.eng.Recorded(ctx, enter)
			require.NoError(t, err)
			require.True(t, rc.Done)
			require.NoError(t, rc.Err)
			require.Equal(t, flow.RecordedEnter, rc.Kind)
			require.Len(t, rc.Report.Entered, 1)
			require.Equal(t, enter, rc.Report.Entered[0].Participant)
			rc, err = s.eng.Recorded(ctx, deliver)
			require.NoError(t, err)
			require.Equal(t, []uuid.UUID{enter}, rc.Report.Woken, "the event woke the participant the same transaction entered")
			rc, err = s.eng.Recorded(ctx, update)
			require.NoError(t, err)
			require.True(t, rc.Done)

			// A redelivered event id: done, a duplicate, nothing changed.
			tx, err := s.pool.Begin(ctx)
			require.NoError(t, err)
			again, err := s.eng.DeliverTx(ctx, tx, &store.Event{ID: "shipped-" + order, Person: store.PersonRef{ExternalID: person},
				Category: store.External, Name: "OrderShipped", Time: time.Now().Add(time.Second)})
			require.NoError(t, err)
			// Entering twice while waiting: the second is refused.
			first, err := s.eng.EnterTx(ctx, tx, "orders", store.PersonRef{ExternalID: person}, nil)
			require.NoError(t, err)
			second, err := s.eng.EnterTx(ctx, tx, "orders", store.PersonRef{ExternalID: person}, nil)
			require.NoError(t, err)
			require.NoError(t, tx.Commit(ctx))
			_, err = s.eng.Tick(ctx)
			require.NoError(t, err)
			rc, err = s.eng.Recorded(ctx, again)
			require.NoError(t, err)
			require.True(t, rc.Done)
			require.True(t, rc.Report.Duplicate || again == deliver, "the event id was delivered before")
			evs, err = s.eng.Events(ctx, store.PersonRef{ExternalID: person}, store.EventQuery{Category: store.External})
			require.NoError(t, err)
			require.Len(t, evs, 1, "delivered once")
			rc, err = s.eng.Recorded(ctx, first)
			require.NoError(t, err)
			require.NoError(t, rc.Err)
			rc, err = s.eng.Recorded(ctx, second)
			require.NoError(t, err)
			require.True(t, rc.Done)
			require.ErrorIs(t, rc.Err, flow.ErrAlreadyInFlow, "re-entry refused while the first waits")
			_, err = s.eng.Participant(ctx, second)
			require.ErrorIs(t, err, store.ErrNotFound)
		})
	}
}

// Bad input is refused when it is recorded, naming the field, and
// refusing it leaves the host's transaction usable.
func TestInboxRefusesBadInputAtOnce(t *testing.T) {
	ctx := t.Context()
	s := newTxSetup(t, backends[0])
	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = s.eng.UpdatePersonTx(ctx, tx, store.PersonRef{ExternalID: "x"}, flow.Changes{Set: map[string]any{"undeclared": 1}})
	var ie *flow.InputError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "set.undeclared", ie.Field)
	_, err = s.eng.DeliverTx(ctx, tx, &store.Event{Person: store.PersonRef{ExternalID: "x"}, Category: store.External, Name: "A"})
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "id", ie.Field)
	_, err = s.eng.EnterTx(ctx, tx, "orders", store.PersonRef{}, nil)
	require.ErrorAs(t, err, &ie)
	_, err = s.eng.EnterTx(ctx, "not a transaction", "orders", store.PersonRef{ExternalID: "x"}, nil)
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, "pgx.Tx or a *sql.Tx")
	_, err = s.eng.EnterTx(ctx, tx, "orders", store.PersonRef{ExternalID: "x"}, nil)
	require.NoError(t, err, "the host's transaction is still usable")
	require.NoError(t, tx.Commit(ctx))
}

// A host commits calls while three processes run the engine (stores with
// pools of their own on one schema): each committed call runs exactly
// once, in one of them, and the calls of rolled-back transactions never.
func TestInboxThreeProcesses(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := newTxSetup(t, backends[0])
	const people = 300
	var (
		mu      sync.Mutex
		entered = map[uuid.UUID]int{} // participant -> entries observed, across processes
		by      = map[int]int{}       // process -> entries it ran
	)
	var runs sync.WaitGroup
	for i := range 3 {
		st, err := postgres.New(ctx, postgres.Config{URL: os.Getenv(envURL), Schema: s.schema, SkipMigrate: true})
		require.NoError(t, err)
		t.Cleanup(st.Close)
		eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clock.Real{}, Schema: store.Schema{"score": store.Number},
			Observer: flow.ObserverFunc(func(_ context.Context, o *flow.Observation) {
				if o.What == flow.ObservedEnter {
					mu.Lock()
					entered[o.Participant]++
					by[i]++
					mu.Unlock()
				}
			})})
		require.NoError(t, err)
		runs.Go(func() { _ = eng.Run(ctx, time.Second) })
	}
	var committed, rolledBack []uuid.UUID
	for n := range people {
		tx, err := s.pool.Begin(ctx)
		require.NoError(t, err)
		enter, _, _ := s.placeOrder(ctx, t, tx, func(q string, args ...any) error { _, err := tx.Exec(ctx, q, args...); return err },
			fmt.Sprint("p-", n), fmt.Sprint("o-", n))
		if n%5 == 4 {
			require.NoError(t, tx.Rollback(ctx))
			rolledBack = append(rolledBack, enter)
			continue
		}
		require.NoError(t, tx.Commit(ctx))
		committed = append(committed, enter)
	}
	require.Eventually(t, func() bool {
		var pending int
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{s.schema, "inbox"}.Sanitize()+` WHERE done_at IS NULL`).Scan(&pending))
		return pending == 0
	}, time.Minute, 50*time.Millisecond)
	cancel()
	runs.Wait()

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, entered, len(committed))
	for _, id := range committed {
		require.Equal(t, 1, entered[id], "participant %s entered once", id)
		p, err := s.eng.Participant(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status)
	}
	for _, id := range rolledBack {
		_, err := s.eng.Participant(t.Context(), id)
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	stats, err := s.eng.Stats(t.Context(), "orders")
	require.NoError(t, err)
	require.EqualValues(t, len(committed), stats["wait"].Entered)
	t.Logf("entries run by each process: %v", by)
	busy := 0
	for _, n := range by {
		if n > 0 {
			busy++
		}
	}
	require.GreaterOrEqual(t, busy, 2, "the processes share the work")
}

// A schema distributed before the inbox existed gets it distributed by
// person, co-located with people, when it is brought up to date; calls
// recorded in host transactions then run there.
func TestCitusInboxUpgrade(t *testing.T) {
	ctx := t.Context()
	p, schema, q := citusSchemaBefore(t, "inbox")
	s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	var method string
	var colocated bool
	require.NoError(t, p.QueryRow(ctx, `SELECT i.partmethod::text, i.colocationid = pp.colocationid
		FROM pg_dist_partition i, pg_dist_partition pp WHERE i.logicalrelid = $1::regclass AND pp.logicalrelid = $2::regclass`,
		q+".inbox", q+".people").Scan(&method, &colocated))
	require.Equal(t, "h", method, "distributed")
	require.True(t, colocated, "beside the people's rows")
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clock.Real{}})
	require.NoError(t, err)
	_, _, err = eng.Deploy(ctx, ordersFlow())
	require.NoError(t, err)
	tx, err := p.Begin(ctx)
	require.NoError(t, err)
	id, err := eng.EnterTx(ctx, tx, "orders", store.PersonRef{ExternalID: "up"}, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	_, err = eng.Tick(ctx)
	require.NoError(t, err)
	part, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Waiting, part.Status)
	_, err = postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err, "migrating again changes nothing")
}
