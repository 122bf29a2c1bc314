package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// The environment of a TestInboxKill worker process.
const (
	envInboxWorker = "FLOWKIT_INBOX_WORKER" // the worker's name
	envInboxSchema = "FLOWKIT_INBOX_SCHEMA" // the schema the test created
	envInboxDB     = "FLOWKIT_INBOX_DB"     // the variable that holds the database's URL
)

func TestInboxKill(t *testing.T)      { runInboxKill(t, backends[0]) }
func TestCitusInboxKill(t *testing.T) { runInboxKill(t, backends[1]) }

// A host commits orders (each an entry and the event that ships it, in
// the host's transaction) while two worker processes run the engine; one
// is SIGKILLed while it holds calls that committed and have not run.
// Nothing is lost: every call runs, once, and each person's entry runs
// before their event.
func runInboxKill(t *testing.T, be backend) {
	ctx := t.Context()
	s := newTxSetup(t, be)
	people := 1000
	if testing.Short() {
		people = 300
	}
	a := startInboxWorker(t, "a", s.schema, be)
	b := startInboxWorker(t, "b", s.schema, be)
	inbox := pgx.Identifier{s.schema, "inbox"}.Sanitize()
	processes := pgx.Identifier{s.schema, "processes"}.Sanitize()

	killed := make(chan int, 1) // calls the killed worker held
	go func() {
		defer close(killed)
		// Kill a once it holds calls that have not run, a third of the
		// way in.
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			var done, held int
			err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE done_at IS NOT NULL),
				count(*) FILTER (WHERE done_at IS NULL AND claimed_by = (SELECT session FROM `+processes+` WHERE id = $1))
				FROM `+inbox, a.proc).Scan(&done, &held)
			if err != nil {
				return
			}
			if done >= 2*people/3 && held > 0 {
				_ = a.cmd.Process.Kill()
				_ = a.cmd.Wait()
				killed <- held
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for n := range people {
		tx, err := s.pool.Begin(ctx)
		require.NoError(t, err)
		ref := store.PersonRef{ExternalID: fmt.Sprint("k-", n)}
		_, err = tx.Exec(ctx, `INSERT INTO `+s.orders+` (id, person) VALUES ($1, $2)`, fmt.Sprint("o-", n), ref.ExternalID)
		require.NoError(t, err)
		_, err = s.eng.EnterTx(ctx, tx, "orders", ref, map[string]any{"orderId": fmt.Sprint("o-", n)})
		require.NoError(t, err)
		_, err = s.eng.DeliverTx(ctx, tx, &store.Event{ID: fmt.Sprint("shipped-", n), Person: ref, Category: store.External, Name: "OrderShipped"})
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
	}
	held, ok := <-killed
	require.True(t, ok, "worker a held no calls that had not run by the end: nothing to kill it in the middle of\nstderr a: %s", a.stderr.String())
	t.Logf("killed worker a holding %d committed calls that had not run", held)

	require.Eventually(t, func() bool {
		var pending int
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM `+inbox+` WHERE done_at IS NULL`).Scan(&pending))
		return pending == 0
	}, 2*time.Minute, 50*time.Millisecond, "worker b runs what a left\nstderr b: %s", b.stderr.String())

	// Each person entered once and their event woke that participant.
	var parts, completed, persons int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'completed'), count(DISTINCT person_id) FROM `+
		pgx.Identifier{s.schema, "participants"}.Sanitize()).Scan(&parts, &completed, &persons))
	require.Equal(t, people, parts, "one participant per order")
	require.Equal(t, people, persons)
	require.Equal(t, people, completed, "every entry ran before its event, which woke it")
	var events int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{s.schema, "events"}.Sanitize()+` WHERE category = 'external'`).Scan(&events))
	require.Equal(t, people, events, "every event recorded once")
	stats, err := s.eng.Stats(ctx, "orders")
	require.NoError(t, err)
	require.EqualValues(t, people, stats["wait"].Entered, "counted once")
}

// inboxWorker is a TestInboxKill worker process.
type inboxWorker struct {
	cmd    *exec.Cmd
	proc   int32 // its store's process id (postgres.ProcessID)
	stderr *syncBuffer
}

// startInboxWorker starts a worker and waits until it is ready.
func startInboxWorker(t *testing.T, name, schema string, be backend) *inboxWorker {
	t.Helper()
	w := &inboxWorker{stderr: &syncBuffer{}}
	cmd, _, stdout := startTestProcess(t, "TestInboxKillHelper", w.stderr,
		envInboxWorker+"="+name, envInboxSchema+"="+schema, envInboxDB+"="+be.env)
	w.cmd = cmd
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan(), "worker %s: %s", name, w.stderr.String())
	line := sc.Text()
	require.True(t, strings.HasPrefix(line, "inbox-worker: ready "), "worker %s: %s\n%s", name, line, w.stderr.String())
	proc, err := strconv.ParseInt(strings.TrimPrefix(line, "inbox-worker: ready "), 10, 32)
	require.NoError(t, err)
	w.proc = int32(proc)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return w
}

// TestInboxKillHelper is a TestInboxKill worker process: it runs the
// engine on the test's schema until its standard input closes (or it is
// killed).
func TestInboxKillHelper(t *testing.T) {
	name := os.Getenv(envInboxWorker)
	if name == "" {
		t.Skip("a worker process of TestInboxKill: runs only when it starts it")
	}
	if err := runInboxWorker(); err != nil {
		fmt.Println("inbox-worker: error", err)
		os.Exit(1)
	}
}

func runInboxWorker() error {
	u, err := url.Parse(os.Getenv(os.Getenv(envInboxDB)))
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
	s, err := postgres.New(ctx, postgres.Config{Pool: pool, Schema: os.Getenv(envInboxSchema), SkipMigrate: true})
	if err != nil {
		return err
	}
	eng, err := flow.NewEngine(flow.Config{
		Store: s, Clock: clock.Real{}, Schema: store.Schema{"score": store.Number},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	// Ready once its liveness session is up, so the test can tell its
	// claims.
	for range 100 {
		if session, _ := postgres.Liveness(s); session != 0 {
			break
		}
		_, _ = eng.Tick(ctx)
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("inbox-worker: ready", postgres.ProcessID(s))
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = eng.Run(ctx, 100*time.Millisecond)
	}()
	_, _ = io.Copy(io.Discard, os.Stdin) // until the test is done with us
	cancel()
	<-ran
	return nil
}
