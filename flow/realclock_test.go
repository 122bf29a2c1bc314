package flow_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// With the real clock, timers due within a fraction of a second all fire
// at the next ticks: none is handed out by the store and then skipped by
// the engine, which would leave it claimed for the whole TimerLease.
func TestRealClockTimersFireOnTime(t *testing.T) {
	ctx := t.Context()
	n := 20_000
	if testing.Short() {
		n = 5_000
	}
	st := memory.New()
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clock.Real{}})
	require.NoError(t, err)
	f := flow.New("soon", "Soon").
		Add("pause", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Seconds}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "soon"))
	for i := range n {
		_, err := eng.Enter(ctx, "soon", store.PersonRef{ExternalID: fmt.Sprint("p", i)}, nil)
		require.NoError(t, err)
	}
	deadline := time.Now().Add(20 * time.Second) // far below the one-minute lease
	fired := 0
	for fired < n && time.Now().Before(deadline) {
		k, err := eng.Tick(ctx)
		require.NoError(t, err)
		fired += k
	}
	require.Equal(t, n, fired, "every timer fired well within the lease")
	_, pending, err := eng.NextDue(ctx)
	require.NoError(t, err)
	require.False(t, pending, "no timer is left")
}
