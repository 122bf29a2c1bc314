package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// Tick overlaps the calls outside of the participants whose timers it
// fires: each step tells the engine when its call begins
// (element.Run.Calling), and the next participant's step starts then, so
// three slow calls are under way at once. Built-in kinds and custom kinds
// (host code) alike.
func TestTickOverlapsCalls(t *testing.T) {
	for _, kind := range []string{"sendMessage", "custom"} {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			arrived, release := make(chan struct{}, 3), make(chan struct{})
			gate := func() {
				arrived <- struct{}{}
				<-release
			}
			reg := kinds.Registry()
			require.NoError(t, kinds.RegisterCustom(reg, "slow", kinds.CustomKind{
				Run: func(context.Context, *kinds.CustomCall) (kinds.CustomResult, error) {
					gate()
					return kinds.CustomResult{}, nil
				},
			}))
			var call element.Element = &kinds.SendMessage{Channel: "email", Body: "hi"}
			branch := kinds.BranchSent
			if kind == "custom" {
				c, err := kinds.NewCustom(reg, "slow", nil, nil)
				require.NoError(t, err)
				call, branch = c, element.BranchNext
			}
			clk := clock.NewFake(t0)
			eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Elements: reg,
				Ports: flow.Ports{Sender: senderFunc(func(context.Context, *element.Message) (string, error) { gate(); return "m", nil })},
			})
			require.NoError(t, err)
			f := flow.New("slow", "Slow calls").
				Add("pause", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Hours}}, flow.Next{"next": "call"}).
				Add("call", call, flow.Next{branch: "done"}).
				Add("done", &kinds.Exit{}, nil)
			_, err = eng.Publish(ctx, f)
			require.NoError(t, err)
			require.NoError(t, eng.Activate(ctx, "slow"))
			for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
				_, err := eng.Enter(ctx, "slow", store.PersonRef{Email: email}, nil)
				require.NoError(t, err)
			}
			clk.Advance(time.Hour)
			ticked := make(chan error, 1)
			go func() {
				_, err := eng.Tick(ctx)
				ticked <- err
			}()
			for i := range 3 {
				select {
				case <-arrived:
				case <-time.After(5 * time.Second):
					close(release)
					<-ticked
					t.Fatalf("call %d did not begin while %d were under way", i+1, i)
				}
			}
			close(release)
			require.NoError(t, <-ticked)
			ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "slow"})
			require.NoError(t, err)
			require.Len(t, ps, 3)
			for _, p := range ps {
				require.Equal(t, store.Completed, p.Status, "%+v", p.Journal)
			}
		})
	}
}

// senderFunc is a Sender made of a function.
type senderFunc func(context.Context, *element.Message) (string, error)

func (f senderFunc) Send(ctx context.Context, m *element.Message) (string, error) { return f(ctx, m) }
