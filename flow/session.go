package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/address"
	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// session is one transaction over one person's records: every step run,
// event recorded and participant changed in it commits together. Nothing
// but the person's own records is read through the Store inside it: flow
// states come from the catalog snapshot read before, and compiled
// versions from the engine's cache (a miss ends the transaction, the
// version is compiled outside it, and the call starts over).
//
// A store error ends the session: the first one is kept in err, steps
// stop, and the transaction function returns it.
type session struct {
	e        *Engine
	ctx      context.Context
	tx       store.Tx
	personID uuid.UUID
	now      time.Time
	call     call
	// cat holds the flows' states for this call, checked against the
	// store's revision as the transaction begins (see inTx), so a flow
	// missing from it does not exist.
	cat *catalogSnapshot
	fn  func(*session) error
	// txFn and historyFn are bound once per pooled session, so that a
	// call allocates no closure for them.
	txFn      func(store.Tx) error
	refFn     func(uuid.UUID, store.Tx) error
	historyFn func(*store.EventQuery) ([]*store.Event, error)
	err       error
	// ran is set once a call by reference reached its transaction.
	ran bool

	person      *store.Person
	personDirty bool
	parts       []*store.Participant
	partsLoaded bool
	changed     []*store.Participant

	// startPerson is the person as the transaction found them (nil for a
	// newcomer), and entriesChecked is set once the audience and date
	// entries have looked at what the session changed (see entries.go).
	startPerson    *store.Person
	entriesChecked bool

	// queue holds events recorded in this session, to be handed to the
	// person's waiting participants and to flow triggers.
	queue []*store.Event
	qi    int
	// marks note per participant the steps run in this call and where in
	// the queue it started its current wait; a session holds one
	// participant or a few, so a slice beats a map.
	marks []participantMarks
	// entries are same-person flow entries requested by steps.
	entries []pendingEntry
	// counts aggregates the session's counter changes, written to the
	// transaction once each at the end.
	counts   []store.Counter
	countIdx map[countKey]int
	// inFlight are the participants this session put in flight; effects
	// their copies as committed, taken by flush.
	inFlight []*store.Participant
	effects  []effect
	// observed and failures are handed to the observer and the logger
	// once the session commits; took is how long the current step's
	// element call took, when the engine is observing.
	observed, failures []Observation
	took               time.Duration
	// mark is the clock's last reading for step durations: a step starts
	// where the one before it ended, so each step costs one reading.
	mark time.Time
	// observedMax is the most observations held in this session's
	// attempts, so release clears only what was used.
	observedMax int
	// rep collects what the call did when it asked for a report.
	rep Report

	run *element.Run
	// Held here so a session allocates them along with itself.
	runBuf    element.Run
	waitBuf   element.Wait
	spareVars map[string]any // empty; lent to steps of participants without variables
}

// call is how an engine call runs its session.
type call struct {
	// byRef: the person must exist, unless newcomer is set, in which case
	// the session creates them under newcomer's keys.
	byRef    bool
	newcomer *store.PersonRef
	// ref, when set, is the reference a store.RefUpdater resolves in the
	// transaction; the session's person ID is then newcomer's ID or nil.
	ref *store.PersonRef
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
}

type pendingEntry struct {
	flowID string
	vars   map[string]any
	key    string
}

// maxSessionEvents bounds the events and entries one call may cascade into
// for one person (events triggering flows that emit events ...).
const maxSessionEvents = 10_000

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

// withPerson resolves who (creating the person when asked and the
// reference has a key) and runs fn in the person's transaction. On a
// store.RefUpdater the lookup is part of the transaction.
func (e *Engine) withPerson(ctx context.Context, who store.PersonRef, create bool, why string, rep *Report, fn func(*session) error) error {
	if err := e.checkRef(who); err != nil {
		return err
	}
	_, byRef := e.store.(store.RefUpdater)
	for attempt := 0; ; attempt++ {
		c := call{byRef: true, why: why, report: rep}
		// On a RefUpdater the store finds the person in the transaction,
		// and the session's ID is the one to create them under, if any.
		id, known := who.ID, false
		if byRef {
			ref := who // on the heap only on this path
			c.ref = &ref
		} else {
			var err error
			id, err = e.findPerson(ctx, who)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if known = err == nil; !known && !(create && who.ID == uuid.Nil) {
				return err
			}
		}
		if !known && create && who.ID == uuid.Nil {
			var err error
			if id, err = uuid.NewV7(); err != nil {
				return err
			}
			nc := who
			c.newcomer = &nc
		}
		err := e.run(ctx, id, fn, c)
		// Calls creating a person under one key race: one commits, and
		// the others' commits find its key taken (ErrConflict) or the
		// participant an Enter with a key made (ErrDuplicate, its ID
		// being the key's). Find the person they created and go again:
		// a keyed entry then returns their participant.
		if c.newcomer != nil && (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrDuplicate)) && attempt < 3 {
			continue
		}
		if errors.Is(err, errDuplicateEvent) {
			if rep != nil {
				*rep = Report{Duplicate: true}
			}
			return nil
		}
		if errors.Is(err, errUnknownPerson) {
			return &InputError{Ref: refName(who), Err: store.ErrNotFound}
		}
		return err
	}
}

