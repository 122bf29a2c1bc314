package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

var errTxDone = errors.New("postgres: transaction used after its Update returned")

// Update implements store.Store. It runs fn in one database transaction
// (READ COMMITTED) that first takes the person's transaction-scoped
// advisory lock, pg_advisory_xact_lock(hashtextextended(person_id::text,
// 0)), so that updates of one person serialize across processes; other
// code may take the same lock to join in.
//
// An update costs two round trips: one that begins the transaction, takes
// the lock and reads the person, their participants and the flows'
// revision, and one that writes everything fn wrote, in one statement,
// and commits. Inside fn, AddEvent (an insert that finds a taken ID) and
// Events cost one more each.
func (s *Store) Update(ctx context.Context, personID uuid.UUID, fn func(store.Tx) error) error {
	if personID == uuid.Nil {
		return fmt.Errorf("update: person id is nil: %w", store.ErrNotFound)
	}
	return s.update(ctx, personID, fn, false)
}

var _ store.RefUpdater = (*Store)(nil)

// UpdateRef implements store.RefUpdater: the key is looked up in the
// round trip that takes the lock, and again after it, so that fn runs in
// the transaction of the person who holds the key once their updates are
// serialized; the rare lookup that moved in between starts over.
func (s *Store) UpdateRef(ctx context.Context, ref store.PersonRef, newID uuid.UUID, fn func(uuid.UUID, store.Tx) error) (uuid.UUID, error) {
	if ref.ID != uuid.Nil {
		return ref.ID, s.update(ctx, ref.ID, func(tx store.Tx) error { return fn(ref.ID, tx) }, false)
	}
	key := ref.Key()
	if key == (store.Key{}) {
		return uuid.Nil, fmt.Errorf("person reference names no id, external id, phone number or email address: %w", store.ErrNotFound)
	}
	k := key.String()
	for attempt := 0; ; attempt++ {
		id, err := s.updateKeyed(ctx, k, newID, fn)
		if errors.Is(err, errKeyMoved) && attempt < 5 {
			continue
		}
		if errors.Is(err, errNoOne) {
			return uuid.Nil, fmt.Errorf("person %s: %w", key.Value, store.ErrNotFound)
		}
		return id, err
	}
}

var (
	errKeyMoved = errors.New("the key moved to another person while its lock was taken")
	errNoOne    = errors.New("nobody holds the key")
)

func (s *Store) updateKeyed(ctx context.Context, key string, newID uuid.UUID, fn func(uuid.UUID, store.Tx) error) (uuid.UUID, error) {
	if err := ctx.Err(); err != nil {
		return uuid.Nil, fmt.Errorf("postgres: update person %s: %w", key, err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return uuid.Nil, fmt.Errorf("postgres: update person %s: %w", key, unavailable(err))
	}
	t := &tx{s: s, ctx: ctx, conn: conn, personID: newID}
	defer t.end()
	if s.dist != nil {
		err = t.beginKeyed(key)
	} else {
		err = t.begin(&key)
	}
	if err != nil {
		return uuid.Nil, err
	}
	if t.personID == uuid.Nil {
		return uuid.Nil, errNoOne
	}
	if err := fn(t.personID, t); err != nil {
		return t.personID, err
	}
	return t.personID, t.commit()
}

var _ store.Eraser = (*Store)(nil)

// Erase implements store.Eraser: it runs fn as Update does, then deletes
// the person's rows from the people, person_keys, participants and events
// tables in the commit's round trip.
func (s *Store) Erase(ctx context.Context, personID uuid.UUID, fn func(store.Tx) error) error {
	if personID == uuid.Nil {
		return fmt.Errorf("erase: person id is nil: %w", store.ErrNotFound)
	}
	if fn == nil {
		fn = func(store.Tx) error { return nil }
	}
	return s.update(ctx, personID, fn, true)
}

var _ store.HistoryPruner = (*Store)(nil)

// PruneEvents implements store.HistoryPruner in one DELETE statement: an
// anti-join against the participants still in their flows.
func (s *Store) PruneEvents(ctx context.Context, q *store.PruneParams) (int, error) {
	if q.Before.IsZero() {
		return 0, fmt.Errorf("prune events: the cutoff is zero: %w", store.ErrInvalid)
	}
	at, ns := splitTime(q.Before)
	tag, err := s.pool.Exec(ctx, s.sql.prune, at, ns)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune events: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (s *Store) update(ctx context.Context, personID uuid.UUID, fn func(store.Tx) error, erase bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: update person %s: %w", personID, err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: update person %s: %w", personID, unavailable(err))
	}
	t := &tx{s: s, ctx: ctx, conn: conn, personID: personID, erase: erase}
	defer t.end()
	if s.dist != nil {
		err = t.beginDistributed(nil, uuid.Nil)
	} else {
		err = t.begin(nil)
	}
	if err != nil {
		return err
	}
	if err := fn(t); err != nil {
		return err
	}
	return t.commit()
}

