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
	// whose ID exists. A store may find an appended event's ID (see
	// Tx.AppendEvent), or a new participant's ID held by another person,
	// only at commit: Update then returns ErrDuplicate and writes nothing.
	ErrDuplicate = errors.New("duplicate")
	// ErrInvalid is returned when a record to write or a query lacks a
	// required field: a FlowVersion with an empty FlowID, a Participant
	// with a nil ID or PersonID or an empty FlowID, an Event with an empty
	// ID, a nil or flowless ParticipantQuery, Counters of an empty flow
	// id, a nil EventQuery, PruneParams with a zero Before. Lookups of one
	// record by an empty reference (a zero PersonRef, uuid.Nil, an empty
	// flow id) find nothing and return ErrNotFound.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable is returned (wrapped, with the cause) when the store
	// could not be reached or lost its connection during the call, as
	// while its database restarts. A write that fails with it may or may
	// not have taken effect; the same call may succeed when the store is
	// back. The engine retries committing the result of a call outside
	// with it, since the call must not be made again.
	ErrUnavailable = errors.New("store unavailable")
)

// Store keeps flowkit's records. Implementations are safe for concurrent use
// by many goroutines and, for shared stores, many processes.
//
// Copy in, copy out: what a Store or Tx method returns belongs to the
// caller, who may change it, nested lists and maps included, without
// changing what the store holds or what it returns to anybody else; what
// the caller passes in is copied, never kept by reference, recycled or
// shared, so the caller may change or reuse it after the call. A store
// keeps whatever layout it likes inside itself.
//
// Times round-trip exactly, to the nanosecond, in every field that holds
// one (participant times, Wait.Until and Wait.Deadline, event and journal
// times, FlowVersion.PublishedAt, FlowState.UpdatedAt, Person times); they
// may come back in another location (UTC) and without a monotonic reading.
// The engine relies on it: a Timer's Due equals, by time.Time.Equal, the
// Wait.Until of the participant it names, and a wait looking back to its
// participant's entrance finds the event stamped at that very instant.
//
// Every method that takes a ctx returns an error wrapping ctx's error
// (context.Canceled, context.DeadlineExceeded) when ctx is done before it
// starts, and then writes nothing.
//
// Optional features are interfaces a Store may also implement, found by
// type assertion:
//
//   - TimerClaimer hands each due timer to one caller, so several
//     goroutines or processes tick together without doing the same work.
//   - RefUpdater finds a person and begins their transaction in one step.
//   - BatchUpdater commits the transactions of several people together,
//     for ticks that fire many timers.
//   - Eraser erases a person, for the right to erasure (flow.Engine.Erase).
//   - HistoryPruner drops old events, for a history retention limit.
//   - PeopleLister lists people, and AudienceRuns keeps the progress of
//     bulk entries: audience and date entries need both.
//   - SharingTx, on a Tx, lends the person's records without copying
//     them, for a caller that changes them only by replacing their parts.
//   - ParticipantRemover, on a Tx, removes a participant that bulk entry
//     created and that did not enter after all; a store with AudienceRuns
//     has it.
//   - PaceKeeper keeps sending-speed budgets that every process sharing
//     the store draws on.
//   - OperationRuns keeps the progress of bulk operations on
//     participants (cancel, retry).
//   - ExperimentKeeper keeps the decisions of experiments, so that every
//     process sends later participants down the same winner.
//   - Inbox keeps calls recorded in a host's own transaction, and
//     InboxCompleter, on a Tx, marks one done with the person's writes.
//   - ParticipantCounter counts the participants a query selects, for
//     a console's totals.
//
// store/storetest checks the whole contract, the optional features a store
// declares included; flowtest/storecheck runs the engine's scenarios on it.
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
	// Flow returns a flow's state.
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
	// Participants returns the participants of a flow that q selects, in
	// ID order (descending when q.Descending is set).
	Participants(ctx context.Context, q *ParticipantQuery) ([]*Participant, error)
	// Counters returns the counters of a flow, all versions.
	Counters(ctx context.Context, flowID string) ([]Counter, error)
}

