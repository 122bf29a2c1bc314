package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Erase removes a person everywhere, for the right to erasure: their
// profile, lookup keys (external id, phones, emails), event history,
// participations, timers and in-flight state, in one transaction. Their
// participants leave Stats' waiting and in-flight counts; the other
// statistics (entered, left, errors) count what happened and name nobody,
// so they stay. A call in flight for an erased participant may still be
// made; its result, when it comes, changes nothing. Erasing a person the
// store does not hold succeeds, so a request may be repeated. The Store
// must implement store.Eraser.
//
// A call about the person that runs after Erase (an event for their
// external id, say) creates a new person, as it would for a stranger.
func (e *Engine) Erase(ctx context.Context, who store.PersonRef) error {
	if who.IsZero() {
		return errors.New("flow: erase: person reference is empty")
	}
	er, ok := e.store.(store.Eraser)
	if !ok {
		return fmt.Errorf("flow: erase: the store (%T) does not implement store.Eraser", e.store)
	}
	id := who.ID
	if id == uuid.Nil {
		var err error
		if id, err = e.store.FindPerson(ctx, e.lookupRef(who)); errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return fmt.Errorf("flow: erase: %w", err)
		}
	}
	err := er.Erase(ctx, id, func(tx store.Tx) error {
		parts, err := tx.Participants()
		if err != nil {
			return err
		}
		var cs []store.Counter
		for _, p := range parts {
			// The counts of participants now at an element; a call in
			// flight finds its participant gone when its result comes,
			// and counts nothing then.
			key := ""
			switch p.Status {
			case store.Waiting:
				key = keyWaiting
			case store.InFlight:
				key = keyInFlight
			}
			if key != "" {
				cs = append(cs, store.Counter{FlowID: p.FlowID, FlowVersion: p.FlowVersion, Element: p.Element, Key: key, N: -1})
			}
		}
		tx.Count(cs...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("flow: erase person %s: %w", id, err)
	}
	return nil
}

// PruneHistory deletes the events older than Config.HistoryRetention from
// every person's history and returns how many it deleted. It keeps the
// events at or after the entrance of any of the person's participants
// still in a flow, which waits and segments may look back to; conditions
// over longer windows (did X within a year) see only what is kept. With
// no retention set it deletes nothing. Hosts call it from time to time,
// daily for instance; it needs a Store with store.HistoryPruner.
func (e *Engine) PruneHistory(ctx context.Context) (int, error) {
	if e.cfg.HistoryRetention == 0 {
		return 0, nil
	}
	pr := e.store.(store.HistoryPruner) // checked by NewEngine
	n, err := pr.PruneEvents(ctx, &store.PruneParams{Before: e.clock.Now().Add(-e.cfg.HistoryRetention)})
	if err != nil {
		return n, fmt.Errorf("flow: prune history: %w", err)
	}
	return n, nil
}

// checkRetention refuses a history retention the store cannot keep.
func checkRetention(cfg Config) error {
	if _, ok := cfg.Store.(store.HistoryPruner); cfg.HistoryRetention > 0 && !ok {
		return fmt.Errorf("flow: Config.HistoryRetention: the store (%T) does not implement store.HistoryPruner", cfg.Store)
	}
	return nil
}
