package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Sentinel errors. Implementations return them (possibly wrapped) exactly in
// the cases documented here.
var (
	// ErrNotFound is returned when a person, participant, flow or flow
	// version asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a write lost a race: a participant whose
	// Version is not the stored one, a flow status that is not the expected
	// one, a flow version published under a number that is not the next
	// (see Store.PublishFlow), or a person whose external id, phone or
	// email belongs to another person.
	ErrConflict = errors.New("conflict")
	// ErrDuplicate is returned by Tx.AddEvent for an event ID the person's
	// history already holds, and by Tx.PutParticipant for a new participant
	// whose ID exists.
	ErrDuplicate = errors.New("duplicate")
)

// Store keeps flowkit's records. Implementations are safe for concurrent use
// by many goroutines and, for shared stores, many processes.
type Store interface {
	// PublishFlow stores a new immutable version of a flow, numbering it
	// one past the latest (1 for a new flow, which starts as FlowDraft),
	// and returns the version number. A v.Version other than 0 is the
	// number the caller expects the version to get: when the latest is
	// not v.Version-1 (another caller published meanwhile) nothing is
	// stored and PublishFlow fails with ErrConflict.
	PublishFlow(ctx context.Context, v *FlowVersion) (int, error)
	// FlowVersion returns one published version.
	FlowVersion(ctx context.Context, flowID string, version int) (*FlowVersion, error)
	// Flow returns a flow's state. The state is read-only: a store may
	// hand out the record it keeps.
	Flow(ctx context.Context, flowID string) (*FlowState, error)
	// Flows returns every flow's state, ordered by flow ID.
	Flows(ctx context.Context) ([]FlowState, error)
	// FlowsRevision returns a number that changes whenever PublishFlow or
	// SetFlowStatus changes any flow, in any process sharing the store:
	// the engine caches flow states and compiled versions and reads them
	// again only when it moves, so that no step reads them inside a
	// person's transaction.
	FlowsRevision(ctx context.Context) (int64, error)
	// SetFlowStatus moves a flow from status from to status to, failing
	// with ErrConflict when its status is not from.
	SetFlowStatus(ctx context.Context, flowID string, from, to FlowStatus, at time.Time) error

	// FindPerson returns the ID of the person a reference names, or
	// ErrNotFound.
	FindPerson(ctx context.Context, ref PersonRef) (uuid.UUID, error)
	// Update runs fn in a transaction over one person's records. Writes made
	// through the Tx take effect together when fn returns nil and not at all
	// when it returns an error, which Update returns. Updates of one person
	// are serialized; updates of different people run in parallel.
	Update(ctx context.Context, personID uuid.UUID, fn func(Tx) error) error

	// DueTimers returns up to limit participants whose timer is due at now
	// (Wait.Until <= now and not parked), earliest first.
	DueTimers(ctx context.Context, now time.Time, limit int) ([]Timer, error)
	// NextDue returns the earliest unparked timer, and false when there is
	// none.
	NextDue(ctx context.Context) (time.Time, bool, error)

	// Participant returns one participant by ID.
	Participant(ctx context.Context, id uuid.UUID) (*Participant, error)
	// Participants returns a flow's participants in ID order.
	Participants(ctx context.Context, q *ParticipantQuery) ([]*Participant, error)
	// Counters returns the counters of a flow, all versions.
	Counters(ctx context.Context, flowID string) ([]Counter, error)
}

// Tx is a transaction over one person's records, valid only inside the
// function given to Store.Update. Participants it returns are copies the
// caller may change; the person and events it returns are read-only. What
// the caller puts, the store may keep: the caller must not change it after.
// These rules let the memory store run a step without copying records
// twice.
type Tx interface {
	// Person returns the person, or ErrNotFound when it does not exist yet.
	// The person is read-only: to change it, PutPerson a Clone.
	Person() (*Person, error)
	// PutPerson creates or replaces the person. Its ID must be the
	// transaction's person ID. The store may keep p.
	PutPerson(p *Person) error
	// Participants returns copies of the person's participants, in every
	// flow. A copy's Wait and Journal may be the stored ones: replace
	// them, never change them in place (appending to the journal is fine:
	// it has no spare room).
	Participants() ([]*Participant, error)
	// PutParticipant creates or replaces a participant of this person (see
	// Participant.Version), and updates p.Version. The store may keep p
	// and reuse its maps: the caller must not use p after.
	PutParticipant(p *Participant) error
	// AddEvent appends an event to the person's history, or fails with
	// ErrDuplicate when the history holds its ID. The store may keep e
	// itself, Properties included: the caller must not change it after.
	AddEvent(e *Event) error
	// Events returns the person's events the query selects, oldest first
	// (or newest first when q.Limit is set).
	Events(q *EventQuery) ([]*Event, error)
	// Count adds each c.N to the counter c names. The store may keep cs
	// until the transaction ends.
	Count(cs ...Counter)
}

// TimerClaimer is implemented by stores that hand each due timer to one
// caller at a time, so several goroutines or processes can tick together
// without doing the same work. The engine uses it when the Store has it.
type TimerClaimer interface {
	// ClaimTimers is DueTimers for one caller: the timers it returns are
	// not returned again, by either method, until lease has passed after
	// now (by the caller's clock), and then only if their participant's
	// Wait.Until is unchanged. NextDue counts a claimed timer as due when
	// its lease ends.
	ClaimTimers(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Timer, error)
}
