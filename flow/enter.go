package flow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

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
		if p, err := s.ptx.participant(id); p != nil || err != nil {
			return p, err
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
	s.ptx.parts = append(s.ptx.parts, p)
	if s.rec.reporting {
		s.rec.rep.Entered = append(s.rec.rep.Entered, Entrant{FlowID: flowID, Participant: p.ID, By: via})
	}
	return p, s.begin(c, p, entry)
}

// begin counts a participant's entry, records its EnteredFlow event and
// runs its first steps.
func (s *session) begin(c *compiled, p *store.Participant, entry *store.Event) error {
	s.ptx.dirty(p)
	s.route.marksOf(p).enteredQ = len(s.rec.events) + 1 // after its own EnteredFlow event
	s.count(c, c.start.id, keyEntered)
	if err := s.emit(p, store.Product, store.EnteredFlow, c.enteredProps, "entered"); err != nil {
		return err
	}
	s.enterHoldout(c, p)
	s.observe(Observation{What: ObservedEnter, FlowID: p.FlowID, FlowVersion: c.flow.Version, ElementID: c.start.id, Participant: p.ID, Reason: "entered by " + p.EnteredBy})
	return s.advance(c, p, entry)
}

// checkReentry applies the flow's re-entry rule to the person.
func (s *session) checkReentry(c *compiled) error {
	parts, err := s.ptx.participants()
	if err != nil {
		return err
	}
	r := c.journey.reentry
	in, last := 0, time.Time{}
	var ever bool
	for _, p := range parts {
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
	st, err := s.cat.state(flowID)
	if err != nil {
		return nil, err
	}
	if st.Status != store.FlowActive {
		return nil, fmt.Errorf("flow %q is %s: %w", flowID, st.Status, ErrFlowNotActive)
	}
	c, err := s.e.cached(flowID, st.Latest)
	if err != nil {
		return nil, err
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

// refused reports whether an entry was refused by the flow's rules rather
// than failed.
func refused(err error) bool {
	return errors.Is(err, ErrAlreadyInFlow) || errors.Is(err, ErrFlowNotActive) || errors.Is(err, ErrNoEntryPoint)
}

// ports returns the ports lent to this session's steps.
func (s *session) ports() element.Ports {
	p := s.e.ports
	p.Flows = &s.st.flows
	return p
}

// flowPort is the element.Flows of a step: it enters people into flows.
// A step in the person's transaction (s set) enters its own person, by
// an entry queued for the router; a step in flight (s nil, see
// element.External) enters other people, each in their own transaction.
type flowPort struct {
	e *Engine
	s *session
}

func (f *flowPort) Enter(ctx context.Context, flowID string, who store.PersonRef, vars map[string]any, key string) error {
	s := f.s
	if s == nil {
		if who.IsZero() {
			return fmt.Errorf("a step in flight enters other people only")
		}
		return f.e.enterOther(ctx, flowID, who, vars, key)
	}
	if !who.IsZero() && who.ID != s.personID {
		// Another person's records are not this transaction's: entering
		// them is a step in flight (element.External).
		return fmt.Errorf("flow %q: a step in the person's transaction cannot enter another person", flowID)
	}
	// What ends the transaction (a store error, a version not compiled
	// yet) ends it, whatever the step makes of its error.
	if _, err := s.ptx.participants(); err != nil {
		s.st.abort = err
		return err
	}
	c, err := s.checkEnter(flowID, EntryExistingFlow)
	var nc *needCompiled
	if errors.As(err, &nc) {
		s.st.abort = err
	}
	if err != nil {
		return err
	}
	if err := s.checkReentry(c); err != nil {
		return err
	}
	if _, err := c.initialVars(vars); err != nil {
		return err
	}
	s.route.entries = append(s.route.entries, pendingEntry{flowID: flowID, vars: clone.Map(vars), key: key})
	return nil
}

// enterOther enters another person into a flow by its Existing Flow entry,
// for a step that calls outside its own person's transaction (Add to Flow
// with a participant of its own, see element.External). key makes the
// entry happen once however often the step is tried.
func (e *Engine) enterOther(ctx context.Context, flowID string, who store.PersonRef, vars map[string]any, key string) error {
	return e.withPerson(ctx, who, !e.cfg.RefuseUnknownPeople, "an entry from another flow", callOptions{}, func(o *session) error {
		_, err := o.enter(flowID, EntryExistingFlow, vars, nil, key, "another flow")
		return err
	})
}
