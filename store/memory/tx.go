package memory

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

var errTxDone = errors.New("memory: transaction used after its Update returned")

// txSlot holds a transaction's state between transactions, for reuse: a
// transaction with its buffers is a few hundred bytes, which every step
// would otherwise allocate. gen counts the transactions it has held; a
// handle of an earlier one finds its transaction ended.
type txSlot struct {
	gen atomic.Uint64
	t   tx
}

var txSlots = sync.Pool{New: func() any { return new(txSlot) }}

// handle returns the caller's reference to the transaction.
func (t *tx) handle() txHandle { return txHandle{t.slot, t.slot.gen.Load()} }

// recycle ends the transaction for good, its handles included, and
// returns its state to the pool. Nothing of it may be used after.
func (t *tx) recycle() {
	for _, o := range t.lentOut {
		o.recycle()
	}
	slot := t.slot
	slot.gen.Add(1)
	slot.t = tx{}
	txSlots.Put(slot)
}

// txHandle is the store.Tx a transaction function gets: it reaches the
// transaction while it is the one its slot holds, and fails with
// errTxDone after.
type txHandle struct {
	slot *txSlot
	gen  uint64
}

var (
	_ store.Tx                 = txHandle{}
	_ store.SharingTx          = txHandle{}
	_ store.ParticipantRemover = txHandle{}
)

func (h txHandle) tx() (*tx, error) {
	if h.slot.gen.Load() != h.gen {
		return nil, errTxDone
	}
	return &h.slot.t, nil
}

// Person implements store.Tx.
func (h txHandle) Person() (*store.Person, error) {
	t, err := h.tx()
	if err != nil {
		return nil, err
	}
	return t.Person()
}

// PutPerson implements store.Tx.
func (h txHandle) PutPerson(p *store.Person) error {
	t, err := h.tx()
	if err != nil {
		return err
	}
	return t.PutPerson(p)
}

// Participants implements store.Tx.
func (h txHandle) Participants() ([]*store.Participant, error) {
	t, err := h.tx()
	if err != nil {
		return nil, err
	}
	return t.Participants()
}

// PutParticipant implements store.Tx.
func (h txHandle) PutParticipant(p *store.Participant) error {
	t, err := h.tx()
	if err != nil {
		return err
	}
	return t.PutParticipant(p)
}

// AddEvent implements store.Tx.
func (h txHandle) AddEvent(e *store.Event) error {
	t, err := h.tx()
	if err != nil {
		return err
	}
	return t.AddEvent(e)
}

// AppendEvent implements store.Tx.
func (h txHandle) AppendEvent(e *store.Event) error {
	t, err := h.tx()
	if err != nil {
		return err
	}
	return t.AppendEvent(e)
}

// Events implements store.Tx.
func (h txHandle) Events(q *store.EventQuery) ([]*store.Event, error) {
	t, err := h.tx()
	if err != nil {
		return nil, err
	}
	return t.Events(q)
}

// Count implements store.Tx.
func (h txHandle) Count(cs ...store.Counter) {
	if t, err := h.tx(); err == nil {
		t.Count(cs...)
	}
}

// FlowsRevision implements store.Tx.
func (h txHandle) FlowsRevision() (int64, error) {
	t, err := h.tx()
	if err != nil {
		return 0, err
	}
	return t.FlowsRevision()
}

// SharedPerson implements store.SharingTx.
func (h txHandle) SharedPerson() (*store.Person, error) {
	t, err := h.tx()
	if err != nil {
		return nil, err
	}
	return t.SharedPerson()
}

// SharedParticipants implements store.SharingTx.
func (h txHandle) SharedParticipants() ([]*store.Participant, error) {
	t, err := h.tx()
	if err != nil {
		return nil, err
	}
	return t.SharedParticipants()
}

// PutSharedPerson implements store.SharingTx.
func (h txHandle) PutSharedPerson(p *store.Person) error {
	t, err := h.tx()
	if err != nil {
		return err
	}
	return t.putPerson(p, true)
}

// PutSharedParticipant implements store.SharingTx.
func (h txHandle) PutSharedParticipant(p *store.Participant) error {
	t, err := h.tx()
	if err != nil {
		return err
	}
	return t.PutSharedParticipant(p)
}

