package postgres_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// envKillSize sets how many people TestKill runs (see killPeople).
const envKillSize = "FLOWKIT_TEST_KILL_PEOPLE"

// The environment of a TestKill worker process. The test binary runs
// itself as the worker (TestKillHelper) with these set.
const (
	envKillWorker  = "FLOWKIT_KILL_WORKER"  // the worker's index, 0 to workers-1
	envKillWorkers = "FLOWKIT_KILL_WORKERS" // how many workers share the people
	envKillPeople  = "FLOWKIT_KILL_PEOPLE"  // how many people in all
	envKillSchema  = "FLOWKIT_KILL_SCHEMA"  // the schema TestKill created
	envKillDB      = "FLOWKIT_KILL_DB"      // the variable that holds the database's URL
	envKillShards  = "FLOWKIT_KILL_SHARDS"  // Config.Shards of the store
)

const (
	killFlow      = "kill"
	killWorkerHdr = "X-Kill-Worker" // names the worker process that made a call
	killCallDelay = 30 * time.Millisecond
	// killLate is how much later than without the kill the killed
	// process's claimed timers and calls in flight may complete.
	killLate = time.Second
	// killHold is how long the API holds its answers back before the
	// kill.
	killHold = 500 * time.Millisecond
)

// killFlowDef pauses a second (so that the calls come from timers, in
// whichever process claims them), calls the API, counts the call in a
// variable and in the person's profile, and exits.
func killFlowDef(api string) *flow.Flow {
	return flow.New(killFlow, "Kill").Var("calls", store.Number, 0).
		Add("pause", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Seconds}}, flow.Next{"next": "call"}).
		Add("call", &kinds.CallAPI{URL: api, Method: http.MethodPost, Body: []byte(`{"person":"{{person.externalId}}"}`)}, flow.Next{kinds.Branch2xx: "count"}).
		Add("count", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "calls", Formula: "calls + 1"}}}, flow.Next{"next": "profile"}).
		Add("profile", &kinds.UpdateProfile{Set: []*kinds.Assignment{{Attribute: "hits", Formula: "(person.hits ?? 0) + 1"}}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

// killAPI is the API the flow calls: it records each request's
// idempotency key and worker, and answers after killCallDelay. Its gate
// holds answers back while the test kills a worker, so that the calls the
// worker has outstanding then are known never to have been answered.
type killAPI struct {
	mu          sync.Mutex
	requests    int
	keys        map[string]int            // idempotency key -> requests
	outstanding map[string]map[string]int // worker -> key -> requests not answered yet
	times       map[string][]time.Time    // idempotency key -> when each request came
	gate        sync.RWMutex
}

func newKillAPI() *killAPI {
	return &killAPI{keys: map[string]int{}, outstanding: map[string]map[string]int{}, times: map[string][]time.Time{}}
}

func (a *killAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, worker := r.Header.Get("Idempotency-Key"), r.Header.Get(killWorkerHdr)
	_, _ = io.Copy(io.Discard, r.Body)
	a.mu.Lock()
	a.requests++
	a.keys[key]++
	a.times[key] = append(a.times[key], time.Now())
	if a.outstanding[worker] == nil {
		a.outstanding[worker] = map[string]int{}
	}
	a.outstanding[worker][key]++
	a.mu.Unlock()

	time.Sleep(killCallDelay)
	a.gate.RLock()
	a.mu.Lock()
	if a.outstanding[worker][key]--; a.outstanding[worker][key] == 0 {
		delete(a.outstanding[worker], key)
	}
	a.mu.Unlock()
	a.gate.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

// stats returns the requests seen so far and the worker with the most
// requests outstanding, with how many.
func (a *killAPI) stats() (requests int, busiest string, outstanding int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for w, keys := range a.outstanding {
		if len(keys) > outstanding {
			busiest, outstanding = w, len(keys)
		}
	}
	return a.requests, busiest, outstanding
}

// killWorker is one worker process as TestKill sees it.
type killWorker struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	entered chan error // one value: nil once the worker entered its share
	proc    int32      // its store's process id (postgres.ProcessID), once entered
	stderr  syncBuffer
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestKill runs a flow with an external call in three processes that
// share one database, SIGKILLs one of them while it has calls in flight,
// and checks that the others finish its work: every participant
// completes, each step is applied once, and a call is repeated only with
// the idempotency key of the step that committed.
func TestKill(t *testing.T) { runKill(t, backends[0]) }

// TestCitusKill is TestKill on the distributed layout: the processes'
// liveness, buckets and takeover work the same on a Citus cluster.
func TestCitusKill(t *testing.T) { runKill(t, backends[1]) }

func runKill(t *testing.T, be backend) {
	p := be.pool(t)
	people := killPeople(t)
	const workers = 3
	ctx := t.Context()
	began := time.Now()

	schema := newSchema(t, p)
	s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema, Shards: be.shards})
	require.NoError(t, err)
	api := newKillAPI()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	eng, err := flow.NewEngine(flow.Config{Store: s, Schema: store.Schema{"hits": store.Number}})
	require.NoError(t, err)
	_, err = eng.Publish(ctx, killFlowDef(srv.URL+"/hit"))
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, killFlow))

	ws := make([]*killWorker, workers)
	for i := range ws {
		ws[i] = startKillWorker(t, i, workers, people, schema, be)
	}
	for i, w := range ws {
		select {
		case err := <-w.entered:
			require.NoError(t, err, "worker %d entering its people; stderr:\n%s", i, w.stderr.String())
		case <-time.After(90 * time.Second):
			t.Fatalf("worker %d did not enter its people in time; stderr:\n%s", i, w.stderr.String())
		}
	}
	t.Logf("%d people entered by %d processes in %v", people, workers, time.Since(began).Round(time.Millisecond))

	// Once a good part of the calls have been made, hold the API's
	// answers back for killHold, so that every process has calls
	// outstanding and timers claimed behind them, kill the process with
	// the most calls outstanding, and let the answers go.
	deadline := time.Now().Add(60 * time.Second)
	var victim int
	var unanswered map[string]int
	var releasedAt time.Time
	var victimTimers, victimCalls []uuid.UUID
	for {
		requests, _, n := api.stats()
		if requests >= people/4 && n > 0 {
			api.gate.Lock() // no answers from here until the victim is dead
			time.Sleep(killHold)
			_, busiest, _ := api.stats()
			api.mu.Lock()
			unanswered = maps.Clone(api.outstanding[busiest])
			api.mu.Unlock()
			victim, err = strconv.Atoi(busiest)
			require.NoError(t, err)
			require.NoError(t, ws[victim].cmd.Process.Kill())
			_ = ws[victim].cmd.Wait()
			victimTimers, victimCalls = killedWork(t, p, schema, ws[victim].proc)
			releasedAt = time.Now()
			api.gate.Unlock()
			t.Logf("worker %d killed with %d calls outstanding (%d calls in flight, %d timers claimed), after %d requests, at %v",
				victim, len(unanswered), len(victimCalls), len(victimTimers), requests, time.Since(began).Round(time.Millisecond))
			break
		}
		require.True(t, time.Now().Before(deadline), "no worker had calls outstanding after %d requests", requests)
		time.Sleep(time.Millisecond)
	}
	require.NotEmpty(t, unanswered)

	// The others take over: wait until no one is left in the flow.
	deadline = time.Now().Add(90 * time.Second)
	for {
		left, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: killFlow, Statuses: []store.Status{store.Active, store.Waiting, store.InFlight}})
		require.NoError(t, err)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			attempts := map[int]int{} // attempts of the calls in flight -> participants
			for _, p := range left {
				if p.Effect != nil {
					attempts[p.Effect.Attempt+1]++
				}
			}
			t.Fatalf("%d participants still in the flow 90s after the kill; in flight by attempt: %v; such as %+v", len(left), attempts, left[0])
		}
		time.Sleep(250 * time.Millisecond)
	}
	for i, w := range ws {
		if i == victim {
			continue
		}
		require.NoError(t, w.stdin.Close())
		require.NoError(t, w.cmd.Wait(), "worker %d; stderr:\n%s", i, w.stderr.String())
		require.NotContains(t, w.stderr.String(), "level=ERROR", "worker %d logged errors", i)
	}
	elapsed := time.Since(began)

	parts, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: killFlow})
	require.NoError(t, err)
	require.Len(t, parts, people, "one participant per person")
	callKey := map[uuid.UUID]string{} // participant -> the key of its committed call
	for _, p := range parts {
		require.Equal(t, store.Completed, p.Status, "participant %s: %s", p.ID, p.Reason)
		require.Equal(t, float64(1), p.Vars["calls"], "participant %s: the step after the call ran once", p.ID)
		left := map[string]int{}
		for _, st := range p.Journal {
			if st.Branch != "" {
				left[st.Element]++
			}
			if st.Element == "call" && st.Branch == kinds.Branch2xx {
				callKey[p.ID] = p.ID.String() + ":" + strconv.FormatInt(st.Seq, 10)
			}
		}
		require.Equal(t, map[string]int{"pause": 1, "call": 1, "count": 1, "profile": 1}, left, "participant %s: each step once: %+v", p.ID, p.Journal)
	}
	hits := make([]any, people)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := g; i < people; i += 16 {
				person, err := eng.Person(ctx, store.PersonRef{ExternalID: fmt.Sprint("kill-", i)})
				if err != nil {
					hits[i] = err
					continue
				}
				hits[i] = person.Attributes["hits"]
			}
		})
	}
	wg.Wait()
	for i, n := range hits {
		require.Equal(t, float64(1), n, "person kill-%d: the profile was updated once", i)
	}

	// Every key the API saw is the key of one participant's committed
	// call: a call was repeated, if at all, with the same key.
	api.mu.Lock()
	keys := maps.Clone(api.keys)
	requests := api.requests
	api.mu.Unlock()
	committed := map[string]bool{}
	for _, k := range callKey {
		committed[k] = true
	}
	require.Len(t, committed, people)
	repeated, extra := 0, 0
	for k, n := range keys {
		require.True(t, committed[k], "the API saw key %q, which no committed call has", k)
		if n > 1 {
			repeated++
			extra += n - 1
		}
	}
	require.Len(t, keys, people, "every participant's call reached the API")
	for k := range unanswered {
		require.GreaterOrEqual(t, keys[k], 2, "the call %s the killed worker had outstanding was made again", k)
	}

	// The killed process's work is taken over at once: its calls
	// outstanding are made again, and its claimed timers fire and its
	// calls in flight commit, within killLate of the answers' release.
	// Without the kill they would have completed at about that time.
	var worstRetry time.Duration
	for k := range unanswered {
		times := keys[k]
		require.GreaterOrEqual(t, times, 2)
		api.mu.Lock()
		again := api.times[k][1]
		api.mu.Unlock()
		worstRetry = max(worstRetry, again.Sub(releasedAt))
	}
	worstTimer := lateAfter(t, eng, victimTimers, "pause", releasedAt)
	worstCall := lateAfter(t, eng, victimCalls, "call", releasedAt)
	t.Logf("after the kill: calls outstanding made again within %v, claimed timers (%d) fired within %v, calls in flight (%d) committed within %v",
		worstRetry.Round(time.Millisecond), len(victimTimers), worstTimer.Round(time.Millisecond), len(victimCalls), worstCall.Round(time.Millisecond))
	require.LessOrEqual(t, worstRetry, lateSlack*killLate, "a call outstanding at the kill was made again late")
	require.LessOrEqual(t, worstTimer, lateSlack*killLate, "a timer the killed process claimed fired late")
	require.LessOrEqual(t, worstCall, lateSlack*killLate+killCallDelay, "a call in flight in the killed process committed late")

	stats, err := eng.Stats(ctx, killFlow)
	require.NoError(t, err)
	for _, el := range []string{"pause", "call", "count", "profile", "done"} {
		require.Equal(t, int64(people), stats[el].Entered, "element %s entered once per participant", el)
		require.Zero(t, stats[el].Waiting, "element %s", el)
		require.Zero(t, stats[el].InFlight, "element %s", el)
	}
	t.Logf("%d participants, 0 lost, 0 stuck; %d requests for %d calls: %d calls repeated (%d extra requests), %d of them outstanding at the kill; %v",
		people, requests, len(keys), repeated, extra, len(unanswered), elapsed.Round(time.Millisecond))
}

