package flow_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
)

// BenchmarkAudienceEntry enters an audience of 1,000,000 people (10,000
// with -short) on the memory store, from Activate to everyone waiting at
// their first wait, by Tick alone. It reports entries/s and the heap each
// participant adds (its record, timer, journal and EnteredFlow event).
func BenchmarkAudienceEntry(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	ctx := context.Background()
	b.ReportAllocs()
	var elapsed time.Duration
	var perParticipant float64
	for range b.N {
		b.StopTimer()
		s := memory.New()
		for range n {
			id, _ := uuid.NewV7()
			p := &store.Person{ID: id, Attributes: map[string]any{"plan": "gold"}}
			if err := s.Update(ctx, id, func(tx store.Tx) error { return tx.PutPerson(p) }); err != nil {
				b.Fatal(err)
			}
		}
		clk := clock.NewFake(t0)
		eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, Schema: store.Schema{"plan": store.Text}})
		if err != nil {
			b.Fatal(err)
		}
		gold := segment.Attr("plan", segment.Is, "gold")
		f := flow.New("bulk", "Bulk").
			Add("wait", pauseFor(1, segment.Days), flow.Next{"next": "done"}).
			Add("done", &kinds.Exit{}, nil)
		f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &gold}}
		if _, err := eng.Publish(ctx, f); err != nil {
			b.Fatal(err)
		}
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		start := time.Now()
		if err := eng.Activate(ctx, "bulk"); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := eng.Tick(ctx); err != nil {
				b.Fatal(err)
			}
			next, ok, err := eng.NextDue(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if !ok || next.After(clk.Now()) {
				break
			}
		}
		elapsed += time.Since(start)
		b.StopTimer()
		st, err := eng.Stats(ctx, "bulk")
		if err != nil {
			b.Fatal(err)
		}
		if st["wait"].Waiting != int64(n) {
			b.Fatalf("%d waiting, want %d", st["wait"].Waiting, n)
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		perParticipant = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		runtime.KeepAlive(s)
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(perParticipant, "heap-B/participant")
}
