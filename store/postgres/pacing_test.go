package postgres_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/stretchr/testify/require"
)

// endpoint records when (by the shared fake clock) each call reached it,
// and how often each idempotency key came.
type endpoint struct {
	clk  clock.Clock
	mu   sync.Mutex
	at   []time.Time
	keys map[string]int
}

func (e *endpoint) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.at = append(e.at, e.clk.Now())
	e.keys[r.Header.Get("Idempotency-Key")]++
}

// Three engine processes (three stores with pools of their own over one
// schema, ticking at once on one clock) share a Call API element's
// sending speed of 10 a minute: the endpoint never sees more than 10
// calls in any minute, whether ticks come on time or one comes 30
// minutes late, and every participant's call is made once.
func TestSendingSpeedAcrossProcesses(t *testing.T) {
	people := 1000
	if testing.Short() {
		people = 150
	}
	for _, gap := range []time.Duration{0, 30 * time.Minute} {
		t.Run(fmt.Sprint("gap=", gap), func(t *testing.T) {
			ctx := t.Context()
			schema := newSchema(t, testPool(t))
			clk := clock.NewFake(start)
			ep := &endpoint{clk: clk, keys: map[string]int{}}
			srv := httptest.NewServer(ep)
			defer srv.Close()
			engines := make([]*flow.Engine, 3)
			for i := range engines {
				s, err := postgres.New(ctx, postgres.Config{URL: os.Getenv(envURL), Schema: schema})
				require.NoError(t, err)
				t.Cleanup(s.Close)
				engines[i], err = flow.NewEngine(flow.Config{Store: s, Clock: clk, Ports: flow.Ports{HTTP: srv.Client()}})
				require.NoError(t, err)
			}
			f := flow.New("paced", "Paced").
				Add("call", &kinds.CallAPI{URL: srv.URL, Speed: &kinds.Speed{Count: 10, Per: kinds.PerMinute}}, nil)
			_, err := engines[0].Publish(ctx, f)
			require.NoError(t, err)
			require.NoError(t, engines[0].Activate(ctx, "paced"))

			var wg sync.WaitGroup
			errs := make([]error, len(engines))
			for i, eng := range engines {
				wg.Go(func() {
					for p := i; p < people && errs[i] == nil; p += len(engines) {
						_, errs[i] = eng.Enter(ctx, "paced", store.PersonRef{ExternalID: fmt.Sprint("p", p)}, nil)
					}
				})
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			if gap > 0 {
				clk.Advance(gap) // no tick meanwhile
			}
			end := clk.Now().Add(4 * time.Hour)
			for {
				for i, eng := range engines {
					wg.Go(func() { _, errs[i] = eng.Tick(ctx) })
				}
				wg.Wait()
				for _, err := range errs {
					require.NoError(t, err)
				}
				next, ok, err := engines[0].NextDue(ctx)
				require.NoError(t, err)
				if !ok || next.After(end) {
					break
				}
				if next.After(clk.Now()) {
					clk.Set(next)
				}
			}
			require.Len(t, ep.at, people, "every call made")
			require.Len(t, ep.keys, people, "each participant's call once")
			require.LessOrEqual(t, flowtest.MostWithin(ep.at, time.Minute), 10, "calls in a sliding minute")
		})
	}
}