// killedWork returns the participants whose timers the killed process
// (proc) had claimed and not fired, and those whose calls in flight it
// was making, as the database holds them just after the kill.
func killedWork(t *testing.T, p *pgxpool.Pool, schema string, proc int32) (timers, calls []uuid.UUID) {
	t.Helper()
	q := pgx.Identifier{schema}.Sanitize()
	rows, err := p.Query(t.Context(), `SELECT id FROM `+q+`.participants
		WHERE status = 'waiting' AND claimed_by = (SELECT session FROM `+q+`.processes WHERE id = $1)`, proc)
	require.NoError(t, err)
	timers, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	rows, err = p.Query(t.Context(), `SELECT id FROM `+q+`.participants WHERE status = 'inflight' AND caller = $1`, proc)
	require.NoError(t, err)
	calls, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	return timers, calls
}

// lateAfter returns how long after since the participants left element
// (its journal step with a branch), at worst.
func lateAfter(t *testing.T, eng *flow.Engine, ids []uuid.UUID, element string, since time.Time) time.Duration {
	t.Helper()
	var worst time.Duration
	for _, id := range ids {
		p, err := eng.Participant(t.Context(), id)
		require.NoError(t, err)
		i := slices.IndexFunc(p.Journal, func(st store.Step) bool { return st.Element == element && st.Branch != "" })
		require.GreaterOrEqual(t, i, 0, "participant %s left %s", id, element)
		worst = max(worst, p.Journal[i].At.Sub(since))
	}
	return worst
}

