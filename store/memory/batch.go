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
	// One entry per person, in ID order: the order their locks are taken.
	batch := make([]batchEntry, len(personIDs))
	for i, id := range personIDs {
		batch[i].i = i
		if id == uuid.Nil {
			return nil, fmt.Errorf("update batch: person id is nil: %w", store.ErrNotFound)
		}
	}
	slices.SortFunc(batch, func(a, b batchEntry) int { return bytes.Compare(personIDs[a.i][:], personIDs[b.i][:]) })
	for j := 1; j < len(batch); j++ {
		if id := personIDs[batch[j].i]; id == personIDs[batch[j-1].i] {
			return nil, fmt.Errorf("update batch: person %s appears twice", id)
		}
	}
	errs := make([]error, len(personIDs))
	committed := false
	defer func() {
		var holders []*personState
		for _, b := range batch {
			if b.ps == nil {
				continue
			}
			if t := b.tx; t != nil {
				t.done = true
				if !committed || errs[b.i] != nil {
					s.release(t)
				}
				if t.holder != nil {
					holders = append(holders, t.holder)
				}
				t.recycle()
			}
			s.dropIfEmpty(b.ps)
			b.ps.mu.Unlock()
		}
		// As Update does: return once the holders of participant IDs
		// the calls wanted have ended their transactions.
		for _, h := range holders {
			h.mu.Lock()
			h.mu.Unlock()
		}
	}()
	at := make([]*batchEntry, len(personIDs)) // by call index
	for j := range batch {
		b := &batch[j]
		b.ps = s.lock(personIDs[b.i])
		at[b.i] = b
	}
	for i, b := range at {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.tx = s.newTx(b.ps)
		errs[i] = fn(i, b.tx.handle())
	}
	if err := s.commitBatch(batch, errs); err != nil {
		return nil, err
	}
	committed = true
	return errs, nil
}

// batchEntry is one person of a batch: the index of their call, their
// state, locked, and their transaction.
type batchEntry struct {
	i  int
	ps *personState
	tx *tx
}

// commitBatch commits the transactions whose calls returned nil: the
// lookup keys of them all first, under the locks of every shard involved,
// so that a conflict of any one undoes the others' moves and nothing is
// written.
func (s *Store) commitBatch(batch []batchEntry, errs []error) error {
	var moving []*batchEntry
	var shards []int
	for j := range batch {
		b := &batch[j]
		if errs[b.i] == nil && b.tx.person != nil && keysChanged(b.ps, b.tx.person) {
			moving = append(moving, b)
			shards = s.keyShardsOf(shards, b.ps, b.tx.person)
		}
	}
	if len(moving) > 0 {
		unlock := s.lockKeys(shards)
		var undo []keyWas
		for _, b := range moving {
			if err := s.moveKeys(b.ps, b.tx.person, &undo); err != nil {
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
	for _, b := range batch {
		if errs[b.i] == nil {
			s.apply(b.ps, b.tx)
		}
	}
	return nil
}
