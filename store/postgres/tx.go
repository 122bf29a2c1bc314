package postgres

import (
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
	"github.com/jackc/pgx/v5/pgxpool"
)

var errTxDone = errors.New("postgres: transaction used after its Update returned")

// Update implements store.Store. It runs fn in one database transaction
// (READ COMMITTED) that first takes the person's transaction-scoped
// advisory lock, pg_advisory_xact_lock(hashtextextended(person_id::text,
// 0)), so that updates of one person serialize across processes; other
// code may take the same lock to join in.
//
// A typical update costs two round trips: one that begins the
// transaction, takes the lock and reads the person and their participants,
// and one that writes everything fn wrote and commits. Inside fn, AddEvent
// (the duplicate check), Events and a PutParticipant of a new participant
// (which inserts the row at once, to claim its ID) each cost one more.
func (s *Store) Update(ctx context.Context, personID uuid.UUID, fn func(store.Tx) error) error {
	if personID == uuid.Nil {
		return fmt.Errorf("update: person id is nil: %w", store.ErrNotFound)
	}
	return s.update(ctx, personID, fn, false)
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
		return fmt.Errorf("postgres: update person %s: %w", personID, err)
	}
	t := &tx{s: s, ctx: ctx, conn: conn, personID: personID, erase: erase}
	defer t.end()
	if err := t.begin(); err != nil {
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

	mu   sync.Mutex
	done bool
	// err is the database error that broke the transaction; every later
	// call and the commit fail with it.
	err error

	stored *store.Person // as in the database; nil for none
	person *store.Person // PutPerson's, to write; nil for none
	parts  []*partState  // stored ones first, then new ones
	events []*store.Event
	ids    map[string]struct{} // of events
	counts []store.Counter
}

// partState is one participant of the transaction's person.
type partState struct {
	stored *store.Participant // as read from the database; nil when new
	cur    *store.Participant // the latest PutParticipant's; nil for none
	// dirty is set when cur is not in the database yet: a new
	// participant's row is inserted by its first PutParticipant.
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
// person and their participants, in one round trip.
func (t *tx) begin() error {
	q := &t.s.sql
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue(q.lock, t.personID.String())
	b.Queue(q.person, t.personID)
	b.Queue(q.personParts, t.personID)
	br := t.conn.SendBatch(t.ctx, b)
	err := t.readBegin(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("postgres: update person %s: %w", t.personID, err)
	}
	return nil
}

func (t *tx) readBegin(br pgx.BatchResults) error {
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	var data []byte
	switch err := br.QueryRow().Scan(&data); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	default:
		p, err := decodePerson(t.personID, data)
		if err != nil {
			return err
		}
		t.stored = p
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	parts, err := pgx.CollectRows(rows, scanParticipant)
	if err != nil {
		return err
	}
	t.parts = make([]*partState, len(parts))
	for i, p := range parts {
		t.parts[i] = &partState{stored: p}
	}
	return nil
}

// end marks the transaction done, rolls back what has not committed and
// gives the connection back. It runs also when fn panics.
func (t *tx) end() {
	t.mu.Lock()
	t.done = true
	t.mu.Unlock()
	if pc := t.conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
		// A failed rollback leaves the connection in a transaction, and
		// the pool closes a connection it gets back in that state.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 5*time.Second)
		_, _ = t.conn.Exec(ctx, "ROLLBACK")
		cancel()
	}
	t.conn.Release()
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
	t.err = fmt.Errorf("postgres: update person %s: %w", t.personID, err)
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

func (t *tx) PutPerson(p *store.Person) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return err
	}
	if p.ID != t.personID {
		return fmt.Errorf("put person %s in the transaction of person %s", p.ID, t.personID)
	}
	t.person = p.Clone()
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

