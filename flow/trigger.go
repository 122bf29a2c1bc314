package flow

import (
	"context"
	"sync"
	"time"

	"github.com/flowkit/flowkit/store"
)

// triggerCacheTTL is how long the engine trusts its list of event-triggered
// flows before reading flow states again; changes made through this engine
// refresh it at once, changes made by other processes within this time.
const triggerCacheTTL = time.Second

type triggerCache struct {
	mu     sync.Mutex
	valid  bool
	at     time.Time
	byName map[string][]triggerEntry
}

type triggerEntry struct {
	flowID   string
	category store.Category
}

func (e *Engine) invalidateTriggers() {
	e.triggers.mu.Lock()
	e.triggers.valid = false
	e.triggers.mu.Unlock()
}

// triggered returns the active flows an event enters its person into.
func (e *Engine) triggered(ctx context.Context, ev *store.Event) ([]string, error) {
	t := &e.triggers
	t.mu.Lock()
	defer t.mu.Unlock()
	now := e.clock.Now()
	if !t.valid || now.Sub(t.at) > triggerCacheTTL || now.Before(t.at) {
		states, err := e.store.Flows(ctx)
		if err != nil {
			return nil, err
		}
		byName := map[string][]triggerEntry{}
		for _, st := range states {
			if st.Status != store.FlowActive {
				continue
			}
			c, err := e.compiled(ctx, st.FlowID, st.Latest)
			if err != nil {
				return nil, err
			}
			if tr := c.flow.Trigger; tr != nil {
				byName[tr.Name] = append(byName[tr.Name], triggerEntry{flowID: st.FlowID, category: tr.Category})
			}
		}
		t.byName, t.at, t.valid = byName, now, true
	}
	var out []string
	for _, te := range t.byName[ev.Name] {
		if te.category == ev.Category {
			out = append(out, te.flowID)
		}
	}
	return out, nil
}
