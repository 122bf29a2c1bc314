package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The inbox: calls a host records in its own transaction.
//
// RecordInbox writes a row of the inbox table through the host's
// connection, inside the host's transaction, and queues a notification
// on the schema's inbox channel, which PostgreSQL delivers when (and
// only if) the transaction commits. Rows are keyed and, on Citus,
// distributed by person (co-located with people), so the statements that
// claim, complete and fail an item are router queries of one shard, and
// completing one joins the person's own transaction.
//
// ClaimInbox finds pending items in the buckets this process owns (on a
// plain schema; see live.go) and claims each by a single-row update,
// guarded like timer claims: an item claimed in a session that is no
// longer live is free at once. The completion in the person's
// transaction is what makes an item run once: it marks the row done only
// while it is pending and no earlier item of the person is, so a second
// runner (a lease that ran out, a process thought dead) finds it done and
// rolls back.

var _ store.Inbox = (*Store)(nil)

// inboxQueries holds the inbox's SQL.
type inboxQueries struct {
	findKey, record, notify, candidates, claim, release, complete, completeAtCommit, state, fail, get, prune, erase string
}

func newInboxQueries(q string) inboxQueries {
	r := func(s string) string { return strings.ReplaceAll(s, "{{s}}", q) }
	return inboxQueries{
		findKey: r(`SELECT person_id FROM {{s}}.person_keys WHERE key = $1`),
		record: r(`INSERT INTO {{s}}.inbox (person_id, id, ref, call, recorded_at, recorded_ns)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (person_id, id) DO NOTHING
RETURNING seq`),
		notify: `SELECT pg_notify($1, '')`,
		// Pending items free to claim: in the owned buckets ($1, NULL
		// for every bucket), not claimed, or by a session not live ($3),
		// or with a claim that ended; and no earlier item of the person
		// claimed by another live session.
		candidates: r(`
SELECT person_id, id, seq, ref, call, recorded_at, recorded_ns FROM {{s}}.inbox AS i
WHERE done_at IS NULL AND ($1::smallint[] IS NULL OR bucket = ANY ($1::smallint[]))
	AND (claimed_until IS NULL OR claimed_until <= $2 OR claimed_by <> ALL ($3::bigint[]))
	AND NOT EXISTS (SELECT 1 FROM {{s}}.inbox AS e
		WHERE e.person_id = i.person_id AND e.seq < i.seq AND e.done_at IS NULL
			AND e.claimed_until > $2 AND e.claimed_by = ANY ($3::bigint[]) AND e.claimed_by <> $4)
ORDER BY seq
LIMIT $5`),
		claim: r(`UPDATE {{s}}.inbox SET claimed_until = $3, claimed_by = $4
WHERE person_id = $1 AND id = $2 AND done_at IS NULL
	AND (claimed_until IS NULL OR claimed_until <= $5 OR claimed_by <> ALL ($6::bigint[]))`),
		release: r(`UPDATE {{s}}.inbox SET claimed_until = NULL, claimed_by = NULL
WHERE person_id = $1 AND id = $2 AND done_at IS NULL AND claimed_by = $3`),
		complete: r(`UPDATE {{s}}.inbox SET done_at = $3, done_ns = $4, result = $5, claimed_until = NULL
WHERE person_id = $1 AND id = $2 AND done_at IS NULL
	AND NOT EXISTS (SELECT 1 FROM {{s}}.inbox WHERE person_id = $1 AND seq < $6 AND done_at IS NULL)`),
		// complete for the commit's batch: a division by zero (22012)
		// when the item is not pending, or an earlier one is, which
		// aborts the transaction.
		completeAtCommit: r(`WITH u AS (
	UPDATE {{s}}.inbox SET done_at = $3, done_ns = $4, result = $5, claimed_until = NULL
	WHERE person_id = $1 AND id = $2 AND done_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM {{s}}.inbox WHERE person_id = $1 AND seq < $6 AND done_at IS NULL)
	RETURNING 1)
SELECT 1 / (SELECT count(*)::integer FROM u)`),
		state: r(`SELECT done_at IS NULL FROM {{s}}.inbox WHERE person_id = $1 AND id = $2`),
		fail: r(`UPDATE {{s}}.inbox SET done_at = $3, done_ns = $4, result = $5, claimed_until = NULL
WHERE person_id = $1 AND id = $2 AND done_at IS NULL`),
		get: r(`SELECT person_id, id, seq, ref, call, recorded_at, recorded_ns, done_at, done_ns, result
FROM {{s}}.inbox WHERE id = $1`),
		prune: r(`DELETE FROM {{s}}.inbox WHERE done_at < $1`),
		erase: r(`DELETE FROM {{s}}.inbox WHERE person_id = $1`),
	}
}