func (t *tx) PutParticipant(p *store.Participant) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return err
	}
	if err := store.CheckParticipant(p); err != nil {
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
	c := p.Clone()
	c.Version++
	if ps != nil {
		ps.cur, ps.dirty = c, true
		p.Version = c.Version
		return nil
	}
	// A participant ID is unique across people, whose transactions do not
	// see each other: the insert claims it now, so that a taken ID is
	// refused here and the transaction goes on. An insert of the same ID by
	// another transaction in flight waits for that one to end.
	args, err := participantArgs(c)
	if err != nil {
		return err
	}
	tag, err := t.conn.Exec(t.ctx, t.s.sql.insertPart, append([]any{c.ID, c.PersonID}, args...)...)
	if err != nil {
		return t.fail(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("participant %s: %w", p.ID, store.ErrDuplicate)
	}
	t.parts = append(t.parts, &partState{cur: c})
	p.Version = c.Version
	return nil
}

func (t *tx) AddEvent(e *store.Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return err
	}
	if e.ID == "" {
		return fmt.Errorf("add event %q: event id is empty: %w", e.Name, store.ErrInvalid)
	}
	if _, ok := t.ids[e.ID]; ok {
		return fmt.Errorf("event %q: %w", e.ID, store.ErrDuplicate)
	}
	// A SELECT rather than a failing INSERT: a refused event leaves the
	// transaction usable.
	var dup bool
	if err := t.conn.QueryRow(t.ctx, t.s.sql.hasEvent, t.personID, e.ID).Scan(&dup); err != nil {
		return t.fail(err)
	}
	if dup {
		return fmt.Errorf("event %q: %w", e.ID, store.ErrDuplicate)
	}
	e.PersonID = t.personID
	t.events = append(t.events, e.Clone())
	if t.ids == nil {
		t.ids = map[string]struct{}{}
	}
	t.ids[e.ID] = struct{}{}
	return nil
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
	if !q.Until.IsZero() {
		at, ns := splitTime(q.Until)
		args = append(args, at, ns)
		fmt.Fprintf(&b, " AND (time, time_ns) < ($%d, $%d)", len(args)-1, len(args))
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
	for _, e := range t.events {
		if q.Matches(e) {
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
	q := &t.s.sql
	b := &pgx.Batch{}
	if t.erase {
		t.person, t.events = nil, nil
		for _, ps := range t.parts {
			ps.dirty = false
		}
		for _, sql := range []string{q.eraseParts, q.eraseEvents, q.eraseKeys, q.erasePerson} {
			b.Queue(sql, t.personID)
		}
	}
	if p := t.person; p != nil {
		data, err := encodePerson(p)
		if err != nil {
			return err
		}
		b.Queue(q.putPerson, p.ID, data, p.UpdatedAt)
		var old []string
		if t.stored != nil {
			old = keyStrings(t.stored)
		}
		cur := keyStrings(p)
		if gone := minus(old, cur); len(gone) > 0 {
			b.Queue(q.deleteKeys, p.ID, gone)
		}
		if added := minus(cur, old); len(added) > 0 {
			b.Queue(q.insertKeys, p.ID, added)
		}
	}
	for _, ps := range t.parts {
		if ps.removed {
			b.Queue(q.audience.deletePart, ps.latest().ID)
			continue
		}
		if !ps.dirty {
			continue
		}
		args, err := participantArgs(ps.cur)
		if err != nil {
			return err
		}
		b.Queue(q.updatePart, append([]any{ps.cur.ID}, args...)...)
	}
	for _, e := range t.events {
		data, err := encodeEventData(e)
		if err != nil {
			return err
		}
		at, ns := splitTime(e.Time)
		b.Queue(q.insertEvent, t.personID, e.ID, at, ns, string(e.Category), e.Name, data)
	}
	if cs := sumCounters(t.counts); len(cs) > 0 {
		flows, versions, elements, keys, ns := make([]string, len(cs)), make([]int32, len(cs)), make([]string, len(cs)), make([]string, len(cs)), make([]int64, len(cs))
		for i, c := range cs {
			flows[i], versions[i], elements[i], keys[i], ns[i] = c.FlowID, int32(c.FlowVersion), c.Element, c.Key, c.N
		}
		b.Queue(q.count, flows, versions, elements, keys, int(t.personID[15])%t.s.shards, ns)
	}
	b.Queue("COMMIT")

	br := t.conn.SendBatch(t.ctx, b)
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
	if err != nil {
		return t.commitError(err)
	}
	return nil
}

// commitError maps a unique violation at commit to the store's sentinel:
// another person's key is ErrConflict; a participant or event ID that a
// transaction committed meanwhile is ErrDuplicate (the person's lock and
// the early participant insert make both unlikely).
func (t *tx) commitError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		switch pe.ConstraintName {
		case "person_keys_pkey":
			return fmt.Errorf("person %s: an external id, phone or email belongs to another person (%s): %w", t.personID, pe.Detail, store.ErrConflict)
		case "participants_pkey", "events_pkey":
			return fmt.Errorf("person %s: %s: %w", t.personID, pe.Detail, store.ErrDuplicate)
		}
	}
	return fmt.Errorf("postgres: update person %s: commit: %w", t.personID, err)
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