// errUnknownPerson ends a call by reference whose person does not exist.
var errUnknownPerson = fmt.Errorf("unknown person: %w", store.ErrNotFound)

// update runs fn in a session over the person's records, drains the
// session's events and entries, and commits; effects on other people and
// calls outside run after the commit.
func (e *Engine) update(ctx context.Context, personID uuid.UUID, fn func(*session) error) error {
	return e.run(ctx, personID, fn, call{})
}

// run runs fn in a session over the person's records as c says, then
// what must follow the commit: entries of other people and the calls of
// external steps (see effect.go).
func (e *Engine) run(ctx context.Context, personID uuid.UUID, fn func(*session) error, c call) error {
	s := e.newSession(ctx, personID, fn, c)
	defer s.release()
	if err := s.commit(); err != nil {
		return err
	}
	return s.finish()
}

// newSession readies a pooled session for a call.
func (e *Engine) newSession(ctx context.Context, personID uuid.UUID, fn func(*session) error, c call) *session {
	s := sessions.Get().(*session)
	s.e, s.ctx, s.personID, s.fn, s.call = e, ctx, personID, fn, c
	s.cat = c.cat
	return s
}

// commit runs the session's transaction until it commits, starting over
// when the flow states it used were stale or a version it needs was not
// compiled.
func (s *session) commit() error {
	e, ctx, c := s.e, s.ctx, s.call
	for attempt := 0; ; attempt++ {
		if s.cat == nil {
			// The transaction checks the cached states against the
			// store's revision (see inTx): read them only when none are.
			if s.cat = e.cat.snap.Load(); s.cat == nil {
				cat, err := e.flowStates(ctx)
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
			if c.report != nil {
				*c.report = s.rep // what it would have done
			}
			return err
		}
	}
}

// transact runs the session's transaction once.
func (s *session) transact() error {
	e := s.e
	if s.call.ref != nil {
		ru := e.store.(store.RefUpdater)
		newID := uuid.Nil
		if s.call.newcomer != nil {
			newID = s.personID
		}
		s.ran = false
		_, err := ru.UpdateRef(s.ctx, *s.call.ref, newID, s.refFn)
		if errors.Is(err, store.ErrNotFound) && !s.ran {
			return errUnknownPerson
		}
		return err
	}
	return e.store.Update(s.ctx, s.personID, s.txFn)
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

// finish does what follows a committed session: observations, the
// report, and the calls of the steps it put in flight.
func (s *session) finish() error {
	e, ctx, c := s.e, s.ctx, s.call
	if len(s.observed) > 0 || len(s.failures) > 0 {
		e.emitObservations(ctx, s.observed, s.failures)
	}
	if c.report != nil {
		*c.report = s.rep
	}
	if len(s.effects) == 0 {
		return nil
	}
	effects := slices.Clone(s.effects)
	if c.effects != nil {
		*c.effects = append(*c.effects, effects...)
		return nil
	}
	return e.perform(ctx, effects)
}

// inRef is the transaction function of a call by reference: the store
// names the person.
func (s *session) inRef(personID uuid.UUID, tx store.Tx) error {
	s.personID, s.ran = personID, true
	return s.inTx(tx)
}

// inTx is the session's transaction function, bound once per pooled
// session.
func (s *session) inTx(tx store.Tx) error {
	s.reset(tx)
	rev, err := tx.FlowsRevision()
	if err != nil {
		return err
	}
	if rev != s.cat.rev {
		return errStaleCatalog
	}
	p, err := tx.Person()
	switch {
	case err == nil:
		s.person, s.startPerson = p, p
	case !errors.Is(err, store.ErrNotFound):
		return err
	case s.call.newcomer == nil:
		if s.call.byRef {
			return errUnknownPerson
		}
		// An engine call on a participant's person: fn decides.
	default:
		who := s.call.newcomer
		s.person = &store.Person{ID: s.personID, ExternalID: who.ExternalID, CreatedAt: s.now}
		if who.Phone != "" {
			s.person.Phones = []string{who.Phone}
		}
		if who.Email != "" {
			s.person.Emails = []string{who.Email}
		}
		s.personDirty = true
	}
	if s.call.why != "" && s.person != nil && !s.personDirty {
		s.catchUp(s.call.why)
	}
	if err := s.fn(s); err != nil {
		return err
	}
	if s.err == nil {
		s.drain()
	}
	if s.err != nil {
		return s.err
	}
	return s.flush()
}

// fail records the session's first store error; steps stop at it.
func (s *session) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// sessions recycles sessions, and with them the buffers of their Run:
// a call is short and the engine makes millions of them.
var sessions = sync.Pool{New: func() any {
	s := new(session)
	s.txFn, s.refFn, s.historyFn = s.inTx, s.inRef, s.history
	return s
}}

// reset readies a session for a call's transaction, keeping its buffers.
// It keeps the call (engine, person, fn, catalog): a store may run the
// transaction function more than once.
func (s *session) reset(tx store.Tx) {
	b := s.blank()
	b.e, b.ctx, b.tx, b.personID, b.now = s.e, s.ctx, tx, s.personID, s.e.Now()
	b.call, b.cat, b.fn, b.ran = s.call, s.cat, s.fn, s.ran
	*s = b
}

// release clears what the session points to and returns it to the pool.
// Nothing may use the session after.
func (s *session) release() {
	clear(s.counts[:cap(s.counts)])
	clear(s.marks[:cap(s.marks)])
	clear(s.queue[:cap(s.queue)])
	clear(s.observed[:s.observedMax])
	s.observedMax = 0
	clear(s.failures[:cap(s.failures)])
	s.runBuf.Reset(element.Run{})
	*s = s.blank()
	sessions.Put(s)
}

// blank returns an empty session with s's buffers and bound functions.
func (s *session) blank() session {
	spare := s.spareVars
	if len(spare) > 0 { // a failed step may have written into it
		spare = nil
	}
	return session{
		txFn: s.txFn, refFn: s.refFn, historyFn: s.historyFn, runBuf: s.runBuf, spareVars: spare,
		counts: s.counts[:0], marks: s.marks[:0], queue: s.queue[:0],
		observed: s.observed[:0], failures: s.failures[:0], observedMax: s.observedMax,
	}
}

// loadParts reads the person's participants once per session; false on a
// store error.
func (s *session) loadParts() bool {
	if s.partsLoaded {
		return true
	}
	parts, err := s.tx.Participants()
	if err != nil {
		s.fail(err)
		return false
	}
	s.parts = parts
	s.partsLoaded = true
	return true
}

// participant returns one of the person's participants, nil when there
// is none (or on a store error, kept in s.err).
func (s *session) participant(id uuid.UUID) *store.Participant {
	if !s.loadParts() {
		return nil
	}
	for _, p := range s.parts {
		if p.ID == id {
			return p
		}
	}
	return nil
}

func (s *session) dirty(p *store.Participant) {
	if !slices.Contains(s.changed, p) {
		s.changed = append(s.changed, p)
	}
}

// flowState returns a flow's state from the call's snapshot.
func (s *session) flowState(flowID string) (*store.FlowState, error) {
	if st, ok := s.cat.states[flowID]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("flow %q: %w", flowID, store.ErrNotFound)
}

// flowStatus returns a flow's status, "" for a flow that does not exist.
func (s *session) flowStatus(flowID string) store.FlowStatus {
	st, err := s.flowState(flowID)
	if err != nil {
		return ""
	}
	return st.Status
}

// compiled returns a compiled flow version, or nil when the engine has
// not compiled it yet: the session then fails with needCompiled, and the
// call starts over once it is.
func (s *session) compiled(flowID string, version int) *compiled {
	if c, ok := s.e.flows.Load(flowKey{flowID, version}); ok {
		return c.(*compiled)
	}
	s.fail(&needCompiled{flowID, version})
	return nil
}

// enter creates a participant in the flow's latest version, entered by
// an entry point of type entryType (see checkEnter), which the journal
// and Participant.EnteredBy call via, and runs it. A non-empty key makes
// the entry idempotent: entering again with it returns the participant
// it made.
func (s *session) enter(flowID, entryType string, vars map[string]any, entry *store.Event, key, via string) (*store.Participant, error) {
	c, err := s.checkEnter(flowID, entryType)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	if key != "" {
		id = uuid.NewSHA1(uuid.NameSpaceOID, []byte("flowkit:"+flowID+":"+key))
		if p := s.participant(id); p != nil || s.err != nil {
			return p, s.err
		}
	}
	if err := s.checkReentry(c); err != nil {
		return nil, err
	}
	values, err := c.initialVars(vars)
	if err != nil {
		return nil, err
	}
	p := &store.Participant{
		ID: id, PersonID: s.personID, FlowID: flowID, FlowVersion: c.flow.Version,
		Status: store.Active, Element: c.start.id, Vars: values, Entry: entry, EnteredBy: via,
		EnteredAt: s.now, ArrivedAt: s.now, LastActivityAt: s.now,
	}
	s.parts = append(s.parts, p)
	if s.call.report != nil {
		s.rep.Entered = append(s.rep.Entered, Entrant{FlowID: flowID, Participant: p.ID, By: via})
	}
	s.begin(c, p, entry)
	return p, s.err
}

// begin counts a participant's entry, records its EnteredFlow event and
// runs its first steps.
func (s *session) begin(c *compiled, p *store.Participant, entry *store.Event) {
	s.dirty(p)
	s.marksOf(p).enteredQ = len(s.queue) + 1 // after its own EnteredFlow event
	s.count(c, c.start.id, keyEntered)
	s.emit(p, store.Product, store.EnteredFlow, c.enteredProps, "entered")
	s.observe(Observation{What: ObservedEnter, FlowID: p.FlowID, FlowVersion: c.flow.Version, ElementID: c.start.id, Participant: p.ID, Reason: "entered by " + p.EnteredBy})
	s.advance(c, p, entry)
}

// checkReentry applies the flow's re-entry rule to the person.
func (s *session) checkReentry(c *compiled) error {
	if !s.loadParts() {
		return s.err
	}
	r := c.journey.reentry
	in, last := 0, time.Time{}
	var ever bool
	for _, p := range s.parts {
		if p.FlowID != c.flow.ID || pending(p) {
			continue // pending entries have not entered yet
		}
		ever = true
		if !p.Status.Done() {
			in++
		}
		if p.EnteredAt.After(last) {
			last = p.EnteredAt
		}
	}
	refuse := func(why string) error {
		return fmt.Errorf("flow %q, person %s: re-entry rule %s: %s: %w", c.flow.ID, s.personID, r.Rule, why, ErrAlreadyInFlow)
	}
	switch r.Rule {
	case ReenterOnce:
		if ever {
			return refuse("entered once already")
		}
	case ReenterConcurrent:
		if r.Max > 0 && in >= r.Max {
			return refuse(fmt.Sprintf("in the flow %d times at once already", in))
		}
	case ReenterAfterCoolDown:
		if in > 0 {
			return refuse("still in the flow")
		}
		if ever {
			if next := r.CoolDown.After(last, c.loc); s.now.Before(next) {
				return refuse(fmt.Sprintf("last entered %s, cool-down %s ends %s", last.UTC().Format(time.RFC3339), r.CoolDown, next.UTC().Format(time.RFC3339)))
			}
		}
	default:
		if in > 0 {
			return refuse("still in the flow")
		}
	}
	return nil
}

// allows reports whether the flow version takes people by an entry point
// of the given type.
func (c *compiled) allows(entryType string) bool {
	switch entryType {
	case EntryAPI:
		return c.journey.api
	case EntryExistingFlow:
		return c.journey.existing
	}
	return true
}

// checkEnter returns the flow version new participants enter by an entry
// point of type entryType (an Entry type), or why they cannot.
func (s *session) checkEnter(flowID, entryType string) (*compiled, error) {
	st, err := s.flowState(flowID)
	if err != nil {
		return nil, err
	}
	if st.Status != store.FlowActive {
		return nil, fmt.Errorf("flow %q is %s: %w", flowID, st.Status, ErrFlowNotActive)
	}
	c := s.compiled(flowID, st.Latest)
	if c == nil {
		return nil, s.err
	}
	if !c.allows(entryType) {
		return nil, fmt.Errorf("flow %q declares no %s entry: %w", flowID, entryType, ErrNoEntryPoint)
	}
	sch := c.flow.Schedule
	if !sch.Start.IsZero() && s.now.Before(sch.Start) {
		return nil, fmt.Errorf("flow %q starts at %s: %w", flowID, sch.Start.Format(time.RFC3339), ErrFlowNotActive)
	}
	if !sch.End.IsZero() && !s.now.Before(sch.End) {
		return nil, fmt.Errorf("flow %q ended at %s: %w", flowID, sch.End.Format(time.RFC3339), ErrFlowNotActive)
	}
	return c, nil
}

// initialVars returns the declared defaults overridden by the given
// values, converted to their types.
func (c *compiled) initialVars(given map[string]any) (map[string]any, error) {
	if len(c.flow.Variables) == 0 && len(given) == 0 {
		return nil, nil
	}
	vars := make(map[string]any, len(c.flow.Variables))
	for name, v := range c.flow.Variables {
		if v.Default != nil {
			vars[name] = clone.Value(v.Default)
		}
	}
	for name, v := range given {
		t, ok := c.vars[name]
		if !ok {
			return nil, &InputError{Field: "vars." + name, Err: fmt.Errorf("flow %q: variable %q is not declared", c.flow.ID, name)}
		}
		cv, err := values.Convert(t, v)
		if err != nil {
			return nil, &InputError{Field: "vars." + name, Err: fmt.Errorf("flow %q: variable %q: %w", c.flow.ID, name, err)}
		}
		vars[name] = clone.Value(cv)
	}
	return vars, nil
}

// advance runs an active participant until it waits, leaves the flow or
// reaches a step that calls outside, which it puts in flight.
func (s *session) advance(c *compiled, p *store.Participant, ev *store.Event) {
	for p.Status == store.Active && s.err == nil {
		n := c.nodes[p.Element]
		m := s.marksOf(p)
		if m.steps >= s.e.cfg.MaxSteps {
			s.leave(c, p, store.Failed, fmt.Sprintf("ran %d steps in one call without waiting: a loop without a wait? (limit Config.MaxSteps)", s.e.cfg.MaxSteps))
			return
		}
		m.steps++
		if n.external {
			s.beginEffect(c, p, n, nil, ev)
			return
		}
		r := s.newRun(c, p, ev)
		if s.e.observing {
			s.startClock()
		}
		out, err := callElement(func() (element.Outcome, error) { return n.element.Run(s.ctx, r) })
		if s.e.observing {
			s.stopClock()
		}
		s.apply(c, p, n, r, out, err)
		ev = nil
	}
}

// wake resumes a waiting participant, then runs it on.
func (s *session) wake(c *compiled, p *store.Participant, w element.Wake) {
	n := c.nodes[p.Element]
	if w.Timer && (p.Wait.Deadline.IsZero() || s.now.Before(p.Wait.Deadline)) {
		// The timer was the flow's bound, not the element's.
		reason := "no element activated for a year: left the flow"
		if limit := s.e.cfg.InactivityLimit; limit > 0 {
			reason = fmt.Sprintf("no element activated for %s: left the flow", humanDuration(limit))
		}
		if end := c.flow.Schedule.End; !end.IsZero() && !s.now.Before(end) {
			reason = "flow schedule ended at " + end.Format(time.RFC3339) + ": left the flow"
		}
		s.leave(c, p, store.Completed, reason)
		return
	}
	if n.resumer == nil {
		s.leave(c, p, store.Failed, fmt.Sprintf("element %q (%s) cannot resume a wait", n.id, n.element.Kind()))
		return
	}
	if w.Event != nil && s.call.report != nil {
		s.rep.Woken = append(s.rep.Woken, p.ID)
	}
	if n.external {
		s.observeResume(c, p, n, w)
		s.count(c, n.id, keyWaiting, -1)
		s.beginEffect(c, p, n, p.Wait, w.Event)
		return
	}
	r := s.newRun(c, p, w.Event)
	s.waitBuf = element.Wait{Until: p.Wait.Deadline, Events: p.Wait.Events, State: p.Wait.State}
	r.Wait = &s.waitBuf
	s.observeResume(c, p, n, w)
	if s.e.observing {
		s.startClock()
	}
	out, err := callElement(func() (element.Outcome, error) { return n.resumer.Resume(s.ctx, r, w) })
	if s.e.observing {
		s.stopClock()
	}
	s.apply(c, p, n, r, out, err)
	s.advance(c, p, nil)
}

func (s *session) newRun(c *compiled, p *store.Participant, ev *store.Event) *element.Run {
	vars := p.Vars
	if vars == nil {
		// Kept only if a step sets a variable (see apply): a participant
		// without variables stores none, and steps share one empty map.
		if s.spareVars == nil {
			s.spareVars = map[string]any{}
		}
		vars = s.spareVars
	}
	// One Run serves every step of the session: elements must not keep it
	// past their call (see element.Run).
	r := s.run
	if r == nil {
		r = &s.runBuf
		s.run = r
	}
	r.Reset(element.Run{
		Now: s.now, Location: c.loc, FlowID: p.FlowID, FlowVersion: p.FlowVersion, ElementID: p.Element,
		Participant: p.ID, Seq: p.Seq + 1, EnteredAt: p.EnteredAt, ArrivedAt: p.ArrivedAt,
		Person: s.person, Vars: vars, Entry: p.Entry, Event: ev, History: s.historyFn, Ports: s.ports(),
	})
	return r
}

// callElement runs an element's step, turning a panic into its error.
func callElement(f func() (element.Outcome, error)) (out element.Outcome, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = element.Outcome{}, fmt.Errorf("element panicked: %v", v)
		}
	}()
	return f()
}

