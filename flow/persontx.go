package flow

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// personTx is the person's records in one store transaction: read as
// the call needs them, changed in place, and written once by flush.
type personTx struct {
	tx store.Tx
	// shared is tx when the store lends records instead of copying them
	// (store.SharingTx): the call then changes them only by replacing
	// their parts, which it does anyway.
	shared store.SharingTx
	id     uuid.UUID
	// person is the person as the call has them (nil for no one), and
	// start as the transaction found them (nil for a newcomer).
	person, start *store.Person
	personDirty   bool
	parts         []*store.Participant
	partsLoaded   bool
	changed       []*store.Participant
	changedBuf    [2]*store.Participant // room for changed, allocated with the session
}

// errUnknownPerson ends a call by reference whose person does not exist.
var errUnknownPerson = fmt.Errorf("unknown person: %w", store.ErrNotFound)

// open begins the records of a call's transaction: the person, or a new
// one under newcomer's keys. A call by reference (byRef) needs one of
// them; an engine call on a participant's person may find no one.
func (pt *personTx) open(tx store.Tx, id uuid.UUID, now time.Time, byRef bool, newcomer *store.PersonRef) error {
	*pt = personTx{tx: tx, id: id}
	pt.changed = pt.changedBuf[:0]
	pt.shared, _ = tx.(store.SharingTx)
	var p *store.Person
	var err error
	if pt.shared != nil {
		p, err = pt.shared.SharedPerson()
	} else {
		p, err = tx.Person()
	}
	switch {
	case err == nil:
		pt.person, pt.start = p, p
	case !errors.Is(err, store.ErrNotFound):
		return err
	case newcomer == nil:
		if byRef {
			return errUnknownPerson
		}
	default:
		pt.person = &store.Person{ID: id, ExternalID: newcomer.ExternalID, CreatedAt: now}
		if newcomer.Phone != "" {
			pt.person.Phones = []string{newcomer.Phone}
		}
		if newcomer.Email != "" {
			pt.person.Emails = []string{newcomer.Email}
		}
		pt.personDirty = true
	}
	return nil
}

// setPerson replaces the person, to be written by flush.
func (pt *personTx) setPerson(p *store.Person) {
	pt.person = p
	pt.personDirty = true
}

// participants returns the person's participants, read once per
// transaction.
func (pt *personTx) participants() ([]*store.Participant, error) {
	if !pt.partsLoaded {
		var parts []*store.Participant
		var err error
		if pt.shared != nil {
			parts, err = pt.shared.SharedParticipants()
		} else {
			parts, err = pt.tx.Participants()
		}
		if err != nil {
			return nil, err
		}
		pt.parts, pt.partsLoaded = parts, true
	}
	return pt.parts, nil
}

// participant returns one of the person's participants, nil when there
// is none.
func (pt *personTx) participant(id uuid.UUID) (*store.Participant, error) {
	parts, err := pt.participants()
	for _, p := range parts {
		if p.ID == id {
			return p, nil
		}
	}
	return nil, err
}

// add makes p one of the person's participants, to be written by flush.
func (pt *personTx) add(p *store.Participant) {
	pt.parts = append(pt.parts, p)
	pt.dirty(p)
}

// dirty notes that p changed, to be written by flush.
func (pt *personTx) dirty(p *store.Participant) {
	if !slices.Contains(pt.changed, p) {
		pt.changed = append(pt.changed, p)
	}
}

// drop removes a pending participant that does not enter.
func (pt *personTx) drop(p *store.Participant) error {
	r, ok := pt.tx.(store.ParticipantRemover)
	if !ok {
		return fmt.Errorf("flow: the store's transactions (%T) cannot remove participant %s (store.ParticipantRemover)", pt.tx, p.ID)
	}
	if err := r.RemoveParticipant(p.ID); err != nil {
		return err
	}
	pt.parts = slices.DeleteFunc(pt.parts, func(q *store.Participant) bool { return q == p })
	pt.changed = slices.DeleteFunc(pt.changed, func(q *store.Participant) bool { return q == p })
	return nil
}

// append records an event the engine made. Its ID is unique by
// construction (named after its participant and step, or random), so the
// store need not look it up.
func (pt *personTx) append(ev *store.Event) error {
	ev.PersonID = pt.id
	return pt.tx.AppendEvent(ev)
}

// history reads the person's events in the transaction.
func (pt *personTx) history(q *store.EventQuery) ([]*store.Event, error) { return pt.tx.Events(q) }

// flush writes the person and the changed participants, and the
// record's counters; it takes the copies that the calls of participants
// put in flight run on.
func (pt *personTx) flush(rec *record, now time.Time, steps func(*store.Participant) int) error {
	if pt.personDirty {
		if pt.person == pt.start {
			pt.person = pt.person.Clone() // the store's, when lent
		}
		pt.person.UpdatedAt = now
		put := pt.tx.PutPerson
		if pt.shared != nil {
			put = pt.shared.PutSharedPerson // the call's own: lent records were cloned above
		}
		if err := put(pt.person); err != nil {
			return err
		}
	}
	for _, p := range rec.inFlight {
		if p.Status == store.InFlight && !rec.hasEffect(p) {
			rec.effects = append(rec.effects, effect{part: p.Clone(), person: pt.person.Clone(), steps: steps(p)})
		}
	}
	for _, p := range pt.changed {
		put := pt.tx.PutParticipant
		if pt.shared != nil {
			put = pt.shared.PutSharedParticipant
		}
		if err := put(p); err != nil {
			return err
		}
	}
	if counts := rec.counters(); len(counts) > 0 {
		pt.tx.Count(counts...)
	}
	return nil
}
