package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// statementCounter is a pgx tracer that counts what the store sends: a
// round trip is one Exec, Query or SendBatch; a statement is one SQL
// statement in it, BEGIN and COMMIT included.
type statementCounter struct {
	roundTrips, statements atomic.Int64
	mu                     sync.Mutex
	bySQL                  map[string]int
}

var (
	_ pgx.QueryTracer = (*statementCounter)(nil)
	_ pgx.BatchTracer = (*statementCounter)(nil)
)

func (c *statementCounter) count(sql string) {
	if os.Getenv("DEBUGSQL") != "" {
		c.mu.Lock()
		if c.bySQL == nil {
			c.bySQL = map[string]int{}
		}
		k := strings.Join(strings.Fields(sql), " ")
		c.bySQL[k[:min(len(k), 90)]]++
		c.mu.Unlock()
	}
	c.statements.Add(1)
}

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.roundTrips.Add(1)
	c.count(d.SQL)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.roundTrips.Add(1)
	return ctx
}

func (c *statementCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.count(d.SQL)
}

func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// journeyFlow is the journey of BenchmarkJourneyStatements: wait up to an
// hour for the person's order, then record it on the profile and leave;
// or leave at the timeout.
func journeyFlow() *flow.Flow {
	return flow.New("journey", "Journey").
		Add("wait", &kinds.WaitForEvent{
			Event:   segment.EventSpec{Category: store.External, Name: "OrderCompleted"},
			WaitFor: segment.Period{Amount: 1, Unit: segment.Hours},
		}, flow.Next{"occurred": "update", "timeout": "done"}).
		Add("update", &kinds.UpdateProfile{Set: []*kinds.Assignment{{Attribute: "orders", Formula: "1"}}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

// BenchmarkJourneyStatements counts, with a pgx tracer on the pools, the
// statements and round trips the engine's PostgreSQL traffic takes per
// step on a journey workload: people enter, wait for an event or an
// hour's timeout (half each), the ones who ordered get a profile update,
// everybody leaves. A step is what the engine observes of a participant
// (enter, an element's step, wait, resume, exit: 5.5 a journey here);
// everything the engine sends counts (person lookups,
// flow revisions, timer claims, transactions). "procs=2" runs two
// engines on two stores over one schema, each with its own people,
// entering, delivering and ticking at once. It runs on plain PostgreSQL
// ("postgres") and on a Citus cluster ("citus"), each where its variable
// is set:
//
//	FLOWKIT_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	FLOWKIT_TEST_CITUS=postgres://postgres@127.0.0.1:9700/postgres?sslmode=disable \
//		go test -run '^$' -bench JourneyStatements -benchtime 2000x ./store/postgres/
func BenchmarkJourneyStatements(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for _, procs := range []int{1, 2} {
				b.Run(fmt.Sprint("procs=", procs), func(b *testing.B) { benchJourney(b, be, procs) })
			}
		})
	}
}

func benchJourney(b *testing.B, be backend, procs int) {
	ctx := b.Context()
	schema := newSchema(b, be.pool(b))
	tracer := &statementCounter{}
	var steps atomic.Int64
	obs := flow.ObserverFunc(func(_ context.Context, o *flow.Observation) {
		switch o.What {
		case flow.ObservedEnter, flow.ObservedStep, flow.ObservedWait, flow.ObservedResume, flow.ObservedExit:
			steps.Add(1)
		}
	})
	clk := clock.NewFake(start)
	engines := make([]*flow.Engine, procs)
	for i := range engines {
		cfg, err := pgxpool.ParseConfig(os.Getenv(be.env))
		if err != nil {
			b.Fatal(err)
		}
		cfg.MaxConns = 8
		cfg.ConnConfig.Tracer = tracer
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		s, err := postgres.New(ctx, postgres.Config{Pool: pool, Schema: schema, Shards: be.shards})
		if err != nil {
			b.Fatal(err)
		}
		engines[i], err = flow.NewEngine(flow.Config{Store: s, Clock: clk, Observer: obs,
			Schema: store.Schema{"orders": store.Number}})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := engines[0].Publish(ctx, journeyFlow()); err != nil {
		b.Fatal(err)
	}
	if err := engines[0].Activate(ctx, "journey"); err != nil {
		b.Fatal(err)
	}
	const round = 200 // journeys between two timeouts
	b.ReportAllocs()
	tracer.roundTrips.Store(0)
	tracer.statements.Store(0)
	tracer.bySQL = nil
	b.ResetTimer()
	var failed atomic.Value
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		var wg sync.WaitGroup
		for g, eng := range engines {
			wg.Go(func() {
				for i := g; i < n; i += procs {
					who := store.PersonRef{ExternalID: fmt.Sprint("j-", done+i)}
					if _, err := eng.Enter(ctx, "journey", who, nil); err != nil {
						failed.Store(err)
						return
					}
					if i%2 == 0 {
						continue // waits for its timeout
					}
					ev := &store.Event{ID: fmt.Sprint("order-", done+i), Person: who, Category: store.External,
						Name: "OrderCompleted", Time: clk.Now()}
					if err := eng.Deliver(ctx, ev); err != nil {
						failed.Store(err)
						return
					}
				}
			})
		}
		wg.Wait()
		clk.Advance(time.Hour + time.Second)
		for _, eng := range engines {
			wg.Go(func() {
				if _, err := eng.Tick(ctx); err != nil {
					failed.Store(err)
				}
			})
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if f := os.Getenv("DEBUGSQL"); f != "" {
		var sb strings.Builder
		for k, v := range tracer.bySQL {
			fmt.Fprintf(&sb, "%6d %s\n", v, k)
		}
		os.WriteFile(f, []byte(sb.String()), 0o644)
	}
	st := float64(steps.Load())
	if st == 0 {
		b.Fatal("no steps ran")
	}
	b.ReportMetric(float64(tracer.statements.Load())/st, "statements/step")
	b.ReportMetric(float64(tracer.roundTrips.Load())/st, "roundtrips/step")
	b.ReportMetric(float64(tracer.roundTrips.Load())/float64(b.N), "roundtrips/journey")
	b.ReportMetric(st/float64(b.N), "steps/journey")
	b.ReportMetric(st/b.Elapsed().Seconds(), "steps/s")
}
