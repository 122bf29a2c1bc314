package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/flowkit/flowkit/store"
)

var _ store.ExperimentKeeper = (*Store)(nil)

// decisions keeps the decisions of experiments.
type decisions struct {
	mu sync.Mutex
	m  map[decisionKey]*store.Decision
}

type decisionKey struct {
	flowID  string
	version int
	element string
}

// Decide implements store.ExperimentKeeper.
func (s *Store) Decide(ctx context.Context, d *store.Decision) (*store.Decision, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if d.FlowID == "" || d.Element == "" {
		return nil, false, fmt.Errorf("decision of flow %q element %q: flow and element are required: %w", d.FlowID, d.Element, store.ErrInvalid)
	}
	ds := &s.decisions
	ds.mu.Lock()
	defer ds.mu.Unlock()
	k := decisionKey{d.FlowID, d.FlowVersion, d.Element}
	if got, ok := ds.m[k]; ok {
		return got.Clone(), false, nil
	}
	if ds.m == nil {
		ds.m = map[decisionKey]*store.Decision{}
	}
	ds.m[k] = d.Clone()
	// After the decision is in: whoever reads the new revision finds it.
	s.flowRev.Add(1)
	return d.Clone(), true, nil
}

// Decisions implements store.ExperimentKeeper.
func (s *Store) Decisions(ctx context.Context) ([]*store.Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ds := &s.decisions
	ds.mu.Lock()
	out := make([]*store.Decision, 0, len(ds.m))
	for _, d := range ds.m {
		out = append(out, d.Clone())
	}
	ds.mu.Unlock()
	slices.SortFunc(out, func(a, b *store.Decision) int {
		return cmp.Or(strings.Compare(a.FlowID, b.FlowID), cmp.Compare(a.FlowVersion, b.FlowVersion), strings.Compare(a.Element, b.Element))
	})
	return out, nil
}
