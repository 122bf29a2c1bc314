package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// An engine call on one person reads top to bottom:
//
//  1. personTx takes the person's records in their transaction
//     (persontx.go);
//  2. fn does what the call is for (enter a flow, record an event, fire
//     a timer), the router hands the events it recorded to the person's
//     participants and to flow triggers (router.go), and steps run
//     (step.go); what they did goes into a record (record.go);
//  3. flush writes it all at once, and the transaction commits;
//  4. finish hands the record to the observer and the report, and makes
//     the calls outside of the steps put in flight (effect.go).
//
// Nothing but the person's own records is read through the Store inside
// the transaction: flow states come from the catalog snapshot read
// before, and compiled versions from the engine's cache (a miss ends the
// transaction, the version is compiled outside it, and the call starts
// over).

// session is one call over one person's transaction.
type session struct {
	e    *Engine
	ctx  context.Context
	call call
	// personID is the person the call runs on: given, or named by the
	// store in a call by reference (see inRef).
	personID uuid.UUID
	now      time.Time
	// cat holds the flows' states for this call, checked against the
	// store's revision as the transaction begins (see inTx), so a flow
	// missing from it does not exist.
	cat *catalogSnapshot
	fn  func(*session) error

	ptx   personTx
	rec   record
	route router
	st    stepper

	// txFn, refFn and historyFn are bound once per pooled session, so
	// that a call allocates no closure for them.
	txFn      func(store.Tx) error
	refFn     func(uuid.UUID, store.Tx) error
	historyFn func(*store.EventQuery) ([]*store.Event, error)
	// ran is set once a call by reference reached its transaction.
	ran bool
}

// call is how an engine call runs its session.
type call struct {
	// byRef: the person must exist, unless create is set, in which case
	// the session creates them under ref's keys.
	byRef  bool
	create bool
	// ref, when lookup is set, is the reference the store resolves in the
	// transaction (store.RefUpdater); the session's person ID is then
	// the ID to create them under, or nil. Held by value: a call
	// allocates nothing for it.
	ref    store.PersonRef
	lookup bool
	// cat, when set, is a snapshot of flow states read before (by Tick)
	// and trusted for the call.
	cat *catalogSnapshot
	// effects, when set, collects the effects the call's steps begin
	// instead of performing them before the call returns.
	effects *[]effect
	// why names a host call for the journal ("event Paid arrived"); the
	// person's overdue timers fire before it (see catchUp).
	why string
	// report, when set, receives what the call did.
	report *Report
	// inbox, when set, is the recorded call this one runs: the
	// transaction marks it done (see inbox.go).
	inbox *store.InboxItem
}

// needCompiled ends a transaction that needs a flow version the engine has
// not compiled yet: it is read and compiled outside, and the call starts
// over.
type needCompiled struct {
	flowID  string
	version int
}

func (n *needCompiled) Error() string {
	return fmt.Sprintf("flow %q version %d is not compiled yet", n.flowID, n.version)
}

// errStaleCatalog ends a transaction whose snapshot of flow states is
// older than the store's revision: the call starts over with a fresh one.
var errStaleCatalog = errors.New("flow states changed")

// withPerson runs fn in the transaction of the person who names, which
// the store resolves in the transaction (store.RefUpdater, or FindPerson
// then Update on a store without it). When create is set and the
// reference has a key, an unknown person is created under it.
func (e *Engine) withPerson(ctx context.Context, given store.PersonRef, create bool, why string, o callOptions, fn func(*session) error) error {
	who, err := e.normalRef(given)
	if err != nil {
		return err
	}
	rep := o.report
	for attempt := 0; ; attempt++ {
		c := call{byRef: true, why: why, report: rep, ref: who, lookup: true, inbox: o.inbox}
		id := uuid.Nil
		if create && who.ID == uuid.Nil {
			var err error
			if id, err = uuid.NewV7(); err != nil {
				return err
			}
			if o.inbox != nil {
				// Created where the inbox keeps the person's calls (on
				// Citus, their shard).
				id = o.inbox.PersonID
			}
			c.create = true
		}
		err := e.run(ctx, id, fn, c)
		// Calls creating a person under one key race: one commits, and
		// the others' commits find its key taken (ErrConflict) or the
		// participant an Enter with a key made (ErrDuplicate, its ID
		// being the key's). Find the person they created and go again:
		// a keyed entry then returns their participant.
		if c.create && (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrDuplicate)) && attempt < 3 {
			continue
		}
		if errors.Is(err, errDuplicateEvent) {
			if rep != nil {
				*rep = Report{Duplicate: true}
			}
			return nil
		}
		if errors.Is(err, errUnknownPerson) {
			return &InputError{Ref: refName(given), Err: store.ErrNotFound}
		}
		return err
	}
}

