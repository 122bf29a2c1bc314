package postgres_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// BenchmarkEnterTx compares entries in the host's transaction with plain
// entries, and measures how soon a committed entry takes its first step,
// on the database in FLOWKIT_TEST_POSTGRES:
//
//		go test -run '^$' -bench EnterTx -benchtime 2000x ./store/postgres/
//
//	  - "plain": Enter from 8 goroutines; enters/s.
//	  - "tx": 8 goroutines each commit host transactions of one EnterTx
//	    while another store (a process of its own, with its own pool) runs
//	    eng.Run, woken by the inbox's notifications; enters/s from the
//	    first commit until the last entry ran.
//	  - "latency": one host transaction at a time, each waited for: the
//	    time from Commit returning to the entry's first step (the
//	    participant's entry, observed in the running process), p50 and p99.
//
// The flow is the orders flow: the entry's first step arms a wait.
func BenchmarkEnterTx(b *testing.B) {
	const workers = 8
	b.Run("plain", func(b *testing.B) {
		s := newTxSetup(b, backends[0])
		var n atomic.Int64
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := n.Add(1); i <= int64(b.N); i = n.Add(1) {
					_, err := s.eng.Enter(b.Context(), "orders", store.PersonRef{ExternalID: fmt.Sprint("plain-", i)}, nil)
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "enters/s")
	})
	b.Run("tx", func(b *testing.B) {
		s := newTxSetup(b, backends[0])
		var ran atomic.Int64
		all := make(chan struct{})
		stop := runObserved(b, s, func(o *flow.Observation) {
			if o.What == flow.ObservedEnter && ran.Add(1) == int64(b.N) {
				close(all)
			}
		})
		defer stop()
		var n atomic.Int64
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := n.Add(1); i <= int64(b.N); i = n.Add(1) {
					tx, err := s.pool.Begin(b.Context())
					if err == nil {
						_, err = s.eng.EnterTx(b.Context(), tx, "orders", store.PersonRef{ExternalID: fmt.Sprint("tx-", i)}, nil)
					}
					if err == nil {
						err = tx.Commit(b.Context())
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		committed := time.Since(start)
		select {
		case <-all:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d of %d entries ran", ran.Load(), b.N)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "enters/s")
		b.ReportMetric(float64(b.N)/committed.Seconds(), "commits/s")
	})
	b.Run("latency", func(b *testing.B) {
		s := newTxSetup(b, backends[0])
		var mu sync.Mutex
		seen := map[uuid.UUID]chan time.Time{}
		wait := func(id uuid.UUID) chan time.Time {
			mu.Lock()
			defer mu.Unlock()
			c, ok := seen[id]
			if !ok {
				c = make(chan time.Time, 1)
				seen[id] = c
			}
			return c
		}
		stop := runObserved(b, s, func(o *flow.Observation) {
			if o.What == flow.ObservedEnter {
				wait(o.Participant) <- time.Now()
			}
		})
		defer stop()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			tx, err := s.pool.Begin(b.Context())
			require.NoError(b, err)
			id, err := s.eng.EnterTx(b.Context(), tx, "orders", store.PersonRef{ExternalID: fmt.Sprint("lat-", i)}, nil)
			require.NoError(b, err)
			require.NoError(b, tx.Commit(b.Context()))
			committed := time.Now()
			select {
			case at := <-wait(id):
				lat = append(lat, at.Sub(committed))
			case <-time.After(time.Minute):
				b.Fatalf("entry %d did not run", i)
			}
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	})
}

// runObserved runs an engine on s's schema in a store of its own (a
// process of its own), with see as its observer, until stop is called.
func runObserved(b *testing.B, s *txSetup, see func(*flow.Observation)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := postgres.New(ctx, postgres.Config{URL: os.Getenv(envURL), Schema: s.schema, SkipMigrate: true})
	require.NoError(b, err)
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clock.Real{}, Schema: store.Schema{"score": store.Number},
		Observer: flow.ObserverFunc(func(_ context.Context, o *flow.Observation) { see(o) })})
	require.NoError(b, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = eng.Run(ctx, time.Second)
	}()
	// Until it listens and owns its buckets.
	_, err = eng.Tick(ctx)
	require.NoError(b, err)
	time.Sleep(200 * time.Millisecond)
	return func() {
		cancel()
		<-done
		st.Close()
	}
}
