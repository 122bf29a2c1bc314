package flow

import (
	"fmt"
	"slices"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// router hands the events a call records to the person's participants
// (exit rules and goals, waits, participants in flight) and to flow
// triggers, and runs the flow entries steps asked for, until none are
// left. Overdue timers go first (catchUp, overdue).
type router struct {
	// qi is the index in the record's events of the next to hand over.
	qi int
	// marks note per participant the steps run in this call and where in
	// the events it started its current wait; a call holds one
	// participant or a few, so a slice beats a map.
	marks []participantMarks
	// entries are same-person flow entries requested by steps.
	entries []pendingEntry
	// entriesChecked is set once the audience and date entries have
	// looked at what the call changed (see personEntries).
	entriesChecked bool
}

type pendingEntry struct {
	flowID string
	vars   map[string]any
	key    string
}

// participantMarks are what a call notes about one participant: the
// steps it ran in this call, and the number of events recorded when it
// started its current wait (events recorded earlier happened before it
// arrived and do not wake it).
type participantMarks struct {
	p        *store.Participant
	steps    int
	arrivedQ int
	arrived  bool
	// enteredQ is one past the index of the participant's EnteredFlow
	// event when it entered in this call: events recorded before do not
	// apply its exit rules and goals. 0 for a participant that entered
	// before the call.
	enteredQ int
}

func (r *router) marksOf(p *store.Participant) *participantMarks {
	for i := range r.marks {
		if r.marks[i].p == p {
			return &r.marks[i]
		}
	}
	r.marks = append(r.marks, participantMarks{p: p})
	return &r.marks[len(r.marks)-1]
}

// reset empties the router, keeping its buffers.
func (r *router) reset() {
	clear(r.marks[:cap(r.marks)])
	*r = router{marks: r.marks[:0]}
}

// maxSessionEvents bounds the events and entries one call may cascade into
// for one person (events triggering flows that emit events ...).
const maxSessionEvents = 10_000

// drain hands recorded events to waiting participants and triggers, and
// runs queued flow entries, until none are left.
func (s *session) drain() error {
	for {
		for handled := 0; s.route.qi < len(s.rec.events) || len(s.route.entries) > 0; {
			if handled++; handled > maxSessionEvents {
				return fmt.Errorf("person %s: more than %d events and flow entries cascaded from one call: flows trigger each other in a loop", s.personID, maxSessionEvents)
			}
			if len(s.route.entries) > 0 {
				en := s.route.entries[0]
				s.route.entries = s.route.entries[1:]
				if _, err := s.enter(en.flowID, EntryExistingFlow, en.vars, nil, en.key, "another flow"); err != nil && !refused(err) {
					return err
				}
				continue
			}
			qi := s.route.qi
			s.route.qi++
			if err := s.dispatch(qi, s.rec.events[qi]); err != nil {
				return err
			}
		}
		more, err := s.personEntries()
		if err != nil || !more {
			return err
		}
	}
}

// dispatch hands one event to the participants waiting for it (or holds
// it for those in flight) and enters the person into flows it triggers.
func (s *session) dispatch(qi int, ev *store.Event) error {
	parts, err := s.ptx.participants()
	if err != nil {
		return err
	}
	var buf [4]*store.Participant
	offered := buf[:0]
	for _, p := range parts {
		if pending(p) {
			continue
		}
		if p.Status.Done() {
			if err := s.lateGoals(p, ev, qi); err != nil {
				return err
			}
			continue
		}
		offered = append(offered, p)
	}
	for _, p := range offered {
		if p.Status == store.InFlight && s.inFlightSince(p, qi) {
			continue // its own step's event, or one before it went in flight
		}
		if err := s.offer(p, ev, qi); err != nil {
			return err
		}
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
				if s.rec.reporting {
					if m := te.where.Mismatch(ev, s.subject(nil, ev, te.loc)); m != "" {
						s.rec.mismatch(te.flowID, uuid.Nil, "entry", m)
					}
				}
				continue
			}
		}
		_, err := s.enter(te.flowID, EntryEvent, nil, ev, "", te.label)
		if err != nil && !refused(err) {
			return err
		}
		if err != nil {
			s.rec.refuse(te.flowID, err)
		}
	}
	return nil
}

