package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Inbox is implemented by stores that keep calls a host recorded in its
// own database transaction (flow.Engine.EnterTx, DeliverTx and
// UpdatePersonTx): what RecordInbox writes commits or rolls back with the
// host's transaction, and the engine runs each committed item once, in
// the transaction of its person, which marks it done
// (InboxCompleter.CompleteInbox).
type Inbox interface {
	// RecordInbox writes a copy of it as a pending item in the host's
	// transaction htx, whose type the store names (store/postgres takes a
	// pgx.Tx or a *sql.Tx); a nil htx records it in a transaction of the
	// store's own. It sets it.PersonID: it.Person.ID when set, else the
	// person holding it.Person's key as htx sees it, else an id derived
	// from the key alone, the same for every item of that key (the engine
	// creates an unknown person under it). It sets it.Seq, which orders
	// the items of one PersonID. An item whose ID the inbox holds for the
	// same PersonID is left as it is: recording is idempotent. An item
	// with a nil ID, an empty Call or a zero Person is ErrInvalid.
	RecordInbox(ctx context.Context, htx any, it *InboxItem) error
	// ClaimInbox returns up to limit pending items for one caller, in Seq
	// order within each PersonID: an item it returns is not returned
	// again until lease has passed after now, unless ReleaseInbox gives
	// it back (a store that knows its processes also hands out at once
	// the items a dead process claimed). It never returns an item while
	// an earlier pending item of its PersonID is claimed by another
	// caller.
	ClaimInbox(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*InboxItem, error)
	// ReleaseInbox ends the caller's claims of pending items, so that
	// they may be claimed again at once.
	ReleaseInbox(ctx context.Context, items []*InboxItem) error
	// FailInbox marks a pending item done at at, with result, outside of
	// any person's transaction: for an item whose call was refused and
	// wrote nothing. It fails with ErrNotFound when the item is not
	// pending (done already, or unknown).
	FailInbox(ctx context.Context, it *InboxItem, result []byte, at time.Time) error
	// InboxItem returns an item, pending or done, by its ID, or
	// ErrNotFound.
	InboxItem(ctx context.Context, id uuid.UUID) (*InboxItem, error)
	// PruneInbox deletes the items done before before, and returns how
	// many.
	PruneInbox(ctx context.Context, before time.Time) (int, error)
	// InboxWake returns a channel that receives, as soon as the store
	// learns of it, when an item may have been recorded by any process,
	// so that a loop sleeping until the next tick can drain it at once;
	// nil when the store cannot tell (then only polling finds items).
	InboxWake() <-chan struct{}
}

// InboxCompleter is implemented by the Tx of a store with Inbox.
type InboxCompleter interface {
	// CompleteInbox marks a pending item done at at, with result, as the
	// transaction commits: the item and what the transaction wrote commit
	// together or not at all. It fails with ErrNotFound when the item is
	// not pending (another caller ran it), and with ErrConflict when an
	// earlier item of its PersonID is pending, which must run first.
	CompleteInbox(it *InboxItem, result []byte, at time.Time) error
}

// InboxItem is one call recorded in a host's transaction.
type InboxItem struct {
	ID uuid.UUID
	// Person is whom the call is about, as the host named them.
	Person PersonRef
	// PersonID routes the item: the person whose transaction runs it,
	// or the id to create them under (see Inbox.RecordInbox).
	PersonID uuid.UUID
	// Seq orders the items of one PersonID, set by RecordInbox.
	Seq int64
	// Call is the call, in the engine's encoding; the store keeps it as
	// bytes.
	Call []byte
	// RecordedAt is when the host recorded it, by the engine's clock.
	RecordedAt time.Time
	// Done is set once the item ran, at DoneAt, with Result (the
	// engine's encoding of what it did).
	Done   bool
	DoneAt time.Time
	Result []byte
}

// Clone returns a deep copy of it.
func (it *InboxItem) Clone() *InboxItem {
	if it == nil {
		return nil
	}
	c := *it
	c.Call = append([]byte(nil), it.Call...)
	c.Result = append([]byte(nil), it.Result...)
	if it.Result == nil {
		c.Result = nil
	}
	return &c
}
