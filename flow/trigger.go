package flow

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/flowkit/store"
)

// triggerCacheTTL is how long the engine trusts its list of event-triggered
// flows before reading flow states again; changes made through this engine
// refresh it at once, changes made by other processes within this time.
const triggerCacheTTL = time.Second

// triggerCache holds an immutable snapshot of the active flows' triggers,
// read without locking on every event.
type triggerCache struct {
	snap    atomic.Pointer[triggerSnapshot]
	gen     atomic.Uint64 // bumped by each invalidation
	rebuild sync.Mutex
}

type triggerSnapshot struct {
	at     time.Time
	byName map[string][]triggerEntry
}

type triggerEntry struct {
	flowID   string
	category store.Category
}

func (e *Engine) invalidateTriggers() {
	e.triggers.gen.Add(1)
	e.triggers.snap.Store(nil)
}

// triggered returns the active flows an event enters its person into.
func (e *Engine) triggered(ctx context.Context, ev *store.Event) ([]string, error) {
	snap, err := e.triggerSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, te := range snap.byName[ev.Name] {
		if te.category == ev.Category {
			out = append(out, te.flowID)
		}
	}
	return out, nil
}

func (e *Engine) triggerSnapshot(ctx context.Context) (*triggerSnapshot, error) {
	now := e.clock.Now()
	fresh := func(s *triggerSnapshot) bool {
		return s != nil && !now.Before(s.at) && now.Sub(s.at) <= triggerCacheTTL
	}
	if s := e.triggers.snap.Load(); fresh(s) {
		return s, nil
	}
	e.triggers.rebuild.Lock()
	defer e.triggers.rebuild.Unlock()
	if s := e.triggers.snap.Load(); fresh(s) {
		return s, nil
	}
	gen := e.triggers.gen.Load()
	states, err := e.store.Flows(ctx)
	if err != nil {
		return nil, err
	}
	s := &triggerSnapshot{at: now, byName: map[string][]triggerEntry{}}
	for _, st := range states {
		if st.Status != store.FlowActive {
			continue
		}
		c, err := e.compiled(ctx, st.FlowID, st.Latest)
		if err != nil {
			return nil, err
		}
		if tr := c.flow.Trigger; tr != nil {
			s.byName[tr.Name] = append(s.byName[tr.Name], triggerEntry{flowID: st.FlowID, category: tr.Category})
		}
	}
	if e.triggers.gen.Load() == gen {
		// Keep it only if no flow changed while it was being read.
		e.triggers.snap.Store(s)
	}
	return s, nil
}
