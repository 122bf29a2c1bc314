package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Liveness and buckets.
//
// Every person's participants fall in one of numBuckets buckets, derived
// from the person id (the participants.bucket column); on a distributed
// schema the buckets are the shards instead, one per shard (see
// shards.go). Each bucket is
// owned by one live store process at a time, as Temporal's history
// shards are: ClaimTimers looks only in the buckets its process owns, so
// processes ticking together do not contend for the same rows, and the
// claims it writes are single-row updates by person id, which need no
// FOR UPDATE SKIP LOCKED across the table (nor across a cluster's
// shards).
//
// Ownership and liveness are session-level advisory locks that each
// process holds on a connection of its own (the keeper's), which the
// server releases the moment that connection drops: a SIGKILLed process
// frees its buckets at once, with no lease to run out, and a process
// that is slow but alive keeps them. On Citus the keeper's connection is
// to the coordinator, where every process takes and looks up the locks.
// The keeper, every keeperEvery:
//
//   - (re)connects and takes its process lock, recording a new session
//     in the processes table (claims carry the session that made them);
//   - once its process ticks (calls ClaimTimers), holds a ticker lock
//     too, takes free buckets up to its share (numBuckets over the
//     tickers, rounded up) and lets go of buckets above it;
//   - reads which processes are dead: a row whose lock nobody holds.
//
// A timer claimed in a session that is no longer live is free at once;
// a participant in flight whose caller is a dead process (seen without
// its lock for dropGrace) is handed out as orphaned
// (store.Timer.Orphaned). Sessions end with the connection,
// so after a database restart the claims made before it are free as
// soon as the database answers, while the calls in flight of the
// processes that reconnect stay with them: a process counts as dead
// after a restart only if it has not taken its lock again within
// restartGrace of the first process that did.
//
// Liveness runs on the database server's clock (clock_timestamp()), the
// one clock every process shares; the timers' due times and leases keep
// running on the engine's clock.
const (
	numBuckets   = 64 // of plain tables; fixed: the bucket column of every row is computed with it
	keeperEvery  = 100 * time.Millisecond
	restartGrace = 2 * time.Second
	// dropGrace is how long a process must have been seen without its
	// lock to count as dead: a liveness connection that drops while the
	// database stays up (a network blip) is back within a keeper round,
	// and its process keeps its calls in flight.
	dropGrace  = 300 * time.Millisecond
	keeperDial = 2 * time.Second // how long one (re)connection may take
)

// live is what the keeper knows, for ClaimTimers and the commits.
type live struct {
	s       *Store
	proc    int32 // this process's lock key, stamped as the caller of its calls in flight
	nsProc  int32 // advisory lock namespaces (first key) of processes, tickers and buckets
	nsTick  int32
	nsBuck  int32
	startMu sync.Mutex
	started bool
	tried   chan struct{} // closed once the keeper's first attempt ended
	ticking chan struct{} // closed once the keeper's first attempt as a ticker ended
	wake    chan struct{} // makes the keeper look again at once
	stop    context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	session  int64   // the current session; 0 while disconnected
	owned    []int32 // buckets held, sorted
	sessions []int64 // live sessions of every process
	dead     []int32 // processes known dead
	err      error   // why the keeper last failed
	ticks    bool    // the process ticks (ClaimTimers was called): it takes buckets

	// unheld is when the keeper first saw each process without its
	// lock; tickHeld is set while the keeper holds its ticker lock (the
	// keeper's goroutine only).
	unheld   map[int32]time.Time
	tickHeld bool
}

