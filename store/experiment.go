package store

import (
	"context"
	"time"
)

// Decision is the end of an experiment: the variant of a Split Audience
// that every later participant takes, chosen once from the figures of
// its variants at DecidedAt. The first process to decide stores it
// (ExperimentKeeper.Decide) and every other reads that one, so a split
// sends people alike in every process.
type Decision struct {
	FlowID      string
	FlowVersion int
	// Element is the Split Audience element's id.
	Element string
	// Winner is the variant later participants take.
	Winner string
	// DecidedAt is when the experiment ended.
	DecidedAt time.Time
	// Reason says in words why the winner won (or why it is the
	// fallback).
	Reason string
	// Variants are the figures the decision was made on, in the split's
	// order.
	Variants []DecisionVariant
}

// DecisionVariant is one variant's figures at a decision.
type DecisionVariant struct {
	Name         string
	Participants int64
	Conversions  int64
}

// Clone returns a deep copy of d.
func (d *Decision) Clone() *Decision {
	c := *d
	c.Variants = append([]DecisionVariant(nil), d.Variants...)
	return &c
}

// ExperimentKeeper is implemented by stores that keep the decisions of
// experiments, which Split Audience elements with an experiment that
// ends (a winning path) need.
type ExperimentKeeper interface {
	// Decide stores d unless a decision of its flow, version and element
	// is stored, and returns the stored decision: d when it was stored
	// (stored true), else the earlier one, unchanged. Storing one moves
	// FlowsRevision, so that every process sharing the store reads it
	// before its next step. A d with an empty FlowID or Element fails
	// with ErrInvalid.
	Decide(ctx context.Context, d *Decision) (got *Decision, stored bool, err error)
	// Decisions returns the stored decisions of every flow, ordered by
	// flow, version and element.
	Decisions(ctx context.Context) ([]*Decision, error)
}
