package flow_test

import (
	"context"
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

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC))
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Schema: store.Schema{"score": store.Number}})
	require.NoError(t, err)
	f := flow.New("f", "F").In("Europe/Zagreb").Var("n", store.Number, 1).
		Add("tag", &kinds.AddTag{Tag: "new"}, flow.Next{"next": "pause"}).
		Add("pause", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}, At: kinds.At(9, 0)}, flow.Next{"next": "calc"}).
		Add("calc", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n * 10 + 2"}}}, flow.Next{"next": "prof"}).
		Add("prof", &kinds.UpdateProfile{Set: []*kinds.Assignment{{Attribute: "score", Value: "{{n}}"}}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
	v, err := eng.Publish(ctx, f)
	require.NoError(t, err)
	require.Equal(t, 1, v)
	require.NoError(t, eng.Activate(ctx, "f"))
	id, err := eng.Enter(ctx, "f", store.PersonRef{ExternalID: "ann"}, nil)
	require.NoError(t, err)
	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Waiting, p.Status)
	require.Equal(t, time.Date(2026, 1, 7, 8, 0, 0, 0, time.UTC), p.Wait.Until.UTC())
	n, err := flowtest.Advance(ctx, eng, clk, 48*time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	p, err = eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Completed, p.Status, "%+v", p.Journal)
	person, err := eng.Person(ctx, store.PersonRef{ExternalID: "ann"})
	require.NoError(t, err)
	require.Equal(t, 12.0, person.Attributes["score"])
	for _, s := range p.Journal {
		t.Log(s.At.Format(time.RFC3339), s.Element, s.Branch, s.Reason)
	}
	st, err := eng.Stats(ctx, "f")
	require.NoError(t, err)
	require.Equal(t, int64(1), st["pause"].Entered)
	require.Equal(t, int64(0), st["pause"].Waiting)
}