func newLive(s *Store) *live {
	return &live{
		s:       s,
		proc:    rand.Int32N(1<<31-1) + 1,
		nsProc:  lockSpace("flowkit processes " + s.schema),
		nsTick:  lockSpace("flowkit tickers " + s.schema),
		nsBuck:  lockSpace("flowkit buckets " + s.schema),
		tried:   make(chan struct{}),
		ticking: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

// lockSpace returns a non-negative first key for the advisory locks of
// one kind, so that pg_locks' oid columns compare with it as is.
func lockSpace(name string) int32 {
	h := fnv.New32a()
	_, _ = io.WriteString(h, name)
	return int32(h.Sum32() & 0x7fffffff)
}

// tick makes the process a ticker, which owns buckets: it starts the
// keeper once and waits, while ctx lives, until its first attempt to
// take its locks and buckets as a ticker succeeded or failed. Only
// processes that tick own buckets, so that a process that never ticks
// (one that only enters people, say) leaves every timer to those that
// do.
func (l *live) tick(ctx context.Context) error {
	l.mu.Lock()
	was := l.ticks
	l.ticks = true
	l.mu.Unlock()
	if !was {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	l.startAsync()
	select {
	case <-l.ticking:
	case <-ctx.Done():
		return ctx.Err()
	}
	return l.check()
}

// startAsync starts the keeper once, without waiting for it.
func (l *live) startAsync() {
	l.startMu.Lock()
	defer l.startMu.Unlock()
	if !l.started {
		l.started = true
		kctx, cancel := context.WithCancel(context.Background())
		l.stop = cancel
		go l.keep(kctx)
	}
}

// check returns why the keeper holds no lock now, or nil.
func (l *live) check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.session != 0 {
		return nil
	}
	err := l.err
	if err == nil {
		err = errors.New("not connected")
	}
	return fmt.Errorf("postgres: liveness connection: %w", unavailable(err))
}

// close stops the keeper, whose connection's close frees its locks.
func (l *live) close() {
	l.startMu.Lock()
	started := l.started
	l.startMu.Unlock()
	if started {
		l.stop()
		<-l.done
	}
}

// state returns the session, buckets, live sessions and dead processes as
// the keeper last saw them.
func (l *live) state() (session int64, owned []int32, sessions []int64, dead []int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.session, l.owned, l.sessions, l.dead
}

// keep runs the keeper until ctx is done.
func (l *live) keep(ctx context.Context) {
	defer close(l.done)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(keeperEvery)
	defer tick.Stop()
	tried, ticked := false, false
	for rounds := 0; ; rounds++ {
		l.mu.Lock()
		ticks := l.ticks
		l.mu.Unlock()
		var err error
		if conn == nil || conn.IsClosed() {
			l.lost(nil)
			if conn != nil {
				_ = conn.Close(context.Background())
			}
			conn, err = l.connect(ctx)
		}
		if conn != nil {
			err = l.round(ctx, conn, rounds%100 == 0)
		}
		if err != nil {
			if conn != nil {
				_ = conn.Close(context.Background())
				conn = nil
			}
			l.lost(err)
		}
		if !tried {
			tried = true
			close(l.tried)
		}
		if ticks && !ticked {
			ticked = true
			close(l.ticking)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-l.wake:
		}
	}
}

// lost forgets what the keeper held: its connection dropped, and with it
// its locks.
func (l *live) lost(err error) {
	l.mu.Lock()
	l.session, l.owned = 0, nil
	l.tickHeld = false
	if err != nil {
		l.err = err
	}
	l.mu.Unlock()
}

// connect opens the keeper's connection and takes the process lock, under
// a new session.
func (l *live) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg := l.s.pool.Config().ConnConfig.Copy()
	dctx, cancel := context.WithTimeout(ctx, keeperDial)
	defer cancel()
	conn, err := pgx.ConnectConfig(dctx, cfg)
	if err != nil {
		return nil, err
	}
	session := rand.Int64N(1<<62) + 1
	var ok bool
	err = conn.QueryRow(dctx, fmt.Sprintf(`
WITH l AS (SELECT pg_try_advisory_lock($1, $2) AS ok),
u AS (
	INSERT INTO %s.processes AS p (id, session, server_start, locked_at)
	SELECT $2, $3, pg_postmaster_start_time(), clock_timestamp() FROM l WHERE ok
	ON CONFLICT (id) DO UPDATE SET session = excluded.session, server_start = excluded.server_start, locked_at = excluded.locked_at
	RETURNING 1
)
SELECT ok FROM l`, l.s.q), l.nsProc, l.proc, session).Scan(&ok)
	if err == nil && !ok {
		// Another process holds this key (or this process's previous
		// connection still does, until the server notices it dropped).
		err = errors.New("process lock held elsewhere")
	}
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	l.mu.Lock()
	l.session, l.err = session, nil
	l.mu.Unlock()
	return conn, nil
}

// round is one look of the keeper: processes, dead ones, buckets; with
// tidy, it also drops the rows of dead processes that no participant
// names as its caller any more.
func (l *live) round(ctx context.Context, conn *pgx.Conn, tidy bool) error {
	ctx, cancel := context.WithTimeout(ctx, keeperDial)
	defer cancel()
	l.mu.Lock()
	ticks := l.ticks
	l.mu.Unlock()
	if ticks && !l.tickHeld {
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, l.nsTick, l.proc).Scan(&l.tickHeld); err != nil {
			return err
		}
	}
	// The tickers, and the processes with whether each holds its lock, and whether one
	// that does not is known dead: it lost the lock since the server
	// started, or the server restarted and it did not come back within
	// the grace after the first process that did.
	rows, err := conn.Query(ctx, fmt.Sprintf(`
WITH held AS (
	SELECT objid::bigint AS id FROM pg_locks
	WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND classid = $1::int::oid
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
),
back AS (SELECT min(locked_at) AS at FROM %[1]s.processes WHERE server_start = pg_postmaster_start_time())
SELECT (SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND classid = $3::int::oid
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())),
	p.id, p.session, h.id IS NOT NULL,
	coalesce(p.server_start = pg_postmaster_start_time() OR clock_timestamp() > (SELECT at FROM back) + $2 * interval '1 millisecond', false)
FROM %[1]s.processes AS p LEFT JOIN held AS h ON h.id = p.id`, l.s.q), l.nsProc, restartGrace.Milliseconds(), l.nsTick)
	if err != nil {
		return err
	}
	var sessions []int64
	var dead []int32
	var tickers int64
	var id int32
	var session int64
	var held, settled bool
	seen := time.Now()
	unheld := make(map[int32]time.Time, len(l.unheld))
	_, err = pgx.ForEachRow(rows, []any{&tickers, &id, &session, &held, &settled}, func() error {
		if held {
			sessions = append(sessions, session)
			return nil
		}
		since, ok := l.unheld[id]
		if !ok {
			since = seen
		}
		unheld[id] = since
		if settled && seen.Sub(since) >= dropGrace {
			dead = append(dead, id)
		}
		return nil
	})
	l.unheld = unheld
	if err != nil {
		return err
	}
	if tidy && len(dead) > 0 {
		// A dead process stamps no more calls: once none of its calls is
		// in flight, nothing needs its row.
		for _, id := range dead {
			var named bool
			if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+l.s.q+`.participants WHERE caller = $1)`, id).Scan(&named); err != nil {
				return err
			}
			if !named {
				if _, err := conn.Exec(ctx, `DELETE FROM `+l.s.q+`.processes WHERE id = $1`, id); err != nil {
					return err
				}
			}
		}
	}
	share := 0 // a process that does not tick holds no bucket
	if l.tickHeld {
		n := int(max(tickers, 1))
		share = (int(l.buckets()) + n - 1) / n
	}
	l.mu.Lock()
	owned := slices.Clone(l.owned)
	l.mu.Unlock()
	switch {
	case len(owned) < share:
		// Free buckets in an order of this process's own, so that
		// processes starting together do not all try the same ones.
		all := l.buckets()
		want := make([]int32, 0, all)
		off := l.proc % all
		for i := range all {
			if b := (off + i) % all; !slices.Contains(owned, b) {
				want = append(want, b)
			}
		}
		rows, err := conn.Query(ctx, `SELECT b FROM unnest($2::int[]) AS b WHERE pg_try_advisory_lock($1, b) LIMIT $3`,
			l.nsBuck, want, share-len(owned))
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		owned = append(owned, got...)
	case len(owned) > share:
		extra := owned[share:]
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, b) FROM unnest($2::int[]) AS b`, l.nsBuck, extra); err != nil {
			return err
		}
		owned = owned[:share]
	}
	slices.Sort(owned)
	l.mu.Lock()
	l.owned, l.sessions, l.dead = owned, sessions, dead
	l.mu.Unlock()
	return nil
}

// buckets returns how many buckets there are: numBuckets, or on a
// distributed schema one per shard (see shards.go).
func (l *live) buckets() int32 {
	if l.s.dist != nil {
		return int32(len(l.s.dist.mins))
	}
	return numBuckets
}

// unavailable wraps err with store.ErrUnavailable when it says that the
// database could not be reached or the connection broke.
func unavailable(err error) error {
	if err == nil || !isUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

func isUnavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.SafeToRetry(err),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	case errors.As(err, &pe):
		// Connection exceptions; the server shutting down, crashed or
		// starting up.
		// On Citus, a worker that went away in the middle of a
		// transaction is an internal error of the coordinator's.
		return pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" ||
			pe.Code == "XX000" && strings.HasPrefix(pe.Message, "failure on connection marked as essential")
	}
	return false
}
