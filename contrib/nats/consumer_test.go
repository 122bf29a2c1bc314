package flownats_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/contrib/nats"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// The services the tests use; without them they skip, saying so.
const (
	envNATS     = "FLOWKIT_TEST_NATS"     // such as nats://127.0.0.1:4222, a server with JetStream
	envPostgres = "FLOWKIT_TEST_POSTGRES" // such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable
)

// The environment of a worker process of TestTwoConsumersOneKilled.
const (
	envWorker = "FLOWNATS_WORKER"
	envSchema = "FLOWNATS_SCHEMA"
	envStream = "FLOWNATS_STREAM"
	envPrefix = "FLOWNATS_PREFIX"
)

func services(t *testing.T) (jetstream.JetStream, *pgxpool.Pool) {
	t.Helper()
	natsURL, pgURL := os.Getenv(envNATS), os.Getenv(envPostgres)
	if natsURL == "" || pgURL == "" {
		t.Skipf("JetStream consumer tests skipped: set %s (such as nats://127.0.0.1:4222) and %s (such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", envNATS, envPostgres)
	}
	nc, err := natsgo.Connect(natsURL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	pool, err := pgxpool.New(t.Context(), pgURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return js, pool
}

// setup makes a schema and a stream of the test's own.
func setup(t *testing.T, js jetstream.JetStream, pool *pgxpool.Pool) (schema, stream, prefix string) {
	t.Helper()
	id := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	schema, stream, prefix = "flowkit_test_"+id, "FLOWNATS_"+id, "flowkit.test"+id
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		_ = js.DeleteStream(context.Background(), stream)
	})
	st, err := postgres.New(t.Context(), postgres.Config{Pool: pool, Schema: schema})
	require.NoError(t, err)
	st.Close()
	_, err = js.CreateOrUpdateStream(t.Context(), flownats.StreamConfig(stream, prefix))
	require.NoError(t, err)
	return schema, stream, prefix
}

// 10,000 events of 1,000 people, published in order, consumed by two
// processes sharing the work; one is SIGKILLed a third of the way in.
// Every event is applied once, each person's in the order published, and
// bad messages among them (not JSON, an event without a name) are set
// aside without holding up the events after them.
func TestTwoConsumersOneKilled(t *testing.T) {
	js, pool := services(t)
	ctx := t.Context()
	schema, stream, prefix := setup(t, js, pool)
	const people, perPerson = 1000, 10
	pub, err := flownats.NewPublisher(js, flownats.Config{Subject: prefix})
	require.NoError(t, err)
	start := time.Now()
	for k := range perPerson {
		for p := range people {
			_, err := pub.Publish(ctx, &store.Event{ID: fmt.Sprintf("e-%d-%d", p, k), Person: store.PersonRef{ExternalID: fmt.Sprint("n-", p)},
				Category: store.External, Name: "Viewed", Properties: map[string]any{"k": k}})
			require.NoError(t, err)
		}
		if k == 3 {
			bad := flownats.Subject(prefix, 64, store.PersonRef{ExternalID: "n-7"})
			_, err := js.Publish(ctx, bad, []byte("not json"))
			require.NoError(t, err)
			_, err = pub.Publish(ctx, &store.Event{ID: "nameless", Person: store.PersonRef{ExternalID: "n-7"}, Category: store.External})
			require.NoError(t, err)
		}
	}
	// Published twice: stored once.
	_, err = pub.Publish(ctx, &store.Event{ID: "e-0-0", Person: store.PersonRef{ExternalID: "n-0"}, Category: store.External, Name: "Viewed",
		Properties: map[string]any{"k": 0}})
	require.NoError(t, err)
	t.Logf("published %d events in %v", people*perPerson, time.Since(start).Round(time.Millisecond))

	a := startWorker(t, "a", schema, stream, prefix)
	b := startWorker(t, "b", schema, stream, prefix)
	events := pgx.Identifier{schema, "events"}.Sanitize()
	count := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+events+` WHERE category = 'external'`).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return count() >= people*perPerson/3 }, 2*time.Minute, 10*time.Millisecond,
		"a third applied\nstderr a: %s\nstderr b: %s", a.stderr, b.stderr)
	require.NoError(t, a.cmd.Process.Kill())
	_ = a.cmd.Wait()
	t.Logf("killed worker a with %d of %d events applied", count(), people*perPerson)
	require.Eventually(t, func() bool { return count() == people*perPerson }, 3*time.Minute, 50*time.Millisecond,
		"worker b applies the rest\nstderr b: %s", b.stderr)
	took := time.Since(start)

	// Each person's events once, in the order published: their times
	// are when the engine applied them.
	rows, err := pool.Query(ctx, `SELECT person_id, (data->'properties'->>'k')::int FROM `+events+
		` WHERE category = 'external' ORDER BY person_id, time, time_ns, seq`)
	require.NoError(t, err)
	seen := map[[16]byte][]int{}
	var pid [16]byte
	var k int
	_, err = pgx.ForEachRow(rows, []any{&pid, &k}, func() error { seen[pid] = append(seen[pid], k); return nil })
	require.NoError(t, err)
	require.Len(t, seen, people)
	for id, ks := range seen {
		require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ks, "person %x", id)
	}
	t.Logf("10,000 events applied in %v, through a kill", took.Round(time.Millisecond))
	require.NoError(t, b.stdin.Close())
	<-b.read
	require.NoError(t, b.cmd.Wait())
	require.Contains(t, b.out.String(), "bad=", "worker b reports its counts")
	t.Logf("worker b: %s", strings.TrimSpace(b.out.String()))
	// The two shared the work: b delivered some of the events, and a the
	// others before it was killed.
	var delivered, duplicates, bad, retried int
	_, err = fmt.Sscanf(strings.TrimSpace(b.out.String()), "delivered=%d duplicates=%d bad=%d retried=%d", &delivered, &duplicates, &bad, &retried)
	require.NoError(t, err)
	require.Positive(t, delivered, "worker b delivered events")
	require.Less(t, delivered, people*perPerson, "worker a delivered events before the kill")
}

