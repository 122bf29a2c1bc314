package flow

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/flowkit/flowkit/store"
)

// Inspection: what a host's console or support tool reads about flows,
// their versions, their statistics and a person's participations.

// Flows returns every flow's status and latest version, ordered by flow
// id. Each FlowInfo's Flow is a copy the host owns.
func (e *Engine) Flows(ctx context.Context) ([]*FlowInfo, error) {
	states, err := e.store.Flows(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*FlowInfo, 0, len(states))
	for _, st := range states {
		f, err := e.FlowVersion(ctx, st.FlowID, st.Latest)
		if err != nil {
			return nil, err
		}
		out = append(out, &FlowInfo{Status: st.Status, UpdatedAt: st.UpdatedAt, Flow: f})
	}
	return out, nil
}

// VersionInfo describes one published version of a flow.
type VersionInfo struct {
	Version     int
	PublishedAt time.Time
}

// Versions returns a flow's published versions, oldest first, or an error
// wrapping store.ErrNotFound for an unknown flow.
func (e *Engine) Versions(ctx context.Context, flowID string) ([]VersionInfo, error) {
	st, err := e.store.Flow(ctx, flowID)
	if err != nil {
		return nil, err
	}
	out := make([]VersionInfo, 0, st.Latest)
	for v := 1; v <= st.Latest; v++ {
		fv, err := e.store.FlowVersion(ctx, flowID, v)
		if err != nil {
			return nil, err
		}
		out = append(out, VersionInfo{Version: v, PublishedAt: fv.PublishedAt})
	}
	return out, nil
}

// FlowVersion returns a copy of one published version of a flow, with
// Version set, or an error wrapping store.ErrNotFound when the flow or the
// version does not exist.
func (e *Engine) FlowVersion(ctx context.Context, flowID string, version int) (*Flow, error) {
	c, err := e.compiled(ctx, flowID, version)
	if err != nil {
		return nil, err
	}
	f, err := c.flow.Clone()
	if err != nil {
		return nil, err
	}
	f.Version = version
	return f, nil
}

// ElementReport is one element of a flow version with its statistics.
type ElementReport struct {
	// ID, Kind and Name are the element's; Kind is "" for figures
	// counted at an element the version does not have.
	ID, Kind, Name string
	ElementStats
}

// VersionStats returns the statistics of one version of a flow: a report
// for every element of that version, in document order, with an entry in
// Left for each of its branches, zero where nothing happened yet. It
// returns an error wrapping store.ErrNotFound when the flow or the version
// does not exist.
func (e *Engine) VersionStats(ctx context.Context, flowID string, version int) ([]ElementReport, error) {
	c, err := e.compiled(ctx, flowID, version)
	if err != nil {
		return nil, err
	}
	counters, err := e.store.Counters(ctx, flowID)
	if err != nil {
		return nil, err
	}
	out := make([]ElementReport, len(c.flow.Elements))
	at := make(map[string]int, len(out))
	for i, n := range c.flow.Elements {
		out[i] = ElementReport{ID: n.ID, Kind: n.Element.Kind(), Name: n.Name,
			ElementStats: ElementStats{Left: map[string]int64{}, Other: map[string]int64{}}}
		for _, b := range n.Element.Branches() {
			out[i].Left[b] = 0
		}
		at[n.ID] = i
	}
	for _, ct := range counters {
		if ct.FlowVersion != version {
			continue
		}
		i, ok := at[ct.Element]
		if !ok { // not an element of the version: kept, not hidden
			i = len(out)
			at[ct.Element] = i
			out = append(out, ElementReport{ID: ct.Element, ElementStats: ElementStats{Left: map[string]int64{}, Other: map[string]int64{}}})
		}
		addCounter(&out[i].ElementStats, ct)
	}
	return out, nil
}

// addCounter adds a counter to the figure its key names.
func addCounter(st *ElementStats, c store.Counter) {
	switch {
	case c.Key == keyEntered:
		st.Entered += c.N
	case c.Key == keyWaiting:
		st.Waiting += c.N
	case c.Key == keyErrors:
		st.Errors += c.N
	case c.Key == keyInFlight:
		st.InFlight += c.N
	case strings.HasPrefix(c.Key, keyExitRule):
		if st.ExitRules == nil {
			st.ExitRules = map[string]int64{}
		}
		st.ExitRules[c.Key[len(keyExitRule):]] += c.N
	case strings.HasPrefix(c.Key, keyGoal):
		goal, branch := goalKey(c.Key)
		if branch == "" {
			if st.Conversions == nil {
				st.Conversions = map[string]int64{}
			}
			st.Conversions[goal] += c.N
			break
		}
		if st.BranchConversions == nil {
			st.BranchConversions = map[string]map[string]int64{}
		}
		if st.BranchConversions[branch] == nil {
			st.BranchConversions[branch] = map[string]int64{}
		}
		st.BranchConversions[branch][goal] += c.N
	case len(c.Key) > len(keyLeft) && c.Key[:len(keyLeft)] == keyLeft:
		st.Left[c.Key[len(keyLeft):]] += c.N
	default:
		st.Other[c.Key] += c.N
	}
}

// Participations returns every participation of a person, in every flow,
// oldest entry first, or an error wrapping store.ErrNotFound for an
// unknown person. The host owns the copies.
func (e *Engine) Participations(ctx context.Context, who store.PersonRef) ([]*store.Participant, error) {
	id, err := e.store.FindPerson(ctx, e.lookupRef(who))
	if err != nil {
		return nil, err
	}
	var out []*store.Participant
	err = e.store.Update(ctx, id, func(tx store.Tx) error {
		ps, err := tx.Participants()
		if err != nil {
			return err
		}
		out = ps // the store's copies are the caller's
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b *store.Participant) int { return a.EnteredAt.Compare(b.EnteredAt) })
	return out, nil
}

// CountParticipants returns how many participants of a flow q selects,
// leaving out its After, Before and Limit, for a console's totals. ok is
// false, with no error, when the Store cannot count
// (store.ParticipantCounter).
func (e *Engine) CountParticipants(ctx context.Context, q store.ParticipantQuery) (n int64, ok bool, err error) {
	c, ok := e.store.(store.ParticipantCounter)
	if !ok {
		return 0, false, nil
	}
	n, err = c.CountParticipants(ctx, &q)
	return n, err == nil, err
}