// killPeople returns how many people TestKill runs: the number
// FLOWKIT_TEST_KILL_PEOPLE gives (at least 2,000), else 10,000, or 2,000
// under -short. Ten thousand take one to two minutes under the race
// detector on two shared cores.
func killPeople(t *testing.T) int {
	t.Helper()
	if v := os.Getenv(envKillSize); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "%s", envKillSize)
		require.GreaterOrEqual(t, n, 2_000, "%s: at least 2,000 people", envKillSize)
		return n
	}
	if testing.Short() {
		return 2_000
	}
	return 10_000
}

// startKillWorker starts worker i of TestKill.
func startKillWorker(t *testing.T, i, workers, people int, schema string, be backend) *killWorker {
	t.Helper()
	w := &killWorker{entered: make(chan error, 1)}
	var stdout io.Reader
	w.cmd, w.stdin, stdout = startTestProcess(t, "TestKillHelper", &w.stderr,
		envKillWorker+"="+strconv.Itoa(i), envKillWorkers+"="+strconv.Itoa(workers),
		envKillPeople+"="+strconv.Itoa(people), envKillSchema+"="+schema,
		envKillDB+"="+be.env, envKillShards+"="+strconv.Itoa(be.shards))
	go func() {
		sc := bufio.NewScanner(stdout)
		reported := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case reported:
			case strings.HasPrefix(line, "kill-worker: entered "):
				proc, err := strconv.ParseInt(strings.TrimPrefix(line, "kill-worker: entered "), 10, 32)
				w.proc = int32(proc)
				w.entered <- err
				reported = true
			case strings.HasPrefix(line, "kill-worker: "):
				w.entered <- fmt.Errorf("%s", line)
				reported = true
			}
		}
		if !reported {
			w.entered <- fmt.Errorf("worker %d ended before entering its people", i)
		}
	}()
	return w
}

