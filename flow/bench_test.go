package flow_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// population is how many participants the scale benchmarks build: a
// million, or ten thousand with -short (as CI runs them).
func population() int {
	if testing.Short() {
		return 10_000
	}
	return 1_000_000
}

func benchEngine(b *testing.B) (*flow.Engine, *clock.Fake) {
	b.Helper()
	clk := clock.NewFake(t0)
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Schema: store.Schema{"score": store.Number}})
	if err != nil {
		b.Fatal(err)
	}
	return eng, clk
}

func benchPublish(b *testing.B, eng *flow.Engine, f *flow.Flow) {
	b.Helper()
	ctx := context.Background()
	if _, err := eng.Publish(ctx, f); err != nil {
		b.Fatal(err)
	}
	if err := eng.Activate(ctx, f.ID); err != nil {
		b.Fatal(err)
	}
}

// refs makes n distinct person references up front, so the benchmarks
// measure the engine rather than fmt.
func refs(n int) []store.PersonRef {
	out := make([]store.PersonRef, n)
	for i := range out {
		out[i] = store.PersonRef{ExternalID: fmt.Sprint("person-", i)}
	}
	return out
}

// BenchmarkSteps runs participants through a chain of simple steps
// (variable updates and tags) within one call each.
func BenchmarkSteps(b *testing.B) {
	eng, _ := benchEngine(b)
	benchSteps(b, eng, stepsFlow(), stepsChain)
}

// stepsChain is how many steps each participant of stepsFlow runs.
const stepsChain = 50

// stepsFlow is the flow of BenchmarkSteps: a chain of stepsChain variable
// updates and tags, with no wait.
func stepsFlow() *flow.Flow {
	f := flow.New("steps", "Steps").Var("n", store.Number, 0).Var("plan", store.Text, nil)
	for i := range stepsChain {
		next := flow.Next{"next": fmt.Sprint("s", i+1)}
		if i == stepsChain-1 {
			next = nil
		}
		var el element.Element
		switch i % 3 {
		case 0:
			el = &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n + 1"}}}
		case 1:
			el = &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "plan", Value: "gold"}}}
		default:
			el = &kinds.AddTag{Tag: "t"}
		}
		f.Add(fmt.Sprint("s", i), el, next)
	}
	return f
}

// benchSteps publishes f and enters b.N new people into it, one call
// each, reporting steps/s of steps steps per person, and the process's CPU
// time per step (steadier than steps/s on a shared machine).
func benchSteps(b *testing.B, eng *flow.Engine, f *flow.Flow, steps int) {
	benchPublish(b, eng, f)
	people := refs(b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu, cpuOK := processCPU()
	for i := range b.N {
		if _, err := eng.Enter(ctx, f.ID, people[i], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*steps)/time.Since(start).Seconds(), "steps/s")
	if end, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64(end-cpu)/float64(b.N*steps), "cpu-ns/step")
	}
}

// BenchmarkEnter enters new people into a flow whose first element is a
// pause.
func BenchmarkEnter(b *testing.B) {
	eng, _ := benchEngine(b)
	benchPublish(b, eng, flow.New("enter", "Enter").Add("p", pauseFor(1, segment.Days), nil))
	people := refs(b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := eng.Enter(ctx, "enter", people[i], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "enters/s")
}

// fillPaused enters n people into a flow where they pause for a day, then
// do what after describes.
func fillPaused(b *testing.B, eng *flow.Engine, n int, after element.Element) {
	b.Helper()
	ctx := context.Background()
	benchPublish(b, eng, flow.New("paused", "Paused").
		Add("p", pauseFor(1, segment.Days), flow.Next{"next": "after"}).
		Add("after", after, nil))
	for i := range n {
		ref := store.PersonRef{ExternalID: "p" + fmt.Sprint(i)}
		if _, err := eng.Enter(ctx, "paused", ref, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPausedMemory reports the heap held per paused participant:
// "bytes/participant" is what entering adds to people who already exist
// (the participant, its wait and timer, journal, entry event and indexes);
// "bytes/person+participant" also counts the person's profile and indexes.
func BenchmarkPausedMemory(b *testing.B) {
	n := population()
	ctx := context.Background()
	people := refs(n)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for range b.N {
		start := heap()
		eng, _ := benchEngine(b)
		for _, ref := range people {
			if _, err := eng.UpdatePerson(ctx, ref, func(*store.Person) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		withPeople := heap()
		benchPublish(b, eng, flow.New("paused", "Paused").Add("p", pauseFor(1, segment.Days), nil))
		for _, ref := range people {
			if _, err := eng.Enter(ctx, "paused", ref, nil); err != nil {
				b.Fatal(err)
			}
		}
		end := heap()
		b.ReportMetric(float64(end-withPeople)/float64(n), "bytes/participant")
		b.ReportMetric(float64(end-start)/float64(n), "bytes/person+participant")
		runtime.KeepAlive(eng)
	}
}

// BenchmarkTimers fires the timers of n paused participants, all due.
// In "rearm" each fire resumes the pause and arms the next one (a drip
// campaign); in "tag-exit" it resumes, tags the person and leaves the flow.
func BenchmarkTimers(b *testing.B) {
	for _, bc := range []struct {
		name    string
		after   func() element.Element
		tickers int
	}{
		{"rearm", func() element.Element { return pauseFor(1, segment.Days) }, 1},
		{"tag-exit", func() element.Element { return &kinds.AddTag{Tag: "woke"} }, 1},
		// One Tick per core at once: the memory store claims disjoint
		// batches (store.TimerClaimer).
		{"rearm-parallel", func() element.Element { return pauseFor(1, segment.Days) }, runtime.GOMAXPROCS(0)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := population()
			ctx := context.Background()
			var fired int
			var spent, cpuSpent time.Duration
			cpuOK := true
			for range b.N {
				b.StopTimer()
				eng, clk := benchEngine(b)
				fillPaused(b, eng, n, bc.after())
				clk.Advance(25 * time.Hour)
				runtime.GC()
				b.StartTimer()
				start := time.Now()
				cpu, ok := processCPU()
				var total atomic.Int64
				var wg sync.WaitGroup
				for range bc.tickers {
					wg.Go(func() {
						k, err := eng.Tick(ctx)
						if err != nil {
							b.Error(err)
						}
						total.Add(int64(k))
					})
				}
				wg.Wait()
				spent += time.Since(start)
				end, endOK := processCPU()
				cpuOK = cpuOK && ok && endOK
				cpuSpent += end - cpu
				k := int(total.Load())
				if k != n {
					b.Fatalf("fired %d timers, want %d", k, n)
				}
				fired += k
			}
			b.ReportMetric(float64(fired)/spent.Seconds(), "timers/s")
			if cpuOK && fired > 0 {
				b.ReportMetric(float64(cpuSpent)/float64(fired), "cpu-ns/timer")
			}
		})
	}
}
