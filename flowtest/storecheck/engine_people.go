package storecheck

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// orderFlow waits a day for the person's order.
const orderFlow = `{
  "id": "orders", "name": "Orders",
  "elements": [
    {"id": "wait", "type": "waitForEvent", "event": {"category": "external", "name": "Ordered"},
     "waitFor": {"amount": 1, "unit": "days"}, "next": {"occurred": "bought", "timeout": "lost"}},
    {"id": "bought", "type": "exit"},
    {"id": "lost", "type": "exit"}
  ]
}`

// People are found by every kind of reference in any spelling, created
// once under a key however many calls race to create them, and an
// unknown one is refused, as the host configured, with an *InputError.
func testEnginePeopleByReference(t *testing.T, b Backend) {
	s := b.New(t)
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, s, clk, flow.Config{})
	f, err := flow.Parse([]byte(orderFlow))
	require.NoError(t, err)
	activate(t, eng, f)

	ann := store.PersonRef{ExternalID: "ann-" + uuid.NewString()}
	part, err := eng.Enter(ctx, "orders", ann, nil)
	require.NoError(t, err, "an unknown external id is created")
	_, err = eng.Enter(ctx, "orders", ann, nil)
	require.ErrorIs(t, err, flow.ErrAlreadyInFlow, "the same person, found by the key it was created under")
	_, err = eng.UpdatePerson(ctx, ann, func(p *store.Person) error {
		p.Phones = []string{"+385 91 234 5678"}
		p.Emails = []string{"Ann." + ann.ExternalID + "@Example.com"}
		return nil
	})
	require.NoError(t, err)
	found, err := eng.Person(ctx, ann)
	require.NoError(t, err)

	order := func(i int, who store.PersonRef) *store.Event {
		return &store.Event{ID: fmt.Sprint("order-", i), Person: who, Category: store.External, Name: "Ordered", Time: clk.Now()}
	}
	for i, who := range []store.PersonRef{
		{Phone: "385912345678"},
		{Email: " ann." + ann.ExternalID + "@example.COM"},
		{ID: found.ID},
	} {
		var rep flow.Report
		require.NoError(t, eng.Deliver(ctx, order(i, who), flow.ReportTo(&rep)), "reference %+v", who)
		require.False(t, rep.Duplicate)
	}
	p, err := eng.Participant(ctx, part)
	require.NoError(t, err)
	require.Equal(t, store.Completed, p.Status, "the first order, by phone, reached the participant")
	history, err := eng.Events(ctx, store.PersonRef{ID: found.ID}, store.EventQuery{Name: "Ordered"})
	require.NoError(t, err)
	require.Len(t, history, 3, "every reference named one person")

	var rep flow.Report
	require.NoError(t, eng.Deliver(ctx, order(0, ann), flow.ReportTo(&rep)))
	require.True(t, rep.Duplicate, "a redelivered event")

	var ie *flow.InputError
	err = eng.Deliver(ctx, order(9, store.PersonRef{ID: uuid.New()}))
	require.ErrorAs(t, err, &ie, "an unknown id is not created")
	require.ErrorIs(t, err, store.ErrNotFound)

	strict := newEngine(t, s, clk, flow.Config{RefuseUnknownPeople: true})
	nobody := store.PersonRef{Email: "nobody-" + uuid.NewString() + "@example.com"}
	_, err = strict.Enter(ctx, "orders", nobody, nil)
	require.ErrorAs(t, err, &ie)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Contains(t, err.Error(), nobody.Email, "the error names the reference")
	_, err = strict.Person(ctx, nobody)
	require.ErrorIs(t, err, store.ErrNotFound, "a refused person is not created")
	again, err := strict.Enter(ctx, "orders", store.PersonRef{Phone: "+385 912 345 678"}, nil)
	require.NoError(t, err, "a known person by another spelling enters")
	p, err = strict.Participant(ctx, again)
	require.NoError(t, err)
	require.Equal(t, found.ID, p.PersonID)

	// Calls racing to create one person: one person, every event kept.
	racer := store.PersonRef{ExternalID: "racer-" + uuid.NewString()}
	const calls = 8
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() { errs[i] = eng.Deliver(ctx, order(100+i, racer)) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	history, err = eng.Events(ctx, racer, store.EventQuery{Name: "Ordered"})
	require.NoError(t, err)
	require.Len(t, history, calls, "the racing calls' events all went to one person")
}

