package flow

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/uuidtext"
	"github.com/flowkit/flowkit/store"
)

// stepper holds what running elements needs besides the person's records
// and the record: the Run lent to every step of a call, and the step
// clock. Steps touch no Store: what they do goes into the record and the
// person's records, which flush writes.
type stepper struct {
	// Held here so a call allocates them along with its session; one Run
	// serves every step of a call (elements must not keep it past their
	// call, see element.Run).
	run       element.Run
	wait      element.Wait
	spareVars map[string]any // empty; lent to steps of participants without variables
	// took is how long the current step's element call took, when the
	// engine is observing; mark is the clock's last reading: a step
	// starts where the one before it ended, so each step costs one
	// reading.
	took time.Duration
	mark time.Time
	// flows is the element.Flows lent to the call's steps, bound to its
	// session once.
	flows flowPort
	// abort is an error a port the step called ended the transaction with
	// (a flow version not compiled yet, a store error): the element sees
	// it as a failed call, the call sees it as its error.
	abort error
}

// reset readies the stepper for a transaction, keeping its buffers.
func (st *stepper) reset() {
	spare := st.spareVars
	if len(spare) > 0 { // a failed step may have written into it
		spare = nil
	}
	*st = stepper{run: st.run, spareVars: spare, flows: st.flows}
}

// runFor readies r for p's step at its element in c: the participant's
// part of the Run, over the call's part (Now, Person, Vars, Event,
// History, Ports; Seq when it is not the participant's next).
func runFor(r *element.Run, c *compiled, p *store.Participant, call element.Run) {
	call.Location, call.FlowID, call.FlowVersion, call.ElementID = c.loc, p.FlowID, p.FlowVersion, p.Element
	call.Participant, call.EnteredAt, call.ArrivedAt, call.Entry = p.ID, p.EnteredAt, p.ArrivedAt, p.Entry
	if call.Seq == 0 {
		call.Seq = p.Seq + 1
	}
	r.Reset(call)
}

// callElement runs node n's element: its Run, or its Resume when w is
// not nil. A panic becomes the step's error.
func callElement(ctx context.Context, n *node, r *element.Run, w *element.Wake) (out element.Outcome, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = element.Outcome{}, fmt.Errorf("element panicked: %v", v)
		}
	}()
	if w != nil {
		return n.resumer.Resume(ctx, r, *w)
	}
	return n.element.Run(ctx, r)
}

// newRun readies the session's Run for p's step.
func (s *session) newRun(c *compiled, p *store.Participant, ev *store.Event) *element.Run {
	vars := p.Vars
	if vars == nil {
		// Kept only if a step sets a variable (see apply): a participant
		// without variables stores none, and steps share one empty map.
		if s.st.spareVars == nil {
			s.st.spareVars = map[string]any{}
		}
		vars = s.st.spareVars
	}
	r := &s.st.run
	runFor(r, c, p, element.Run{Now: s.now, Person: s.ptx.person, Vars: vars, Event: ev, History: s.historyFn, Ports: s.ports()})
	return r
}

// step runs p's element at node n, its Resume when w is not nil, and
// applies the outcome.
func (s *session) step(c *compiled, p *store.Participant, n *node, ev *store.Event, w *element.Wake) error {
	r := s.newRun(c, p, ev)
	if w != nil {
		s.st.wait = element.Wait{Until: p.Wait.Deadline, Events: p.Wait.Events, State: p.Wait.State}
		r.Wait = &s.st.wait
	}
	if s.rec.observing {
		s.st.startClock()
	}
	out, err := callElement(s.ctx, n, r, w)
	if s.rec.observing {
		s.st.stopClock()
	}
	if s.st.abort != nil {
		return s.st.abort
	}
	return s.apply(c, p, n, r, out, err)
}

