package postgres_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
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
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

const (
	slowCalls   = 200             // participants in flight at once
	slowAnswer  = 2 * time.Second // how long the API takes to answer
	slowProbes  = 20              // events and timers measured while the calls are out
	slowLatency = time.Second     // the bound on each measured Deliver and Tick
	slowPool    = 8               // connections in the PostgreSQL pool
)

// slowAPI answers each request slowAnswer after it arrived, and not before
// release is closed, so the test knows its calls are all outstanding while
// it measures.
type slowAPI struct {
	release     chan struct{}
	outstanding atomic.Int64
	mu          sync.Mutex
	keys        map[string]int
}

func (a *slowAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	a.mu.Lock()
	a.keys[r.Header.Get("Idempotency-Key")]++
	a.mu.Unlock()
	a.outstanding.Add(1)
	defer a.outstanding.Add(-1)
	time.Sleep(slowAnswer)
	<-a.release
	_, _ = io.WriteString(w, `{}`)
}

// TestSlowAPI puts 200 participants in flight at once on a 2-second API
// and checks that, while their calls are out, other people's events and
// timers are handled at once, and on PostgreSQL that the calls hold no
// connection: the pool of 8 is never exhausted.
func TestSlowAPI(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		testSlowAPI(t, memory.New(), nil)
	})
	t.Run("postgres", func(t *testing.T) {
		shared := testPool(t)
		u, err := url.Parse(os.Getenv(envURL))
		require.NoError(t, err)
		q := u.Query()
		q.Set("pool_max_conns", fmt.Sprint(slowPool))
		u.RawQuery = q.Encode()
		pool, err := pgxpool.New(t.Context(), u.String())
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		s, err := postgres.New(t.Context(), postgres.Config{Pool: pool, Schema: newSchema(t, shared)})
		require.NoError(t, err)
		testSlowAPI(t, s, pool)
	})
}