// apply commits a step's outcome to the participant.
func (s *session) apply(c *compiled, p *store.Participant, n *node, r *element.Run, out element.Outcome, err error) {
	out, err = r.Redact(out, err) // no host setting's value is kept
	p.Seq = r.Seq
	eff := r.Effects()
	for _, k := range eff.Counters { // element counters count what happened, failed step or not
		s.count(c, n.id, k.Key, k.N)
	}
	if p.Vars == nil && len(r.Vars) > 0 {
		p.Vars = r.Vars
		s.spareVars = nil // now the participant's
	}
	if err == nil {
		if eff.Person != nil {
			s.person = eff.Person
			s.personDirty = true
		}
		for _, ev := range eff.Events {
			s.record(ev)
		}
	}
	s.dirty(p)
	wasWaiting := p.Status == store.Waiting
	if s.e.observing || err != nil {
		s.observeStep(c, p, n, out, err)
	}
	switch {
	case err != nil:
		s.count(c, n.id, keyErrors)
		if t, ok := n.next[element.BranchError]; ok {
			s.leaveWait(c, p, wasWaiting)
			s.journal(p, n.id, element.BranchError, "failed: "+err.Error())
			s.count(c, n.id, n.leftKey(element.BranchError))
			s.moveTo(c, p, t)
			return
		}
		s.leave(c, p, store.Failed, fmt.Sprintf("element %q failed: %v", n.id, err))
	case out.Wait != nil:
		if !wasWaiting {
			s.count(c, n.id, keyWaiting)
			m := s.marksOf(p)
			m.arrivedQ, m.arrived = len(s.queue), true
			p.LastActivityAt = s.now
		}
		p.Status = store.Waiting
		p.Wait = s.waitOf(c, p, out.Wait)
		if out.Reason != "" {
			s.journal(p, n.id, "", out.Reason)
		}
	case out.Branch == "":
		s.leave(c, p, store.Completed, out.Reason)
	default:
		s.leaveWait(c, p, wasWaiting)
		p.LastActivityAt = s.now
		s.journal(p, n.id, out.Branch, out.Reason)
		s.count(c, n.id, n.leftKey(out.Branch))
		t := n.next[out.Branch]
		if t == nil {
			p.Status = store.Active // leave reads the status it leaves from
			s.leave(c, p, store.Completed, fmt.Sprintf("left the flow after %s (no element after branch %q)", n.id, out.Branch))
			return
		}
		s.moveTo(c, p, t)
	}
}

