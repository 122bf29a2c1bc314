package flow_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// leaseDoer answers each call after a second of the fake clock, and notes
// how much of its participant's lease was left when the call began.
type leaseDoer struct {
	eng  *flow.Engine
	clk  *clock.Fake
	mu   sync.Mutex
	left []time.Duration
}

func (d *leaseDoer) Do(r *http.Request) (*http.Response, error) {
	id, err := uuid.Parse(strings.Split(r.Header.Get("Idempotency-Key"), ":")[0])
	if err != nil {
		return nil, err
	}
	p, err := d.eng.Participant(r.Context(), id)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.left = append(d.left, p.Wait.Until.Sub(d.clk.Now()))
	d.mu.Unlock()
	d.clk.Advance(time.Second)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{}`))}, nil
}

// A tick whose timers run into more calls than it makes at once starts
// each call with its whole lease: the lease covers the call, not the wait
// for the calls before it, so no other process takes over a call that is
// only queued.
func TestTickCallsWithinLease(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewFake(time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC))
	doer := &leaseDoer{clk: clk}
	const lease = 5 * time.Second
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, EffectLease: lease, EffectConcurrency: 1, Ports: flow.Ports{HTTP: doer}})
	require.NoError(t, err)
	doer.eng = eng
	_, err = eng.Publish(ctx, flow.New("f", "F").
		Add("pause", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Minutes}}, flow.Next{"next": "call"}).
		Add("call", &kinds.CallAPI{URL: "https://api.example.com/hook"}, flow.Next{kinds.Branch2xx: "done"}).
		Add("done", &kinds.Exit{}, nil))
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "f"))
	const people = 10
	for i := range people {
		_, err := eng.Enter(ctx, "f", store.PersonRef{ExternalID: string(rune('a' + i))}, nil)
		require.NoError(t, err)
	}
	clk.Advance(time.Minute)
	fired, err := eng.Tick(ctx)
	require.NoError(t, err)
	require.Equal(t, people, fired)
	require.Len(t, doer.left, people)
	for i, left := range doer.left {
		require.Equal(t, lease, left, "call %d began with its whole lease", i)
	}
	ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "f"})
	require.NoError(t, err)
	for _, p := range ps {
		require.Equal(t, store.Completed, p.Status, p.Reason)
	}
}