// RemoveParticipant implements store.ParticipantRemover.
func (h txHandle) RemoveParticipant(id uuid.UUID) error {
	t, err := h.tx()
	if err != nil {
		return err
	}
	return t.RemoveParticipant(id)
}

// tx buffers one Update's writes; commit applies them. Its state is
// recycled once the transaction has ended: callers hold a txHandle.
type tx struct {
	slot   *txSlot
	s      *Store
	ps     *personState
	done   bool
	person *store.Person
	parts  []*store.Participant
	events []txEvent
	counts []store.Counter
	// reserved holds the IDs of new participants claimed in the store's
	// participant index; Update releases them unless the tx commits.
	reserved []uuid.UUID
	// removed holds the IDs of stored participants to remove at commit
	// (see RemoveParticipant).
	removed []uuid.UUID
	// lent[i] is set when parts[i] is the caller's, put by
	// PutSharedParticipant, rather than the store's copy.
	lent []bool
	// holder is the person whose participant ID a PutParticipant found
	// taken (see Store.reserve), nil for none.
	holder *personState
	// lentOut are the participants SharedParticipants lent, which the
	// store takes back when the transaction ends (see store.SharingTx).
	lentOut []*outParticipant
	// Room for the writes of a typical step, allocated with the tx.
	partsBuf   [1]*store.Participant
	lentOutBuf [2]*outParticipant
	sharedBuf  [2]*store.Participant
	sharedUsed bool // sharedBuf holds what SharedParticipants returned
	lentBuf    [1]bool
	eventsBuf  [2]txEvent
	countsBuf  [4]store.Counter
}

// own returns the store's copy of a participant put: a deep copy whose
// variables are in a pooled map, which the commit recycles once it has
// stored them as pairs.
func own(p *store.Participant) *store.Participant {
	q := *p
	q.Vars = nil
	c := q.Clone()
	if len(p.Vars) > 0 {
		c.Vars = newVarsMap(len(p.Vars))
		for k, v := range p.Vars {
			c.Vars[k] = clone.Value(v)
		}
	}
	return c
}

func (t *tx) Person() (*store.Person, error) {
	if t.done {
		return nil, errTxDone
	}
	switch {
	case t.person != nil:
		return t.person.Clone(), nil
	case t.ps.person != nil:
		return t.ps.person.Clone(), nil
	}
	return nil, personNotFound(t.ps.id.String())
}

func (t *tx) PutPerson(p *store.Person) error { return t.putPerson(p, false) }

// putPerson puts p, the caller's own when shared is set, else a copy.
func (t *tx) putPerson(p *store.Person, shared bool) error {
	if t.done {
		return errTxDone
	}
	if p.ID != t.ps.id {
		return fmt.Errorf("put person %s in the transaction of person %s", p.ID, t.ps.id)
	}
	if !shared {
		p = p.Clone()
	}
	t.person = p
	return nil
}

func (t *tx) Participants() ([]*store.Participant, error) {
	if t.done {
		return nil, errTxDone
	}
	out := make([]*store.Participant, 0, len(t.ps.parts)+len(t.parts))
	for _, r := range t.ps.parts {
		if slices.Contains(t.removed, r.id) {
			continue
		}
		if q := t.pending(r.id); q != nil {
			out = append(out, q.Clone())
		} else {
			out = append(out, r.clone(t.ps.id))
		}
	}
	for _, p := range t.parts {
		if partIndex(t.ps.parts, p.ID) < 0 {
			out = append(out, p.Clone())
		}
	}
	return out, nil
}

// SharedPerson implements store.SharingTx.
func (t *tx) SharedPerson() (*store.Person, error) {
	if t.done {
		return nil, errTxDone
	}
	switch {
	case t.person != nil:
		return t.person, nil
	case t.ps.person != nil:
		return t.ps.person, nil
	}
	return nil, personNotFound(t.ps.id.String())
}