func (s *session) moveTo(c *compiled, p *store.Participant, t *node) {
	p.Status = store.Active
	p.Element = t.id
	p.ArrivedAt = s.now
	p.LastActivityAt = s.now
	s.count(c, t.id, keyEntered)
}

func (s *session) leaveWait(c *compiled, p *store.Participant, wasWaiting bool) {
	if wasWaiting {
		s.count(c, p.Element, keyWaiting, -1)
		p.Wait = nil
	}
}

// waitOf bounds an element's wait by the flow's schedule end and the
// inactivity limit.
func (s *session) waitOf(c *compiled, p *store.Participant, w *element.Wait) *store.Wait {
	bound := p.LastActivityAt.In(c.loc).AddDate(1, 0, 0)
	if limit := s.e.cfg.InactivityLimit; limit > 0 {
		bound = p.LastActivityAt.Add(limit)
	}
	if end := c.flow.Schedule.End; !end.IsZero() && end.Before(bound) {
		bound = end
	}
	until := w.Until
	if until.IsZero() || until.After(bound) {
		until = bound
	}
	return &store.Wait{Until: until, Deadline: w.Until, Events: w.Events, State: w.State}
}

// leave ends the participant's journey.
func (s *session) leave(c *compiled, p *store.Participant, status store.Status, reason string) {
	s.leaveWait(c, p, p.Status == store.Waiting)
	if p.Status == store.InFlight {
		s.count(c, p.Element, keyInFlight, -1)
		p.Effect = nil
	}
	p.Status = status
	p.Reason = reason
	p.ExitedAt = s.now
	p.Wait = nil
	s.journal(p, p.Element, "", reason)
	s.dirty(p)
	s.emit(p, store.Product, store.ExitedFlow, c.exitProps(status, reason), "exited")
	what := ObservedExit
	if status == store.Failed {
		what = ObservedFailure
	}
	kind := ""
	if n := c.nodes[p.Element]; n != nil {
		kind = n.element.Kind()
	}
	s.observe(Observation{What: what, FlowID: p.FlowID, FlowVersion: p.FlowVersion, ElementID: p.Element, Kind: kind, Participant: p.ID, Reason: reason, Duration: s.took})
}