// refUpdater returns the store's store.RefUpdater, or one that finds the
// person, then updates them.
func (e *Engine) refUpdater() store.RefUpdater {
	if ru, ok := e.store.(store.RefUpdater); ok {
		return ru
	}
	return findThenUpdate{e.store}
}

// findThenUpdate is store.RefUpdater by FindPerson, then Update.
type findThenUpdate struct{ s store.Store }

func (f findThenUpdate) UpdateRef(ctx context.Context, ref store.PersonRef, newID uuid.UUID, fn func(uuid.UUID, store.Tx) error) (uuid.UUID, error) {
	id := ref.ID
	if id == uuid.Nil {
		found, err := f.s.FindPerson(ctx, ref)
		switch {
		case err == nil:
			id = found
		case !errors.Is(err, store.ErrNotFound) || newID == uuid.Nil:
			return uuid.Nil, err
		default:
			id = newID
		}
	}
	return id, f.s.Update(ctx, id, func(tx store.Tx) error { return fn(id, tx) })
}

// update runs fn in a session over the person's records, drains the
// session's events and entries, and commits; effects on other people and
// calls outside run after the commit.
func (e *Engine) update(ctx context.Context, personID uuid.UUID, fn func(*session) error) error {
	return e.run(ctx, personID, fn, call{})
}

// run runs fn in a session over the person's records as c says, then
// what must follow the commit: the observations, the report and the
// calls of external steps (see effect.go).
func (e *Engine) run(ctx context.Context, personID uuid.UUID, fn func(*session) error, c call) error {
	s := e.newSession(ctx, personID, fn, c)
	defer s.release()
	if err := s.commit(); err != nil {
		return err
	}
	return s.finish()
}

// sessions recycles sessions, and with them the buffers of their Run:
// a call is short and the engine makes millions of them.
var sessions = sync.Pool{New: func() any {
	s := new(session)
	s.txFn, s.refFn, s.historyFn = s.inTx, s.inRef, s.ptx.history
	s.st.flows = flowPort{s: s}
	return s
}}

// newSession readies a pooled session for a call.
func (e *Engine) newSession(ctx context.Context, personID uuid.UUID, fn func(*session) error, c call) *session {
	s := sessions.Get().(*session)
	s.e, s.ctx, s.personID, s.fn, s.call, s.cat = e, ctx, personID, fn, c, c.cat
	return s
}

// release clears what the session points to and returns it to the pool.
// Nothing may use the session after.
func (s *session) release() {
	s.rec.reset(false, false)
	s.route.reset()
	s.st.run.Reset(element.Run{})
	s.st.reset()
	s.ptx = personTx{}
	s.e, s.ctx, s.call, s.cat, s.fn, s.personID, s.ran = nil, nil, call{}, nil, nil, uuid.Nil, false
	sessions.Put(s)
}

// commit runs the session's transaction until it commits, starting over
// when the flow states it used were stale or a version it needs was not
// compiled.
func (s *session) commit() error {
	for attempt := 0; ; attempt++ {
		if s.cat == nil {
			// The transaction checks the cached states against the
			// store's revision (see inTx): read them only when none are.
			if s.cat = s.e.cat.snap.Load(); s.cat == nil {
				cat, err := s.e.flowStates(s.ctx)
				if err != nil {
					return err
				}
				s.cat = cat
			}
		}
		err := s.transact()
		if err == nil {
			return nil
		}
		if attempt >= 8 {
			return err
		}
		if err := s.retryable(err); err != nil {
			if s.call.report != nil {
				*s.call.report = s.rec.rep // what it would have done
			}
			return err
		}
	}
}

