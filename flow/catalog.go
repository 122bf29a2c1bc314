package flow

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// catalog caches the flows' states and their event triggers, so that no
// step reads them through the Store inside a person's transaction. It is
// keyed by store.Store.FlowsRevision: a publish or status change made by
// any process moves the revision. Each transaction compares the snapshot
// it uses with the revision as of its start (store.Tx.FlowsRevision) and,
// when they differ, ends; the call reads the states again and starts
// over, so no step runs on states older than its transaction.
type catalog struct {
	snap   atomic.Pointer[catalogSnapshot]
	reload sync.Mutex
}

// catalogSnapshot is an immutable view of every flow's state.
type catalogSnapshot struct {
	rev    int64
	states map[string]*store.FlowState
	// triggers lists the active flows an event enters its person into, by
	// event name.
	triggers map[string][]triggerEntry
	// bulk lists the active flows with audience or date entries; matching
	// and dates their entries that look at each person's changes (see
	// entries.go).
	bulk     []*compiled
	matching []matchHook
	dates    []dateHook
	// experiments lists the latest versions of the flows (not drafts,
	// not canceled) whose experiments end, which Tick looks at;
	// decisions are the stored decisions of experiments.
	experiments []*compiled
	decisions   map[decisionKey]*store.Decision
}

type triggerEntry struct {
	flowID   string
	category store.Category
	where    *segment.Where // nil for no conditions
	loc      *time.Location
	label    string // how the journal names the entry
}

// flowStates returns the flows' states as of now: the cached snapshot
// when the store's revision has not moved, else a fresh one.
func (e *Engine) flowStates(ctx context.Context) (*catalogSnapshot, error) {
	rev, err := e.store.FlowsRevision(ctx)
	if err != nil {
		return nil, err
	}
	if s := e.cat.snap.Load(); s != nil && s.rev == rev {
		return s, nil
	}
	e.cat.reload.Lock()
	defer e.cat.reload.Unlock()
	if s := e.cat.snap.Load(); s != nil && s.rev >= rev {
		return s, nil
	}
	// The revision is read before the states: a change landing between
	// the two reads leaves a snapshot newer than its revision, which the
	// next call replaces.
	states, err := e.store.Flows(ctx)
	if err != nil {
		return nil, err
	}
	s := &catalogSnapshot{rev: rev, states: make(map[string]*store.FlowState, len(states)), triggers: map[string][]triggerEntry{}}
	if k, ok := e.store.(store.ExperimentKeeper); ok {
		ds, err := k.Decisions(ctx)
		if err != nil {
			return nil, err
		}
		s.decisions = make(map[decisionKey]*store.Decision, len(ds))
		for _, d := range ds {
			s.decisions[decisionKey{d.FlowID, d.FlowVersion, d.Element}] = d
		}
	}
	for i := range states {
		st := &states[i]
		s.states[st.FlowID] = st
		if st.Status != store.FlowDraft && st.Status != store.FlowCanceled && st.Latest > 0 {
			c, err := e.compiled(ctx, st.FlowID, st.Latest)
			if err != nil {
				return nil, err
			}
			if c.endingExperiments {
				s.experiments = append(s.experiments, c)
			}
		}
		if st.Status != store.FlowActive {
			continue
		}
		c, err := e.compiled(ctx, st.FlowID, st.Latest)
		if err != nil {
			return nil, err
		}
		for _, en := range c.journey.events {
			s.triggers[en.name] = append(s.triggers[en.name], triggerEntry{flowID: st.FlowID, category: en.category, where: en.where, loc: c.loc, label: en.label})
		}
		s.addBulk(c)
	}
	e.cat.snap.Store(s)
	return s, nil
}