// SharedParticipants implements store.SharingTx: each participant is a
// copy of the stored one's fields with a variables map of its own; the
// nested values are the stored ones.
func (t *tx) SharedParticipants() ([]*store.Participant, error) {
	if t.done {
		return nil, errTxDone
	}
	var out []*store.Participant
	if n := len(t.ps.parts) + len(t.parts); n <= len(t.sharedBuf) && !t.sharedUsed {
		out, t.sharedUsed = t.sharedBuf[:0], true // the caller's until the transaction ends
	} else {
		out = make([]*store.Participant, 0, n)
	}
	for _, r := range t.ps.parts {
		if len(t.removed) > 0 && slices.Contains(t.removed, r.id) {
			continue
		}
		if q := t.pending(r.id); q != nil {
			out = append(out, t.lend(q))
		} else {
			o := r.lend(t.ps.id)
			t.lentOut = append(t.lentOut, o)
			out = append(out, &o.p)
		}
	}
	for _, p := range t.parts {
		if partIndex(t.ps.parts, p.ID) < 0 {
			out = append(out, t.lend(p))
		}
	}
	return out, nil
}

// lend returns a participant with p's fields and a copy of its
// variables map, sharing the values, which the store takes back when
// the transaction ends.
func (t *tx) lend(p *store.Participant) *store.Participant {
	o := outs.Get().(*outParticipant)
	o.p = *p
	if p.Vars != nil {
		o.p.Vars = newVarsMap(len(p.Vars))
		for k, v := range p.Vars {
			o.p.Vars[k] = v
		}
	}
	t.lentOut = append(t.lentOut, o)
	return &o.p
}

// PutSharedParticipant implements store.SharingTx: the commit keeps p's
// fields in the stored participant's place and its nested values as
// they are.
func (t *tx) PutSharedParticipant(p *store.Participant) error {
	return t.put(p, true)
}

// pending returns participant id as this transaction put it, nil when
// it did not.
func (t *tx) pending(id uuid.UUID) *store.Participant {
	for _, q := range t.parts {
		if q.ID == id {
			return q
		}
	}
	return nil
}

func (t *tx) PutParticipant(p *store.Participant) error { return t.put(p, false) }

// put puts p, the caller's own when shared is set, else a copy.
func (t *tx) put(p *store.Participant, shared bool) error {
	if t.done {
		return errTxDone
	}
	if err := p.Check(); err != nil {
		return err
	}
	if p.PersonID != t.ps.id {
		return fmt.Errorf("put participant %s of person %s in the transaction of person %s", p.ID, p.PersonID, t.ps.id)
	}
	cur, version := false, int64(0)
	if i := partIndex(t.ps.parts, p.ID); i >= 0 {
		cur, version = true, t.ps.parts[i].version
	}
	if q := t.pending(p.ID); q != nil {
		cur, version = true, q.Version
	}
	switch {
	case !cur && p.Version != 0:
		return fmt.Errorf("participant %s version %d: %w", p.ID, p.Version, store.ErrConflict)
	case cur && p.Version == 0:
		return fmt.Errorf("participant %s: %w", p.ID, store.ErrDuplicate)
	case cur && version != p.Version:
		return fmt.Errorf("participant %s version %d, stored %d: %w", p.ID, p.Version, version, store.ErrConflict)
	case !cur:
		// A participant ID is unique across people.
		holder, err := t.s.reserve(t.ps, p.ID)
		if err != nil {
			t.holder = holder
			return err
		}
		t.reserved = append(t.reserved, p.ID)
	}
	p.Version++
	c := p
	if !shared {
		c = own(p)
	}
	if i := slices.IndexFunc(t.parts, func(q *store.Participant) bool { return q.ID == p.ID }); i >= 0 {
		t.parts[i] = c
		t.lent[i] = shared
	} else {
		t.parts = append(t.parts, c)
		t.lent = append(t.lent, shared)
	}
	return nil
}

func (t *tx) AddEvent(e *store.Event) error { return t.addEvent(e, false) }

// AppendEvent implements store.Tx: the check costs a memory store
// nothing, so it is AddEvent's, but the event is copied at commit, and
// only when the history does not make it from a participant.
func (t *tx) AppendEvent(e *store.Event) error { return t.addEvent(e, true) }