// advance runs an active participant until it waits, leaves the flow or
// reaches a step that calls outside, which it puts in flight.
func (s *session) advance(c *compiled, p *store.Participant, ev *store.Event) error {
	for p.Status == store.Active {
		n := c.nodes[p.Element]
		m := s.route.marksOf(p)
		if m.steps >= s.e.cfg.MaxSteps {
			return s.leave(c, p, store.Failed, fmt.Sprintf("ran %d steps in one call without waiting: a loop without a wait? (limit Config.MaxSteps)", s.e.cfg.MaxSteps))
		}
		m.steps++
		if p.Holdout != "" && n.reaches {
			if err := s.holdOut(c, p, n); err != nil {
				return err
			}
			ev = nil
			continue
		}
		if n.experiment != nil && n.experiment.ends && s.cat != nil {
			if d := s.cat.decisions[decisionKey{p.FlowID, p.FlowVersion, n.id}]; d != nil {
				if err := s.takeWinner(c, p, n, d); err != nil {
					return err
				}
				ev = nil
				continue
			}
		}
		if n.external {
			s.beginEffect(c, p, n, nil, ev)
			return nil
		}
		if err := s.step(c, p, n, ev, nil); err != nil {
			return err
		}
		ev = nil
	}
	return nil
}

// wake resumes a waiting participant, then runs it on.
func (s *session) wake(c *compiled, p *store.Participant, w element.Wake) error {
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
		return s.leave(c, p, store.Completed, reason)
	}
	if n.resumer == nil {
		return s.leave(c, p, store.Failed, fmt.Sprintf("element %q (%s) cannot resume a wait", n.id, n.element.Kind()))
	}
	if w.Event != nil && s.rec.reporting {
		s.rec.rep.Woken = append(s.rec.rep.Woken, p.ID)
	}
	s.observeResume(p, n, w)
	if p.Holdout != "" && n.reaches {
		if err := s.holdOut(c, p, n); err != nil {
			return err
		}
		return s.advance(c, p, nil)
	}
	if n.external {
		s.rec.count(c, n.id, keyWaiting, -1)
		s.beginEffect(c, p, n, p.Wait, w.Event)
		return nil
	}
	if err := s.step(c, p, n, w.Event, &w); err != nil {
		return err
	}
	return s.advance(c, p, nil)
}

// apply commits a step's outcome to the participant.
func (s *session) apply(c *compiled, p *store.Participant, n *node, r *element.Run, out element.Outcome, err error) error {
	out, err = r.Redact(out, err) // no host setting's value is kept
	p.Seq = r.Seq
	eff := r.Effects()
	if len(eff.Notes) > 0 && err == nil {
		out.Reason = strings.Join(append([]string{out.Reason}, eff.Notes...), "; ")
	}
	for _, k := range eff.Counters { // element counters count what happened, failed step or not
		s.rec.count(c, n.id, k.Key, k.N)
	}
	if p.Vars == nil && len(r.Vars) > 0 {
		p.Vars = r.Vars
		s.st.spareVars = nil // now the participant's
	}
	if err == nil {
		if eff.Person != nil {
			s.ptx.setPerson(eff.Person)
		}
		for _, ev := range eff.Events {
			if err := s.record(ev); err != nil {
				return err
			}
		}
	}
	s.ptx.dirty(p)
	wasWaiting := p.Status == store.Waiting
	if s.rec.observing || err != nil {
		s.observeStep(p, n, out, err)
	}
	switch {
	case err != nil:
		s.count(c, n.id, keyErrors)
		if t, ok := n.next[element.BranchError]; ok {
			s.leaveWait(c, p, wasWaiting)
			s.journal(p, n.id, element.BranchError, "failed: "+err.Error())
			s.count(c, n.id, n.leftKey(element.BranchError))
			s.moveTo(c, p, t)
			return nil
		}
		return s.leave(c, p, store.Failed, fmt.Sprintf("element %q failed: %v", n.id, err))
	case out.Wait != nil:
		if !wasWaiting {
			s.count(c, n.id, keyWaiting)
			m := s.route.marksOf(p)
			m.arrivedQ, m.arrived = len(s.rec.events), true
			p.LastActivityAt = s.now
		}
		p.Status = store.Waiting
		p.Wait = c.waitOf(p, out.Wait, s.e.cfg.InactivityLimit)
		if out.Mismatch != "" {
			s.rec.mismatch(p.FlowID, p.ID, n.id, out.Mismatch)
			if out.Reason == "" {
				out.Reason = "still waiting: " + out.Mismatch
			}
		}
		if out.Reason != "" {
			s.journal(p, n.id, "", out.Reason)
		}
		return nil
	case out.Branch == "":
		return s.leave(c, p, store.Completed, out.Reason)
	}
	s.leaveWait(c, p, wasWaiting)
	p.LastActivityAt = s.now
	if x := n.experiment; x != nil && x.control == out.Branch && p.Holdout == "" {
		p.Holdout = n.id
	}
	s.journal(p, n.id, out.Branch, out.Reason)
	s.count(c, n.id, n.leftKey(out.Branch))
	t := n.next[out.Branch]
	if t == nil {
		p.Status = store.Active // leave reads the status it leaves from
		return s.leave(c, p, store.Completed, fmt.Sprintf("left the flow after %s (no element after branch %q)", n.id, out.Branch))
	}
	s.moveTo(c, p, t)
	return nil
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
		s.rec.count(c, p.Element, keyWaiting, -1)
		p.Wait = nil
	}
}

