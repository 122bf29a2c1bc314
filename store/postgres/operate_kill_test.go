package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// The environment of a TestBulkRetryKill worker process, which the test
// binary runs as TestBulkRetryKillHelper.
const (
	envBulkWorker = "FLOWKIT_BULK_WORKER" // the worker's name
	envBulkSchema = "FLOWKIT_BULK_SCHEMA" // the schema the test created
	envBulkCRM    = "FLOWKIT_BULK_CRM"    // the fixed CRM's URL
)

const (
	bulkFlow = "bulk-retry"
	bulkOp   = "retry-after-fix"
)

// bulkFlowDef calls the CRM at a URL from a host setting, counts the
// call in a variable and exits.
func bulkFlowDef() *flow.Flow {
	return flow.New(bulkFlow, "Bulk retry").Var("calls", store.Number, 0).
		Add("call", &kinds.CallAPI{URL: "{{env.CRM}}/sync", Method: http.MethodPost}, flow.Next{kinds.Branch2xx: "count"}).
		Add("count", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "calls", Formula: "calls + 1"}}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

// bulkCRM is the fixed CRM: it records each request's idempotency key,
// and answers after a short delay.
type bulkCRM struct {
	mu       sync.Mutex
	requests int
	keys     map[string]int
}

func (c *bulkCRM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	c.mu.Lock()
	c.requests++
	c.keys[key]++
	c.mu.Unlock()
	time.Sleep(2 * time.Millisecond)
	_, _ = io.WriteString(w, `{}`)
}

func (c *bulkCRM) seen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// TestBulkRetryKill fails 3,000 participants (1,000 under -short) at a Call API whose URL is
// wrong, fixes the URL, and retries them with one bulk operation in a
// worker process that is SIGKILLed half-way; two more worker processes
// resume the operation at once. Each participant is retried exactly once:
// one journal entry of the retry, one count step, every call the CRM saw
// with the retry's idempotency key (repeated only for the calls the
// killed worker had in flight, with their key), and the operation's
// counts are exact.
func TestBulkRetryKill(t *testing.T) {
	p := testPool(t)
	people := 3_000
	if testing.Short() {
		people = 1_000
	}
	ctx := t.Context()
	began := time.Now()
	schema := newSchema(t, p)
	s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	broken := httptest.NewServer(nil)
	broken.Close()
	eng, err := flow.NewEngine(flow.Config{Store: s, Ports: flow.Ports{Settings: func(name string) (string, bool) {
		return broken.URL, name == "CRM"
	}}})
	require.NoError(t, err)
	_, _, err = eng.Deploy(ctx, bulkFlowDef())
	require.NoError(t, err)

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < people; i += 8 {
				_, err := eng.Enter(ctx, bulkFlow, store.PersonRef{ExternalID: fmt.Sprint("bulk-", i)}, nil)
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	failed, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: bulkFlow, Statuses: []store.Status{store.Failed}})
	require.NoError(t, err)
	require.Len(t, failed, people)
	failedSeq := map[string]int64{}
	for _, f := range failed {
		require.Contains(t, f.Reason, "connection refused")
		failedSeq[f.ID.String()] = f.Seq
	}
	t.Logf("%d participants failed at the wrong URL in %v", people, time.Since(began).Round(time.Millisecond))

	crm := &bulkCRM{keys: map[string]int{}}
	srv := httptest.NewServer(crm)
	t.Cleanup(srv.Close)

	// The first worker retries until it is killed half-way.
	first := startBulkWorker(t, "first", schema, srv.URL)
	deadline := time.Now().Add(60 * time.Second)
	for crm.seen() < people/2 {
		require.True(t, time.Now().Before(deadline), "the first worker made %d calls in a minute; stderr:\n%s", crm.seen(), first.stderr.String())
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, first.cmd.Process.Kill())
	_ = first.cmd.Wait()
	atKill := crm.seen()
	runs, err := eng.Operations(ctx, bulkFlow)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.False(t, runs[0].Done, "killed half-way")
	inFlight, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: bulkFlow, Statuses: []store.Status{store.InFlight}})
	require.NoError(t, err)
	t.Logf("first worker killed after %d calls, with the run at %d of %d and %d calls in flight", atKill, runs[0].Changed, runs[0].Total, len(inFlight))

	// Two workers resume the operation at once; their ticks take over the
	// killed worker's calls in flight.
	resumers := []*bulkWorker{startBulkWorker(t, "second", schema, srv.URL), startBulkWorker(t, "third", schema, srv.URL)}
	var reports []string
	for _, w := range resumers {
		select {
		case line := <-w.done:
			require.True(t, strings.HasPrefix(line, "done "), "worker %s: %s; stderr:\n%s", w.name, line, w.stderr.String())
			reports = append(reports, w.name+": "+line)
		case <-time.After(90 * time.Second):
			t.Fatalf("worker %s did not finish the operation; stderr:\n%s", w.name, w.stderr.String())
		}
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		left, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: bulkFlow, Statuses: []store.Status{store.Active, store.Waiting, store.InFlight}})
		require.NoError(t, err)
		if len(left) == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d participants still in the flow, such as %+v", len(left), left[0])
		time.Sleep(100 * time.Millisecond)
	}
	for _, w := range resumers {
		require.NoError(t, w.stdin.Close())
		require.NoError(t, w.cmd.Wait(), "worker %s; stderr:\n%s", w.name, w.stderr.String())
		require.NotContains(t, w.stderr.String(), "level=ERROR", "worker %s logged errors", w.name)
	}

	parts, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: bulkFlow})
	require.NoError(t, err)
	require.Len(t, parts, people)
	retryKeys := map[string]bool{}
	for _, p := range parts {
		require.Equal(t, store.Completed, p.Status, "participant %s: %s", p.ID, p.Reason)
		require.Equal(t, float64(1), p.Vars["calls"], "participant %s: the step after the call ran once", p.ID)
		retried := 0
		for _, st := range p.Journal {
			if strings.HasPrefix(st.Reason, `retried by operation "`+bulkOp+`"`) {
				retried++
			}
		}
		require.Equal(t, 1, retried, "participant %s retried once: %+v", p.ID, p.Journal)
		require.Equal(t, []string{bulkOp}, p.Operations)
		retryKeys[fmt.Sprintf("%s:%d", p.ID, failedSeq[p.ID.String()]+1)] = true
	}
	crm.mu.Lock()
	defer crm.mu.Unlock()
	repeated := 0
	for k, n := range crm.keys {
		require.True(t, retryKeys[k], "the CRM saw key %q, which is no participant's retry", k)
		if n > 1 {
			repeated++
		}
	}
	require.Len(t, crm.keys, people, "every participant's retry called the CRM")
	require.LessOrEqual(t, repeated, len(inFlight), "only calls the killed worker had in flight were made again")

	runs, err = eng.Operations(ctx, bulkFlow)
	require.NoError(t, err)
	require.True(t, runs[0].Done)
	require.Equal(t, int64(people), runs[0].Total)
	require.Equal(t, int64(people), runs[0].Changed, "the counts are exact")
	require.Zero(t, runs[0].Refused)
	stats, err := eng.Stats(ctx, bulkFlow)
	require.NoError(t, err)
	require.Equal(t, int64(people), stats["call"].Other["operation:"+bulkOp])
	require.Equal(t, int64(people), stats["done"].Entered)
	t.Logf("%s; %d requests for %d retries, %d repeated with their key; %v in all",
		strings.Join(reports, "; "), crm.requests, people, repeated, time.Since(began).Round(time.Millisecond))
}

