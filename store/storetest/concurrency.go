package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Concurrency

var concurrencyTests = []test{
	{"NoLostUpdates", testNoLostUpdates},
	{"PeopleUpdateInParallel", testPeopleUpdateInParallel},
	{"NewParticipantIDRace", testNewParticipantIDRace},
	{"ReadsDuringWrites", testReadsDuringWrites},
}

func testNoLostUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	flow := newFlow(t, s)
	part := newParticipant(t, p.ID, flow)
	part.Vars = map[string]any{"n": 0.0}
	put(t, s, part)

	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				id, err := uuid.NewV7()
				if !assert.NoError(t, err) {
					return
				}
				err = s.Update(ctx, p.ID, func(tx store.Tx) error {
					parts, err := tx.Participants()
					if err != nil {
						return err
					}
					i := slices.IndexFunc(parts, func(q *store.Participant) bool { return q.ID == part.ID })
					if i < 0 {
						return errors.New("participant not found")
					}
					cur := parts[i]
					n, _ := cur.Vars["n"].(float64)
					cur.Vars["n"] = n + 1
					if err := tx.PutParticipant(cur); err != nil {
						return err
					}
					tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "steps", N: 1})
					return tx.AddEvent(&store.Event{ID: id.String(), Category: store.External, Name: "Step", Time: base})
				})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	got := participant(t, s, part.ID)
	require.Equal(t, float64(workers*rounds), got.Vars["n"], "every increment lands")
	require.Equal(t, int64(workers*rounds+1), got.Version)
	require.Equal(t, []store.Counter{{FlowID: flow, FlowVersion: 1, Element: "start", Key: "steps", N: workers * rounds}}, counters(t, s, flow))
	require.Len(t, queryEvents(t, s, p.ID, store.EventQuery{}), workers*rounds)
}

// Every person's Update waits inside fn until all of them are inside theirs:
// a store that serialized different people would never get there.
func testPeopleUpdateInParallel(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 4
	people := make([]*store.Person, n)
	for i := range people {
		people[i] = newPerson(t, s)
	}
	var inside sync.WaitGroup
	inside.Add(n)
	all := make(chan struct{})
	go func() { inside.Wait(); close(all) }()
	errs := make(chan error, n)
	for _, p := range people {
		go func() {
			var once sync.Once
			errs <- s.Update(ctx, p.ID, func(tx store.Tx) error {
				once.Do(inside.Done)
				select {
				case <-all:
				case <-time.After(10 * time.Second):
					return errors.New("updates of different people did not run in parallel")
				}
				q, err := tx.Person()
				if err != nil {
					return err
				}
				q.FirstName = "Parallel"
				return tx.PutPerson(q)
			})
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	for _, p := range people {
		got, err := txPerson(t, s, p.ID)
		require.NoError(t, err)
		require.Equal(t, "Parallel", got.FirstName)
	}
}

func testNewParticipantIDRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newPerson(t, s), newPerson(t, s)
	flow := newFlow(t, s)
	for range 20 {
		id := newID(t)
		results := make([]error, 2)
		var wg sync.WaitGroup
		for i, p := range []*store.Person{a, b} {
			wg.Go(func() {
				part := &store.Participant{ID: id, PersonID: p.ID, FlowID: flow, FlowVersion: 1, Status: store.Active, Element: "start", EnteredAt: base}
				results[i] = s.Update(ctx, p.ID, func(tx store.Tx) error { return tx.PutParticipant(part) })
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range results {
			if err == nil {
				require.Equal(t, -1, winner, "both people created participant %s", id)
				winner = i
			} else {
				require.ErrorIs(t, err, store.ErrDuplicate)
			}
		}
		require.NotEqual(t, -1, winner, "nobody created participant %s", id)
		require.Equal(t, []*store.Person{a, b}[winner].ID, participant(t, s, id).PersonID)
	}
}

// Store-wide reads run while people are updated; run with -race.
func testReadsDuringWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	var ws []*store.Participant
	for i := range 4 {
		ws = append(ws, waiter(t, s, flow, base.Add(time.Duration(i)*time.Minute)))
	}
	stop := make(chan struct{})
	var writers, readers sync.WaitGroup
	for _, w := range ws {
		writers.Go(func() {
			for i := range 50 {
				err := s.Update(ctx, w.PersonID, func(tx store.Tx) error {
					p, err := tx.Person()
					if err != nil {
						return err
					}
					p.Attributes = map[string]any{"i": float64(i)}
					if err := tx.PutPerson(p); err != nil {
						return err
					}
					parts, err := tx.Participants()
					if err != nil {
						return err
					}
					for _, q := range parts {
						w := *q.Wait // replaced, never changed in place
						w.Until = w.Until.Add(time.Second)
						w.Parked = i%5 == 0
						q.Wait = &w
						if err := tx.PutParticipant(q); err != nil {
							return err
						}
					}
					tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "wait", Key: "ticks", N: 1})
					return nil
				})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := s.DueTimers(ctx, base.Add(time.Hour), 10)
			assert.NoError(t, err)
			_, _, err = s.NextDue(ctx)
			assert.NoError(t, err)
			_, err = s.Participants(ctx, &store.ParticipantQuery{FlowID: flow})
			assert.NoError(t, err)
			_, err = s.Participant(ctx, ws[0].ID)
			assert.NoError(t, err)
			_, err = s.FindPerson(ctx, store.PersonRef{ID: ws[1].PersonID})
			assert.NoError(t, err)
			_, err = s.Counters(ctx, flow)
			assert.NoError(t, err)
			_, err = s.Flows(ctx)
			assert.NoError(t, err)
		}
	})
	writers.Wait()
	close(stop)
	readers.Wait()
	require.Equal(t, []store.Counter{{FlowID: flow, FlowVersion: 1, Element: "wait", Key: "ticks", N: 200}}, counters(t, s, flow))
	for _, w := range ws {
		require.Equal(t, int64(51), participant(t, s, w.ID).Version)
	}
}