// A process ticks while another changes the flows under the states it
// read for the tick, with more people due than one batch of timers
// holds: every timer fires once, on the states as they are.
func testEngineTickAfterAnotherProcessPublished(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	stores := processes(t, b, 2)
	other := newEngine(t, stores[1], clk, flow.Config{})
	var once sync.Once
	publishMeanwhile := func() {
		once.Do(func() {
			f, err := flow.Parse([]byte(orderFlow))
			require.NoError(t, err)
			activate(t, other, f)
		})
	}
	ticker := newEngine(t, claimHooked(stores[0], publishMeanwhile), clk, flow.Config{})
	activate(t, ticker, welcome())
	const people = 450 // more than two batches
	ids := make([]uuid.UUID, people)
	for i := range ids {
		var err error
		ids[i], err = ticker.Enter(ctx, "welcome", store.PersonRef{ExternalID: fmt.Sprint("stale-", i)}, nil)
		require.NoError(t, err)
	}
	changed := welcome()
	changed.Name = "Welcome, second version"
	_, err := other.Publish(ctx, changed)
	require.NoError(t, err)

	clk.Set(engineStart.Add(72 * time.Hour))
	fired, err := ticker.Tick(ctx)
	require.NoError(t, err)
	require.Equal(t, people, fired)
	for _, id := range ids {
		p, err := other.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status)
		require.Equal(t, 1, p.FlowVersion, "a participant stays on its version")
	}
	stats, err := other.Stats(ctx, "welcome")
	require.NoError(t, err)
	require.EqualValues(t, people, stats["calc"].Entered, "each participant left the pause once")
	require.EqualValues(t, people, stats["done"].Entered)
}

// claimHooked returns s calling hook before each ClaimTimers, keeping
// the optional features the engine's tick uses.
func claimHooked(s store.Store, hook func()) store.Store {
	h := hookedClaims{s, hook}
	if _, ok := s.(store.BatchUpdater); ok {
		return hookedBatches{h}
	}
	return h
}

type hookedClaims struct {
	store.Store
	hook func()
}

func (h hookedClaims) ClaimTimers(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.Timer, error) {
	h.hook()
	return h.Store.(store.TimerClaimer).ClaimTimers(ctx, now, limit, lease)
}

type hookedBatches struct{ hookedClaims }

func (h hookedBatches) UpdateBatch(ctx context.Context, ids []uuid.UUID, fn func(int, store.Tx) error) ([]error, error) {
	return h.Store.(store.BatchUpdater).UpdateBatch(ctx, ids, fn)
}

// race runs call from goroutines goroutines let go at once, rounds times,
// and returns the errors of every call, by round. Before each round it
// arms g, when not nil, for the round's goroutines.
func race(g *missGate, rounds, goroutines int, call func(round, i int) error) [][]error {
	out := make([][]error, rounds)
	for round := range out {
		if g != nil {
			g.arm(goroutines)
		}
		errs := make([]error, goroutines)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				<-start
				errs[i] = call(round, i)
			})
		}
		close(start)
		wg.Wait()
		out[round] = errs
	}
	return out
}

// missGate is a store whose FindPerson, once armed for n callers, holds
// each caller that finds nobody until n have, so that n calls about one
// new person all go on to create them, on one core as on many, as callers
// racing in separate processes do. It keeps the store's RefUpdater, on
// which the engine finds people in their transaction instead.
type missGate struct {
	store.Store
	mu      sync.Mutex
	waiting int
	open    chan struct{}
}

func gateMisses(s store.Store) (store.Store, *missGate) {
	g := &missGate{Store: s}
	if _, ok := s.(store.RefUpdater); ok {
		return gatedRefs{g}, g
	}
	return g, g
}

// arm makes the next n callers that find nobody wait for each other.
func (g *missGate) arm(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting, g.open = n, make(chan struct{})
}

func (g *missGate) FindPerson(ctx context.Context, ref store.PersonRef) (uuid.UUID, error) {
	id, err := g.Store.FindPerson(ctx, ref)
	if !errors.Is(err, store.ErrNotFound) {
		return id, err
	}
	g.mu.Lock()
	open := g.open
	if g.waiting > 0 {
		if g.waiting--; g.waiting == 0 {
			close(open)
		}
	}
	g.mu.Unlock()
	if open != nil {
		select {
		case <-open:
		case <-time.After(5 * time.Second): // a caller of the round did not come
		case <-ctx.Done():
		}
	}
	return id, err
}

type gatedRefs struct{ *missGate }

func (g gatedRefs) UpdateRef(ctx context.Context, ref store.PersonRef, newID uuid.UUID, fn func(uuid.UUID, store.Tx) error) (uuid.UUID, error) {
	return g.Store.(store.RefUpdater).UpdateRef(ctx, ref, newID, fn)
}

