package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

var (
	_ store.PeopleLister = (*Store)(nil)
	_ store.AudienceRuns = (*Store)(nil)
)

// audienceState is what the store keeps for audience entries: an ordered
// index of person IDs for People, and the audience runs.
type audienceState struct {
	// mu guards the index. sorted holds person IDs in order, without
	// duplicates; fresh holds the IDs noted since they were last merged
	// into it, in no order. An ID may name no person (a transaction that
	// stored none, or a person removed since): People skips those.
	mu     sync.Mutex
	sorted []uuid.UUID
	fresh  []uuid.UUID

	runMu sync.Mutex
	runs  map[uuid.UUID]*store.AudienceRun
}

// note records a new person state's ID for People. It runs under the
// lock of the state's shard.
func (a *audienceState) note(id uuid.UUID) {
	a.mu.Lock()
	a.fresh = append(a.fresh, id)
	a.mu.Unlock()
}

func compareIDs(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

// after returns up to n noted IDs after id, in order. Fresh IDs are
// merged into the sorted index once they are many; until then they are
// sorted on their own and merged into the answer.
func (a *audienceState) after(id uuid.UUID, n int) []uuid.UUID {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.fresh) > 0 {
		slices.SortFunc(a.fresh, compareIDs)
		a.fresh = slices.Compact(a.fresh)
		if len(a.fresh) > 1024 && len(a.fresh) > len(a.sorted)/8 {
			merged := make([]uuid.UUID, 0, len(a.sorted)+len(a.fresh))
			merged = mergeIDs(merged, a.sorted, a.fresh, 0)
			a.sorted, a.fresh = slices.Compact(merged), nil
		}
	}
	from := func(ids []uuid.UUID) []uuid.UUID {
		i, found := slices.BinarySearchFunc(ids, id, compareIDs)
		if found {
			i++
		}
		return ids[i:]
	}
	out := mergeIDs(make([]uuid.UUID, 0, min(n, len(a.sorted)+len(a.fresh))), from(a.sorted), from(a.fresh), n)
	return slices.Compact(out)
}

// mergeIDs appends the merge of two sorted lists to out, up to n IDs (0
// for all).
func mergeIDs(out, x, y []uuid.UUID, n int) []uuid.UUID {
	for (len(x) > 0 || len(y) > 0) && (n == 0 || len(out) < n) {
		if len(y) == 0 || (len(x) > 0 && compareIDs(x[0], y[0]) <= 0) {
			out, x = append(out, x[0]), x[1:]
		} else {
			out, y = append(out, y[0]), y[1:]
		}
	}
	return out
}

// People implements store.PeopleLister. A page costs the page's people
// and a binary search of the index; people created since the previous
// page are merged into it, in bulk once they are many.
func (s *Store) People(ctx context.Context, q *store.PeopleQuery) ([]*store.Person, error) {
	var out []*store.Person
	cursor := q.After
	for q.Limit == 0 || len(out) < q.Limit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		want := 0
		if q.Limit > 0 {
			want = q.Limit - len(out)
		}
		ids := s.audience.after(cursor, want)
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			if p := s.storedPerson(id); p != nil {
				out = append(out, p.Clone())
			}
		}
		cursor = ids[len(ids)-1]
		if want == 0 {
			break
		}
	}
	return out, nil
}