// journal appends a step to the participant's journal, dropping the
// oldest past Config.JournalLimit. The journal is the session's own copy
// (the store copies what it returns and what it is given), so it is
// changed in place.
func (s *session) journal(p *store.Participant, elementID, branch, reason string) {
	if limit := s.e.cfg.JournalLimit; len(p.Journal) >= limit {
		p.Journal = p.Journal[:copy(p.Journal, p.Journal[len(p.Journal)-limit+1:])]
	}
	p.Journal = append(p.Journal, store.Step{Seq: p.Seq, At: s.now, Element: elementID, Branch: branch, Reason: reason})
}

func (s *session) count(c *compiled, elementID, key string, delta ...int64) {
	n := int64(1)
	if len(delta) > 0 {
		n = delta[0]
	}
	k := countKey{c.flow.ID, c.flow.Version, elementID, key}
	// Most calls touch a few counters: scan them; index long runs.
	if s.countIdx == nil {
		for i := len(s.counts) - 1; i >= 0; i-- { // recent counters first
			if x := &s.counts[i]; x.Key == key && x.Element == elementID && x.FlowID == c.flow.ID && x.FlowVersion == c.flow.Version {
				x.N += n
				return
			}
		}
		if len(s.counts) == 32 {
			s.countIdx = make(map[countKey]int, 32)
			for i, x := range s.counts {
				s.countIdx[countKey{x.FlowID, x.FlowVersion, x.Element, x.Key}] = i
			}
		}
	} else if i, ok := s.countIdx[k]; ok {
		s.counts[i].N += n
		return
	}
	if cap(s.counts) == 0 {
		s.counts = make([]store.Counter, 0, 4)
	}
	if s.countIdx != nil {
		s.countIdx[k] = len(s.counts)
	}
	s.counts = append(s.counts, store.Counter{FlowID: c.flow.ID, FlowVersion: c.flow.Version, Element: elementID, Key: key, N: n})
}