// offer hands one event to one participant: the flow's exit rules and
// goals look at it, it wakes the participant when it waits for it, and it
// is held when the participant is in flight. qi is the event's index in
// the record's events, -1 for an event from before the call.
func (s *session) offer(p *store.Participant, ev *store.Event, qi int) error {
	if p.Status == store.InFlight {
		s.hold(p, ev)
		return nil
	}
	moved, err := s.overdue(p, ev.Name+" arrived")
	if err != nil || moved || p.Status.Done() {
		return err
	}
	if left, err := s.rules(p, ev, qi); err != nil || left {
		return err
	}
	if p.Status != store.Waiting || p.Wait == nil || p.Wait.Parked || !slices.Contains(p.Wait.Events, ev.Name) {
		return nil
	}
	if m := s.route.marksOf(p); qi >= 0 && m.arrived && qi < m.arrivedQ {
		return nil // happened before the participant reached its wait
	}
	status := s.cat.status(p.FlowID)
	if status == store.FlowPaused || status == store.FlowCanceled {
		return nil
	}
	c, err := s.e.cached(p.FlowID, p.FlowVersion)
	if err != nil {
		return err
	}
	return s.wake(c, p, element.Wake{Event: ev})
}

// overdue applies a waiting participant's timer when it came due before
// what now reaches it (why), as the tick would have had it not been late:
// the participant times out, or leaves by the flow's bound, as of the
// timer's time. It reports whether the participant moved.
func (s *session) overdue(p *store.Participant, why string) (bool, error) {
	if p.Status != store.Waiting || p.Wait == nil || p.Wait.Parked || p.Wait.Until.IsZero() || s.now.Before(p.Wait.Until) {
		return false, nil
	}
	if st := s.cat.status(p.FlowID); st != store.FlowActive && st != store.FlowFinished {
		return false, nil
	}
	c, err := s.e.cached(p.FlowID, p.FlowVersion)
	if err != nil {
		return false, err
	}
	due, now := p.Wait.Until, s.now
	s.journal(p, p.Element, "", fmt.Sprintf("its timer was due at %s, before %s at %s: the timer goes first", due.UTC().Format(time.RFC3339Nano), why, now.UTC().Format(time.RFC3339Nano)))
	s.now = due
	err = s.wake(c, p, element.Wake{Timer: true})
	s.now = now
	return true, err
}

// catchUp fires the person's overdue timers, earliest first, before a
// host call changes anything: a late tick must not let an event, a
// profile change or an entry overtake a deadline that has passed.
func (s *session) catchUp(why string) error {
	parts, err := s.ptx.participants()
	if err != nil {
		return err
	}
	var due []*store.Participant
	for _, p := range parts {
		if p.Status == store.Waiting && p.Wait != nil && !p.Wait.Parked && !p.Wait.Until.IsZero() && !s.now.Before(p.Wait.Until) {
			due = append(due, p)
		}
	}
	slices.SortFunc(due, func(a, b *store.Participant) int { return a.Wait.Until.Compare(b.Wait.Until) })
	for _, p := range due {
		if _, err := s.overdue(p, why); err != nil {
			return err
		}
	}
	return nil
}

// subject is the segment subject of the person, for a participant (nil
// for none) and an event being matched.
func (s *session) subject(p *store.Participant, ev *store.Event, loc *time.Location) *segment.Subject {
	sub := &segment.Subject{Person: s.ptx.person, Now: s.now, Location: loc, Events: s.historyFn}
	if p != nil {
		sub.Vars, sub.Entry, sub.EnteredAt = p.Vars, p.Entry, p.EnteredAt
	} else {
		sub.Entry = ev
	}
	return sub
}

// inFlightSince reports whether p went in flight in this call after the
// event at index qi was recorded: the event came before the step, which
// sees it (in the history) when it runs.
func (s *session) inFlightSince(p *store.Participant, qi int) bool {
	if !slices.Contains(s.rec.inFlight, p) {
		return false
	}
	m := s.route.marksOf(p)
	return m.arrived && qi < m.arrivedQ
}
