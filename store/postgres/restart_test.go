package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// ownServer is a PostgreSQL server a test runs, and may restart, on a
// port of its own, so that the server the other tests share never is.
type ownServer struct {
	bin, dir string
	port     int
	asUser   []string // runs the server's programs as another user (root may not)
	preload  string   // shared_preload_libraries, if any
}

// startOwnServer initializes and starts a server in a temporary
// directory, and stops it when the test ends. It skips the test when
// the PostgreSQL server programs are not installed.
func startOwnServer(t *testing.T) *ownServer {
	t.Helper()
	return startOwnServerWith(t, "")
}

// startOwnServerWith is startOwnServer with the server's
// shared_preload_libraries set to preload.
func startOwnServerWith(t *testing.T, preload string) *ownServer {
	t.Helper()
	bin := ""
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		bin = strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(filepath.Join(bin, "initdb")); bin == "" || err != nil {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(matches) == 0 {
			t.Skip("PostgreSQL restart test skipped: initdb not found (install the PostgreSQL server)")
		}
		bin = filepath.Dir(matches[len(matches)-1])
	}
	dir, err := os.MkdirTemp("", "flowkit-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	srv := &ownServer{bin: bin, dir: filepath.Join(dir, "data"), preload: preload}
	if preload != "" {
		lib, err := exec.Command(filepath.Join(bin, "pg_config"), "--pkglibdir").Output()
		if _, serr := os.Stat(filepath.Join(strings.TrimSpace(string(lib)), preload+".so")); err != nil || serr != nil {
			t.Skipf("test skipped: %s is not installed for the PostgreSQL server in %s", preload, bin)
		}
	}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("PostgreSQL restart test skipped: running as root and there is no postgres user to run the server as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
		srv.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv.port = l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	srv.run(t, "initdb", "-D", srv.dir, "-U", "postgres", "--auth=trust", "--no-sync")
	srv.start(t)
	t.Cleanup(func() { _ = srv.cmd("pg_ctl", "-D", srv.dir, "-m", "immediate", "-w", "stop").Run() })
	return srv
}

func (srv *ownServer) cmd(prog string, args ...string) *exec.Cmd {
	all := append(append(append([]string{}, srv.asUser...), filepath.Join(srv.bin, prog)), args...)
	return exec.Command(all[0], all[1:]...)
}

func (srv *ownServer) run(t *testing.T, prog string, args ...string) {
	t.Helper()
	out, err := srv.cmd(prog, args...).CombinedOutput()
	require.NoError(t, err, "%s: %s", prog, out)
}

func (srv *ownServer) start(t *testing.T) {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", srv.port, filepath.Dir(srv.dir))
	if srv.preload != "" {
		opts += " -c shared_preload_libraries=" + srv.preload
	}
	srv.run(t, "pg_ctl", "-D", srv.dir, "-w", "-l", filepath.Join(filepath.Dir(srv.dir), "log"), "-o", opts, "start")
}

// database is what TestRestart restarts: a server, or a cluster.
type database interface {
	url() string
	stop(t *testing.T)
	start(t *testing.T)
}

// ownCitus is a Citus cluster of a coordinator and one worker, each a
// server of the test's own.
type ownCitus struct{ coordinator, worker *ownServer }

// startOwnCitus starts a Citus cluster of its own, for a test that
// restarts it. It skips the test where Citus is not installed.
func startOwnCitus(t *testing.T) *ownCitus {
	t.Helper()
	c := &ownCitus{coordinator: startOwnServerWith(t, "citus"), worker: startOwnServerWith(t, "citus")}
	for _, srv := range []*ownServer{c.worker, c.coordinator} {
		conn, err := pgx.Connect(t.Context(), srv.url())
		require.NoError(t, err)
		_, err = conn.Exec(t.Context(), `CREATE EXTENSION IF NOT EXISTS citus`)
		require.NoError(t, err)
		// The test's servers have no certificates: the nodes talk without TLS.
		_, err = conn.Exec(t.Context(), `ALTER SYSTEM SET citus.node_conninfo = 'sslmode=disable'`)
		require.NoError(t, err)
		_, err = conn.Exec(t.Context(), `SELECT pg_reload_conf()`)
		require.NoError(t, err)
		if srv == c.coordinator {
			_, err = conn.Exec(t.Context(), `SELECT citus_set_coordinator_host('127.0.0.1', $1)`, srv.port)
			require.NoError(t, err)
			_, err = conn.Exec(t.Context(), `SELECT citus_add_node('127.0.0.1', $1)`, c.worker.port)
			require.NoError(t, err)
		}
		require.NoError(t, conn.Close(t.Context()))
	}
	return c
}

func (c *ownCitus) url() string { return c.coordinator.url() }

// stop stops both servers, as a restart of the cluster does.
func (c *ownCitus) stop(t *testing.T) {
	c.coordinator.stop(t)
	c.worker.stop(t)
}

func (c *ownCitus) start(t *testing.T) {
	c.worker.start(t)
	c.coordinator.start(t)
}

// stop shuts the server down the way a restart does: sessions are ended
// and transactions in progress roll back.
func (srv *ownServer) stop(t *testing.T) {
	srv.run(t, "pg_ctl", "-D", srv.dir, "-m", "fast", "-w", "stop")
}

func (srv *ownServer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", srv.port)
}

// restartDown is how long TestRestart keeps the database down.
const restartDown = 2 * time.Second

// TestRestart runs the flow of TestKill (a pause, then a call outside) on
// two engines sharing a database of its own, and restarts the database
// while calls are outstanding; their answers come while it is down.
// Nothing is lost, stuck or done twice: every participant completes,
// each step once, no call is made twice (the results waiting for the
// database commit when it is back), and the calls answered during the
// restart commit, and the timers due during it fire, within a second of
// the database answering again.
func TestRestart(t *testing.T) {
	testPool(t) // PostgreSQL tests run when FLOWKIT_TEST_POSTGRES is set
	runRestart(t, startOwnServer(t))
}

// TestCitusRestart is TestRestart on a Citus cluster of its own (a
// coordinator and a worker), both restarted.
func TestCitusRestart(t *testing.T) {
	testCitusPool(t) // Citus tests run when FLOWKIT_TEST_CITUS is set
	runRestart(t, startOwnCitus(t))
}

func runRestart(t *testing.T, srv database) {
	people := 3_000
	if testing.Short() {
		people = 1_000
	}
	ctx := t.Context()
	api := newKillAPI()
	hs := httptest.NewServer(api)
	t.Cleanup(hs.Close)

	var logs syncBuffer
	engines := make([]*flow.Engine, 2)
	stores := make([]*postgres.Store, 2)
	for i := range engines {
		cfg, err := pgxpool.ParseConfig(srv.url())
		require.NoError(t, err)
		cfg.MaxConns = 8
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(p.Close)
		s, err := postgres.New(ctx, postgres.Config{Pool: p})
		require.NoError(t, err)
		t.Cleanup(s.Close)
		stores[i] = s
		engines[i], err = flow.NewEngine(flow.Config{
			Store: s, Clock: clock.Real{}, Schema: store.Schema{"hits": store.Number},
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Ports:  flow.Ports{HTTP: workerDoer{kinds.NewHTTPClient(kinds.HTTPClientOptions{}), strconv.Itoa(i)}},
		})
		require.NoError(t, err)
	}
	eng := engines[0]
	_, err := eng.Publish(ctx, killFlowDef(hs.URL+"/hit"))
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, killFlow))

	runCtx, stopRuns := context.WithCancel(context.Background())
	var runs sync.WaitGroup
	t.Cleanup(func() { stopRuns(); runs.Wait() })
	for _, e := range engines {
		runs.Go(func() { _ = e.Run(runCtx, 50*time.Millisecond) })
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for n := g; n < people; n += 16 {
				if _, err := engines[n%2].Enter(ctx, killFlow, store.PersonRef{ExternalID: fmt.Sprint("kill-", n)}, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Restart while calls are outstanding: their answers are held back
	// until the database is down, and timers claimed wait behind them.
	deadline := time.Now().Add(60 * time.Second)
	for {
		requests, _, n := api.stats()
		if n > 0 && requests < people {
			break
		}
		require.True(t, time.Now().Before(deadline) && requests < people, "no calls outstanding to restart under")
		time.Sleep(time.Millisecond)
	}
	api.gate.Lock()
	time.Sleep(killHold) // the engines' call slots fill, with timers claimed behind them
	rows, err := stores[0].Pool().Query(ctx, `SELECT id FROM flowkit.participants WHERE status = 'waiting' AND claimed_until IS NOT NULL`)
	require.NoError(t, err)
	claimed, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	downAt := time.Now()
	srv.stop(t)
	api.mu.Lock()
	outstanding := 0
	for _, keys := range api.outstanding {
		outstanding += len(keys)
	}
	api.mu.Unlock()
	api.gate.Unlock() // the answers come while the database is down
	time.Sleep(restartDown)
	srv.start(t)
	upAt := time.Now()
	t.Logf("database down for %v with %d calls outstanding and %d timers claimed", upAt.Sub(downAt).Round(time.Millisecond), outstanding, len(claimed))

	deadline = time.Now().Add(90 * time.Second)
	var left []*store.Participant
	for {
		left, err = eng.Participants(ctx, store.ParticipantQuery{FlowID: killFlow, Statuses: []store.Status{store.Active, store.Waiting, store.InFlight}})
		if err == nil && len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var first any
			if len(left) > 0 {
				first = left[0]
				if left[0].Effect != nil {
					first = fmt.Sprintf("%+v with its call in flight %+v", left[0], *left[0].Effect)
				}
			}
			t.Fatalf("participants still in the flow 90s after the restart: %d (%v), such as %v; engines' log:\n%s", len(left), err, first, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	parts, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: killFlow})
	require.NoError(t, err)
	require.Len(t, parts, people, "one participant per person")
	var worstCall time.Duration
	var worstDue time.Duration // the backlog: how late any timer due during the restart fired
	late := 0
	for _, p := range parts {
		require.Equal(t, store.Completed, p.Status, "participant %s: %s", p.ID, p.Reason)
		require.Equal(t, float64(1), p.Vars["calls"], "participant %s: the step after the call ran once", p.ID)
		pauseAt, callAt := leftAt(p, "pause"), leftAt(p, "call")
		if due := p.EnteredAt.Add(time.Second); pauseAt.After(downAt) {
			worstDue = max(worstDue, pauseAt.Sub(later(due, upAt)))
		}
		// A call answered while the database was down would have
		// committed at once.
		if callAt.After(upAt) && pauseAt.Before(downAt) {
			worstCall = max(worstCall, callAt.Sub(upAt))
			late++
		}
	}
	// The timers claimed when the database went down would have fired
	// then; they fire once it answers again.
	worstClaimed := lateAfter(t, eng, claimed, "pause", upAt)
	api.mu.Lock()
	twice := 0
	for _, n := range api.keys {
		if n > 1 {
			twice++
		}
	}
	keys := len(api.keys)
	api.mu.Unlock()
	t.Logf("%d participants, 0 lost, 0 stuck, 0 doubled; %d calls, %d made twice; after the restart: %d results committed within %v, %d timers claimed before it fired within %v, the timers due meanwhile within %v (in due order, at the engines' pace)",
		people, keys, twice, late, worstCall.Round(time.Millisecond), len(claimed), worstClaimed.Round(time.Millisecond), worstDue.Round(time.Millisecond))
	require.Equal(t, people, keys, "every participant's call reached the API")
	require.Zero(t, twice, "no call was made twice")
	require.LessOrEqual(t, worstCall, lateSlack*time.Second, "a call's result committed late after the restart")
	require.LessOrEqual(t, worstClaimed, lateSlack*time.Second, "a timer claimed before the restart fired late after it")
	stats, err := eng.Stats(ctx, killFlow)
	require.NoError(t, err)
	for _, el := range []string{"pause", "call", "count", "profile", "done"} {
		require.Equal(t, int64(people), stats[el].Entered, "element %s entered once per participant", el)
	}
}

// leftAt returns when p left element (its journal step with a branch).
func leftAt(p *store.Participant, element string) time.Time {
	for _, st := range p.Journal {
		if st.Element == element && st.Branch != "" {
			return st.At
		}
	}
	return time.Time{}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