// tx is one Update's transaction. It reads through its connection and
// buffers writes, which commit applies. Its mutex guards the connection,
// which is not safe for concurrent use, against a fn that shares the Tx
// among goroutines.
type tx struct {
	s        *Store
	ctx      context.Context
	conn     *pgxpool.Conn
	personID uuid.UUID
	// erase makes the commit delete the person's rows instead of writing
	// the buffered records (see Store.Erase).
	erase bool
	// placeholder is set on a distributed schema when the person's lock
	// inserted their people row (see distQueries.lockRow).
	placeholder bool

	mu   sync.Mutex
	done bool
	// err is the database error that broke the transaction; every later
	// call and the commit fail with it.
	err error

	// batched is set for a transaction of UpdateBatch, which shares its
	// connection, begin and commit with the batch's others.
	batched bool
	rev     int64         // the flows' revision, read after the lock
	stored  *store.Person // as in the database; nil for none
	person  *store.Person // PutPerson's, to write; nil for none
	parts   []*partState  // stored ones first, then new ones
	// events are the ones to insert at commit; added holds the IDs of
	// all the transaction's events, inserted by AddEvent at once or not.
	events []*store.Event
	added  map[string]struct{}
	counts []store.Counter
	// inboxDone are the inbox items the commit marks done (see
	// CompleteInbox).
	inboxDone []inboxDone
}

// partState is one participant of the transaction's person.
type partState struct {
	stored *store.Participant // as read from the database; nil when new
	cur    *store.Participant // the latest PutParticipant's; nil for none
	// dirty is set when cur is not in the database yet; commit inserts a
	// new participant's row (stored nil) and updates the others.
	dirty bool
	// removed is set by RemoveParticipant: commit deletes the row.
	removed bool
}

func (p *partState) latest() *store.Participant {
	if p.cur != nil {
		return p.cur
	}
	return p.stored
}

// begin begins the transaction, takes the person's lock and reads the
// person, their participants and the flows' revision, in one round trip.
// With a key, the person is the one the key names (t.personID when
// nobody holds it, uuid.Nil for none): begin fails with errKeyMoved when
// the key named another person by the time the lock was taken.
func (t *tx) begin(key *string) error {
	q := &t.s.sql
	var id any
	if t.personID != uuid.Nil {
		id = [16]byte(t.personID) // see writes
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue(q.lockOne, id, key)
	b.Queue(q.readOne, id, key)
	br := t.conn.SendBatch(t.ctx, b)
	locked, err := t.readBegin(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("postgres: update person %s: %w", t.personID, unavailable(err))
	}
	if key != nil && locked != t.personID {
		return errKeyMoved
	}
	return nil
}

func (t *tx) readBegin(br pgx.BatchResults) (uuid.UUID, error) {
	if _, err := br.Exec(); err != nil {
		return uuid.Nil, err
	}
	var locked pgtype.UUID
	if err := br.QueryRow().Scan(&locked); err != nil {
		return uuid.Nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return uuid.Nil, err
	}
	read, err := readTxRows(rows)
	if err != nil {
		return uuid.Nil, err
	}
	t.personID, t.rev = read.resolved, read.rev
	t.setRead(read.people[t.personID], read.parts[t.personID])
	return uuid.UUID(locked.Bytes), nil
}

// setRead fills the transaction with what was read of its person.
func (t *tx) setRead(p *store.Person, parts []*store.Participant) {
	t.stored = p
	slices.SortFunc(parts, func(a, b *store.Participant) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	t.parts = make([]*partState, len(parts))
	for i, p := range parts {
		t.parts[i] = &partState{stored: p}
	}
}

// txRead is what the reads of readOne or readMany return.
type txRead struct {
	people   map[uuid.UUID]*store.Person
	parts    map[uuid.UUID][]*store.Participant
	rev      int64
	resolved uuid.UUID // readOne's person
}

func readTxRows(rows pgx.Rows) (*txRead, error) {
	out := &txRead{people: map[uuid.UUID]*store.Person{}, parts: map[uuid.UUID][]*store.Participant{}}
	var (
		kind                 int
		id, personID         pgtype.UUID
		flowID, status, elem pgtype.Text
		flowVersion          pgtype.Int4
		version, rev         pgtype.Int8
		data                 []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&kind, &id, &personID, &flowID, &flowVersion, &status, &elem, &version, &data, &rev}, func() error {
		switch kind {
		case 0:
			p, err := decodePerson(id.Bytes, data)
			if err != nil {
				return err
			}
			out.people[p.ID] = p
		case 1:
			p := &store.Participant{ID: id.Bytes, PersonID: personID.Bytes, FlowID: flowID.String, FlowVersion: int(flowVersion.Int32),
				Status: store.Status(status.String), Element: elem.String, Version: version.Int64}
			if err := decodeParticipant(p, data); err != nil {
				return err
			}
			out.parts[p.PersonID] = append(out.parts[p.PersonID], p)
		case 2:
			out.rev = rev.Int64
			if id.Valid {
				out.resolved = id.Bytes
			}
		}
		return nil
	})
	return out, err
}

// end marks the transaction done, rolls back what has not committed and
// gives the connection back. It runs also when fn panics.
func (t *tx) end() {
	t.mu.Lock()
	t.done = true
	t.mu.Unlock()
	if !t.batched {
		endConn(t.ctx, t.conn)
	}
}

// endConn rolls back what has not committed on conn and gives it back.
func endConn(ctx context.Context, conn *pgxpool.Conn) {
	if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
		// A failed rollback leaves the connection in a transaction, and
		// the pool closes a connection it gets back in that state.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = conn.Exec(ctx, "ROLLBACK")
		cancel()
	}
	conn.Release()
}