// inboxChannel is the schema's notification channel: an identifier of
// at most 63 bytes whatever the schema's name.
func inboxChannel(schema string) string {
	h := fnv.New64a()
	_, _ = io.WriteString(h, schema)
	return fmt.Sprintf("flowkit_inbox_%016x", h.Sum64())
}

// RecordInbox implements store.Inbox. htx is a pgx.Tx or a *sql.Tx of
// the host's on the store's database, or nil for a transaction of the
// store's own. It costs one statement to look up a person by key (none
// for a reference by id), one to insert and one to notify; on a pgx.Tx
// the insert and the notification share a round trip.
func (s *Store) RecordInbox(ctx context.Context, htx any, it *store.InboxItem) error {
	switch {
	case it == nil || it.ID == uuid.Nil:
		return fmt.Errorf("record inbox item: id is nil: %w", store.ErrInvalid)
	case len(it.Call) == 0:
		return fmt.Errorf("record inbox item %s: no call: %w", it.ID, store.ErrInvalid)
	case it.Person.IsZero():
		return fmt.Errorf("record inbox item %s: no person: %w", it.ID, store.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: record inbox item: %w", err)
	}
	ref, err := json.Marshal(it.Person)
	if err != nil {
		return err
	}
	var db hostDB
	switch tx := htx.(type) {
	case nil:
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.RecordInbox(ctx, tx, it) })
	case pgx.Tx:
		db = pgxHost{tx}
	case *sql.Tx:
		db = sqlHost{tx}
	default:
		return fmt.Errorf("record inbox item: the host's transaction is a %T; store/postgres takes a pgx.Tx or a *sql.Tx: %w", htx, store.ErrInvalid)
	}
	personID := it.Person.ID
	if personID == uuid.Nil {
		key := it.Person.Key()
		if key == (store.Key{}) {
			return fmt.Errorf("record inbox item %s: the person reference names no key: %w", it.ID, store.ErrInvalid)
		}
		k := key.String()
		found, ok, err := db.queryUUID(ctx, s.sql.inbox.findKey, k)
		if err != nil {
			return fmt.Errorf("postgres: record inbox item: %w", err)
		}
		personID = found
		if !ok {
			personID = uuid.NewSHA1(inboxSpace, []byte(k))
		}
	}
	at, ns := splitTime(it.RecordedAt)
	seq, err := db.insertNotify(ctx, s.sql.inbox.record, []any{personID, it.ID, string(ref), it.Call, at, ns},
		s.sql.inbox.notify, inboxChannel(s.schema))
	if err != nil {
		return fmt.Errorf("postgres: record inbox item: %w", err)
	}
	it.PersonID = personID
	if seq != 0 {
		it.Seq = seq
	}
	return nil
}

// inboxSpace names the ids of people the inbox made up from their key.
var inboxSpace = uuid.MustParse("6a1f3c52-8d0e-4b7a-9f1e-0c5d2e7b9a41")

// hostDB is a host's transaction, of either kind.
type hostDB interface {
	queryUUID(ctx context.Context, sql string, arg any) (uuid.UUID, bool, error)
	// insertNotify runs insert, which returns a row's seq or no row,
	// and notify with the channel; it returns the seq, 0 for none.
	insertNotify(ctx context.Context, insert string, args []any, notify, channel string) (int64, error)
}

type pgxHost struct{ tx pgx.Tx }

func (h pgxHost) queryUUID(ctx context.Context, q string, arg any) (uuid.UUID, bool, error) {
	var id uuid.UUID
	err := h.tx.QueryRow(ctx, q, arg).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	return id, err == nil, err
}

func (h pgxHost) insertNotify(ctx context.Context, insert string, args []any, notify, channel string) (int64, error) {
	b := &pgx.Batch{}
	b.Queue(insert, args...)
	b.Queue(notify, channel)
	br := h.tx.SendBatch(ctx, b)
	var seq int64
	err := br.QueryRow().Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return seq, err
}

type sqlHost struct{ tx *sql.Tx }