// Tx is a transaction over one person's records, valid only inside the
// function given to Store.Update. It follows the Store's copy-in,
// copy-out rule: the person, participants and events it returns are the
// caller's to change, and it copies what the caller puts, so the caller
// may change or reuse it after. Reads see the transaction's own writes.
type Tx interface {
	// Person returns a copy of the person, or ErrNotFound when it does
	// not exist yet.
	Person() (*Person, error)
	// PutPerson creates or replaces the person with a copy of p. Its ID
	// must be the transaction's person ID.
	PutPerson(p *Person) error
	// Participants returns copies of the person's participants, in every
	// flow, Vars, Entry, Wait (Events and State included) and Journal
	// included.
	Participants() ([]*Participant, error)
	// PutParticipant creates or replaces a participant of this person
	// with a copy of p (see Participant.Version), and updates p.Version.
	// A new participant whose ID another person's participant holds fails
	// with ErrDuplicate, here or at commit; Update returns that error only
	// once the transaction that wrote the other participant has ended, so
	// that a caller who tries again finds what it committed.
	PutParticipant(p *Participant) error
	// AddEvent appends a copy of e, Properties included, to the person's
	// history, or fails with ErrDuplicate when the history holds its ID.
	// It sets e.PersonID to the transaction's person.
	AddEvent(e *Event) error
	// AppendEvent is AddEvent for an event whose ID the caller made unique,
	// such as the engine's own events, named after their participant: the
	// store need not look the ID up in the history first. When the history
	// holds it after all, AppendEvent or the commit fails with ErrDuplicate
	// and Update writes nothing. The store may copy e only at commit: the
	// caller changes neither e nor its properties until Update returns.
	AppendEvent(e *Event) error
	// Events returns copies of the person's events the query selects,
	// oldest first (or newest first when q.Limit is set).
	Events(q *EventQuery) ([]*Event, error)
	// Count adds each c.N to the counter c names, when the transaction
	// commits. It copies cs.
	Count(cs ...Counter)
	// FlowsRevision returns Store.FlowsRevision as of the transaction's
	// start, read once the person's updates are serialized: a caller that
	// cached flow states under this revision knows they are current for
	// the whole transaction.
	FlowsRevision() (int64, error)
}

// SharingTx is implemented by transactions (Tx) that can lend the caller
// the person's records instead of copying them out and back in. The
// engine, which changes a record only by replacing its parts, uses it
// when the store's Tx has it; the store's public reads (Store.Participant,
// Store.Participants) still return copies.
//
// What SharedPerson returns is the store's: the caller reads it and
// never changes it (it puts a changed copy with PutPerson). Each
// Participant SharedParticipants returns is a new value whose fields and
// Vars map are the caller's, but whose nested values (the Vars' values,
// Entry, Wait, Effect, and the arrays of Journal, Goals and Operations)
// the store shares: the caller replaces them rather than changing them in
// place, except that it may append to Journal (writing only past its
// length). Changes the caller makes that way are undone with the
// transaction when it does not commit. What a transaction lends is the
// caller's until the transaction function returns: the caller does not
// use those participants, their Wait or their Vars map after, and the
// store may reuse them.
type SharingTx interface {
	// SharedPerson returns the person, as Tx.Person does, but lent, not
	// copied.
	SharedPerson() (*Person, error)
	// SharedParticipants returns the person's participants, as
	// Tx.Participants does, sharing their nested values.
	SharedParticipants() ([]*Participant, error)
	// PutSharedPerson is Tx.PutPerson for a person the store keeps
	// without copying it: the caller changes neither p nor its nested
	// values after.
	PutSharedPerson(p *Person) error
	// PutSharedParticipant is Tx.PutParticipant for a participant the
	// store keeps without copying it: the caller changes neither p nor
	// its nested values after (it may put another participant of the
	// same ID in their place).
	PutSharedParticipant(p *Participant) error
}

