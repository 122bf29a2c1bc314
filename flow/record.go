package flow

import (
	"context"
	"slices"
	"sync"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// record is what a call did, as a value: the events it recorded, its
// counter changes, what the observer and the logger see, the calls to
// make once it commits and the caller's report. Steps add to it; flush
// writes its counters, and finish hands the rest over after the commit.
type record struct {
	// events are the events recorded in the call, in order: the router
	// hands each to the person's participants and to flow triggers.
	events []*store.Event
	// counts aggregates the call's counter changes, written once each:
	// those of a compiled version's own counters in tallies, by slot
	// (see compiled.counterSlot), the others here.
	counts   []store.Counter
	countIdx map[countKey]int
	tallies  []tally
	// observed and failures are handed to the observer and the logger
	// once the call commits; observing is set when the engine observes.
	observing          bool
	observed, failures []Observation
	// observedMax is the most observations held in this record's
	// attempts, so that a reused record clears only what was used.
	observedMax int
	// inFlight are the participants the call put in flight; effects
	// their copies as committed, to be called after the commit.
	inFlight []*store.Participant
	effects  []effect
	// reporting is set when the caller asked for a report, rep.
	reporting bool
	rep       Report
}

// countKey names a counter within a call.
type countKey struct {
	flowID       string
	version      int
	element, key string
}

// tally holds a call's changes to the counters of one compiled version,
// a slot each.
type tally struct {
	c *compiled
	n []int64
}

// count adds n to a counter of a flow version's element.
func (r *record) count(c *compiled, elementID, key string, n int64) {
	if slot, ok := c.counterSlot(elementID, key); ok {
		r.tallyOf(c)[slot] += n
		return
	}
	k := countKey{c.flow.ID, c.flow.Version, elementID, key}
	// Most calls touch a few counters: scan them; index long runs.
	if r.countIdx == nil {
		for i := len(r.counts) - 1; i >= 0; i-- { // recent counters first
			if x := &r.counts[i]; x.Key == key && x.Element == elementID && x.FlowID == c.flow.ID && x.FlowVersion == c.flow.Version {
				x.N += n
				return
			}
		}
		if len(r.counts) == 32 {
			r.countIdx = make(map[countKey]int, 32)
			for i, x := range r.counts {
				r.countIdx[countKey{x.FlowID, x.FlowVersion, x.Element, x.Key}] = i
			}
		}
	} else if i, ok := r.countIdx[k]; ok {
		r.counts[i].N += n
		return
	}
	if cap(r.counts) == 0 {
		r.counts = make([]store.Counter, 0, 4)
	}
	if r.countIdx != nil {
		r.countIdx[k] = len(r.counts)
	}
	r.counts = append(r.counts, store.Counter{FlowID: c.flow.ID, FlowVersion: c.flow.Version, Element: elementID, Key: key, N: n})
}

// tallyOf returns the slots of c's counters, zero when the call has not
// counted any yet.
func (r *record) tallyOf(c *compiled) []int64 {
	for i := range r.tallies {
		if t := &r.tallies[i]; t.c == c {
			return t.n
		}
	}
	for i := range r.tallies { // a free one, kept from an earlier call
		if t := &r.tallies[i]; t.c == nil {
			t.c = c
			if cap(t.n) < len(c.slots.names) {
				t.n = make([]int64, len(c.slots.names))
			}
			t.n = t.n[:len(c.slots.names)]
			return t.n
		}
	}
	r.tallies = append(r.tallies, tally{c: c, n: make([]int64, len(c.slots.names))})
	return r.tallies[len(r.tallies)-1].n
}

// counters returns every counter change of the call, the tallies'
// included, which it moves into counts.
func (r *record) counters() []store.Counter {
	for i := range r.tallies {
		t := &r.tallies[i]
		if t.c == nil {
			continue
		}
		for slot, n := range t.n {
			if n != 0 {
				name := t.c.slots.names[slot]
				r.counts = append(r.counts, store.Counter{FlowID: t.c.flow.ID, FlowVersion: t.c.flow.Version, Element: name.element, Key: name.key, N: n})
			}
		}
		clear(t.n)
		t.c = nil
	}
	return r.counts
}

// observe notes an observation; failures are logged whether or not the
// engine observes.
func (r *record) observe(o Observation) {
	if o.What == ObservedFailure {
		r.failures = append(r.failures, o)
	}
	if !r.observing {
		return
	}
	r.observed = append(r.observed, o)
	r.observedMax = max(r.observedMax, len(r.observed))
}

// mismatch notes a condition an event did not match because of a
// value's type, for the report.
func (r *record) mismatch(flowID string, participant uuid.UUID, where, reason string) {
	if r.reporting {
		r.rep.Mismatches = append(r.rep.Mismatches, Mismatch{FlowID: flowID, Participant: participant, Where: where, Reason: reason})
	}
}

// refuse notes an entry refused by a flow's rules, for the report.
func (r *record) refuse(flowID string, err error) {
	if r.reporting {
		r.rep.Refused = append(r.rep.Refused, Refusal{FlowID: flowID, Err: err})
	}
}

// hasEffect reports whether the record calls for p's step already.
func (r *record) hasEffect(p *store.Participant) bool {
	for _, ef := range r.effects {
		if ef.part.ID == p.ID {
			return true
		}
	}
	return false
}

// emit hands a committed record's observations to the observer and its
// failures to the logger.
func (r *record) emit(ctx context.Context, e *Engine) {
	if len(r.observed) > 0 || len(r.failures) > 0 {
		e.emitObservations(ctx, r.observed, r.failures)
	}
}

// reset empties the record, keeping its buffers.
func (r *record) reset(observing, reporting bool) {
	clear(r.counts[:cap(r.counts)])
	for i := range r.tallies {
		clear(r.tallies[i].n)
		r.tallies[i].c = nil
	}
	clear(r.events[:cap(r.events)])
	clear(r.observed[:r.observedMax])
	clear(r.failures[:cap(r.failures)])
	*r = record{
		events: r.events[:0], counts: r.counts[:0], observed: r.observed[:0], failures: r.failures[:0], tallies: r.tallies,
		observing: observing, reporting: reporting,
	}
}

// counterSlots numbers the counters every element of a compiled version
// may have (entered, errors, waiting, in flight, and left by each
// branch), so that a call counts them in a slice rather than looking
// them up by name.
type counterSlots struct {
	once  sync.Once
	index map[slotName]int
	names []slotName
}

// slotName is a counter of a compiled version: an element and a key.
type slotName struct{ element, key string }

// counterSlot returns the slot of an element's counter, false for a
// counter that has none (one an element kind counts itself).
func (c *compiled) counterSlot(elementID, key string) (int, bool) {
	c.slots.once.Do(c.numberSlots)
	i, ok := c.slots.index[slotName{elementID, key}]
	return i, ok
}

func (c *compiled) numberSlots() {
	sl := &c.slots
	sl.index = map[slotName]int{}
	add := func(element, key string) {
		k := slotName{element, key}
		if _, ok := sl.index[k]; !ok {
			sl.index[k] = len(sl.names)
			sl.names = append(sl.names, k)
		}
	}
	ids := make([]string, 0, len(c.nodes))
	for id := range c.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		n := c.nodes[id]
		for _, key := range []string{keyEntered, keyErrors, keyWaiting, keyInFlight} {
			add(id, key)
		}
		branches := make([]string, 0, len(n.left))
		for b := range n.left {
			branches = append(branches, b)
		}
		slices.Sort(branches)
		for _, b := range branches {
			add(id, n.left[b])
		}
	}
}