// TestKillHelper is a TestKill worker process: it runs an engine on the
// shared schema, enters its share of the people, and ticks until its
// standard input closes (or it is killed).
func TestKillHelper(t *testing.T) {
	idx := os.Getenv(envKillWorker)
	if idx == "" {
		t.Skip("a worker process of TestKill: runs only when TestKill starts it")
	}
	if err := runKillWorker(idx); err != nil {
		fmt.Println("kill-worker:", err)
		os.Exit(1)
	}
}

func runKillWorker(idx string) error {
	i, _ := strconv.Atoi(idx)
	workers, _ := strconv.Atoi(os.Getenv(envKillWorkers))
	people, _ := strconv.Atoi(os.Getenv(envKillPeople))
	shards, _ := strconv.Atoi(os.Getenv(envKillShards))
	u, err := url.Parse(os.Getenv(os.Getenv(envKillDB)))
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("pool_max_conns", "8")
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		return err
	}
	defer pool.Close()
	s, err := postgres.New(ctx, postgres.Config{Pool: pool, Schema: os.Getenv(envKillSchema), SkipMigrate: true, Shards: shards})
	if err != nil {
		return err
	}
	eng, err := flow.NewEngine(flow.Config{
		Store: s, Clock: clock.Real{}, Schema: store.Schema{"hits": store.Number},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Ports:  flow.Ports{HTTP: workerDoer{kinds.NewHTTPClient(kinds.HTTPClientOptions{}), idx}},
	})
	if err != nil {
		return err
	}
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = eng.Run(ctx, 50*time.Millisecond)
	}()

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for n := range next {
				if _, err := eng.Enter(ctx, killFlow, store.PersonRef{ExternalID: fmt.Sprint("kill-", n)}, nil); err != nil {
					errs <- fmt.Errorf("entering kill-%d: %w", n, err)
					return
				}
			}
		})
	}
	for n := i; n < people; n += workers {
		select {
		case next <- n:
		case err := <-errs:
			return err
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Println("kill-worker: entered", postgres.ProcessID(s))

	_, _ = io.Copy(io.Discard, os.Stdin) // until TestKill is done with us
	cancel()
	<-ran
	return nil
}

// workerDoer names the worker process in each request it makes.
type workerDoer struct {
	element.HTTPDoer
	worker string
}

func (d workerDoer) Do(r *http.Request) (*http.Response, error) {
	r.Header.Set(killWorkerHdr, d.worker)
	return d.HTTPDoer.Do(r)
}
