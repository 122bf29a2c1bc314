package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/address"
	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/store"
)

// A step of an External element runs in three moves:
//
//  1. In the person's transaction the participant is marked in flight
//     (store.InFlight, with a store.Effect naming the step and a lease as
//     its timer), and the transaction commits.
//  2. The element runs with no transaction, lock or connection held, on a
//     copy of the participant and the person as they were committed.
//  3. A second short transaction commits the result, if the participant
//     is still in flight on the same step and attempt, and runs it on.
//
// A process that dies between the moves leaves the participant in flight;
// its lease timer fires and the step runs again with the same Seq, so the
// same idempotency key. Only the current attempt commits a result, so a
// participant never moves on twice.

// maxHeldEvents bounds the events kept for a participant in flight, to be
// handed to it after its result commits. Later events stay in the history,
// where waits that look back still find them.
const maxHeldEvents = 100

// effect is a step whose intent committed and whose call is to be made.
type effect struct {
	part   *store.Participant // as committed in move 1, the engine's copy
	person *store.Person      // likewise
	// steps are the steps the participant ran in this engine call, so that
	// Config.MaxSteps bounds loops through external elements too.
	steps int
}

// beginEffect marks p in flight at node n: move 1. resumed is the wait the
// step resumes (nil on arrival) and ev the event that woke or entered it.
func (s *session) beginEffect(c *compiled, p *store.Participant, n *node, resumed *store.Wait, ev *store.Event) {
	var held []*store.Event
	if p.Effect != nil {
		held = p.Effect.Held // carried over from a previous external step
	}
	p.Status = store.InFlight
	p.Effect = &store.Effect{Seq: p.Seq + 1, Started: s.now, Resumed: resumed, Event: ev, Held: held}
	// The lease runs from the clock's time: a step run as of an earlier
	// time (see overdue) still gets its whole lease.
	p.Wait = &store.Wait{Until: s.e.Now().Add(s.e.cfg.EffectLease)}
	s.count(c, n.id, keyInFlight)
	s.ptx.dirty(p)
	s.rec.inFlight = append(s.rec.inFlight, p)
	// Events recorded from here on are held for it (see dispatch).
	m := s.route.marksOf(p)
	m.arrivedQ, m.arrived = len(s.rec.events), true
}

// retryEffect starts another attempt of p's step in flight, whose lease
// ended, or (orphan) whose calling process the store knows died: the
// process that made the call did not commit its result.
func (s *session) retryEffect(p *store.Participant, orphan bool) {
	e := *p.Effect
	e.Attempt++
	e.Started = s.now
	p.Effect = &e
	p.Wait = &store.Wait{Until: s.now.Add(s.e.cfg.EffectLease)}
	why := "the call in flight since its lease began did not finish"
	if orphan {
		why = "the process making the call in flight died"
	}
	s.journal(p, p.Element, "", fmt.Sprintf("%s: calling again (attempt %d, same idempotency key)", why, e.Attempt+1))
	s.ptx.dirty(p)
	s.rec.inFlight = append(s.rec.inFlight, p)
}

// hold keeps an event delivered while p is in flight, for after its
// result commits.
func (s *session) hold(p *store.Participant, ev *store.Event) {
	if p.Effect == nil {
		return
	}
	e := *p.Effect
	if len(e.Held) >= maxHeldEvents || slices.ContainsFunc(e.Held, func(h *store.Event) bool { return h.ID == ev.ID }) {
		return
	}
	e.Held = append(slices.Clip(e.Held), ev)
	p.Effect = &e
	s.ptx.dirty(p)
}

// perform makes the calls of effects, move 2, and commits each result,
// move 3; results that run on into other external steps are performed in
// turn. See performer for the order and overlap of the calls.
func (e *Engine) perform(ctx context.Context, effects []effect) error {
	if len(effects) == 1 { // one person's call: no one to overlap with
		return e.performChain(ctx, effects[0], func() {})
	}
	pf := e.newPerformer(ctx)
	pf.start(effects)
	return pf.wait()
}

// performChain makes an effect's call and commits its result, then does
// the same for the external steps the participant runs into next, and
// returns the first error. calling is called when the first call begins.
func (e *Engine) performChain(ctx context.Context, ef effect, calling func()) error {
	var first error
	for pending := []effect{ef}; len(pending) > 0; {
		more, err := e.performOne(ctx, pending[0], calling)
		calling = func() {} // chained steps start on their own
		pending = append(pending[1:], more...)
		if first == nil {
			first = err
		}
	}
	return first
}

