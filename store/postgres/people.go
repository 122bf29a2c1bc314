package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	_ store.PeopleLister       = (*Store)(nil)
	_ store.AudienceRuns       = (*Store)(nil)
	_ store.ParticipantRemover = (*tx)(nil)
)

// audienceQueries holds the SQL of people listing and audience runs.
type audienceQueries struct {
	people, peopleAll, countPeople                  string
	createRun, run, runsOf, runsUnfinished, runsAll string
	lockRun, page                                   string
	deletePart                                      string
}

const runCols = `id, flow_id, flow_version, entry, started_at, window_from, window_to, cursor_id, scanned, entered, total, done, finished_at`

func newAudienceQueries(r *strings.Replacer) audienceQueries {
	return audienceQueries{
		people:      r.Replace(`SELECT id, data FROM {{s}}.people WHERE id > $1 ORDER BY id LIMIT $2`),
		peopleAll:   r.Replace(`SELECT id, data FROM {{s}}.people WHERE id > $1 ORDER BY id`),
		countPeople: r.Replace(`SELECT count(*) FROM {{s}}.people`),
		createRun: r.Replace(`INSERT INTO {{s}}.audience_runs (` + runCols + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING`),
		run:            r.Replace(`SELECT ` + runCols + ` FROM {{s}}.audience_runs WHERE id = $1`),
		runsOf:         r.Replace(`SELECT ` + runCols + ` FROM {{s}}.audience_runs WHERE flow_id = $1 AND (NOT $2 OR NOT done) ORDER BY started_at, id`),
		runsUnfinished: r.Replace(`SELECT ` + runCols + ` FROM {{s}}.audience_runs WHERE NOT done ORDER BY started_at, id`),
		runsAll:        r.Replace(`SELECT ` + runCols + ` FROM {{s}}.audience_runs ORDER BY started_at, id`),
		lockRun:        r.Replace(`SELECT cursor_id, done FROM {{s}}.audience_runs WHERE id = $1 FOR UPDATE`),
		// One statement inserts the page's participants, skipping IDs
		// that exist (COPY cannot skip them), and moves the run on by
		// what it inserted. The arrays are the participant columns.
		page: r.Replace(`
WITH ins AS (
	INSERT INTO {{s}}.participants (id, person_id, flow_id, flow_version, status, element, due_at, due_ns, parked, version, data)
	SELECT id, person_id, flow_id, flow_version, status, element, due_at, due_ns, parked, version, data::json
	FROM unnest($6::uuid[], $7::uuid[], $8::text[], $9::integer[], $10::text[], $11::text[],
		$12::timestamptz[], $13::smallint[], $14::boolean[], $15::bigint[], $16::text[])
		AS u(id, person_id, flow_id, flow_version, status, element, due_at, due_ns, parked, version, data)
	ON CONFLICT (id) DO NOTHING
	RETURNING 1
)
UPDATE {{s}}.audience_runs
SET cursor_id = $2, scanned = scanned + $3, done = $4, finished_at = $5,
	entered = entered + (SELECT count(*) FROM ins)
WHERE id = $1
RETURNING (SELECT count(*) FROM ins)`),
		deletePart: r.Replace(`DELETE FROM {{s}}.participants WHERE id = $1`),
	}
}

// People implements store.PeopleLister, by the people table's primary
// key.
func (s *Store) People(ctx context.Context, q *store.PeopleQuery) ([]*store.Person, error) {
	if s.dist != nil {
		out, err := s.peopleByShard(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("postgres: people: %w", err)
		}
		return out, nil
	}
	var rows pgx.Rows
	if q.Limit > 0 {
		rows, _ = s.pool.Query(ctx, s.sql.audience.people, q.After, q.Limit)
	} else {
		rows, _ = s.pool.Query(ctx, s.sql.audience.peopleAll, q.After)
	}
	out, err := pgx.CollectRows(rows, scanPerson)
	if err != nil {
		return nil, fmt.Errorf("postgres: people: %w", err)
	}
	return out, nil
}

// uniqueViolation reports whether err is a unique key's violation, as
// PostgreSQL reports it or as Citus passes on a worker's from a COPY.
func uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "XX000" && strings.HasPrefix(pe.Message, "duplicate key value violates unique constraint"))
}

// deadlocked reports whether err is PostgreSQL's deadlock_detected.
func deadlocked(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40P01"
}

// scanPerson reads a row of id and data.
func scanPerson(row pgx.CollectableRow) (*store.Person, error) {
	var id uuid.UUID
	var data []byte
	if err := row.Scan(&id, &data); err != nil {
		return nil, err
	}
	return decodePerson(id, data)
}

// CountPeople implements store.PeopleLister.
func (s *Store) CountPeople(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, s.sql.audience.countPeople).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count people: %w", err)
	}
	return n, nil
}

// nullTime is a timestamptz argument: NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// CreateAudienceRun implements store.AudienceRuns.
func (s *Store) CreateAudienceRun(ctx context.Context, r *store.AudienceRun) error {
	tag, err := s.pool.Exec(ctx, s.sql.audience.createRun, r.ID, r.FlowID, r.FlowVersion, r.Entry, r.StartedAt.UTC(),
		nullTime(r.From), nullTime(r.To), r.Cursor, r.Scanned, r.Entered, r.Total, r.Done, nullTime(r.FinishedAt))
	if err != nil {
		return fmt.Errorf("postgres: create audience run %s: %w", r.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("audience run %s: %w", r.ID, store.ErrDuplicate)
	}
	return nil
}

func scanRun(row pgx.CollectableRow) (*store.AudienceRun, error) {
	r := &store.AudienceRun{}
	var from, to, finished *time.Time
	if err := row.Scan(&r.ID, &r.FlowID, &r.FlowVersion, &r.Entry, &r.StartedAt, &from, &to, &r.Cursor,
		&r.Scanned, &r.Entered, &r.Total, &r.Done, &finished); err != nil {
		return nil, err
	}
	r.StartedAt = r.StartedAt.UTC()
	for _, x := range []struct {
		src *time.Time
		dst *time.Time
	}{{from, &r.From}, {to, &r.To}, {finished, &r.FinishedAt}} {
		if x.src != nil {
			*x.dst = x.src.UTC()
		}
	}
	return r, nil
}

// AudienceRun implements store.AudienceRuns.
func (s *Store) AudienceRun(ctx context.Context, id uuid.UUID) (*store.AudienceRun, error) {
	rows, _ := s.pool.Query(ctx, s.sql.audience.run, id)
	r, err := pgx.CollectExactlyOneRow(rows, scanRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("audience run %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: audience run %s: %w", id, err)
	}
	return r, nil
}

// AudienceRuns implements store.AudienceRuns.
func (s *Store) AudienceRuns(ctx context.Context, q *store.AudienceRunQuery) ([]*store.AudienceRun, error) {
	var rows pgx.Rows
	if q.FlowID != "" {
		rows, _ = s.pool.Query(ctx, s.sql.audience.runsOf, q.FlowID, q.Unfinished)
	} else if q.Unfinished {
		rows, _ = s.pool.Query(ctx, s.sql.audience.runsUnfinished)
	} else {
		rows, _ = s.pool.Query(ctx, s.sql.audience.runsAll)
	}
	out, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("postgres: audience runs: %w", err)
	}
	return out, nil
}

// AdvanceAudienceRun implements store.AudienceRuns. The run's row is
// locked first, so that of two processes advancing one run the second
// sees the first's cursor and is refused; the page's participants are
// inserted by one multi-row INSERT ... ON CONFLICT DO NOTHING, in the
// transaction that moves the cursor (see advanceDistributed for a
// distributed schema). Their people's locks are not taken:
// the rows are new, and a step of the person that began before does not
// see them (it runs them, through their timers, after).
func (s *Store) AdvanceAudienceRun(ctx context.Context, p *store.AdvanceAudienceRunParams) (int, error) {
	var c partColumns
	for _, np := range p.Participants {
		if err := c.add(np, false); err != nil { // pending, not in flight
			return 0, err
		}
	}
	var created int
	write := func(tx pgx.Tx, checked bool) error {
		var cursor uuid.UUID
		var done bool
		err := tx.QueryRow(ctx, s.sql.audience.lockRun, p.RunID).Scan(&cursor, &done)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("audience run %s: %w", p.RunID, store.ErrNotFound)
		case err != nil:
			return err
		case done || cursor != p.From:
			return fmt.Errorf("audience run %s has moved on from %s: %w", p.RunID, p.From, store.ErrConflict)
		}
		var finished *time.Time
		if p.Done {
			finished = nullTime(p.FinishedAt)
		}
		if s.dist != nil {
			created, err = s.advanceDistributed(ctx, tx, p, &c, finished, checked)
			return err
		}
		var n64 int64
		err = tx.QueryRow(ctx, s.sql.audience.page, p.RunID, p.To, p.Scanned, p.Done, finished,
			c.id, c.person, c.flow, c.flowVersion, c.status, c.element, c.due, c.dueNS, c.parked, c.version, c.data).Scan(&n64)
		created = int(n64)
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return write(tx, false) })
	if s.dist != nil && uniqueViolation(err) {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return write(tx, true) })
	}
	if err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
		return 0, fmt.Errorf("postgres: advance audience run %s: %w", p.RunID, err)
	}
	return created, nil
}

// RemoveParticipant implements store.ParticipantRemover.
func (t *tx) RemoveParticipant(id uuid.UUID) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return err
	}
	for _, ps := range t.parts {
		if ps.latest().ID == id && !ps.removed {
			ps.removed = true
			return nil
		}
	}
	return fmt.Errorf("participant %s: %w", id, store.ErrNotFound)
}

// advanceDistributed writes a page of an audience run on a distributed
// schema, in the transaction that locked the run: the participants' IDs
// and the participants are copied in (COPY, which Citus sends on to each
// row's shard, where a multi-row INSERT costs the coordinator a plan of
// every row), and the run moves on. The run's lock makes the page the only
// writer of its participants, so their IDs are new but where the same
// person was listed by an earlier page (the shards were split meanwhile);
// then the copy fails on participant_ids' key and the page is written
// again with checked, which inserts the IDs by INSERT ... ON CONFLICT DO
// NOTHING and copies in only the participants new there.
func (s *Store) advanceDistributed(ctx context.Context, tx pgx.Tx, p *store.AdvanceAudienceRunParams, c *partColumns, finished *time.Time, checked bool) (int, error) {
	if _, err := tx.Exec(ctx, `SET LOCAL citus.multi_shard_modify_mode TO 'sequential'`); err != nil {
		return 0, err
	}
	fresh := make([]bool, len(c.id))
	if checked {
		created := map[uuid.UUID]bool{}
		for ids := c.id; len(ids) > 0; {
			k := min(len(ids), valuesPerStatement)
			var sql strings.Builder
			sql.WriteString(`INSERT INTO ` + s.q + `.participant_ids (id, person_id) VALUES `)
			args := make([]any, 0, 2*k)
			for i, id := range ids[:k] {
				if i > 0 {
					sql.WriteString(", ")
				}
				fmt.Fprintf(&sql, "($%d::uuid, $%d::uuid)", 2*i+1, 2*i+2)
				args = append(args, id, c.person[len(c.id)-len(ids)+i])
			}
			sql.WriteString(` ON CONFLICT (id) DO NOTHING RETURNING id`)
			rows, _ := tx.Query(ctx, sql.String(), args...)
			got, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil {
				return 0, err
			}
			for _, id := range got {
				created[id] = true
			}
			ids = ids[k:]
		}
		for i, id := range c.id {
			fresh[i] = created[id]
		}
	} else {
		ids := make([][]any, len(c.id))
		for i, id := range c.id {
			ids[i], fresh[i] = []any{id, c.person[i]}, true
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, "participant_ids"}, []string{"id", "person_id"}, pgx.CopyFromRows(ids)); err != nil {
			return 0, err
		}
	}
	var rows [][]any
	for i, id := range c.id {
		if fresh[i] {
			rows = append(rows, []any{id, c.person[i], c.flow[i], c.flowVersion[i], c.status[i], c.element[i],
				c.due[i], c.dueNS[i], c.parked[i], c.version[i], c.data[i]})
		}
	}
	if len(rows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, "participants"},
			[]string{"id", "person_id", "flow_id", "flow_version", "status", "element", "due_at", "due_ns", "parked", "version", "data"},
			pgx.CopyFromRows(rows)); err != nil {
			return 0, err
		}
	}
	if _, err := tx.Exec(ctx, s.sql.dist.pageRun, p.RunID, p.To, p.Scanned, p.Done, finished, len(rows)); err != nil {
		return 0, err
	}
	return len(rows), nil
}