// check returns why the transaction may not be used, or nil.
func (t *tx) check() error {
	if t.done {
		return errTxDone
	}
	return t.err
}

// fail records a database error: the transaction is aborted on the server.
func (t *tx) fail(err error) error {
	t.err = fmt.Errorf("postgres: update person %s: %w", t.personID, unavailable(err))
	return t.err
}

func (t *tx) Person() (*store.Person, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return nil, err
	}
	switch {
	case t.person != nil:
		return t.person.Clone(), nil
	case t.stored != nil:
		return t.stored.Clone(), nil
	}
	return nil, fmt.Errorf("person %s: %w", t.personID, store.ErrNotFound)
}

func (t *tx) PutPerson(p *store.Person) error { return t.putPerson(p.Clone()) }

// PutSharedPerson implements store.SharingTx: the commit writes p itself.
func (t *tx) PutSharedPerson(p *store.Person) error { return t.putPerson(p) }

func (t *tx) putPerson(p *store.Person) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return err
	}
	if p.ID != t.personID {
		return fmt.Errorf("put person %s in the transaction of person %s", p.ID, t.personID)
	}
	t.person = p
	return nil
}

func (t *tx) Participants() ([]*store.Participant, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make([]*store.Participant, 0, len(t.parts))
	for _, ps := range t.parts {
		if !ps.removed {
			out = append(out, ps.latest().Clone())
		}
	}
	return out, nil
}

var _ store.SharingTx = (*tx)(nil)

// SharedPerson implements store.SharingTx.
func (t *tx) SharedPerson() (*store.Person, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return nil, err
	}
	switch {
	case t.person != nil:
		return t.person, nil
	case t.stored != nil:
		return t.stored, nil
	}
	return nil, fmt.Errorf("person %s: %w", t.personID, store.ErrNotFound)
}

// SharedParticipants implements store.SharingTx: each participant is a
// copy of the fields of the one read (or put) with a variables map of
// its own; the nested values are shared.
func (t *tx) SharedParticipants() ([]*store.Participant, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make([]*store.Participant, 0, len(t.parts))
	for _, ps := range t.parts {
		if !ps.removed {
			c := *ps.latest()
			c.Vars = maps.Clone(c.Vars)
			out = append(out, &c)
		}
	}
	return out, nil
}

// PutSharedParticipant implements store.SharingTx: the commit writes p
// itself.
func (t *tx) PutSharedParticipant(p *store.Participant) error { return t.put(p, true) }

func (t *tx) PutParticipant(p *store.Participant) error { return t.put(p, false) }