// performer makes the calls of effects as they are started, up to
// Config.EffectConcurrency at once. Effects start in order, each once the
// one before it has begun its outside call (or finished): what a step
// does before calling (delivery windows, sending-speed slots, frequency
// caps) happens in due order, and slow calls overlap.
//
// Tick starts each timer's effects as soon as their intents commit, and
// reserves a slot before it fires the timer: an effect's lease runs from
// its intent, so an effect that waited for the rest of the tick's timers
// to fire, or for a slot, could see its lease end before its call began,
// and another process would call again and supersede it, over and over
// when firing a batch takes longer than the lease.
type performer struct {
	e        *Engine
	ctx      context.Context
	slots    chan struct{}
	reserved bool // a slot is held for the next effect started
	wg       sync.WaitGroup
	mu       sync.Mutex
	first    error
}

func (e *Engine) newPerformer(ctx context.Context) *performer {
	return &performer{e: e, ctx: ctx, slots: make(chan struct{}, e.cfg.EffectConcurrency)}
}

// reserve waits for a free slot and holds it for the next effect started.
func (pf *performer) reserve() {
	if !pf.reserved {
		pf.slots <- struct{}{}
		pf.reserved = true
	}
}

// free returns how many calls could start now without waiting, at least 1.
func (pf *performer) free() int {
	n := cap(pf.slots) - len(pf.slots)
	if pf.reserved {
		n++ // the reserved slot is the next call's
	}
	return max(1, n)
}

// start begins the calls of effects, each on a goroutine of its own, and
// returns once the last has begun its outside call.
func (pf *performer) start(effects []effect) {
	for _, ef := range effects {
		if !pf.reserved {
			pf.slots <- struct{}{}
		}
		pf.reserved = false
		calling := make(chan struct{})
		pf.wg.Add(1)
		go func() {
			defer pf.wg.Done()
			defer func() { <-pf.slots }()
			var once sync.Once
			signal := func() { once.Do(func() { close(calling) }) }
			defer signal()
			if err := pf.e.performChain(pf.ctx, ef, signal); err != nil {
				pf.mu.Lock()
				if pf.first == nil {
					pf.first = err
				}
				pf.mu.Unlock()
			}
		}()
		<-calling
	}
}

// wait waits for the calls started to finish and their results to
// commit, and returns the first error.
func (pf *performer) wait() error {
	if pf.reserved {
		<-pf.slots
		pf.reserved = false
	}
	pf.wg.Wait()
	return pf.first
}

// performOne calls one effect's element and commits its result. It
// returns the effects the participant ran into next.
// calling is called when the element begins a call outside.
func (e *Engine) performOne(ctx context.Context, ef effect, calling func()) ([]effect, error) {
	p := ef.part
	c, err := e.compiled(ctx, p.FlowID, p.FlowVersion)
	if err != nil {
		return nil, err
	}
	n := c.nodes[p.Element]
	if n == nil {
		return nil, fmt.Errorf("flow %q version %d has no element %q", p.FlowID, p.FlowVersion, p.Element)
	}
	vars := p.Vars
	if vars == nil {
		vars = map[string]any{}
	}
	personID := p.PersonID
	history := func(q *store.EventQuery) ([]*store.Event, error) {
		var out []*store.Event
		err := e.store.Update(ctx, personID, func(tx store.Tx) error {
			var err error
			out, err = tx.Events(q)
			return err
		})
		return out, err
	}
	ports := e.ports
	ports.Flows = &flowPort{e: e} // enters other people only
	ports.Calling = calling       // the step tells when its call begins (Run.Calling)
	eff := p.Effect
	r := new(element.Run)
	runFor(r, c, p, element.Run{Now: e.Now(), Seq: eff.Seq, Person: ef.person, Vars: vars, Event: eff.Event, History: history, Ports: ports})
	var wake *element.Wake
	if w := eff.Resumed; w != nil && n.resumer != nil {
		r.Wait = &element.Wait{Until: w.Deadline, Events: w.Events, State: w.State}
		wake = &element.Wake{Timer: eff.Event == nil, Event: eff.Event}
	}
	start := time.Now()
	out, err := callElement(ctx, n, r, wake)
	took := time.Since(start)
	var next []effect
	settle := func() error {
		next = next[:0]
		return e.run(ctx, personID, func(s *session) error {
			s.st.took = took
			return s.settle(c, n, ef, r, out, err)
		}, call{effects: &next})
	}
	return next, e.commitResult(ctx, p, settle)
}

