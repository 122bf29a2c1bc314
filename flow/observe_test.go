package flow_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// countingObserver counts observations by kind and by (participant,
// element) for steps.
type countingObserver struct {
	mu    sync.Mutex
	kinds map[flow.What]int
	steps map[string]int
	sends []time.Duration
}

func (o *countingObserver) Observe(_ context.Context, ob *flow.Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.kinds[ob.What]++
	if ob.What == flow.ObservedStep {
		o.steps[ob.Participant.String()+"/"+ob.ElementID]++
	}
	if ob.What == flow.ObservedSend {
		o.sends = append(o.sends, ob.Duration)
	}
}

// The observer sees every step of a 1,000-participant run exactly once,
// with the waits, resumes, sends and exits between.
func TestObserverSeesEveryStepOnce(t *testing.T) {
	ctx := t.Context()
	obs := &countingObserver{kinds: map[flow.What]int{}, steps: map[string]int{}}
	clk := clock.NewFake(t0)
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Observer: obs, Ports: flow.Ports{Sender: &integSender{clk: clk}}})
	require.NoError(t, err)
	f := flow.New("obs", "Observed").
		Add("tag", &kinds.AddTag{Tag: "new"}, flow.Next{"next": "pause"}).
		Add("pause", pauseFor(1, segment.Days), flow.Next{"next": "send"}).
		Add("send", &kinds.SendMessage{Channel: "email", Body: "hi"}, flow.Next{"sent": "done"}).
		Add("done", &kinds.Exit{}, nil)
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "obs"))
	const people = 1000
	for i := range people {
		_, err := eng.Enter(ctx, "obs", store.PersonRef{Email: fmt.Sprintf("p%d@example.com", i)}, nil)
		require.NoError(t, err)
	}
	_, err = flowtest.Advance(ctx, eng, clk, 48*time.Hour)
	require.NoError(t, err)

	require.Equal(t, people, obs.kinds[flow.ObservedEnter])
	require.Equal(t, people, obs.kinds[flow.ObservedWait])
	require.Equal(t, people, obs.kinds[flow.ObservedResume])
	require.Equal(t, people, obs.kinds[flow.ObservedSend])
	require.Equal(t, people, obs.kinds[flow.ObservedExit])
	require.Zero(t, obs.kinds[flow.ObservedFailure])
	require.Len(t, obs.steps, people*3, "tag, pause and send, per participant")
	for k, n := range obs.steps {
		require.Equal(t, 1, n, "step %s observed %d times", k, n)
	}
	st, err := eng.Stats(ctx, "obs")
	require.NoError(t, err)
	var left int64
	for _, e := range st {
		for _, n := range e.Left {
			left += n
		}
	}
	require.Equal(t, int64(obs.kinds[flow.ObservedStep]), left, "one step observation per branch taken")
	for _, d := range obs.sends {
		require.Positive(t, d, "sends carry their duration")
	}
}

// BenchmarkStepsObserved is BenchmarkSteps with a no-op observer: the
// observer's cost.
func BenchmarkStepsObserved(b *testing.B) {
	clk := clock.NewFake(t0)
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Schema: store.Schema{"score": store.Number},
		Observer: flow.ObserverFunc(func(context.Context, *flow.Observation) {})})
	if err != nil {
		b.Fatal(err)
	}
	benchSteps(b, eng, stepsFlow(), stepsChain)
}