type worker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncBuffer
	out    *syncBuffer
	read   chan struct{} // closed once its standard output ended
}

// startWorker runs the test binary as a consumer process.
func startWorker(t *testing.T, name, schema, stream, prefix string) *worker {
	t.Helper()
	w := &worker{stderr: &syncBuffer{}, out: &syncBuffer{}, read: make(chan struct{})}
	w.cmd = exec.Command(os.Args[0], "-test.run=^TestConsumerHelper$", "-test.count=1")
	w.cmd.Env = append(os.Environ(), envWorker+"="+name, envSchema+"="+schema, envStream+"="+stream, envPrefix+"="+prefix)
	w.cmd.Stderr = w.stderr
	var err error
	w.stdin, err = w.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := w.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, w.cmd.Start())
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		_ = w.cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan(), "worker %s: %s", name, w.stderr)
	require.Equal(t, "consumer: ready", sc.Text(), "worker %s: %s", name, w.stderr)
	go func() {
		defer close(w.read)
		for sc.Scan() {
			_, _ = fmt.Fprintln(w.out, sc.Text())
		}
	}()
	return w
}

// TestConsumerHelper is a consumer process of TestTwoConsumersOneKilled:
// it consumes until its standard input closes (or it is killed), then
// prints its counts.
func TestConsumerHelper(t *testing.T) {
	if os.Getenv(envWorker) == "" {
		t.Skip("a worker process of TestTwoConsumersOneKilled: runs only when it starts it")
	}
	if err := runWorker(); err != nil {
		fmt.Println("consumer: error", err)
		os.Exit(1)
	}
}

func runWorker() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := postgres.New(ctx, postgres.Config{URL: os.Getenv(envPostgres), Schema: os.Getenv(envSchema), SkipMigrate: true})
	if err != nil {
		return err
	}
	defer st.Close()
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clock.Real{}})
	if err != nil {
		return err
	}
	nc, err := natsgo.Connect(os.Getenv(envNATS))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := flownats.NewConsumer(ctx, flownats.Config{Engine: eng, JetStream: js, Stream: os.Getenv(envStream),
		Subject: os.Getenv(envPrefix), AckWait: 2 * time.Second, Logger: log})
	if err != nil {
		return err
	}
	fmt.Println("consumer: ready")
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	<-done
	s := c.Stats()
	fmt.Printf("delivered=%d duplicates=%d bad=%d retried=%d\n", s.Delivered, s.Duplicates, s.Bad, s.Retried)
	return nil
}

// syncBuffer is a strings.Builder safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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
