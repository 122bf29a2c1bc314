package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/console"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// bigElements is the size of the large flow: a split into 99 variants,
// each leading to a day's pause, so participants wait spread over 99
// elements.
const bigElements = flow.MaxElements

// bigPopulation is how many participants the large flow holds: 100,000,
// or 10,000 with -short.
func bigPopulation() int {
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

// bigFlow returns a console over a flow of bigElements elements with n
// participants on the memory store, and its engine.
func bigFlow(tb testing.TB, n int) (http.Handler, *flow.Engine) {
	tb.Helper()
	ctx := context.Background()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(t0)})
	if err != nil {
		tb.Fatal(err)
	}
	split := &kinds.SplitAudience{}
	next := flow.Next{}
	for i := range bigElements - 1 {
		name := fmt.Sprintf("v%02d", i)
		split.Variants = append(split.Variants, kinds.Variant{Name: name, Percent: 100.0 / (bigElements - 1)})
		next[name] = fmt.Sprintf("hold-%02d", i)
	}
	f := flow.New("big", "A hundred elements").Add("split", split, next)
	for i := range bigElements - 1 {
		f.Add(fmt.Sprintf("hold-%02d", i), &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, nil)
	}
	if _, err := eng.Publish(ctx, f); err != nil {
		tb.Fatal(err)
	}
	if err := eng.Activate(ctx, f.ID); err != nil {
		tb.Fatal(err)
	}
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if _, err := eng.Enter(ctx, "big", store.PersonRef{ExternalID: fmt.Sprint("p-", i)}, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return console.Handler(eng, readAll), eng
}

// BenchmarkStatsEndpoint reads the statistics of a 100-element flow with
// 100,000 participants (10,000 with -short).
func BenchmarkStatsEndpoint(b *testing.B) {
	h, _ := bigFlow(b, bigPopulation())
	benchGet(b, h, "/api/flows/big/versions/1/stats")
}

// BenchmarkParticipantsEndpoint reads a page of 50 participants of the
// same flow: the first page, a page at one element, and a page of one
// status from the middle of the list.
func BenchmarkParticipantsEndpoint(b *testing.B) {
	h, eng := bigFlow(b, bigPopulation())
	all, err := eng.Participants(context.Background(), store.ParticipantQuery{FlowID: "big"})
	if err != nil {
		b.Fatal(err)
	}
	middle := all[len(all)/2].ID
	all = nil
	b.Run("first", func(b *testing.B) { benchGet(b, h, "/api/flows/big/participants?limit=50") })
	b.Run("element", func(b *testing.B) { benchGet(b, h, "/api/flows/big/participants?element=hold-42&limit=50") })
	b.Run("status-after", func(b *testing.B) {
		benchGet(b, h, "/api/flows/big/participants?status=waiting&limit=50&after="+middle.String())
	})
}

// benchGet reports the wall time of a request and the CPU time the
// process spent on it (garbage collection included), which a shared
// machine inflates less.
func benchGet(b *testing.B, h http.Handler, target string) {
	b.ReportAllocs()
	start, cpu := time.Now(), cpuTime()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newRequest(http.MethodGet, target))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/request")
	if cpu >= 0 {
		b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/request")
	}
}