// countKey names a counter within a session.
type countKey struct {
	flowID       string
	version      int
	element, key string
}

// emit records an engine event about the participant.
func (s *session) emit(p *store.Participant, cat store.Category, name string, props map[string]any, suffix string) {
	var buf [64]byte
	id := append(appendUUID(buf[:0], p.ID), ':')
	s.record(&store.Event{
		ID: string(append(id, suffix...)), PersonID: s.personID, Category: cat, Name: name,
		Properties: props, Time: s.now,
	})
}

// appendUUID appends id in its canonical text form, as id.String() does.
func appendUUID(b []byte, id uuid.UUID) []byte {
	const digits = "0123456789abcdef"
	for i, x := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, digits[x>>4], digits[x&0xf])
	}
	return b
}

// record stores an event the engine made and queues it for the person's
// participants. Its ID is unique by construction (named after its
// participant and step, or random), so the store need not look it up.
func (s *session) record(ev *store.Event) {
	ev.PersonID = s.personID
	if err := s.tx.AppendEvent(ev); err != nil {
		s.fail(err)
		return
	}
	s.queue = append(s.queue, ev)
}

// drain hands queued events to waiting participants and triggers, and runs
// queued flow entries, until none are left.
func (s *session) drain() {
	handled := 0
	for (s.qi < len(s.queue) || len(s.entries) > 0) && s.err == nil {
		if handled++; handled > maxSessionEvents {
			s.fail(fmt.Errorf("person %s: more than %d events and flow entries cascaded from one call: flows trigger each other in a loop", s.personID, maxSessionEvents))
			return
		}
		if len(s.entries) > 0 {
			en := s.entries[0]
			s.entries = s.entries[1:]
			if _, err := s.enter(en.flowID, EntryExistingFlow, en.vars, nil, en.key, "another flow"); err != nil && !refused(err) {
				s.fail(err)
			}
			continue
		}
		qi := s.qi
		ev := s.queue[qi]
		s.qi++
		s.dispatch(qi, ev)
	}
	if s.err == nil && s.personEntries() {
		s.drain()
	}
}