// requireNoRaceErrors fails with how many of the calls failed, and how.
func requireNoRaceErrors(t *testing.T, errs [][]error) {
	t.Helper()
	var failed []error
	calls := 0
	for _, round := range errs {
		calls += len(round)
		for _, err := range round {
			if err != nil {
				failed = append(failed, err)
			}
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d calls failed; the first: %v", len(failed), calls, failed[0])
	}
}

// Calls racing to create one new person, each round a person nobody knows
// yet: every Enter with one key returns the one participant it made, with
// no error, and the racing events (each entering a flow once) and profile
// changes all reach the one person the race created; one event delivered
// by every racing call is kept once.
func testEngineNewPersonRace(t *testing.T, b Backend) {
	ctx := t.Context()
	s, gate := gateMisses(b.New(t))
	eng := newEngine(t, s, clock.NewFake(engineStart), flow.Config{})
	f := flow.New("signup", "Signup").
		Add("hold", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, nil)
	activate(t, eng, f)
	visits := flow.New("visits", "Visits").
		Add("hold", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, nil)
	visits.Trigger = &flow.Trigger{Category: store.External, Name: "Visited"}
	visits.Reentry = &flow.Reentry{Rule: flow.ReenterConcurrent}
	activate(t, eng, visits)
	// others is the rounds of events and of profile changes.
	const rounds, others, goroutines = 10, 5, 20
	prefix := uuid.NewString()
	ref := func(what string, round int) store.PersonRef {
		return store.PersonRef{ExternalID: fmt.Sprintf("%s-%s-%d", what, prefix, round)}
	}

	ids := make([][]uuid.UUID, rounds)
	for round := range ids {
		ids[round] = make([]uuid.UUID, goroutines)
	}
	requireNoRaceErrors(t, race(gate, rounds, goroutines, func(round, i int) error {
		var err error
		ids[round][i], err = eng.Enter(ctx, "signup", ref("enter", round), nil, flow.WithKey(fmt.Sprint("signup-", prefix, "-", round)))
		return err
	}))
	for round, got := range ids {
		person, err := eng.Person(ctx, ref("enter", round))
		require.NoError(t, err)
		p, err := eng.Participant(ctx, got[0])
		require.NoError(t, err)
		require.Equal(t, person.ID, p.PersonID, "round %d: the participant is the person's the key names", round)
		for i, id := range got {
			require.Equal(t, got[0], id, "round %d, call %d: every call returns the one participant", round, i)
		}
	}
	require.Len(t, participantsOf(t, eng, "signup"), rounds, "one participant a round")
	require.EqualValues(t, rounds, stats(t, eng, "signup")["hold"].Entered, "entered once a round")

	requireNoRaceErrors(t, race(gate, others, goroutines, func(round, i int) error {
		return eng.Deliver(ctx, &store.Event{ID: fmt.Sprint("visit-", i), Person: ref("deliver", round), Category: store.External, Name: "Visited"})
	}))
	for round := range others {
		evs, err := eng.Events(ctx, ref("deliver", round), store.EventQuery{Name: "Visited"})
		require.NoError(t, err)
		require.Len(t, evs, goroutines, "round %d: every racing event went to one person", round)
		parts, err := eng.Participations(ctx, ref("deliver", round))
		require.NoError(t, err)
		require.Len(t, parts, goroutines, "round %d: every racing event entered the person once", round)
	}
	require.EqualValues(t, others*goroutines, stats(t, eng, "visits")["hold"].Entered)
	requireNoRaceErrors(t, race(gate, others, goroutines, func(round, i int) error {
		return eng.Deliver(ctx, &store.Event{ID: "again", Person: ref("redeliver", round), Category: store.External, Name: "Visited"})
	}))
	for round := range others {
		evs, err := eng.Events(ctx, ref("redeliver", round), store.EventQuery{Name: "Visited"})
		require.NoError(t, err)
		require.Len(t, evs, 1, "round %d: one event, delivered by every racing call", round)
	}

	requireNoRaceErrors(t, race(gate, others, goroutines, func(round, i int) error {
		_, err := eng.UpdatePerson(ctx, ref("update", round), func(p *store.Person) error {
			p.AddTag(fmt.Sprint("tag-", i))
			return nil
		})
		return err
	}))
	for round := range others {
		p, err := eng.Person(ctx, ref("update", round))
		require.NoError(t, err)
		require.Len(t, p.Tags, goroutines, "round %d: every racing change reached one person", round)
	}
}
