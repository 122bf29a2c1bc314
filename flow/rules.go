package flow

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// rules applies the exit rules and goals of p's flow to an event, and
// reports whether p left the flow. qi is the event's index in the
// record's events (-1 for an event from before the call): events
// queued before the participant entered do not count.
func (s *session) rules(p *store.Participant, ev *store.Event, qi int) (bool, error) {
	c, err := s.e.cached(p.FlowID, p.FlowVersion)
	if err != nil {
		return false, err
	}
	j := &c.journey
	if !j.unlessAny && !j.watch[ev.Name] {
		return false, nil
	}
	if m := s.route.marksOf(p); qi >= 0 && qi < m.enteredQ {
		return false, nil
	}
	if st := s.cat.status(p.FlowID); st == store.FlowPaused || st == store.FlowCanceled {
		return false, nil
	}
	// Every rule sees the same person, participant and time: one subject
	// serves them all, made when the first condition needs it (a subject
	// per condition was most of what the rules allocated).
	var sub *segment.Subject
	subject := func() *segment.Subject {
		if sub == nil {
			sub = s.subject(p, ev, c.loc)
		}
		return sub
	}
	for i := range j.goals {
		g := &j.goals[i]
		if g.category != ev.Category || g.event != ev.Name || slices.Contains(p.Goals, g.name) {
			continue
		}
		if !g.within.IsZero() && s.now.After(g.within.After(p.EnteredAt, c.loc)) {
			continue
		}
		if !s.matchWhere(p, g.where, ev, subject) {
			continue
		}
		s.convert(c, p, g.name, "")
		if g.exit {
			return true, s.leave(c, p, store.Completed, fmt.Sprintf("goal %q reached: %s occurred", g.name, ev.Name))
		}
	}
	for i := range j.exits {
		x := &j.exits[i]
		if x.unless != nil {
			ok, err := x.unless.Match(subject())
			if err != nil {
				s.e.log.WarnContext(s.ctx, "flowkit: an exit rule's segment could not be evaluated", "flow", p.FlowID, "participant", p.ID, "rule", x.name, "err", err)
				continue
			}
			if !ok {
				return true, s.exitBy(c, p, x.name, "no longer in the rule's segment")
			}
			continue
		}
		if x.category == ev.Category && x.event == ev.Name {
			if s.matchWhere(p, x.where, ev, subject) {
				return true, s.exitBy(c, p, x.name, ev.Name+" occurred")
			}
			if s.rec.reporting && x.where != nil {
				if m := x.where.Mismatch(ev, subject()); m != "" {
					s.rec.mismatch(p.FlowID, p.ID, "exitRules."+x.name, m)
				}
			}
		}
	}
	return false, nil
}

// matchWhere reports whether ev meets property conditions (nil for none),
// which may name p's variables and entry event, those of sub.
func (s *session) matchWhere(p *store.Participant, w *segment.Where, ev *store.Event, sub func() *segment.Subject) bool {
	if w == nil {
		return true
	}
	ok, err := w.Match(ev, sub())
	if err != nil {
		s.e.log.WarnContext(s.ctx, "flowkit: conditions on an event could not be evaluated", "flow", p.FlowID, "participant", p.ID, "event", ev.ID, "err", err)
		return false
	}
	return ok
}

// exitBy takes p out of the flow by an exit rule.
func (s *session) exitBy(c *compiled, p *store.Participant, rule, why string) error {
	s.count(c, p.Element, keyExitRule+rule)
	return s.leave(c, p, store.Completed, fmt.Sprintf("exit rule %q: %s: left the flow", rule, why))
}

// convert records p's conversion on a goal, counted at every element p
// reached and, by branch, at every element it left (as far as its journal
// goes back: Config.JournalLimit steps).
// how ends the journal's reason ("" in the flow).
func (s *session) convert(c *compiled, p *store.Participant, goal, how string) {
	p.Goals = append(slices.Clip(p.Goals), goal)
	s.ptx.dirty(p)
	type visit struct{ element, branch string }
	seen := map[visit]bool{}
	add := func(v visit) {
		if v.element == "" || seen[v] {
			return
		}
		seen[v] = true
		key := keyGoal + goal
		if v.branch != "" {
			key += "|" + v.branch
		}
		s.count(c, v.element, key)
	}
	for _, st := range p.Journal {
		add(visit{st.Element, ""})
		if st.Branch != "" {
			add(visit{st.Element, st.Branch})
			if c.experiments && strings.HasPrefix(st.Reason, winningPrefix) {
				if n := c.nodes[st.Element]; n != nil && n.experiment != nil && !seen[visit{st.Element, "\x00" + st.Branch}] {
					// Sent by the winning path: left out of the
					// experiment's figures.
					seen[visit{st.Element, "\x00" + st.Branch}] = true
					s.count(c, st.Element, keyWinningGoal+goal+"|"+st.Branch)
				}
			}
		}
	}
	add(visit{p.Element, ""})
	if c.holdout > 0 {
		key := keyHoldoutOut
		if p.Holdout == HoldoutGroup {
			key = keyHoldoutIn
		}
		s.count(c, c.start.id, key+"|"+keyGoal+goal)
	}
	s.journal(p, p.Element, "", fmt.Sprintf("converted on goal %q%s", goal, how))
}

// lateGoals applies the goals with an attribution window (Goal.Within)
// to an event for a participant that has left its flow: it converts
// when the event comes within the window of its entry, as it would
// have in the flow. Exit rules and goals without a window apply only
// in the flow; a canceled participant or flow converts no more.
func (s *session) lateGoals(p *store.Participant, ev *store.Event, qi int) error {
	if p.Status == store.Canceled {
		return nil
	}
	c, err := s.e.cached(p.FlowID, p.FlowVersion)
	if err != nil {
		return err
	}
	j := &c.journey
	if !j.lateWatch[ev.Name] {
		return nil
	}
	if st := s.cat.status(p.FlowID); st == store.FlowCanceled {
		return nil
	}
	if m := s.route.marksOf(p); qi >= 0 && qi < m.enteredQ {
		return nil
	}
	var sub *segment.Subject
	subject := func() *segment.Subject {
		if sub == nil {
			sub = s.subject(p, ev, c.loc)
		}
		return sub
	}
	for i := range j.goals {
		g := &j.goals[i]
		if g.within.IsZero() || g.category != ev.Category || g.event != ev.Name || slices.Contains(p.Goals, g.name) {
			continue
		}
		if s.now.After(g.within.After(p.EnteredAt, c.loc)) || !s.matchWhere(p, g.where, ev, subject) {
			continue
		}
		s.convert(c, p, g.name, fmt.Sprintf(" after leaving the flow: %s occurred within %s of entry", ev.Name, g.within))
	}
	return nil
}

// The counter key prefixes of exit rules and goals.
const (
	keyExitRule = "exit:"
	keyGoal     = "goal:"
)

// goalKey splits a goal counter key: the goal and the branch ("" for the
// element itself).
func goalKey(key string) (goal, branch string) {
	goal, branch, _ = strings.Cut(strings.TrimPrefix(key, keyGoal), "|")
	return goal, branch
}
