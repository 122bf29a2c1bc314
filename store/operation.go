package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// OperationRun is the durable progress of one bulk operation on a flow's
// participants (cancelling or retrying them, see flow.Engine.Operate):
// the participants it selects are looked at once, page by page in ID
// order, each changed in its own person's transaction, and after each
// page the run's cursor and counts move on (see
// OperationRuns.AdvanceOperationRun). A participant an operation changed
// names it in Participant.Operations, so that a page looked at again
// after a crash changes no one twice.
type OperationRun struct {
	// ID names the run; the engine derives it from the flow and Name, so
	// that starting an operation twice is refused with ErrDuplicate.
	ID uuid.UUID
	// Name is the host's name for the operation, unique within its flow.
	Name   string
	FlowID string
	// Spec is what the operation does, as the engine wrote it (a JSON
	// document); the store keeps it as given.
	Spec []byte
	// StartedAt is when the run began.
	StartedAt time.Time
	// Cursor is the ID of the last participant looked at; uuid.Nil
	// before the first page.
	Cursor uuid.UUID
	// Total is how many participants the operation selected when it
	// began; Scanned counts those looked at so far, Changed those it
	// changed and Refused those it could not change.
	Total, Scanned, Changed, Refused int64
	// Done is set once every participant was looked at, at FinishedAt.
	Done       bool
	FinishedAt time.Time
}

// OperationRunQuery selects operation runs.
type OperationRunQuery struct {
	// FlowID selects one flow's runs; "" for every flow.
	FlowID string
	// Unfinished selects only runs that are not Done.
	Unfinished bool
}

// AdvanceOperationRunParams move an operation run on by one page.
type AdvanceOperationRunParams struct {
	// RunID names the run.
	RunID uuid.UUID
	// From is the run's cursor the page was read after; the page is
	// refused with ErrConflict when the stored cursor is another, or the
	// run is done (another caller advanced it first).
	From uuid.UUID
	// To is the cursor after the page: the ID of its last participant.
	To uuid.UUID
	// Scanned, Changed and Refused are added to the run's counts.
	Scanned, Changed, Refused int64
	// Done finishes the run at FinishedAt.
	Done       bool
	FinishedAt time.Time
}

// OperationRuns is implemented by stores that keep the progress of bulk
// operations on participants, which flow.Engine.Operate needs.
type OperationRuns interface {
	// CreateOperationRun stores a new run, Spec copied, or fails with
	// ErrDuplicate when a run with its ID exists.
	CreateOperationRun(ctx context.Context, r *OperationRun) error
	// OperationRun returns one run, or ErrNotFound.
	OperationRun(ctx context.Context, id uuid.UUID) (*OperationRun, error)
	// OperationRuns returns the runs the query selects, oldest first (by
	// StartedAt, then ID).
	OperationRuns(ctx context.Context, q *OperationRunQuery) ([]*OperationRun, error)
	// AdvanceOperationRun moves a run's cursor on and adds to its counts,
	// in one atomic step.
	AdvanceOperationRun(ctx context.Context, p *AdvanceOperationRunParams) error
}