func testSlowAPI(t *testing.T, s store.Store, pool *pgxpool.Pool) {
	ctx := t.Context()
	began := time.Now()
	api := &slowAPI{release: make(chan struct{}), keys: map[string]int{}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	released := false
	release := func() {
		if !released {
			close(api.release)
			released = true
		}
	}
	t.Cleanup(release)

	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, EffectConcurrency: 256})
	require.NoError(t, err)
	minute := segment.Period{Amount: 1, Unit: segment.Minutes}
	publish := func(f *flow.Flow) {
		_, err := eng.Publish(ctx, f)
		require.NoError(t, err)
		require.NoError(t, eng.Activate(ctx, f.ID))
	}
	// slow: a minute's pause, then the slow call.
	publish(flow.New("slow", "Slow").
		Add("pause", &kinds.Pause{Mode: kinds.PauseFor, Period: minute}, flow.Next{"next": "call"}).
		Add("call", &kinds.CallAPI{URL: srv.URL + "/slow", Method: http.MethodPost, Timeout: "1m"}, flow.Next{kinds.Branch2xx: "done"}).
		Add("done", &kinds.Exit{}, nil))
	// events: waits for a Ping.
	publish(flow.New("events", "Events").
		Add("wait", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Ping"}}, flow.Next{kinds.BranchOccurred: "done"}).
		Add("done", &kinds.Exit{}, nil))
	// timers: two minutes' pause.
	publish(flow.New("timers", "Timers").
		Add("pause", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 2, Unit: segment.Minutes}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil))

	for i := range slowCalls {
		_, err := eng.Enter(ctx, "slow", store.PersonRef{ExternalID: fmt.Sprint("slow-", i)}, nil)
		require.NoError(t, err)
	}
	// Person j of events and timers enters j seconds after t0: timer j is
	// due at t0+2m+j s, alone.
	for j := range slowProbes {
		clk.Set(t0.Add(time.Duration(j) * time.Second))
		_, err := eng.Enter(ctx, "events", store.PersonRef{ExternalID: fmt.Sprint("event-", j)}, nil)
		require.NoError(t, err)
		_, err = eng.Enter(ctx, "timers", store.PersonRef{ExternalID: fmt.Sprint("timer-", j)}, nil)
		require.NoError(t, err)
	}

	// A minute on, one tick fires the slow pauses and makes the 200 calls
	// at once; it returns when they have been answered.
	clk.Set(t0.Add(time.Minute))
	slowTick := make(chan error, 1)
	var slowFired int
	go func() {
		var err error
		slowFired, err = eng.Tick(ctx)
		slowTick <- err
	}()
	deadline := time.Now().Add(60 * time.Second)
	for api.outstanding.Load() < slowCalls {
		require.True(t, time.Now().Before(deadline), "only %d of %d calls reached the API", api.outstanding.Load(), slowCalls)
		time.Sleep(time.Millisecond)
	}
	inFlight := time.Since(began)

	var (
		before   pgxpool.Stat
		maxAcq   atomic.Int32
		sampling = make(chan struct{})
		sampled  sync.WaitGroup
	)
	if pool != nil {
		before = *pool.Stat()
		sampled.Go(func() {
			for {
				st := pool.Stat()
				if n := st.AcquiredConns(); n > maxAcq.Load() {
					maxAcq.Store(n)
				}
				select {
				case <-sampling:
					return
				case <-time.After(time.Millisecond):
				}
			}
		})
	}
	var deliver, tick []time.Duration
	for j := range slowProbes {
		at := time.Now()
		require.NoError(t, eng.Deliver(ctx, &store.Event{ID: fmt.Sprint("ping-", j), Person: store.PersonRef{ExternalID: fmt.Sprint("event-", j)}, Category: store.External, Name: "Ping"}))
		deliver = append(deliver, time.Since(at))

		clk.Set(t0.Add(2*time.Minute + time.Duration(j)*time.Second))
		at = time.Now()
		n, err := eng.Tick(ctx)
		tick = append(tick, time.Since(at))
		require.NoError(t, err)
		require.Equal(t, 1, n, "the tick fires timer %d alone", j)
	}
	stillOut := api.outstanding.Load()
	close(sampling)
	sampled.Wait()
	var after pgxpool.Stat
	if pool != nil {
		after = *pool.Stat()
	}
	release()
	require.Equal(t, int64(slowCalls), stillOut, "the calls were all outstanding while events and timers were measured")

	for j := range slowProbes {
		require.Less(t, deliver[j], slowLatency, "Deliver %d while %d calls were out", j, slowCalls)
		require.Less(t, tick[j], slowLatency, "Tick %d while %d calls were out", j, slowCalls)
	}
	t.Logf("%d calls in flight after %v; while they were out: Deliver %s, Tick %s",
		slowCalls, inFlight.Round(time.Millisecond), spread(deliver), spread(tick))
	if pool != nil {
		require.Less(t, maxAcq.Load(), int32(slowPool), "the pool was never exhausted")
		require.Equal(t, before.EmptyAcquireCount(), after.EmptyAcquireCount(), "no acquire waited for a connection while the calls were out")
		t.Logf("pool of %d while the calls were out: at most %d acquired, %d idle, %d acquires waited",
			slowPool, maxAcq.Load(), after.IdleConns(), after.EmptyAcquireCount()-before.EmptyAcquireCount())
	}

	select {
	case err := <-slowTick:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("the tick making the slow calls did not return")
	}
	require.Equal(t, slowCalls, slowFired)
	for _, flowID := range []string{"slow", "events", "timers"} {
		ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: flowID})
		require.NoError(t, err)
		for _, p := range ps {
			require.Equal(t, store.Completed, p.Status, "flow %s, participant %s: %s", flowID, p.ID, p.Reason)
		}
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	require.Len(t, api.keys, slowCalls, "one key per participant")
	for k, n := range api.keys {
		require.Equal(t, 1, n, "key %s called once", k)
	}
	t.Logf("%v in all", time.Since(began).Round(time.Millisecond))
}

// spread describes durations as min/median/max.
func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("min %v, median %v, max %v", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}