// storedPerson returns the stored profile of a person, nil when there is
// none. The profile is read-only: commits replace it, never change it.
func (s *Store) storedPerson(id uuid.UUID) *store.Person {
	ps := s.state(id, false)
	if ps == nil {
		return nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.person
}

// CountPeople implements store.PeopleLister.
func (s *Store) CountPeople(context.Context) (int64, error) {
	var n int64
	for i := range s.people {
		sh := &s.people[i]
		sh.mu.RLock()
		states := make([]*personState, 0, len(sh.m))
		for _, ps := range sh.m {
			states = append(states, ps)
		}
		sh.mu.RUnlock()
		for _, ps := range states {
			ps.mu.Lock()
			if ps.person != nil {
				n++
			}
			ps.mu.Unlock()
		}
	}
	return n, nil
}

// CreateAudienceRun implements store.AudienceRuns.
func (s *Store) CreateAudienceRun(_ context.Context, r *store.AudienceRun) error {
	a := &s.audience
	a.runMu.Lock()
	defer a.runMu.Unlock()
	if _, ok := a.runs[r.ID]; ok {
		return fmt.Errorf("audience run %s: %w", r.ID, store.ErrDuplicate)
	}
	if a.runs == nil {
		a.runs = map[uuid.UUID]*store.AudienceRun{}
	}
	c := *r
	a.runs[r.ID] = &c
	return nil
}

// AudienceRun implements store.AudienceRuns.
func (s *Store) AudienceRun(_ context.Context, id uuid.UUID) (*store.AudienceRun, error) {
	a := &s.audience
	a.runMu.Lock()
	defer a.runMu.Unlock()
	r, ok := a.runs[id]
	if !ok {
		return nil, fmt.Errorf("audience run %s: %w", id, store.ErrNotFound)
	}
	c := *r
	return &c, nil
}

// AudienceRuns implements store.AudienceRuns.
func (s *Store) AudienceRuns(_ context.Context, q *store.AudienceRunQuery) ([]*store.AudienceRun, error) {
	a := &s.audience
	a.runMu.Lock()
	var out []*store.AudienceRun
	for _, r := range a.runs {
		if (q.FlowID == "" || r.FlowID == q.FlowID) && (!q.Unfinished || !r.Done) {
			c := *r
			out = append(out, &c)
		}
	}
	a.runMu.Unlock()
	slices.SortFunc(out, func(x, y *store.AudienceRun) int {
		if c := x.StartedAt.Compare(y.StartedAt); c != 0 {
			return c
		}
		return compareIDs(x.ID, y.ID)
	})
	return out, nil
}

// AdvanceAudienceRun implements store.AudienceRuns. It keeps the
// participants it is given, as Tx.PutParticipant does.
func (s *Store) AdvanceAudienceRun(ctx context.Context, p *store.AdvanceAudienceRunParams) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	a := &s.audience
	a.runMu.Lock()
	defer a.runMu.Unlock()
	r, ok := a.runs[p.RunID]
	switch {
	case !ok:
		return 0, fmt.Errorf("audience run %s: %w", p.RunID, store.ErrNotFound)
	case r.Done || r.Cursor != p.From:
		return 0, fmt.Errorf("audience run %s has moved on from %s: %w", p.RunID, p.From, store.ErrConflict)
	}
	n := 0
	for _, np := range p.Participants {
		if s.addParticipant(np) {
			n++
		}
	}
	c := *r
	c.Cursor = p.To
	c.Scanned += p.Scanned
	c.Entered += int64(n)
	if p.Done {
		c.Done, c.FinishedAt = true, p.FinishedAt
	}
	a.runs[p.RunID] = &c
	return n, nil
}

// addParticipant stores a new participant of an existing person, unless
// its ID is taken; it reports whether it did.
func (s *Store) addParticipant(p *store.Participant) bool {
	ps := s.state(p.PersonID, false)
	if ps == nil {
		return false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.removed || ps.person == nil || partIndex(ps.parts, p.ID) >= 0 {
		return false
	}
	if _, err := s.reserve(ps, p.ID); err != nil {
		return false // a participant of another person has the ID
	}
	s.putParticipant(ps, p, false)
	return true
}

// RemoveParticipant implements store.ParticipantRemover.
func (t *tx) RemoveParticipant(id uuid.UUID) error {
	if t.done {
		return errTxDone
	}
	if i := slices.IndexFunc(t.parts, func(q *store.Participant) bool { return q.ID == id }); i >= 0 {
		t.parts = slices.Delete(t.parts, i, i+1)
		t.lent = slices.Delete(t.lent, i, i+1)
	}
	if partIndex(t.ps.parts, id) >= 0 {
		if !slices.Contains(t.removed, id) {
			t.removed = append(t.removed, id)
		}
		return nil
	}
	if i := slices.Index(t.reserved, id); i >= 0 {
		// New in this transaction: it was never stored.
		t.s.release(&tx{ps: t.ps, reserved: []uuid.UUID{id}})
		t.reserved = slices.Delete(t.reserved, i, i+1)
		return nil
	}
	return fmt.Errorf("participant %s: %w", id, store.ErrNotFound)
}

// removeParticipants drops the stored participants ids of ps, whose lock
// the caller holds, with their timers and index entries.
func (s *Store) removeParticipants(ps *personState, ids []uuid.UUID) {
	for _, id := range ids {
		i := partIndex(ps.parts, id)
		if i < 0 {
			continue
		}
		if slot := ps.parts[i].slot; slot != 0 {
			s.timerMu.Lock()
			s.slots[slot-1] = armedTimer{} // its heap entries are stale now
			s.freeSlots = append(s.freeSlots, slot-1)
			s.timerMu.Unlock()
		}
		ps.keepFacts(ps.parts[i])
		s.unindexParticipant(ps.parts[i].origin.flowID, id)
		ps.parts = slices.Delete(ps.parts, i, i+1)
		sh := &s.parts[shardOf(id)]
		sh.mu.Lock()
		if sh.m[id] == ps {
			delete(sh.m, id)
		}
		sh.mu.Unlock()
	}
}