// RefUpdater is implemented by stores that can find a person and begin
// their transaction in one step, saving the round trip of FindPerson
// before Update. The engine uses it when the Store has it.
type RefUpdater interface {
	// UpdateRef runs fn in the transaction of the person ref names, as
	// Update does, and returns their ID, which fn also gets. A ref with an
	// ID names that person, stored or not. A ref with a key (see
	// PersonRef.Key) names the person holding the key when fn runs; when
	// nobody holds it, fn runs in the transaction of newID, a person the
	// store does not hold (Tx.Person returns ErrNotFound), or, when newID
	// is uuid.Nil, UpdateRef fails with ErrNotFound. Two calls creating
	// people under one key race as Update calls do: one commits, the other
	// fails with ErrConflict, or with ErrDuplicate when both wrote a new
	// participant of one ID (see Tx.PutParticipant).
	UpdateRef(ctx context.Context, ref PersonRef, newID uuid.UUID, fn func(personID uuid.UUID, tx Tx) error) (uuid.UUID, error)
}

// BatchUpdater is implemented by stores that can commit the transactions
// of several people together, in fewer round trips than an Update each.
// The engine fires due timers with it when the Store has it.
type BatchUpdater interface {
	// UpdateBatch runs fn once for each of personIDs, which must be
	// distinct and not uuid.Nil: fn(i, tx) runs over the records of
	// personIDs[i] as Update's fn does, one call after another. The writes
	// of every call that returned nil commit together; a call that
	// returned an error writes nothing, and errs[i] holds its error. When
	// err is not nil the batch failed as a whole (the store, a canceled
	// ctx, a commit conflict of any one person) and nothing was written.
	UpdateBatch(ctx context.Context, personIDs []uuid.UUID, fn func(i int, tx Tx) error) (errs []error, err error)
}

// TimerClaimer is implemented by stores that hand each due timer to one
// caller at a time, so several goroutines or processes can tick together
// without doing the same work. The engine uses it when the Store has it.
type TimerClaimer interface {
	// ClaimTimers is DueTimers for one caller: it picks the earliest due
	// timers (a store that spreads people over shards may pick whole
	// shards', the shard with the earliest first) and returns them
	// grouped by Timer.Shard, earliest first within a shard. The timers
	// it returns are not returned again, by either method, until lease has passed after
	// now (by the caller's clock), and then only if their participant's
	// Wait.Until is unchanged. NextDue counts a claimed timer as due when
	// its lease ends.
	//
	// A store shared by several processes may learn that one of them
	// died (its connection dropped). Then the timers that process claimed
	// are due again at once, whatever their lease; and a participant in
	// flight (Status InFlight) whose current attempt that process began,
	// and so whose call it was making, is returned at once too, with
	// Timer.Orphaned set, though its Wait.Until (the call's lease) has
	// not passed. A store that knows of no other process never sets
	// Orphaned.
	ClaimTimers(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Timer, error)
}

// Eraser is implemented by stores that can erase a person, for the right
// to erasure. flow.Engine.Erase needs it.
type Eraser interface {
	// Erase removes everything the store holds of one person: the
	// profile, its lookup keys, the event history and every participant,
	// with its timer and in-flight state, and the calls recorded for them
	// in its inbox (see Inbox), so that nothing the store holds
	// names the person's ID, keys or events after. It runs fn (when not
	// nil) in the person's transaction first, as Update does, and erases
	// as that transaction commits: fn may read the person's records and
	// Count the statistics the erasure changes (counters belong to flows,
	// not to people, and stay); its other writes are erased with the rest.
	// When fn returns an error, nothing is erased and Erase returns it.
	// Erasing a person the store does not hold succeeds.
	Erase(ctx context.Context, personID uuid.UUID, fn func(Tx) error) error
}

// HistoryPruner is implemented by stores that can drop old events, for a
// history retention limit. flow.Engine.PruneHistory needs it.
type HistoryPruner interface {
	// PruneEvents deletes the events the params select from every
	// person's history and returns how many it deleted. A deleted event's
	// ID may be added again.
	PruneEvents(ctx context.Context, p *PruneParams) (int, error)
}

// PruneParams selects the events HistoryPruner.PruneEvents deletes.
type PruneParams struct {
	// Before is the retention cutoff: events whose Time is before it are
	// deleted, except those at or after the EnteredAt of a participant of
	// their person that is still in its flow (Status not Done), which a
	// wait looking back to its entrance may read. Required.
	Before time.Time
}
