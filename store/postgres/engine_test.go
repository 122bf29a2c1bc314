package postgres_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// start is a time with nanoseconds, which a timestamptz alone would lose.
var start = time.Date(2026, 1, 5, 10, 0, 0, 123456789, time.UTC)

// welcome tags a person, pauses two days (a week for odd people, by
// variable), computes a score into their profile and exits.
func welcome() *flow.Flow {
	return flow.New("welcome", "Welcome").In("Europe/Zagreb").Var("n", store.Number, 1).
		Add("tag", &element.AddTag{Tag: "new"}, flow.Next{"next": "pause"}).
		Add("pause", &element.Pause{Mode: element.PauseFor, Period: element.Period{Amount: 2, Unit: element.Days}}, flow.Next{"next": "calc"}).
		Add("calc", &element.UpdateVariable{Set: []*element.Assignment{{Variable: "n", Formula: "n * 10 + 2"}}}, flow.Next{"next": "prof"}).
		Add("prof", &element.UpdateProfile{Set: []*element.Assignment{{Attribute: "score", Value: "{{n}}"}}}, flow.Next{"next": "done"}).
		Add("done", &element.Exit{}, nil)
}

func newEngine(t *testing.T, s store.Store, clk clock.Clock) *flow.Engine {
	t.Helper()
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, Schema: store.Schema{"score": store.Number}})
	require.NoError(t, err)
	return eng
}

// The engine runs end to end on PostgreSQL: people enter, wait two days
// of fake time and complete, with their profiles updated.
func TestEngine(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	clk := clock.NewFake(start)
	eng := newEngine(t, s, clk)
	_, err := eng.Publish(ctx, welcome())
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "welcome"))

	const people = 20
	ids := make([]uuid.UUID, people)
	for i := range ids {
		ids[i], err = eng.Enter(ctx, "welcome", store.PersonRef{ExternalID: fmt.Sprint("person-", i)}, map[string]any{"n": float64(i)})
		require.NoError(t, err)
		clk.Advance(time.Minute + time.Nanosecond)
	}
	for _, id := range ids {
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Waiting, p.Status)
	}
	next, ok, err := eng.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, start.Add(48*time.Hour), next, "the first timer, to the nanosecond")

	fired, err := flowtest.AdvanceTo(ctx, eng, clk, start.Add(72*time.Hour))
	require.NoError(t, err)
	require.Equal(t, people, fired)
	for i, id := range ids {
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status, "%+v", p.Journal)
		require.Nil(t, p.Wait)
		person, err := eng.Person(ctx, store.PersonRef{ExternalID: fmt.Sprint("person-", i)})
		require.NoError(t, err)
		require.Equal(t, float64(i*10+2), person.Attributes["score"])
		require.Equal(t, []string{"new"}, person.Tags)
	}
	_, ok, err = eng.NextDue(ctx)
	require.NoError(t, err)
	require.False(t, ok, "no timer is left")
	stats, err := eng.Stats(ctx, "welcome")
	require.NoError(t, err)
	require.Equal(t, int64(people), stats["pause"].Entered)
	require.Equal(t, int64(0), stats["pause"].Waiting)
	require.Equal(t, int64(people), stats["done"].Entered)

	// A redelivered event is a no-op on PostgreSQL too.
	ev := &store.Event{ID: "order-1", Person: store.PersonRef{ExternalID: "person-0"}, Category: store.External, Name: "Ordered", Time: clk.Now()}
	require.NoError(t, eng.Deliver(ctx, ev))
	require.NoError(t, eng.Deliver(ctx, ev))
	require.NoError(t, s.Update(ctx, ids[0], func(tx store.Tx) error { return nil }))
}

// Two engines on two stores with their own pools stand for two host
// processes: people enter through both, both tick at once, and every
// timer fires exactly once.
func TestEngineTwoProcesses(t *testing.T) {
	p := testPool(t)
	schema := newSchema(t, p)
	ctx := t.Context()
	clk := clock.NewFake(start)
	var engines []*flow.Engine
	for range 2 {
		s, err := postgres.New(ctx, postgres.Config{URL: os.Getenv(envURL), Schema: schema})
		require.NoError(t, err)
		t.Cleanup(s.Close)
		engines = append(engines, newEngine(t, s, clk))
	}
	_, err := engines[0].Publish(ctx, welcome())
	require.NoError(t, err)
	require.NoError(t, engines[1].Activate(ctx, "welcome"))

	const people = 60
	ids := make([]uuid.UUID, people)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			var err error
			ids[i], err = engines[i%2].Enter(ctx, "welcome", store.PersonRef{Email: fmt.Sprintf("p%d@example.com", i)}, nil)
			require.NoError(t, err)
		})
	}
	wg.Wait()

	clk.Set(start.Add(72 * time.Hour))
	fired := make([]int, 4)
	for i := range fired {
		wg.Go(func() {
			var err error
			fired[i], err = engines[i%2].Tick(ctx)
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Equal(t, people, fired[0]+fired[1]+fired[2]+fired[3], "fired per ticker: %v", fired)
	for _, id := range ids {
		p, err := engines[1].Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status)
	}
	stats, err := engines[0].Stats(ctx, "welcome")
	require.NoError(t, err)
	require.Equal(t, int64(people), stats["calc"].Entered, "each participant left the pause once")
	require.Equal(t, int64(people), stats["done"].Entered)
}