// commitResult runs settle, which commits a call's result, and runs it
// again while the store is unavailable (store.ErrUnavailable: its
// database restarts), with backoff, until it commits, ctx ends or the
// call's lease has passed: the result is kept, so the call is not made
// again, and it commits as soon as the store answers. A result whose
// commit did land before the store broke is found settled and left as
// it is.
func (e *Engine) commitResult(ctx context.Context, p *store.Participant, settle func() error) error {
	err := settle()
	if !errors.Is(err, store.ErrUnavailable) {
		return err
	}
	// Real time: this waits for the database, not for the flow's clock.
	deadline := time.Now().Add(e.cfg.EffectLease)
	e.log.WarnContext(ctx, "flowkit: the store is unavailable; committing a call's result again until it answers",
		"participant", p.ID.String(), "err", err)
	wait := resultRetryFirst
	for errors.Is(err, store.ErrUnavailable) && time.Now().Add(wait).Before(deadline) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, resultRetryMax)
		err = settle()
	}
	return err
}

// The waits between the attempts to commit a call's result while the
// store is unavailable: from the first, doubling up to the most, so that
// a result commits within resultRetryMax of the store's return.
const (
	resultRetryFirst = 25 * time.Millisecond
	resultRetryMax   = 250 * time.Millisecond
)

// settle commits an effect's result, move 3: unless the participant moved
// on or another attempt superseded this one, it takes the step's outcome
// and runs on, and then receives the events held while it was in flight.
func (s *session) settle(c *compiled, n *node, ef effect, r *element.Run, out element.Outcome, err error) error {
	p, perr := s.ptx.participant(ef.part.ID)
	if perr != nil {
		return perr
	}
	if p == nil || p.Status != store.InFlight || p.Effect == nil ||
		p.Effect.Seq != ef.part.Effect.Seq || p.Effect.Attempt != ef.part.Effect.Attempt {
		return nil // superseded: another attempt commits, or did
	}
	held := p.Effect.Held
	s.rec.count(c, n.id, keyInFlight, -1)
	if w := p.Effect.Resumed; w != nil {
		p.Status, p.Wait = store.Waiting, w
		s.count(c, n.id, keyWaiting)
	} else {
		p.Status, p.Wait = store.Active, nil
	}
	p.Effect = nil
	if len(r.Vars) > 0 || p.Vars != nil {
		p.Vars = r.Vars
	}
	if changed := r.Effects().Person; changed != nil {
		// The person may have changed since the intent committed: apply
		// what the step changed to the person as they are now.
		r.Person = mergePerson(ef.person, changed, s.ptx.person)
	}
	s.route.marksOf(p).steps = ef.steps
	out, err = r.Redact(out, err) // before the observer sees them
	what := ObservedCall
	if sn, ok := n.element.(element.Sends); ok && sn.Sends() {
		what = ObservedSend
	}
	if out.Wait == nil { // a step that holds made no call
		s.observe(Observation{What: what, FlowID: p.FlowID, FlowVersion: p.FlowVersion, ElementID: n.id, Kind: n.element.Kind(),
			Participant: p.ID, Branch: out.Branch, Reason: out.Reason, Duration: s.st.took, Err: err})
	}
	if err := s.apply(c, p, n, r, out, err); err != nil {
		return err
	}
	if err := s.advance(c, p, nil); err != nil {
		return err
	}
	for _, ev := range held {
		if err := s.offer(p, ev, -1); err != nil {
			return err
		}
	}
	return nil
}

// mergePerson applies to cur what a step changed from base to changed.
func mergePerson(base, changed, cur *store.Person) *store.Person {
	out := cur.Clone()
	// Only what the step changed: an attribute empty before and after
	// keeps whatever the person has now.
	eachChangedAttribute(base, changed, func(name string, _, now any) {
		out.Set(name, clone.Value(now))
	})
	for _, t := range changed.Tags {
		if !base.HasTag(t) {
			out.AddTag(t)
		}
	}
	for _, t := range base.Tags {
		if !changed.HasTag(t) {
			out.RemoveTag(t)
		}
	}
	out.Phones = mergeAddresses(base.Phones, changed.Phones, out.Phones)
	out.Emails = mergeAddresses(base.Emails, changed.Emails, out.Emails)
	out.DoNotContact = mergeAddresses(base.DoNotContact, changed.DoNotContact, out.DoNotContact)
	for ch, at := range changed.LastContacted {
		if was, ok := base.LastContacted[ch]; !ok || !was.Equal(at) {
			if out.LastContacted == nil {
				out.LastContacted = map[string]time.Time{}
			}
			out.LastContacted[ch] = at
		}
	}
	if !slices.Equal(base.Push, changed.Push) {
		out.Push = slices.Clone(changed.Push)
	}
	return out
}

// mergeAddresses applies to cur the addresses added and removed from base
// to changed, comparing them as the People events do (address.Same:
// a respelling is the same address).
func mergeAddresses(base, changed, cur []string) []string {
	out := slices.Clone(cur)
	for _, v := range changed {
		if !address.Contains(base, v) && !address.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, v := range base {
		if !address.Contains(changed, v) {
			out = slices.DeleteFunc(out, func(x string) bool { return address.Same(x, v) })
		}
	}
	return out
}
