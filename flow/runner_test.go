package flow_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

func TestRunTicksAtDueTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		eng, err := flow.NewEngine(flow.Config{Store: memory.New()}) // real clock, bubbled
		require.NoError(t, err)
		f := flow.New("r", "R").
			Add("p", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 90, Unit: segment.Seconds}}, flow.Next{"next": "t"}).
			Add("t", &kinds.AddTag{Tag: "done"}, nil)
		_, err = eng.Publish(ctx, f)
		require.NoError(t, err)
		require.NoError(t, eng.Activate(ctx, "r"))
		id, err := eng.Enter(ctx, "r", store.PersonRef{ExternalID: "p"}, nil)
		require.NoError(t, err)
		start := time.Now()

		done := make(chan error)
		go func() { done <- eng.Run(ctx, time.Minute) }()

		time.Sleep(89 * time.Second)
		synctest.Wait()
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Waiting, p.Status)

		time.Sleep(2 * time.Second)
		synctest.Wait()
		p, err = eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status)
		require.Equal(t, start.Add(90*time.Second), p.ExitedAt, "the loop woke exactly at the due time")

		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})
}
