package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/flowkit/flowkit/store"
	"github.com/jackc/pgx/v5"
)

var _ store.ExperimentKeeper = (*Store)(nil)

// Decisions live in one small table (a reference table on Citus), one
// row per decided experiment, written once: its primary key lets the
// first process's insert win and every other read that row.

const decisionCols = `flow_id, flow_version, element, winner, decided_at, decided_ns, reason, variants`

// decisionVariant is the JSON form of a store.DecisionVariant.
type decisionVariant struct {
	Name         string `json:"name"`
	Participants int64  `json:"participants"`
	Conversions  int64  `json:"conversions"`
}

// Decide implements store.ExperimentKeeper: an insert that does nothing
// when the experiment is decided, and in the same transaction a move of
// the flow's revision when it did insert.
func (s *Store) Decide(ctx context.Context, d *store.Decision) (*store.Decision, bool, error) {
	if d.FlowID == "" || d.Element == "" {
		return nil, false, fmt.Errorf("decision of flow %q element %q: flow and element are required: %w", d.FlowID, d.Element, store.ErrInvalid)
	}
	vs := make([]decisionVariant, len(d.Variants))
	for i, v := range d.Variants {
		vs[i] = decisionVariant(v)
	}
	variants, err := json.Marshal(vs)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: decide %s: %w", d.FlowID, err)
	}
	at, ns := splitTime(d.DecidedAt)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: decide %s: %w", d.FlowID, unavailable(err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	tag, err := tx.Exec(ctx, `INSERT INTO `+s.q+`.decisions (`+decisionCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (flow_id, flow_version, element) DO NOTHING`,
		d.FlowID, d.FlowVersion, d.Element, d.Winner, at, ns, d.Reason, string(variants))
	if err != nil {
		return nil, false, fmt.Errorf("postgres: decide %s: %w", d.FlowID, unavailable(err))
	}
	stored := tag.RowsAffected() == 1
	if stored {
		if _, err := tx.Exec(ctx, `UPDATE `+s.q+`.flows SET revision = revision + 1 WHERE id = $1`, d.FlowID); err != nil {
			return nil, false, fmt.Errorf("postgres: decide %s: %w", d.FlowID, unavailable(err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, fmt.Errorf("postgres: decide %s: %w", d.FlowID, unavailable(err))
	}
	if stored {
		return d.Clone(), true, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+decisionCols+` FROM `+s.q+`.decisions WHERE flow_id = $1 AND flow_version = $2 AND element = $3`,
		d.FlowID, d.FlowVersion, d.Element)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: decide %s: %w", d.FlowID, unavailable(err))
	}
	got, err := pgx.CollectExactlyOneRow(rows, scanDecision)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: decide %s: read the stored decision: %w", d.FlowID, unavailable(err))
	}
	return got, false, nil
}

// Decisions implements store.ExperimentKeeper.
func (s *Store) Decisions(ctx context.Context) ([]*store.Decision, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+decisionCols+` FROM `+s.q+`.decisions ORDER BY flow_id, flow_version, element`)
	if err != nil {
		return nil, fmt.Errorf("postgres: decisions: %w", unavailable(err))
	}
	out, err := pgx.CollectRows(rows, scanDecision)
	if err != nil {
		return nil, fmt.Errorf("postgres: decisions: %w", unavailable(err))
	}
	return out, nil
}

func scanDecision(row pgx.CollectableRow) (*store.Decision, error) {
	d := &store.Decision{}
	var ns int16
	var variants []byte
	if err := row.Scan(&d.FlowID, &d.FlowVersion, &d.Element, &d.Winner, &d.DecidedAt, &ns, &d.Reason, &variants); err != nil {
		return nil, err
	}
	d.DecidedAt = joinTime(d.DecidedAt, ns)
	var vs []decisionVariant
	if err := json.Unmarshal(variants, &vs); err != nil {
		return nil, errors.Join(fmt.Errorf("decision of flow %s: variants", d.FlowID), err)
	}
	d.Variants = make([]store.DecisionVariant, len(vs))
	for i, v := range vs {
		d.Variants[i] = store.DecisionVariant(v)
	}
	return d, nil
}