// waitOf bounds an element's wait by the flow's schedule end and the
// inactivity limit (Config.InactivityLimit).
func (c *compiled) waitOf(p *store.Participant, w *element.Wait, inactivity time.Duration) *store.Wait {
	bound := p.LastActivityAt.In(c.loc).AddDate(1, 0, 0)
	if limit := inactivity; limit > 0 {
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
func (s *session) leave(c *compiled, p *store.Participant, status store.Status, reason string) error {
	s.leaveWait(c, p, p.Status == store.Waiting)
	if p.Status == store.InFlight {
		s.rec.count(c, p.Element, keyInFlight, -1)
		p.Effect = nil
	}
	p.Status = status
	p.Reason = reason
	p.ExitedAt = s.now
	p.Wait = nil
	s.journal(p, p.Element, "", reason)
	if limit := s.e.cfg.FinishedJournalLimit; limit > 0 && len(p.Journal) > limit {
		// A copy of the most recent steps, so that the rest is freed.
		p.Journal = slices.Clone(p.Journal[len(p.Journal)-limit:])
	}
	s.ptx.dirty(p)
	suffix := "exited"
	if len(p.Operations) > 0 {
		// A retried participant may leave again: each exit its own event.
		suffix = "exited:" + strconv.FormatInt(p.Seq, 10)
	}
	if err := s.emit(p, store.Product, store.ExitedFlow, c.exitProps(status, reason), suffix); err != nil {
		return err
	}
	what := ObservedExit
	if status == store.Failed {
		what = ObservedFailure
	}
	kind := ""
	if n := c.nodes[p.Element]; n != nil {
		kind = n.element.Kind()
	}
	s.observe(Observation{What: what, FlowID: p.FlowID, FlowVersion: p.FlowVersion, ElementID: p.Element, Kind: kind, Participant: p.ID, Reason: reason, Duration: s.st.took})
	return nil
}

// journal appends a step to the participant's journal, dropping the
// oldest past Config.JournalLimit. Its array may be the store's (see
// store.SharingTx): the oldest steps are sliced off rather than moved,
// and the step is written past the stored length, so that append
// reallocates once in a while rather than every step.
func (s *session) journal(p *store.Participant, elementID, branch, reason string) {
	limit := s.e.cfg.JournalLimit
	if len(p.Journal) >= limit {
		p.Journal = p.Journal[len(p.Journal)-limit+1:]
	}
	if n := len(p.Journal); n > 0 && n == cap(p.Journal) {
		// A woken participant mostly takes two steps or more: room for
		// them in one allocation, growing by half rather than doubling,
		// since a journal is kept for as long as its participant.
		p.Journal = slices.Grow(p.Journal, min(max(2, n/2), limit))
	}
	p.Journal = append(p.Journal, store.Step{Seq: p.Seq, At: s.now, Element: elementID, Branch: branch, Reason: reason})
}

// count adds one to a counter of a flow version's element.
func (s *session) count(c *compiled, elementID, key string) { s.rec.count(c, elementID, key, 1) }

// observe notes an observation of the person, as of now.
func (s *session) observe(o Observation) {
	o.At, o.Person = s.now, s.personID
	s.rec.observe(o)
}

// emit records an engine event about the participant.
func (s *session) emit(p *store.Participant, cat store.Category, name string, props map[string]any, suffix string) error {
	var buf [64]byte
	id := append(uuidtext.Append(buf[:0], p.ID), ':')
	return s.record(&store.Event{
		ID: string(append(id, suffix...)), PersonID: s.personID, Category: cat, Name: name,
		Properties: props, Time: s.now,
	})
}

// record stores an event the engine made and hands it to the router.
func (s *session) record(ev *store.Event) error {
	if err := s.ptx.append(ev); err != nil {
		return err
	}
	s.rec.events = append(s.rec.events, ev)
	return nil
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