// transact runs the session's transaction once.
func (s *session) transact() error {
	if !s.call.lookup {
		return s.e.store.Update(s.ctx, s.personID, s.txFn)
	}
	s.ran = false
	_, err := s.e.refUpdater().UpdateRef(s.ctx, s.call.ref, s.personID, s.refFn)
	if errors.Is(err, store.ErrNotFound) && !s.ran {
		return errUnknownPerson
	}
	return err
}

// retryable returns nil when the call may start over after err, having
// done what that needs, else the error to return.
func (s *session) retryable(err error) error {
	var nc *needCompiled
	switch {
	case errors.As(err, &nc):
		if _, err := s.e.compiled(s.ctx, nc.flowID, nc.version); err != nil {
			return err
		}
	case errors.Is(err, errStaleCatalog):
		cat, err := s.e.flowStates(s.ctx)
		if err != nil {
			return err
		}
		s.cat = cat
	default:
		return err
	}
	return nil
}

// inRef is the transaction function of a call by reference: the store
// names the person.
func (s *session) inRef(personID uuid.UUID, tx store.Tx) error {
	s.personID, s.ran = personID, true
	return s.inTx(tx)
}

// inTx is the session's transaction function: take the person's
// records, do what the call is for, route the events it recorded, and
// write what happened.
func (s *session) inTx(tx store.Tx) error {
	s.now = s.e.Now()
	s.rec.reset(s.e.observing, s.call.report != nil)
	s.route.reset()
	s.st.reset()
	rev, err := tx.FlowsRevision()
	if err != nil {
		return err
	}
	if rev != s.cat.rev {
		return errStaleCatalog
	}
	var newcomer *store.PersonRef
	if s.call.create {
		newcomer = &s.call.ref
	}
	if err := s.ptx.open(tx, s.personID, s.now, s.call.byRef, newcomer); err != nil {
		return err
	}
	if s.call.why != "" && s.ptx.person != nil && !s.ptx.personDirty {
		if err := s.catchUp(s.call.why); err != nil {
			return err
		}
	}
	if err := s.fn(s); err != nil {
		return err
	}
	if err := s.drain(); err != nil {
		return err
	}
	if s.call.inbox != nil {
		if err := s.completeInbox(tx); err != nil {
			return err
		}
	}
	return s.ptx.flush(&s.rec, s.now, func(p *store.Participant) int { return s.route.marksOf(p).steps })
}

// finish does what follows a committed session: observations, the
// report, and the calls of the steps it put in flight.
func (s *session) finish() error {
	s.rec.emit(s.ctx, s.e)
	if s.call.report != nil {
		*s.call.report = s.rec.rep
	}
	if len(s.rec.effects) == 0 {
		return nil
	}
	effects := slices.Clone(s.rec.effects)
	if s.call.effects != nil {
		*s.call.effects = append(*s.call.effects, effects...)
		return nil
	}
	return s.e.perform(s.ctx, effects)
}

// state returns a flow's state.
func (cs *catalogSnapshot) state(flowID string) (*store.FlowState, error) {
	if st, ok := cs.states[flowID]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("flow %q: %w", flowID, store.ErrNotFound)
}

// status returns a flow's status, "" for a flow that does not exist.
func (cs *catalogSnapshot) status(flowID string) store.FlowStatus {
	if st, ok := cs.states[flowID]; ok {
		return st.Status
	}
	return ""
}

// cached returns a compiled flow version, or *needCompiled when the
// engine has not compiled it yet: a transaction ends, and its call starts
// over once it is (see session.retryable).
func (e *Engine) cached(flowID string, version int) (*compiled, error) {
	if c, ok := e.flows.Load(flowKey{flowID, version}); ok {
		return c.(*compiled), nil
	}
	return nil, &needCompiled{flowID, version}
}