// put puts p, the caller's own when shared is set, else a copy.
func (t *tx) put(p *store.Participant, shared bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return err
	}
	if err := p.Check(); err != nil {
		return err
	}
	if p.PersonID != t.personID {
		return fmt.Errorf("put participant %s of person %s in the transaction of person %s", p.ID, p.PersonID, t.personID)
	}
	var ps *partState
	if i := slices.IndexFunc(t.parts, func(q *partState) bool { return q.latest().ID == p.ID }); i >= 0 {
		ps = t.parts[i]
	}
	switch {
	case ps == nil && p.Version != 0:
		return fmt.Errorf("participant %s version %d: %w", p.ID, p.Version, store.ErrConflict)
	case ps != nil && p.Version == 0:
		return fmt.Errorf("participant %s: %w", p.ID, store.ErrDuplicate)
	case ps != nil && ps.latest().Version != p.Version:
		return fmt.Errorf("participant %s version %d, stored %d: %w", p.ID, p.Version, ps.latest().Version, store.ErrConflict)
	}
	c := p
	if !shared {
		c = p.Clone()
	}
	c.Version++
	if ps != nil {
		ps.cur, ps.dirty = c, true
	} else {
		// A new participant's row is inserted at commit, where an ID that
		// another person's participant holds is ErrDuplicate.
		t.parts = append(t.parts, &partState{cur: c, dirty: true})
	}
	p.Version = c.Version
	return nil
}

func (t *tx) AddEvent(e *store.Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.checkEvent(e); err != nil {
		return err
	}
	if t.batched {
		// Another person's writes share the database transaction, which
		// must not hold this one's until its fn succeeds.
		var dup bool
		if err := t.conn.QueryRow(t.ctx, t.s.sql.hasEvent, [16]byte(t.personID), e.ID).Scan(&dup); err != nil {
			return t.fail(err)
		}
		if dup {
			return fmt.Errorf("event %q: %w", e.ID, store.ErrDuplicate)
		}
		e.PersonID = t.personID
		t.events = append(t.events, e.Clone())
		t.added[e.ID] = struct{}{}
		return nil
	}
	// Inserted at once, by an insert that leaves a taken ID alone, so
	// that a refused event leaves the transaction usable; events appended
	// before it go first, in the same round trip, to keep their order.
	b := &pgx.Batch{}
	var w writes
	if err := w.addEvents(t); err != nil {
		return err
	}
	w.queue(b, t.s)
	data, err := encodeEventData(e)
	if err != nil {
		return err
	}
	at, ns := splitTime(e.Time)
	b.Queue(t.s.sql.addEvent, [16]byte(t.personID), e.ID, at, ns, string(e.Category), e.Name, data)
	br := t.conn.SendBatch(t.ctx, b)
	var tag pgconn.CommandTag
	for range b.Len() {
		if tag, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.err = t.commitError(err)
		return t.err
	}
	t.events = t.events[:0]
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("event %q: %w", e.ID, store.ErrDuplicate)
	}
	e.PersonID = t.personID
	t.added[e.ID] = struct{}{}
	return nil
}

func (t *tx) AppendEvent(e *store.Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.checkEvent(e); err != nil {
		return err
	}
	e.PersonID = t.personID
	t.events = append(t.events, e.Clone())
	t.added[e.ID] = struct{}{}
	return nil
}

// checkEvent refuses an event the transaction may not add.
func (t *tx) checkEvent(e *store.Event) error {
	if err := t.check(); err != nil {
		return err
	}
	if e.ID == "" {
		return fmt.Errorf("add event %q: event id is empty: %w", e.Name, store.ErrInvalid)
	}
	if _, ok := t.added[e.ID]; ok {
		return fmt.Errorf("event %q: %w", e.ID, store.ErrDuplicate)
	}
	if t.added == nil {
		t.added = map[string]struct{}{}
	}
	return nil
}

func (t *tx) FlowsRevision() (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return 0, err
	}
	return t.rev, nil
}

