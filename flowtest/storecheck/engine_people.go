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