// bulkWorker is one worker process as TestBulkRetryKill sees it.
type bulkWorker struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan string // the worker's last word on the operation
	stderr syncBuffer
}

func startBulkWorker(t *testing.T, name, schema, crm string) *bulkWorker {
	t.Helper()
	w := &bulkWorker{name: name, done: make(chan string, 1)}
	var stdout io.Reader
	w.cmd, w.stdin, stdout = startTestProcess(t, "TestBulkRetryKillHelper", &w.stderr,
		envBulkWorker+"="+name, envBulkSchema+"="+schema, envBulkCRM+"="+crm)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "bulk-worker: "); ok {
				w.done <- line
				return
			}
		}
		w.done <- "ended without a word"
	}()
	return w
}

// startTestProcess runs the test binary as another process that runs
// the test helper alone, with env added to the environment, and returns
// it with its standard input and output. The test kills it at cleanup.
func startTestProcess(t *testing.T, helper string, stderr io.Writer, env ...string) (*exec.Cmd, io.WriteCloser, io.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, stdin, stdout
}

// TestBulkRetryKillHelper is a TestBulkRetryKill worker process: it runs
// an engine on the shared schema with the fixed CRM, ticks, runs the
// bulk retry, reports it, and keeps ticking until its standard input
// closes (or it is killed).
func TestBulkRetryKillHelper(t *testing.T) {
	name := os.Getenv(envBulkWorker)
	if name == "" {
		t.Skip("a worker process of TestBulkRetryKill: runs only when it starts it")
	}
	line, err := runBulkWorker(name)
	if err != nil {
		line = "error " + err.Error()
	}
	fmt.Println("bulk-worker:", line)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the test is done with us
}

func runBulkWorker(name string) (string, error) {
	u, err := url.Parse(os.Getenv(envURL))
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("pool_max_conns", "8")
	u.RawQuery = q.Encode()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		return "", err
	}
	s, err := postgres.New(ctx, postgres.Config{Pool: pool, Schema: os.Getenv(envBulkSchema), SkipMigrate: true})
	if err != nil {
		return "", err
	}
	crm := os.Getenv(envBulkCRM)
	eng, err := flow.NewEngine(flow.Config{
		Store: s, Clock: clock.Real{},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Ports: flow.Ports{
			HTTP:     workerDoer{kinds.NewHTTPClient(kinds.HTTPClientOptions{}), name},
			Settings: func(n string) (string, bool) { return crm, n == "CRM" },
		},
	})
	if err != nil {
		return "", err
	}
	go func() { _ = eng.Run(ctx, 50*time.Millisecond) }() // takes over a dead process's calls in flight
	rep, err := eng.Operate(ctx, flow.Operation{Name: bulkOp, FlowID: bulkFlow, Action: flow.Retry, PageSize: 100})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("done resumed=%v changed=%d/%d rows=%d refused=%d", rep.Resumed, rep.Changed, rep.Total, len(rep.Rows), rep.Refused), nil
}
