package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

var _ store.OperationRuns = (*Store)(nil)

// Operation runs live in one small table (a reference table on Citus),
// one row per run, written once per page of the operation.

const opCols = `id, name, flow_id, spec, started_at, started_ns, cursor_id, total, scanned, changed, refused, done, finished_at, finished_ns`

// CreateOperationRun implements store.OperationRuns.
func (s *Store) CreateOperationRun(ctx context.Context, r *store.OperationRun) error {
	at, ns := splitTime(r.StartedAt)
	var fin *time.Time
	var finNS int16
	if !r.FinishedAt.IsZero() {
		t, n := splitTime(r.FinishedAt)
		fin, finNS = &t, n
	}
	spec := r.Spec
	if spec == nil {
		spec = []byte{}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO `+s.q+`.operation_runs (`+opCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Name, r.FlowID, spec, at, ns, r.Cursor, r.Total, r.Scanned, r.Changed, r.Refused, r.Done, fin, finNS)
	if err != nil {
		return fmt.Errorf("postgres: create operation run %s: %w", r.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("operation run %s: %w", r.ID, store.ErrDuplicate)
	}
	return nil
}

func scanOperationRun(row pgx.CollectableRow) (*store.OperationRun, error) {
	r := &store.OperationRun{}
	var startNS, finNS int16
	var fin *time.Time
	if err := row.Scan(&r.ID, &r.Name, &r.FlowID, &r.Spec, &r.StartedAt, &startNS, &r.Cursor, &r.Total,
		&r.Scanned, &r.Changed, &r.Refused, &r.Done, &fin, &finNS); err != nil {
		return nil, err
	}
	r.StartedAt = joinTime(r.StartedAt, startNS)
	if fin != nil {
		r.FinishedAt = joinTime(*fin, finNS)
	}
	return r, nil
}

// OperationRun implements store.OperationRuns.
func (s *Store) OperationRun(ctx context.Context, id uuid.UUID) (*store.OperationRun, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+opCols+` FROM `+s.q+`.operation_runs WHERE id = $1`, id)
	r, err := pgx.CollectExactlyOneRow(rows, scanOperationRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("operation run %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: operation run %s: %w", id, err)
	}
	return r, nil
}

// OperationRuns implements store.OperationRuns.
func (s *Store) OperationRuns(ctx context.Context, q *store.OperationRunQuery) ([]*store.OperationRun, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+opCols+` FROM `+s.q+`.operation_runs
WHERE ($1 = '' OR flow_id = $1) AND (NOT $2 OR NOT done)
ORDER BY started_at, started_ns, id`, q.FlowID, q.Unfinished)
	out, err := pgx.CollectRows(rows, scanOperationRun)
	if err != nil {
		return nil, fmt.Errorf("postgres: operation runs: %w", err)
	}
	return out, nil
}

// AdvanceOperationRun implements store.OperationRuns: one conditional
// UPDATE, which a second caller from the same cursor finds moved on.
func (s *Store) AdvanceOperationRun(ctx context.Context, p *store.AdvanceOperationRunParams) error {
	var fin *time.Time
	var finNS int16
	if p.Done {
		t, n := splitTime(p.FinishedAt)
		fin, finNS = &t, n
	}
	var moved, exists bool
	err := s.pool.QueryRow(ctx, `WITH u AS (
	UPDATE `+s.q+`.operation_runs
	SET cursor_id = $3, scanned = scanned + $4, changed = changed + $5, refused = refused + $6,
		done = $7, finished_at = $8, finished_ns = $9
	WHERE id = $1 AND cursor_id = $2 AND NOT done
	RETURNING 1)
SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM `+s.q+`.operation_runs WHERE id = $1)`,
		p.RunID, p.From, p.To, p.Scanned, p.Changed, p.Refused, p.Done, fin, finNS).Scan(&moved, &exists)
	switch {
	case err != nil:
		return fmt.Errorf("postgres: advance operation run %s: %w", p.RunID, err)
	case !exists:
		return fmt.Errorf("operation run %s: %w", p.RunID, store.ErrNotFound)
	case !moved:
		return fmt.Errorf("operation run %s has moved on from %s: %w", p.RunID, p.From, store.ErrConflict)
	}
	return nil
}