func (t *tx) Events(q *store.EventQuery) ([]*store.Event, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return nil, err
	}
	if q == nil {
		return nil, fmt.Errorf("events: no query: %w", store.ErrInvalid)
	}
	var b strings.Builder
	b.WriteString(t.s.sql.events)
	args := []any{t.personID}
	if q.Name != "" {
		args = append(args, q.Name)
		fmt.Fprintf(&b, " AND name = $%d", len(args))
	}
	if q.Category != "" {
		args = append(args, string(q.Category))
		fmt.Fprintf(&b, " AND category = $%d", len(args))
	}
	if !q.Since.IsZero() {
		at, ns := splitTime(q.Since)
		args = append(args, at, ns)
		fmt.Fprintf(&b, " AND (time, time_ns) >= ($%d, $%d)", len(args)-1, len(args))
	}
	// pendingAt is the place of UntilID among the pending events, -1
	// when it is not one of them at Until's time.
	pendingAt := -1
	switch {
	case q.Until.IsZero():
	case q.UntilID == "":
		at, ns := splitTime(q.Until)
		args = append(args, at, ns)
		fmt.Fprintf(&b, " AND (time, time_ns) < ($%d, $%d)", len(args)-1, len(args))
	default:
		pendingAt = slices.IndexFunc(t.events, func(e *store.Event) bool { return e.ID == q.UntilID && e.Time.Equal(q.Until) })
		at, ns := splitTime(q.Until)
		args = append(args, at, ns)
		if pendingAt >= 0 {
			// Every stored event of that time comes before a pending one.
			fmt.Fprintf(&b, " AND (time, time_ns) <= ($%d, $%d)", len(args)-1, len(args))
		} else {
			// Those stored before UntilID's event, by seq; none of that
			// time when it is not stored at that time.
			args = append(args, q.UntilID)
			fmt.Fprintf(&b, ` AND (time, time_ns, seq) < ($%[1]d, $%[2]d, COALESCE((SELECT seq FROM %[4]s
				WHERE person_id = $1 AND id = $%[3]d AND time = $%[1]d AND time_ns = $%[2]d), 0))`,
				len(args)-2, len(args)-1, len(args), t.s.q+".events")
		}
	}
	if q.Limit > 0 {
		args = append(args, q.Limit)
		fmt.Fprintf(&b, " ORDER BY time DESC, time_ns DESC, seq DESC LIMIT $%d", len(args))
	} else {
		b.WriteString(" ORDER BY time, time_ns, seq")
	}
	rows, _ := t.conn.Query(t.ctx, b.String(), args...)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Event, error) {
		e := &store.Event{PersonID: t.personID}
		var at time.Time
		var ns int16
		var data []byte
		if err := row.Scan(&e.ID, &at, &ns, &e.Category, &e.Name, &data); err != nil {
			return nil, err
		}
		e.Time = joinTime(at, ns)
		return e, decodeEventData(e, data)
	})
	if err != nil {
		return nil, t.fail(err)
	}
	if q.Limit > 0 {
		slices.Reverse(out) // oldest first, to merge
	}
	// Pending events follow stored ones of the same time, in the order
	// they were added, as if each had been stored by its own update.
	var pending []*store.Event
	for i, e := range t.events {
		// With UntilID, those of Until's time added before its event.
		if q.Matches(e) && (q.UntilID == "" || !e.Time.Equal(q.Until) || i < pendingAt) {
			pending = append(pending, e.Clone())
		}
	}
	if len(pending) > 0 {
		slices.SortStableFunc(pending, func(a, b *store.Event) int { return a.Time.Compare(b.Time) })
		out = mergeEvents(out, pending)
	}
	if q.Limit > 0 {
		slices.Reverse(out)
		if len(out) > q.Limit {
			out = out[:q.Limit]
		}
	}
	return out, nil
}