func (t *tx) addEvent(e *store.Event, appended bool) error {
	if t.done {
		return errTxDone
	}
	if e.ID == "" {
		return fmt.Errorf("add event %q: event id is empty: %w", e.Name, store.ErrInvalid)
	}
	if t.ps.hasEvent(e.ID) || slices.ContainsFunc(t.events, func(q txEvent) bool { return q.event().ID == e.ID }) {
		return fmt.Errorf("event %q: %w", e.ID, store.ErrDuplicate)
	}
	e.PersonID = t.ps.id
	if appended {
		t.events = append(t.events, txEvent{given: e})
	} else {
		t.events = append(t.events, txEvent{kept: keepEvent(e)})
	}
	return nil
}

func (t *tx) Events(q *store.EventQuery) ([]*store.Event, error) {
	if t.done {
		return nil, errTxDone
	}
	if q == nil {
		return nil, fmt.Errorf("events: no query: %w", store.ErrInvalid)
	}
	// The history is sorted by time: start at Since, stop at Until (or
	// past it, for UntilID).
	stored := t.ps.events
	if !q.Since.IsZero() {
		i, _ := slices.BinarySearchFunc(stored, q.Since, func(f fact, at time.Time) int {
			if f.at().Before(at) {
				return -1
			}
			return 1
		})
		stored = stored[i:]
	}
	if !q.Until.IsZero() {
		i, _ := slices.BinarySearchFunc(stored, q.Until, func(f fact, at time.Time) int {
			if t := f.at(); t.Before(at) || q.UntilID != "" && t.Equal(at) {
				return -1
			}
			return 1
		})
		stored = stored[:i]
	}
	cut := t.untilCut(q, stored)
	var out []*store.Event
	if q.Limit > 0 && len(t.events) == 0 {
		// Newest first: walk back and stop at Limit.
		for i := len(stored) - 1; i >= 0 && len(out) < q.Limit; i-- {
			if f := stored[i]; f.matches(q) && !cut(false, i, f.at()) {
				out = append(out, f.event(t.ps.id))
			}
		}
		return out, nil
	}
	for i, f := range stored {
		if f.matches(q) && !cut(false, i, f.at()) {
			out = append(out, f.event(t.ps.id))
		}
	}
	if len(t.events) > 0 {
		for j, e := range t.events {
			if ev := e.event(); q.Matches(ev) && !cut(true, j, ev.Time) {
				out = append(out, e.copy())
			}
		}
		slices.SortStableFunc(out, func(a, b *store.Event) int { return a.Time.Compare(b.Time) })
	}
	if q.Limit > 0 {
		slices.Reverse(out)
		if len(out) > q.Limit {
			out = out[:q.Limit]
		}
	}
	return out, nil
}

// untilCut returns whether an event of stored (at index i) or of the
// pending ones (at i, pending true) is left out by q.UntilID: an event
// of Until's time the history does not hold before the event with that
// ID. Pending events follow the stored ones of their time.
func (t *tx) untilCut(q *store.EventQuery, stored []fact) func(pending bool, i int, when time.Time) bool {
	if q.UntilID == "" || q.Until.IsZero() {
		return func(bool, int, time.Time) bool { return false }
	}
	// Where the event with UntilID is: -1 when it is not of Until's time.
	at, atPending := -1, false
	for i := len(stored) - 1; i >= 0 && stored[i].at().Equal(q.Until); i-- {
		if stored[i].is(q.UntilID) {
			at = i
			break
		}
	}
	if at < 0 {
		for j, e := range t.events {
			if ev := e.event(); ev.ID == q.UntilID && ev.Time.Equal(q.Until) {
				at, atPending = j, true
				break
			}
		}
	}
	return func(pending bool, i int, when time.Time) bool {
		switch {
		case !when.Equal(q.Until):
			return false
		case at < 0:
			return true
		case pending != atPending:
			return pending // stored events come before pending ones
		}
		return i >= at
	}
}

func (t *tx) Count(cs ...store.Counter) {
	if !t.done {
		t.counts = append(slices.Grow(t.counts, len(cs)), cs...) // one allocation for a long run
	}
}

// FlowsRevision implements store.Tx.
func (t *tx) FlowsRevision() (int64, error) {
	if t.done {
		return 0, errTxDone
	}
	return t.s.flowRev.Load(), nil
}
