package flow_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// waitPopulation is how many waiting participants the wait benchmarks
// build, each on a different person: a million, or ten thousand with
// -short (as CI runs them).
func waitPopulation() int {
	if testing.Short() {
		return 10_000
	}
	return 1_000_000
}

// cartFlow is the abandoned-cart wait: the OrderCompleted of the
// participant's own cart, for 4 hours.
func cartFlow() *flow.Flow {
	return flow.New("cart", "Cart").Var("cartId", store.Text, nil).
		Add("wait", &kinds.WaitForEvent{
			Event:   segment.EventSpec{Category: store.External, Name: "OrderCompleted", Where: []segment.PropertyCondition{segment.Prop("cartId", segment.Is, "{{cartId}}")}},
			WaitFor: segment.Period{Amount: 4, Unit: segment.Hours},
		}, flow.Next{"occurred": "bought"}).
		Add("bought", &kinds.Exit{Reason: "bought"}, nil)
}

// fillWaiting makes an engine with n people, each with one participant
// waiting in cartFlow.
func fillWaiting(b testing.TB, n int) (*flow.Engine, []store.PersonRef) {
	b.Helper()
	ctx := context.Background()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(t0)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.Publish(ctx, cartFlow()); err != nil {
		b.Fatal(err)
	}
	if err := eng.Activate(ctx, "cart"); err != nil {
		b.Fatal(err)
	}
	people := make([]store.PersonRef, n)
	for i := range people {
		people[i] = store.PersonRef{ExternalID: "shopper-" + strconv.Itoa(i)}
		if _, err := eng.Enter(ctx, "cart", people[i], map[string]any{"cartId": "cart-" + strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
	return eng, people
}

// orders makes the OrderCompleted event of each person's cart.
func orders(people []store.PersonRef) []*store.Event {
	evs := make([]*store.Event, len(people))
	for i, p := range people {
		evs[i] = &store.Event{ID: "order-" + strconv.Itoa(i), Person: p, Category: store.External, Name: "OrderCompleted",
			Properties: map[string]any{"cartId": "cart-" + strconv.Itoa(i), "total": 42.5}}
	}
	return evs
}

// BenchmarkWaitDeliver delivers one OrderCompleted to each of n people
// whose participant waits for it (n is a million, ten thousand with
// -short): each event is matched against the wait's condition, wakes its
// participant and takes it out of the flow. "events/s" is from one
// goroutine; BenchmarkWaitDeliverParallel delivers from GOMAXPROCS.
func BenchmarkWaitDeliver(b *testing.B) { benchWaitDeliver(b, 1) }

// BenchmarkWaitDeliverParallel is BenchmarkWaitDeliver with GOMAXPROCS
// goroutines delivering, each to its own share of the people, as a host
// does with one consumer per partition of its event stream: "events/s" is
// then the machine's.
func BenchmarkWaitDeliverParallel(b *testing.B) { benchWaitDeliver(b, runtime.GOMAXPROCS(0)) }

func benchWaitDeliver(b *testing.B, workers int) {
	n := waitPopulation()
	ctx := context.Background()
	var delivered int
	var spent, cpuSpent time.Duration
	cpuOK := true
	b.ReportAllocs()
	for range b.N {
		b.StopTimer()
		eng, people := fillWaiting(b, n)
		evs := orders(people)
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		cpu, ok := processCPU()
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(evs); i += workers {
					if err := eng.Deliver(ctx, evs[i]); err != nil {
						failed.Store(&err)
						return
					}
				}
			})
		}
		wg.Wait()
		spent += time.Since(start)
		end, endOK := processCPU()
		cpuOK = cpuOK && ok && endOK
		cpuSpent += end - cpu
		if err := failed.Load(); err != nil {
			b.Fatal(*err)
		}
		b.StopTimer()
		st, err := eng.Stats(ctx, "cart")
		if err != nil {
			b.Fatal(err)
		}
		if got := st["wait"].Left["occurred"]; got != int64(n) {
			b.Fatalf("%d participants woke, want %d", got, n)
		}
		delivered += n
		b.StartTimer()
	}
	b.ReportMetric(float64(delivered)/spent.Seconds(), "events/s")
	if cpuOK && delivered > 0 {
		// The process's CPU time per event, steadier than events/s on a
		// shared machine.
		b.ReportMetric(float64(cpuSpent)/float64(delivered), "cpu-ns/event")
	}
}

// BenchmarkWaitingMemory reports the heap held per participant waiting for
// an event, with its wait, timer and the indexes that find it:
// "bytes/waiting" is what entering adds to people who already exist;
// "bytes/person+waiting" also counts the person's profile and key index.
// "any-order" waits for any OrderCompleted and holds no variables;
// "own-cart" is the abandoned-cart wait, whose participant holds its cart
// id in a flow variable.
func BenchmarkWaitingMemory(b *testing.B) {
	anyOrder := flow.New("cart", "Cart").
		Add("wait", &kinds.WaitForEvent{
			Event:   segment.EventSpec{Category: store.External, Name: "OrderCompleted"},
			WaitFor: segment.Period{Amount: 4, Unit: segment.Hours},
		}, nil)
	b.Run("any-order", func(b *testing.B) { benchWaitingMemory(b, anyOrder, false) })
	b.Run("own-cart", func(b *testing.B) { benchWaitingMemory(b, cartFlow(), true) })
}

func benchWaitingMemory(b *testing.B, f *flow.Flow, withVars bool) {
	n := waitPopulation()
	ctx := context.Background()
	people := make([]store.PersonRef, n)
	vars := make([]map[string]any, n)
	for i := range people {
		people[i] = store.PersonRef{ExternalID: fmt.Sprint("shopper-", i)}
		if withVars {
			vars[i] = map[string]any{"cartId": fmt.Sprint("cart-", i)}
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for range b.N {
		start := heap()
		eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(t0)})
		if err != nil {
			b.Fatal(err)
		}
		for _, ref := range people {
			if _, err := eng.UpdatePerson(ctx, ref, func(*store.Person) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		withPeople := heap()
		if _, err := eng.Publish(ctx, f); err != nil {
			b.Fatal(err)
		}
		if err := eng.Activate(ctx, f.ID); err != nil {
			b.Fatal(err)
		}
		for i, ref := range people {
			if _, err := eng.Enter(ctx, f.ID, ref, vars[i]); err != nil {
				b.Fatal(err)
			}
		}
		end := heap()
		st, err := eng.Stats(ctx, f.ID)
		if err != nil {
			b.Fatal(err)
		}
		if st["wait"].Waiting != int64(n) {
			b.Fatalf("%d waiting, want %d", st["wait"].Waiting, n)
		}
		b.ReportMetric(float64(end-withPeople)/float64(n), "bytes/waiting")
		b.ReportMetric(float64(end-start)/float64(n), "bytes/person+waiting")
		runtime.KeepAlive(eng)
	}
	runtime.KeepAlive(vars)
}
