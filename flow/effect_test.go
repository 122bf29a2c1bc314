package flow_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// watchedStore counts the Updates in progress.
type watchedStore struct {
	*memory.Store
	open atomic.Int32
}

func (w *watchedStore) Update(ctx context.Context, id uuid.UUID, fn func(store.Tx) error) error {
	w.open.Add(1)
	defer w.open.Add(-1)
	return w.Store.Update(ctx, id, fn)
}

func (w *watchedStore) UpdateRef(ctx context.Context, ref store.PersonRef, newID uuid.UUID, fn func(uuid.UUID, store.Tx) error) (uuid.UUID, error) {
	w.open.Add(1)
	defer w.open.Add(-1)
	return w.Store.UpdateRef(ctx, ref, newID, fn)
}

func (w *watchedStore) UpdateBatch(ctx context.Context, ids []uuid.UUID, fn func(int, store.Tx) error) ([]error, error) {
	w.open.Add(1)
	defer w.open.Add(-1)
	return w.Store.UpdateBatch(ctx, ids, fn)
}

// gateSender blocks each send until released, recording what it saw.
type gateSender struct {
	w       *watchedStore
	mu      sync.Mutex
	keys    []string
	openTx  []int32
	arrived chan struct{}
	release chan struct{}
}

func (g *gateSender) Send(ctx context.Context, m *element.Message) (string, error) {
	g.mu.Lock()
	g.keys = append(g.keys, m.IdempotencyKey)
	g.openTx = append(g.openTx, g.w.open.Load())
	g.mu.Unlock()
	if g.arrived != nil {
		g.arrived <- struct{}{}
	}
	if g.release != nil {
		<-g.release
	}
	return "m-" + m.IdempotencyKey, nil
}

func effectFlow() *flow.Flow {
	return flow.New("fx", "Effects").Var("n", store.Number, 0).
		Add("send", &kinds.SendMessage{Channel: "email", Body: "hi"}, flow.Next{"sent": "wait"}).
		Add("wait", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Clicked"},
			WaitFor: segment.Period{Amount: 1, Unit: segment.Days}}, flow.Next{"occurred": "count", "timeout": "done"}).
		Add("count", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n + 1"}}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

func effectEngine(t *testing.T, w *watchedStore, clk clock.Clock, s element.Sender) *flow.Engine {
	t.Helper()
	eng, err := flow.NewEngine(flow.Config{Store: w, Clock: clk, EffectLease: time.Minute, Ports: flow.Ports{Sender: s}})
	require.NoError(t, err)
	_, err = eng.Publish(t.Context(), effectFlow())
	require.NoError(t, err)
	require.NoError(t, eng.Activate(t.Context(), "fx"))
	return eng
}

// A send runs with no transaction of the store open; the participant is
// in flight meanwhile, in the statistics too, and events delivered then
// are handed to it once its result commits.
func TestEffectRunsOutsideTransaction(t *testing.T) {
	ctx := t.Context()
	w := &watchedStore{Store: memory.New()}
	clk := clock.NewFake(t0)
	g := &gateSender{w: w, arrived: make(chan struct{}), release: make(chan struct{})}
	eng := effectEngine(t, w, clk, g)

	ana := store.PersonRef{Email: "ana@example.com"}
	entered := make(chan uuid.UUID, 1)
	failed := make(chan error, 1)
	go func() {
		id, err := eng.Enter(ctx, "fx", ana, nil)
		if err != nil {
			failed <- err
			return
		}
		entered <- id
	}()
	select {
	case <-g.arrived:
	case err := <-failed:
		t.Fatal(err)
	case id := <-entered:
		t.Fatalf("entered without sending: %+v", id)
	}
	ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "fx"})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, store.InFlight, ps[0].Status)
	stats, err := eng.Stats(ctx, "fx")
	require.NoError(t, err)
	require.Equal(t, int64(1), stats["send"].InFlight)

	// The click comes while the send is in flight: it is kept, and wakes
	// the participant once it reaches the wait.
	require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "c1", Person: ana, Category: store.External, Name: "Clicked"}))
	// The host changes the profile during the send; the send's own change
	// (when the channel was last used) joins it, and erases nothing.
	_, err = eng.UpdatePerson(ctx, ana, func(p *store.Person) error { p.FirstName = "Ana"; return nil })
	require.NoError(t, err)
	close(g.release)
	id := <-entered

	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Completed, p.Status, "%+v", p.Journal)
	require.Equal(t, 1.0, p.Vars["n"], "the held click counted once")
	require.Nil(t, p.Effect)
	require.Equal(t, []int32{0}, g.openTx, "no Update was open during the send")
	person, err := eng.Person(ctx, ana)
	require.NoError(t, err)
	require.Equal(t, "Ana", person.FirstName, "the profile change made during the send stays")
	require.Contains(t, person.LastContacted, "email", "and the send's own change is applied")
	stats, err = eng.Stats(ctx, "fx")
	require.NoError(t, err)
	require.Zero(t, stats["send"].InFlight)
	require.Zero(t, stats["wait"].Waiting)
	require.Equal(t, int64(1), stats["wait"].Left["occurred"])
}

// A flow paused by another engine on the same store is paused for this
// one at once: flow states are cached by the store's revision, not for a
// while.
func TestFlowStatesFollowOtherEngines(t *testing.T) {
	ctx := t.Context()
	st := memory.New()
	clk := clock.NewFake(t0)
	a, err := flow.NewEngine(flow.Config{Store: st, Clock: clk})
	require.NoError(t, err)
	b, err := flow.NewEngine(flow.Config{Store: st, Clock: clk})
	require.NoError(t, err)
	f := flow.New("t", "Triggered").Add("tag", tag("x"), nil)
	f.Trigger = &flow.Trigger{Category: store.External, Name: "Signed"}
	_, err = a.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, a.Activate(ctx, "t"))
	ev := func(id string) *store.Event {
		return &store.Event{ID: id, Person: store.PersonRef{ExternalID: id}, Category: store.External, Name: "Signed"}
	}
	require.NoError(t, b.Deliver(ctx, ev("p1")))
	require.NoError(t, a.Pause(ctx, "t"))
	require.NoError(t, b.Deliver(ctx, ev("p2")))
	ps, err := b.Participants(ctx, store.ParticipantQuery{FlowID: "t"})
	require.NoError(t, err)
	require.Len(t, ps, 1, "the paused flow took no one in")
}
