package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/console"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/internal/browsertest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/jackc/pgx/v5"
)

// bigPostgres returns a console over a flow of bigElements elements (a
// split into 99 pauses) with n participants on PostgreSQL, each person
// with an external id and an email, and the id of a participant in the
// middle of the list.
func bigPostgres(b *testing.B, n int) (http.Handler, string) {
	b.Helper()
	ctx := context.Background()
	s := postgresStore(b)
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clock.NewFake(t0)})
	if err != nil {
		b.Fatal(err)
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
		b.Fatal(err)
	}
	if err := eng.Activate(ctx, f.ID); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				who := store.PersonRef{ExternalID: fmt.Sprint("p-", i)}
				if _, err := eng.UpdatePerson(ctx, who, func(p *store.Person) error {
					p.Emails = []string{fmt.Sprintf("p%d@example.com", i)}
					return nil
				}); err != nil {
					errs <- err
					return
				}
				if _, err := eng.Enter(ctx, "big", who, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.Logf("%d participants entered on PostgreSQL in %v", n, time.Since(start).Round(time.Second))
	steady(b)
	q := store.ParticipantQuery{FlowID: "big", Limit: 1000}
	for seen := 0; ; {
		ps, err := eng.Participants(ctx, q)
		if err != nil || len(ps) == 0 {
			b.Fatal("no participant in the middle", err)
		}
		if seen+len(ps) > n/2 {
			return console.Handler(eng, readAll), ps[n/2-seen].ID.String()
		}
		seen += len(ps)
		q.After = ps[len(ps)-1].ID
	}
}

// BenchmarkConsolePostgres measures the console over 100,000 participants
// (10,000 with -short) of a 100-element flow on PostgreSQL: each
// endpoint the page reads, each list page, and the page itself drawn in
// a headless Chromium until its counts and its first list page show.
// Run with FLOWKIT_TEST_POSTGRES set and -benchtime 20x.
func BenchmarkConsolePostgres(b *testing.B) {
	h, middle := bigPostgres(b, bigPopulation())
	for _, bc := range []struct{ name, target string }{
		{"flow", "/api/flows/big"},
		{"stats-all-versions", "/api/flows/big/stats"},
		{"stats-version", "/api/flows/big/versions/1/stats"},
		{"list-first", "/api/flows/big/participants?limit=25"},
		{"list-element", "/api/flows/big/participants?element=hold-42&limit=25"},
		{"list-version-newest", "/api/flows/big/participants?version=1&sort=newest&limit=25"},
		{"list-status-after", "/api/flows/big/participants?status=waiting&limit=25&after=" + middle},
		{"list-before", "/api/flows/big/participants?limit=25&before=" + middle},
	} {
		b.Run(bc.name, func(b *testing.B) { benchGet(b, h, bc.target) })
	}
	b.Run("page", func(b *testing.B) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		benchPage(b, srv.URL+"/?flow=big")
	})
}

// benchPage reports how long the page takes, from navigation until its
// counts and its first list page show.
func benchPage(b *testing.B, url string) {
	ctx := browsertest.Start(b)
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(url),
			chromedp.Poll[chromedp.Void](`document.querySelector("#graph").dataset.loaded === "1" && document.querySelectorAll("#participants tr[data-participant]").length === 25`,
				chromedp.WithPollingInterval(5*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second)),
		); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/page")
	timings, err := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("resource").map((e) => e.name.replace(/^.*\/\/[^/]+/, "") + " " + Math.round(e.startTime) + "+" + Math.round(e.duration)).join("\n") + "\nmarks: " + performance.getEntriesByType("measure").map((m) => m.name + " " + Math.round(m.duration)).join(", ")`))
	if err == nil {
		b.Logf("the last page's requests (start+duration, ms):\n%s", timings)
	}
}

// steady brings the console schemas' tables to where autovacuum keeps a
// database that took a bulk load a while ago: analyzed (a planner that
// still counts the empty table reads a whole version's rows for a page)
// and vacuumed (counts from the index alone).
func steady(b *testing.B) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv(envPostgres))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema LIKE 'console_test_%' AND table_type = 'BASE TABLE'`)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+t); err != nil {
			b.Fatal(err)
		}
	}
}