// mergeEvents merges two lists in time order, a's events first among
// equal times.
func mergeEvents(a, b []*store.Event) []*store.Event {
	out := make([]*store.Event, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].Time.Before(a[0].Time) {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

func (t *tx) Count(cs ...store.Counter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.check() == nil {
		t.counts = append(t.counts, cs...)
	}
}

// commit writes the buffered records and commits, in one round trip.
func (t *tx) commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	b := &pgx.Batch{}
	t.queueDone(b)
	var w writes
	if t.erase {
		for _, sql := range []string{t.s.sql.eraseParts, t.s.sql.eraseEvents, t.s.sql.eraseKeys, t.s.sql.erasePerson, t.s.sql.inbox.erase} {
			b.Queue(sql, t.personID)
		}
		if t.s.dist != nil {
			b.Queue(t.s.sql.dist.eraseIDs, t.personID)
		}
		w.counts, w.shardOf = t.counts, t.personID // counters belong to flows
	} else if err := w.add(t); err != nil {
		return err
	}
	w.queue(b, t.s)
	if err := commitBatch(t.ctx, t.conn, b); err != nil {
		var pe *pgconn.PgError
		if len(t.inboxDone) > 0 && errors.As(err, &pe) && pe.Code == "22012" {
			return t.s.inboxRefusal(t.ctx, &t.inboxDone[0].it)
		}
		return t.commitError(err)
	}
	return nil
}

// commitBatch sends b, then COMMIT, in one round trip.
func commitBatch(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch) error {
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	var err error
	for i := range b.Len() {
		var tag pgconn.CommandTag
		if tag, err = br.Exec(); err != nil {
			break
		}
		if i == b.Len()-1 && tag.String() != "COMMIT" {
			err = fmt.Errorf("the transaction was not committed (%s)", tag)
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// commitError maps a unique violation at commit to the store's sentinel:
// another person's key is ErrConflict; a participant ID another person's
// participant holds, or an appended event's ID the history holds, is
// ErrDuplicate.
func (t *tx) commitError(err error) error {
	return commitError("person "+t.personID.String(), err)
}

func commitError(who string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case isUnique(pe, "person_keys_pkey"):
			return fmt.Errorf("%s: an external id, phone or email belongs to another person (%s): %w", who, pe.Detail, store.ErrConflict)
		case isUnique(pe, "participants_pkey"), isUnique(pe, "participant_ids_pkey"), isUnique(pe, "events_pkey"):
			return fmt.Errorf("%s: %s: %w", who, pe.Detail, store.ErrDuplicate)
		}
	}
	return fmt.Errorf("postgres: update %s: commit: %w", who, unavailable(err))
}

// minus returns the distinct elements of a that b lacks.
// keyStrings returns the person's lookup keys as the person_keys table
// holds them.
func keyStrings(p *store.Person) []string {
	keys := p.Keys()
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// sumCounters adds up the increments of each counter and orders them, so
// that transactions take the counter rows' locks in one order and never
// deadlock on them.
func sumCounters(cs []store.Counter) []store.Counter {
	if len(cs) == 0 {
		return nil
	}
	type key struct {
		flowID  string
		version int
		element string
		key     string
	}
	sums := make(map[key]int64, len(cs))
	for _, c := range cs {
		sums[key{c.FlowID, c.FlowVersion, c.Element, c.Key}] += c.N
	}
	keys := slices.SortedFunc(maps.Keys(sums), func(a, b key) int {
		return cmp.Or(strings.Compare(a.flowID, b.flowID), cmp.Compare(a.version, b.version),
			strings.Compare(a.element, b.element), strings.Compare(a.key, b.key))
	})
	out := make([]store.Counter, len(keys))
	for i, k := range keys {
		out[i] = store.Counter{FlowID: k.flowID, FlowVersion: k.version, Element: k.element, Key: k.key, N: sums[k]}
	}
	return out
}

var _ store.BatchUpdater = (*Store)(nil)

// UpdateBatch implements store.BatchUpdater in one database transaction
// and three round trips whatever the batch's size: one takes every
// person's lock (in the order of their lock keys, so that batches never
// deadlock) and reads them all; fn runs for each; one writes what every
// fn that succeeded wrote, in one statement, and commits. Reads inside fn
// (Events, AddEvent) cost a round trip each, as in Update. On a
// distributed schema the locks, the reads and the participants' updates
// are a statement per shard of the batch's people, each a router query.
func (s *Store) UpdateBatch(ctx context.Context, personIDs []uuid.UUID, fn func(int, store.Tx) error) ([]error, error) {
	if len(personIDs) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: update batch: %w", err)
	}
	for _, id := range personIDs {
		if id == uuid.Nil {
			return nil, fmt.Errorf("update batch: person id is nil: %w", store.ErrNotFound)
		}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: update batch: %w", unavailable(err))
	}
	defer endConn(ctx, conn)
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	// On a distributed schema, the people's row locks, then their
	// reads, each a statement per shard (see shardMap.byShard).
	var groups [][]uuid.UUID
	if s.dist != nil {
		groups = s.dist.byShard(personIDs)
		for _, g := range groups {
			sql, args := lockShard(s.q, g)
			b.Queue(sql, args...)
		}
		for _, g := range groups {
			b.Queue(s.sql.dist.readShard, g)
		}
	} else {
		ids := pgIDs(personIDs)
		b.Queue(s.sql.lockMany, ids)
		b.Queue(s.sql.readMany, ids)
	}
	br := conn.SendBatch(ctx, b)
	read := &txRead{people: map[uuid.UUID]*store.Person{}, parts: map[uuid.UUID][]*store.Participant{}}
	placeholders := map[uuid.UUID]bool{}
	reads := 1
	if s.dist != nil {
		reads = len(groups)
	}
	if _, err = br.Exec(); err == nil && s.dist != nil {
		for range groups {
			rows, _ := br.Query()
			var ids []uuid.UUID
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
				break
			}
			for _, id := range ids {
				placeholders[id] = true
			}
		}
	} else if err == nil {
		_, err = br.Exec()
	}
	for range reads {
		if err != nil {
			break
		}
		var rows pgx.Rows
		if rows, err = br.Query(); err != nil {
			break
		}
		var r *txRead
		if r, err = readTxRows(rows); err == nil {
			maps.Copy(read.people, r.people)
			maps.Copy(read.parts, r.parts)
			read.rev = r.rev
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update batch of %d people: %w", len(personIDs), unavailable(err))
	}
	errs := make([]error, len(personIDs))
	var w writes
	for i, id := range personIDs {
		t := &tx{s: s, ctx: ctx, conn: conn, personID: id, batched: true, rev: read.rev, placeholder: placeholders[id]}
		t.setRead(read.people[id], read.parts[id])
		errs[i] = fn(i, t)
		t.end()
		if t.err != nil {
			// A database error aborted the whole transaction.
			return nil, t.err
		}
		if errs[i] == nil {
			if err := w.add(t); err != nil {
				return nil, err
			}
		}
	}
	wb := &pgx.Batch{}
	w.queue(wb, s)
	if err := commitBatch(ctx, conn, wb); err != nil {
		return nil, commitError(fmt.Sprintf("a batch of %d people", len(personIDs)), err)
	}
	return errs, nil
}

// beginKeyed begins the transaction of the person a key names on a
// distributed schema, where person_keys is distributed by the key and so
// lives on another shard than the person: the key is looked up first, on
// its own shard, and again in the round trip that takes the person's
// lock, which fails with errKeyMoved when it names someone else by then.
// Nobody holding the key, the person is t.personID (uuid.Nil for none).
func (t *tx) beginKeyed(key string) error {
	var owner uuid.UUID
	err := t.conn.QueryRow(t.ctx, t.s.sql.dist.keyOwner, key).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if t.personID == uuid.Nil {
			return nil // nobody to run fn for
		}
	case err != nil:
		return fmt.Errorf("postgres: update person %s: %w", key, unavailable(err))
	default:
		t.personID = owner
	}
	return t.beginDistributed(&key, owner)
}

// beginDistributed is begin on a distributed schema, where the person's
// lock is their people row's (see distQueries.lockRow): one round trip
// begins, locks and reads, every statement on the person's shard. With a
// key, the key's owner is read again after the lock, and the transaction
// fails with errKeyMoved unless it is still owner (uuid.Nil: nobody).
func (t *tx) beginDistributed(key *string, owner uuid.UUID) error {
	q := &t.s.sql.dist
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue(q.lockRow, t.personID)
	b.Queue(q.readOne, t.personID)
	if key != nil {
		b.Queue(q.keyOwner, *key)
	}
	br := t.conn.SendBatch(t.ctx, b)
	now, err := t.readBeginDistributed(br, key != nil)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("postgres: update person %s: %w", t.personID, unavailable(err))
	}
	if key != nil && now != owner {
		return errKeyMoved
	}
	return nil
}

func (t *tx) readBeginDistributed(br pgx.BatchResults, keyed bool) (uuid.UUID, error) {
	if _, err := br.Exec(); err != nil {
		return uuid.Nil, err
	}
	tag, err := br.Exec()
	if err != nil {
		return uuid.Nil, err
	}
	t.placeholder = tag.RowsAffected() > 0
	rows, err := br.Query()
	if err != nil {
		return uuid.Nil, err
	}
	read, err := readTxRows(rows)
	if err != nil {
		return uuid.Nil, err
	}
	t.rev = read.rev
	t.setRead(read.people[t.personID], read.parts[t.personID])
	var owner uuid.UUID
	if keyed {
		if err := br.QueryRow().Scan(&owner); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return uuid.Nil, err
		}
	}
	return owner, nil
}