func (h sqlHost) queryUUID(ctx context.Context, q string, arg any) (uuid.UUID, bool, error) {
	var id uuid.UUID
	err := h.tx.QueryRowContext(ctx, q, arg).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	return id, err == nil, err
}

func (h sqlHost) insertNotify(ctx context.Context, insert string, args []any, notify, channel string) (int64, error) {
	// database/sql drivers take uuid.UUID (a driver.Valuer) and []byte;
	// the times and smallints are plain values.
	var seq int64
	err := h.tx.QueryRowContext(ctx, insert, args...).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	if err != nil {
		return 0, err
	}
	_, err = h.tx.ExecContext(ctx, notify, channel)
	return seq, err
}

// ClaimInbox implements store.Inbox: one query finds the free pending
// items (in the buckets this process owns, on a plain schema), and each
// is claimed by a single-row update, all in one round trip. The items
// of a person after one that another caller took meanwhile are given
// back, so that a person's items run in order.
func (s *Store) ClaimInbox(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*store.InboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: claim inbox: %w", err)
	}
	if err := s.live.tick(ctx); err != nil {
		return nil, fmt.Errorf("postgres: claim inbox: %w", err)
	}
	session, owned, sessions, _ := s.live.state()
	if session == 0 {
		return nil, fmt.Errorf("postgres: claim inbox: %w", s.live.check())
	}
	var buckets []int16
	if s.dist == nil {
		if len(owned) == 0 {
			return nil, nil // other processes hold every bucket for now
		}
		buckets = make([]int16, len(owned))
		for i, b := range owned {
			buckets[i] = int16(b)
		}
	}
	sessions = append(slices.Clip(sessions), session)
	nowUTC := now.UTC()
	rows, _ := s.pool.Query(ctx, s.sql.inbox.candidates, buckets, nowUTC, sessions, session, limit)
	found, err := pgx.CollectRows(rows, scanInboxItem)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim inbox: %w", unavailable(err))
	}
	if len(found) == 0 {
		return nil, nil
	}
	until := now.Add(max(lease, time.Microsecond)).UTC()
	b := &pgx.Batch{}
	for _, it := range found {
		b.Queue(s.sql.inbox.claim, it.PersonID, it.ID, until, session, nowUTC, sessions)
	}
	br := s.pool.SendBatch(ctx, b)
	won := make([]bool, len(found))
	for i := range found {
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("postgres: claim inbox: %w", unavailable(err))
		}
		won[i] = tag.RowsAffected() == 1
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("postgres: claim inbox: %w", unavailable(err))
	}
	// A person's items after one lost to another caller go back.
	lost := map[uuid.UUID]bool{}
	var out, back []*store.InboxItem
	for i, it := range found {
		switch {
		case !won[i]:
			lost[it.PersonID] = true
		case lost[it.PersonID]:
			back = append(back, it)
		default:
			out = append(out, it)
		}
	}
	if len(back) > 0 {
		if err := s.ReleaseInbox(ctx, back); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scanInboxItem(row pgx.CollectableRow) (*store.InboxItem, error) {
	it := &store.InboxItem{}
	var ref []byte
	var at time.Time
	var ns int16
	if err := row.Scan(&it.PersonID, &it.ID, &it.Seq, &ref, &it.Call, &at, &ns); err != nil {
		return nil, err
	}
	it.RecordedAt = joinTime(at, ns)
	return it, json.Unmarshal(ref, &it.Person)
}

// ReleaseInbox implements store.Inbox.
func (s *Store) ReleaseInbox(ctx context.Context, items []*store.InboxItem) error {
	session, _, _, _ := s.live.state()
	if len(items) == 0 || session == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, it := range items {
		b.Queue(s.sql.inbox.release, it.PersonID, it.ID, session)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: release inbox items: %w", unavailable(err))
	}
	return nil
}

// FailInbox implements store.Inbox.
func (s *Store) FailInbox(ctx context.Context, it *store.InboxItem, result []byte, at time.Time) error {
	t, ns := splitTime(at)
	tag, err := s.pool.Exec(ctx, s.sql.inbox.fail, it.PersonID, it.ID, t, ns, result)
	if err != nil {
		return fmt.Errorf("postgres: fail inbox item %s: %w", it.ID, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("inbox item %s is not pending: %w", it.ID, store.ErrNotFound)
	}
	return nil
}

// InboxItem implements store.Inbox.
func (s *Store) InboxItem(ctx context.Context, id uuid.UUID) (*store.InboxItem, error) {
	if id == uuid.Nil {
		return nil, fmt.Errorf("inbox item: id is nil: %w", store.ErrNotFound)
	}
	it := &store.InboxItem{}
	var ref []byte
	var at time.Time
	var ns, dns int16
	var done *time.Time
	err := s.pool.QueryRow(ctx, s.sql.inbox.get, id).Scan(&it.PersonID, &it.ID, &it.Seq, &ref, &it.Call, &at, &ns, &done, &dns, &it.Result)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("inbox item %s: %w", id, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("postgres: inbox item %s: %w", id, unavailable(err))
	}
	it.RecordedAt = joinTime(at, ns)
	if done != nil {
		it.Done, it.DoneAt = true, joinTime(*done, dns)
	}
	return it, json.Unmarshal(ref, &it.Person)
}

// PruneInbox implements store.Inbox.
func (s *Store) PruneInbox(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, s.sql.inbox.prune, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("postgres: prune inbox: %w", unavailable(err))
	}
	return int(tag.RowsAffected()), nil
}

// CompleteInbox implements store.InboxCompleter: the item is marked done
// by a statement of the commit's round trip, which aborts the commit when
// the item is not pending or an earlier one of its person is (then
// Update returns ErrNotFound or ErrConflict); in a transaction of
// UpdateBatch, by a statement of its own, at once.
func (t *tx) CompleteInbox(it *store.InboxItem, result []byte, at time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return err
	}
	d, ns := splitTime(at)
	if !t.batched {
		t.inboxDone = append(t.inboxDone, inboxDone{it: *it, result: slices.Clone(result), at: d, ns: ns})
		return nil
	}
	tag, err := t.conn.Exec(t.ctx, t.s.sql.inbox.complete, it.PersonID, it.ID, d, ns, result, it.Seq)
	if err != nil {
		return t.fail(err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return t.s.inboxRefusal(t.ctx, it)
}

// inboxDone is an item a transaction marks done as it commits.
type inboxDone struct {
	it     store.InboxItem
	result []byte
	at     time.Time
	ns     int16
}

// queueDone queues the statements that mark the transaction's items done.
func (t *tx) queueDone(b *pgx.Batch) {
	for _, d := range t.inboxDone {
		b.Queue(t.s.sql.inbox.completeAtCommit, d.it.PersonID, d.it.ID, d.at, d.ns, d.result, d.it.Seq)
	}
}

// inboxRefusal says why an item could not be marked done: not pending
// (ErrNotFound), or after an earlier pending item (ErrConflict).
func (s *Store) inboxRefusal(ctx context.Context, it *store.InboxItem) error {
	var pending bool
	err := s.pool.QueryRow(ctx, s.sql.inbox.state, it.PersonID, it.ID).Scan(&pending)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || err == nil && !pending:
		return fmt.Errorf("inbox item %s is not pending: %w", it.ID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("postgres: inbox item %s: %w", it.ID, unavailable(err))
	}
	return fmt.Errorf("inbox item %s waits for an earlier item of its person: %w", it.ID, store.ErrConflict)
}

// InboxWake implements store.Inbox: a connection of its own listens on
// the schema's channel from the first call until Close, reconnecting
// when it drops (and then waking once, for what it may have missed).
func (s *Store) InboxWake() <-chan struct{} {
	s.listen.once.Do(func() {
		s.listen.c = make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		s.listen.stop = cancel
		s.listen.done = make(chan struct{})
		go s.listenInbox(ctx)
	})
	return s.listen.c
}

// inboxListener is the store's listening connection, started by
// InboxWake.
type inboxListener struct {
	once sync.Once
	c    chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

func (l *inboxListener) close() {
	if l.stop != nil {
		l.stop()
		<-l.done
	}
}

func (s *Store) listenInbox(ctx context.Context) {
	defer close(s.listen.done)
	wake := func() {
		select {
		case s.listen.c <- struct{}{}:
		default:
		}
	}
	cfg := s.pool.Config().ConnConfig.Copy()
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{inboxChannel(s.schema)}.Sanitize())
		}
		if err == nil {
			wake() // items recorded while nobody listened
			for err == nil {
				_, err = conn.WaitForNotification(ctx)
				if err == nil {
					wake()
				}
			}
		}
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(cctx)
			cancel()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