// dispatch hands one event to the participants waiting for it (or holds
// it for those in flight) and enters the person into flows it triggers.
func (s *session) dispatch(qi int, ev *store.Event) {
	if !s.loadParts() {
		return
	}
	var buf [4]*store.Participant
	offered := buf[:0]
	for _, p := range s.parts {
		if !p.Status.Done() && !pending(p) {
			offered = append(offered, p)
		}
	}
	for _, p := range offered {
		if s.err != nil {
			return
		}
		if p.Status == store.InFlight && s.inFlightSince(p, qi) {
			continue // its own step's event, or one before it went in flight
		}
		s.offer(p, ev, qi)
	}
	for _, te := range s.cat.triggers[ev.Name] {
		if te.category != ev.Category {
			continue
		}
		if te.where != nil {
			ok, err := te.where.Match(ev, s.subject(nil, ev, te.loc))
			if err != nil {
				s.e.log.WarnContext(s.ctx, "flowkit: an event entry's conditions could not be evaluated", "flow", te.flowID, "event", ev.ID, "err", err)
				continue
			}
			if !ok {
				continue
			}
		}
		_, err := s.enter(te.flowID, EntryEvent, nil, ev, "", te.label)
		if err != nil && !refused(err) {
			s.fail(err)
			return
		}
		if err != nil {
			s.refuse(te.flowID, err)
		}
	}
}

// refuse notes an entry refused by a flow's rules, for the report.
func (s *session) refuse(flowID string, err error) {
	if s.call.report != nil {
		s.rep.Refused = append(s.rep.Refused, Refusal{FlowID: flowID, Err: err})
	}
}

// refused reports whether an entry was refused by the flow's rules rather
// than failed.
func refused(err error) bool {
	return errors.Is(err, ErrAlreadyInFlow) || errors.Is(err, ErrFlowNotActive) || errors.Is(err, ErrNoEntryPoint)
}

// subject is the segment subject of the person, for a participant (nil
// for none) and an event being matched.
func (s *session) subject(p *store.Participant, ev *store.Event, loc *time.Location) *segment.Subject {
	sub := &segment.Subject{Person: s.person, Now: s.now, Location: loc, Events: s.historyFn}
	if p != nil {
		sub.Vars, sub.Entry, sub.EnteredAt = p.Vars, p.Entry, p.EnteredAt
	} else {
		sub.Entry = ev
	}
	return sub
}

// inFlightSince reports whether p went in flight in this session after
// the event at queue index qi was queued: the event came before the step,
// which sees it (in the history) when it runs.
func (s *session) inFlightSince(p *store.Participant, qi int) bool {
	if !slices.Contains(s.inFlight, p) {
		return false
	}
	m := s.marksOf(p)
	return m.arrived && qi < m.arrivedQ
}

// flush writes the person and the changed participants, and takes the
// copies that the calls of participants put in flight run on.
func (s *session) flush() error {
	if s.personDirty {
		s.person.UpdatedAt = s.now
		if err := s.tx.PutPerson(s.person); err != nil {
			return err
		}
	}
	for _, p := range s.inFlight {
		if p.Status == store.InFlight && !slices.ContainsFunc(s.effects, func(e effect) bool { return e.part.ID == p.ID }) {
			s.effects = append(s.effects, effect{part: p.Clone(), person: s.person.Clone(), steps: s.marksOf(p).steps})
		}
	}
	for _, p := range s.changed {
		if err := s.tx.PutParticipant(p); err != nil {
			return err
		}
	}
	if len(s.counts) > 0 {
		s.tx.Count(s.counts...)
	}
	return nil
}

