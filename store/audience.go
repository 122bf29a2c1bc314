package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// PeopleQuery selects a page of people for PeopleLister.People.
type PeopleQuery struct {
	// After pages on from the person with this ID, in the store's
	// listing order (see PeopleLister.People). uuid.Nil starts at the
	// first.
	After uuid.UUID
	// Limit is the most people returned; 0 for all.
	Limit int
}

// PeopleLister is implemented by stores that can enumerate their people,
// which audience and date entries need (the engine refuses to publish a
// flow with such entries on a store without it).
type PeopleLister interface {
	// People returns the people after q.After in the store's listing
	// order, up to q.Limit: an order fixed by the people's IDs, such as ID
	// order (byte order of the UUID) or, where people are spread over
	// shards, shard by shard and in ID order within a shard.
	// The caller owns the copies. Paging with After visits every person
	// who exists for the whole paging exactly once; a person created or
	// removed meanwhile may or may not be listed.
	People(ctx context.Context, q *PeopleQuery) ([]*Person, error)
	// CountPeople returns how many people the store holds.
	CountPeople(ctx context.Context) (int64, error)
}

// AudienceRun is the durable progress of one bulk entry of a flow: every
// person is looked at once, in the store's listing order, and participants are created for
// those who enter (see AudienceRuns.AdvanceAudienceRun).
type AudienceRun struct {
	// ID names the run; the engine derives it from what the run is for, so
	// that starting the same run twice is refused with ErrDuplicate.
	ID          uuid.UUID
	FlowID      string
	FlowVersion int
	// Entry names the flow's entry the run is for, in the engine's terms.
	Entry string
	// StartedAt is when the run began.
	StartedAt time.Time
	// From and To bound the moments a date entry's run enters people at
	// (From excluded, To included). For an audience, From is the
	// occurrence a run of a schedule in each person's time zone is for,
	// else zero, and To is zero.
	From, To time.Time
	// Cursor is the ID of the last person looked at; uuid.Nil before the
	// first page.
	Cursor uuid.UUID
	// Scanned counts the people looked at, Entered the participants
	// created, and Total the people in the store when the run began.
	Scanned, Entered, Total int64
	// Done is set once every person was looked at, at FinishedAt.
	Done       bool
	FinishedAt time.Time
}

// AudienceRunQuery selects audience runs.
type AudienceRunQuery struct {
	// FlowID selects one flow's runs; "" for every flow.
	FlowID string
	// Unfinished selects only runs that are not Done.
	Unfinished bool
}

// AdvanceAudienceRunParams are one page of an audience run.
type AdvanceAudienceRunParams struct {
	// RunID names the run.
	RunID uuid.UUID
	// From is the run's cursor the page was read after; the page is
	// refused with ErrConflict when the stored cursor is another, or the
	// run is done (another caller advanced it first).
	From uuid.UUID
	// To is the cursor after the page: the ID of its last person.
	To uuid.UUID
	// Scanned is how many people the page looked at.
	Scanned int64
	// Done finishes the run at FinishedAt.
	Done       bool
	FinishedAt time.Time
	// Participants are the new participants of the page, each of a
	// different person, with Version 1. One whose ID exists already is
	// skipped; the others are stored as PutParticipant would, timers
	// included.
	Participants []*Participant
}

// AudienceRuns is implemented by stores that keep audience runs, which
// audience and date entries need along with PeopleLister. A store that
// implements it has transactions that implement ParticipantRemover.
type AudienceRuns interface {
	// CreateAudienceRun stores a new run, or fails with ErrDuplicate when
	// a run with its ID exists.
	CreateAudienceRun(ctx context.Context, r *AudienceRun) error
	// AudienceRun returns one run, or ErrNotFound.
	AudienceRun(ctx context.Context, id uuid.UUID) (*AudienceRun, error)
	// AudienceRuns returns the runs the query selects, oldest first (by
	// StartedAt, then ID).
	AudienceRuns(ctx context.Context, q *AudienceRunQuery) ([]*AudienceRun, error)
	// AdvanceAudienceRun creates a page's participants and moves the run
	// on, in one atomic step: after a crash either both happened or
	// neither did. It returns how many participants it created, which it
	// adds to the run's Entered.
	AdvanceAudienceRun(ctx context.Context, p *AdvanceAudienceRunParams) (int, error)
}

// ParticipantRemover is implemented by transactions (Tx) that can remove
// one of the person's participants, for the engine to drop a participant
// that bulk entry created and that did not enter after all (the flow's
// re-entry rule refused it at its first step). The removal takes effect
// with the transaction; the participant must not be put again in it.
type ParticipantRemover interface {
	RemoveParticipant(id uuid.UUID) error
}
