package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

var _ store.RefUpdater = (*Store)(nil)

// UpdateRef implements store.RefUpdater: the key is looked up and the
// person's lock taken in one step, with no window for the key to move
// between them.
func (s *Store) UpdateRef(ctx context.Context, ref store.PersonRef, newID uuid.UUID, fn func(uuid.UUID, store.Tx) error) (uuid.UUID, error) {
	if err := ctx.Err(); err != nil {
		return uuid.Nil, err
	}
	if ref.ID != uuid.Nil {
		return ref.ID, s.locked(ctx, ref.ID, txFunc{ref: fn}, false)
	}
	k := ref.Key()
	if k == (store.Key{}) {
		return uuid.Nil, errNoKey
	}
	for {
		ps := s.keyOwner(k)
		if ps == nil {
			if newID == uuid.Nil {
				return uuid.Nil, personNotFound(spelling(ref, k))
			}
			// A caller creating the same key meanwhile commits first, and
			// this commit's reindex finds the key taken: ErrConflict.
			return newID, s.locked(ctx, newID, txFunc{ref: fn}, false)
		}
		ps.mu.Lock()
		// Keys move only under their holder's lock: holding it, the key
		// stays ps's for the transaction.
		if ps.removed || s.keyOwner(k) != ps {
			ps.mu.Unlock()
			continue // erased, or the key moved while we waited
		}
		return ps.id, s.update(ctx, ps, txFunc{ref: fn}, false)
	}
}

// keyOwner returns the person holding a key, nil for none.
func (s *Store) keyOwner(k store.Key) *personState {
	sh := s.keyShard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[k.Kind][k.Value]
}

var _ store.BatchUpdater = (*Store)(nil)

// UpdateBatch implements store.BatchUpdater. It holds the locks of every
// person of the batch, taken in ID order, while the calls run and their
// writes commit, so the batch commits as one step for other callers: a
// key conflict of any one person writes nothing.
func (s *Store) UpdateBatch(ctx context.Context, personIDs []uuid.UUID, fn func(int, store.Tx) error) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := len(personIDs)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(personIDs[a][:], personIDs[b][:]) })
	for j, i := range order {
		switch {
		case personIDs[i] == uuid.Nil:
			return nil, fmt.Errorf("update batch: person id is nil: %w", store.ErrNotFound)
		case j > 0 && personIDs[order[j-1]] == personIDs[i]:
			return nil, fmt.Errorf("update batch: person %s appears twice", personIDs[i])
		}
	}
	states := make([]*personState, n)
	txs := make([]*tx, n)
	errs := make([]error, n)
	committed := false
	defer func() {
		var holders []*personState
		for _, i := range order {
			ps := states[i]
			if ps == nil {
				continue
			}
			if t := txs[i]; t != nil {
				t.done = true
				if !committed || errs[i] != nil {
					s.release(t)
				}
				if t.holder != nil {
					holders = append(holders, t.holder)
				}
			}
			s.dropIfEmpty(ps)
			ps.mu.Unlock()
		}
		// As Update does: return once the holders of participant IDs
		// the calls wanted have ended their transactions.
		for _, h := range holders {
			h.mu.Lock()
			h.mu.Unlock()
		}
	}()
	for _, i := range order {
		states[i] = s.lock(personIDs[i])
	}
	for i := range personIDs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		txs[i] = s.newTx(states[i])
		errs[i] = fn(i, txs[i])
	}
	if err := s.commitBatch(states, txs, errs); err != nil {
		return nil, err
	}
	committed = true
	return errs, nil
}

// commitBatch commits the transactions whose calls returned nil: the
// lookup keys of them all first, under the locks of every shard involved,
// so that a conflict of any one undoes the others' moves and nothing is
// written.
func (s *Store) commitBatch(states []*personState, txs []*tx, errs []error) error {
	var moving, shards []int
	for i, t := range txs {
		if errs[i] == nil && t.person != nil && keysChanged(states[i], t.person) {
			moving = append(moving, i)
			shards = s.keyShardsOf(shards, states[i], t.person)
		}
	}
	if len(moving) > 0 {
		unlock := s.lockKeys(shards)
		var undo []keyWas
		for _, i := range moving {
			if err := s.moveKeys(states[i], txs[i].person, &undo); err != nil {
				for j := len(undo) - 1; j >= 0; j-- {
					u := undo[j]
					m := s.keyShard(u.k).m[u.k.Kind]
					if u.owner == nil {
						delete(m, u.k.Value)
					} else {
						m[u.k.Value] = u.owner
					}
				}
				unlock()
				return err
			}
		}
		unlock()
	}
	for i, t := range txs {
		if errs[i] == nil {
			s.apply(states[i], t)
		}
	}
	return nil
}
