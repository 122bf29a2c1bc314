package flow_test

import (
	"context"
	"testing"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

func deployFlow(tag string) *flow.Flow {
	return flow.New("welcome", "Welcome").
		Add("tag", &kinds.AddTag{Tag: tag}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

// Deploy publishes a document only when it changed, and activates a
// draft; a flow the host paused stays paused.
func TestDeploy(t *testing.T) {
	ctx := context.Background()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New()})
	require.NoError(t, err)

	status := func() store.FlowStatus {
		info, err := eng.Flow(ctx, "welcome")
		require.NoError(t, err)
		return info.Status
	}
	v, changed, err := eng.Deploy(ctx, deployFlow("new"))
	require.NoError(t, err)
	require.Equal(t, 1, v)
	require.True(t, changed)
	require.Equal(t, store.FlowActive, status())

	v, changed, err = eng.Deploy(ctx, deployFlow("new"))
	require.NoError(t, err)
	require.Equal(t, 1, v)
	require.False(t, changed, "the same flow again")

	// The same flow as a JSON document with other spacing and key order.
	f, err := flow.Parse([]byte(`{"name": "Welcome", "id": "welcome",
	  "elements": [{"type": "addTag", "id": "tag", "tag": "new", "next": {"next": "done"}}, {"id": "done", "type": "exit"}]}`))
	require.NoError(t, err)
	v, changed, err = eng.Deploy(ctx, f)
	require.NoError(t, err)
	require.Equal(t, 1, v)
	require.False(t, changed, "the same flow parsed from JSON")

	require.NoError(t, eng.Pause(ctx, "welcome"))
	v, changed, err = eng.Deploy(ctx, deployFlow("newer"))
	require.NoError(t, err)
	require.Equal(t, 2, v)
	require.True(t, changed)
	require.Equal(t, store.FlowPaused, status(), "Deploy activates drafts only")
	info, err := eng.Flow(ctx, "welcome")
	require.NoError(t, err)
	require.Equal(t, "newer", info.Flow.Elements[0].Element.(*kinds.AddTag).Tag)

	// A flow that does not validate is refused and publishes nothing.
	bad := flow.New("welcome", "Welcome").Add("tag", &kinds.AddTag{}, nil)
	_, _, err = eng.Deploy(ctx, bad)
	require.Error(t, err)
	require.NotEmpty(t, flow.ValidationErrors(err))
	versions, err := eng.Versions(ctx, "welcome")
	require.NoError(t, err)
	require.Len(t, versions, 2)
}