// participantMarks are what a session notes about one participant: the
// steps it ran in this call, and the queue length when it started its
// current wait (events queued earlier happened before it arrived and do
// not wake it).
type participantMarks struct {
	p        *store.Participant
	steps    int
	arrivedQ int
	arrived  bool
	// enteredQ is one past the queue index of the participant's
	// EnteredFlow event when it entered in this session: events queued
	// before do not apply its exit rules and goals. 0 for a participant
	// that entered before the session.
	enteredQ int
}

func (s *session) marksOf(p *store.Participant) *participantMarks {
	for i := range s.marks {
		if s.marks[i].p == p {
			return &s.marks[i]
		}
	}
	s.marks = append(s.marks, participantMarks{p: p})
	return &s.marks[len(s.marks)-1]
}

// ports returns the ports lent to this session's steps.
func (s *session) ports() element.Ports {
	p := s.e.ports
	p.Flows = sessionFlows{s}
	return p
}

// history reads the person's events in the session's transaction.
func (s *session) history(q *store.EventQuery) ([]*store.Event, error) { return s.tx.Events(q) }

// sessionFlows lets steps enter people into flows.
type sessionFlows struct{ s *session }

func (f sessionFlows) Enter(ctx context.Context, flowID string, who store.PersonRef, vars map[string]any, key string) error {
	s := f.s
	if !who.IsZero() && who.ID != s.personID {
		// Another person's records are not this transaction's: entering
		// them is a step in flight (element.External), see effectFlows.
		return fmt.Errorf("flow %q: a step in the person's transaction cannot enter another person", flowID)
	}
	c, err := s.checkEnter(flowID, EntryExistingFlow)
	if err != nil {
		return err
	}
	if err := s.checkReentry(c); err != nil {
		return err
	}
	if _, err := c.initialVars(vars); err != nil {
		return err
	}
	s.entries = append(s.entries, pendingEntry{flowID: flowID, vars: clone.Map(vars), key: key})
	return nil
}

// enterOther enters another person into a flow by its Existing Flow entry,
// for a step that calls outside its own person's transaction (Add to Flow
// with a participant of its own, see element.External). key makes the
// entry happen once however often the step is tried.
func (e *Engine) enterOther(ctx context.Context, flowID string, who store.PersonRef, vars map[string]any, key string) error {
	return e.withPerson(ctx, who, !e.cfg.RefuseUnknownPeople, "an entry from another flow", nil, func(o *session) error {
		_, err := o.enter(flowID, EntryExistingFlow, vars, nil, key, "another flow")
		return err
	})
}

// personEvents lists the People events that turn before into after.
func personEvents(before, after *store.Person, now time.Time) []*store.Event {
	var out []*store.Event
	add := func(name string, props map[string]any) {
		id, _ := uuid.NewV7()
		out = append(out, &store.Event{ID: id.String(), PersonID: after.ID, Category: store.People, Name: name, Properties: props, Time: now})
	}
	eachChangedAttribute(before, after, func(n string, old, cur any) {
		add(store.AttributeChanged, map[string]any{"attribute": n, "old": old, "new": cur})
	})
	for _, t := range after.Tags {
		if !before.HasTag(t) {
			add(store.TagAdded, map[string]any{"tag": t})
		}
	}
	for _, t := range before.Tags {
		if !after.HasTag(t) {
			add(store.TagRemoved, map[string]any{"tag": t})
		}
	}
	contacts := []struct {
		before, after []string
		added, gone   string
	}{
		{before.DoNotContact, after.DoNotContact, store.AddedToDoNotContact, store.RemovedFromDoNotContact},
		{before.Phones, after.Phones, store.PhoneAdded, store.PhoneRemoved},
		{before.Emails, after.Emails, store.EmailAdded, store.EmailRemoved},
	}
	for _, c := range contacts {
		for i, a := range c.after { // each address once, in any spelling
			if !address.Contains(c.before, a) && !address.Contains(c.after[:i], a) {
				add(c.added, map[string]any{"address": a})
			}
		}
		for i, a := range c.before {
			if !address.Contains(c.after, a) && !address.Contains(c.before[:i], a) {
				add(c.gone, map[string]any{"address": a})
			}
		}
	}
	return out
}

// eachChangedAttribute calls fn for each standard or custom attribute
// whose value differs between before and after, in name order, with both
// values (nil for empty).
func eachChangedAttribute(before, after *store.Person, fn func(name string, old, cur any)) {
	names := make([]string, 0, len(values.StandardAttributes)+len(after.Attributes))
	for n := range values.StandardAttributes {
		names = append(names, n)
	}
	for n := range before.Attributes {
		names = append(names, n)
	}
	for n := range after.Attributes {
		names = append(names, n)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, n := range names {
		old, had := before.Get(n)
		cur, has := after.Get(n)
		if !had {
			old = nil
		}
		if !has {
			cur = nil
		}
		if !values.Equal(old, cur) {
			fn(n, old, cur)
		}
	}
}

func humanDuration(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	switch {
	case days == 365:
		return "a year"
	case days > 0 && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", days)
	}
	return strings.TrimSuffix(d.String(), "0s")
}
