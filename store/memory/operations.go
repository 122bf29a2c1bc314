package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

var _ store.OperationRuns = (*Store)(nil)

// operationRuns keeps the runs of bulk operations.
type operationRuns struct {
	mu   sync.Mutex
	runs map[uuid.UUID]*store.OperationRun
}

// copyRun returns a copy of r that shares nothing with it.
func copyRun(r *store.OperationRun) *store.OperationRun {
	c := *r
	c.Spec = slices.Clone(r.Spec)
	return &c
}

// CreateOperationRun implements store.OperationRuns.
func (s *Store) CreateOperationRun(ctx context.Context, r *store.OperationRun) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &s.operations
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.runs[r.ID]; ok {
		return fmt.Errorf("operation run %s: %w", r.ID, store.ErrDuplicate)
	}
	if o.runs == nil {
		o.runs = map[uuid.UUID]*store.OperationRun{}
	}
	o.runs[r.ID] = copyRun(r)
	return nil
}

// OperationRun implements store.OperationRuns.
func (s *Store) OperationRun(ctx context.Context, id uuid.UUID) (*store.OperationRun, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := &s.operations
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.runs[id]
	if !ok {
		return nil, fmt.Errorf("operation run %s: %w", id, store.ErrNotFound)
	}
	return copyRun(r), nil
}

// OperationRuns implements store.OperationRuns.
func (s *Store) OperationRuns(ctx context.Context, q *store.OperationRunQuery) ([]*store.OperationRun, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := &s.operations
	o.mu.Lock()
	var out []*store.OperationRun
	for _, r := range o.runs {
		if (q.FlowID == "" || r.FlowID == q.FlowID) && (!q.Unfinished || !r.Done) {
			out = append(out, copyRun(r))
		}
	}
	o.mu.Unlock()
	slices.SortFunc(out, func(x, y *store.OperationRun) int {
		if c := x.StartedAt.Compare(y.StartedAt); c != 0 {
			return c
		}
		return compareIDs(x.ID, y.ID)
	})
	return out, nil
}

// AdvanceOperationRun implements store.OperationRuns.
func (s *Store) AdvanceOperationRun(ctx context.Context, p *store.AdvanceOperationRunParams) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &s.operations
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.runs[p.RunID]
	switch {
	case !ok:
		return fmt.Errorf("operation run %s: %w", p.RunID, store.ErrNotFound)
	case r.Done || r.Cursor != p.From:
		return fmt.Errorf("operation run %s has moved on from %s: %w", p.RunID, p.From, store.ErrConflict)
	}
	c := copyRun(r)
	c.Cursor = p.To
	c.Scanned += p.Scanned
	c.Changed += p.Changed
	c.Refused += p.Refused
	if p.Done {
		c.Done, c.FinishedAt = true, p.FinishedAt
	}
	o.runs[p.RunID] = c
	return nil
}
