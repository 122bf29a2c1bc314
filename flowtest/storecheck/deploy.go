package storecheck

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// rollout is release "a" or "b" of a flow that tags people and waits a
// day at "wait" before its exit.
func rollout(release string) *flow.Flow {
	return flow.New("rollout", "Rollout").
		Add("tag", &kinds.AddTag{Tag: "release-" + release}, flow.Next{"next": "wait"}).
		Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

// A rolling deploy over two processes: the first deploys release A, the
// second B with MigrateWaiting, which moves A's waiting participants to
// B, and the first, restarted with A, publishes nothing: two versions,
// and new participants enter B. A rollback asked for with Republish
// publishes A as version 3.
func testEngineRollingDeploy(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	stores := processes(t, b, 2)
	oldRelease := newEngine(t, stores[0], clk, flow.Config{})

	v, published, err := oldRelease.Deploy(ctx, rollout("a"))
	require.NoError(t, err)
	require.Equal(t, 1, v)
	require.True(t, published)
	for _, who := range []string{"ana", "ben", "cy"} {
		_, err := oldRelease.Enter(ctx, "rollout", store.PersonRef{ExternalID: who}, nil)
		require.NoError(t, err)
	}
	clk.Advance(time.Hour)

	newRelease := newEngine(t, stores[1], clk, flow.Config{})
	res, err := newRelease.DeployWith(ctx, rollout("b"), flow.DeployOptions{Waiting: flow.MigrateWaiting})
	require.NoError(t, err)
	require.Equal(t, 2, res.Version)
	require.True(t, res.Published)
	require.Len(t, res.Migrations, 1, "one earlier version had participants")
	require.Equal(t, 3, res.Migrations[0].Moved)
	require.Equal(t, map[flow.MigrationMove]int{{From: "wait", To: "wait"}: 3}, res.Migrations[0].Moves)
	for _, p := range participantsOf(t, newRelease, "rollout") {
		require.Equal(t, 2, p.FlowVersion, "migrated by element id")
		require.Equal(t, "wait", p.Element)
		require.Equal(t, engineStart.Add(24*time.Hour), p.Wait.Until.UTC(), "the day counts from the arrival on version 1")
	}

	// A process of the old release restarts: a new engine, nothing cached.
	restarted := newEngine(t, stores[0], clk, flow.Config{})
	for range 2 {
		v, published, err = restarted.Deploy(ctx, rollout("a"))
		require.NoError(t, err)
		require.Equal(t, 2, v, "the latest version stays B's")
		require.False(t, published, "version 1 has A's document")
	}
	res, err = restarted.DeployWith(ctx, rollout("a"), flow.DeployOptions{Waiting: flow.MigrateWaiting})
	require.NoError(t, err)
	require.Equal(t, flow.DeployResult{Version: 2, Matched: 1}, *res, "an old document migrates no one back")
	vs, err := restarted.Versions(ctx, "rollout")
	require.NoError(t, err)
	require.Len(t, vs, 2, "A, B, A again: two versions")
	id, err := restarted.Enter(ctx, "rollout", store.PersonRef{ExternalID: "dee"}, nil)
	require.NoError(t, err)
	p, err := restarted.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 2, p.FlowVersion, "new participants enter B")
	person, err := restarted.Person(ctx, store.PersonRef{ExternalID: "dee"})
	require.NoError(t, err)
	require.Equal(t, []string{"release-b"}, person.Tags)

	// B deployed again by the second process changes nothing.
	res, err = newRelease.DeployWith(ctx, rollout("b"), flow.DeployOptions{Waiting: flow.MigrateWaiting})
	require.NoError(t, err)
	require.Equal(t, flow.DeployResult{Version: 2, Matched: 2}, *res)

	// A rollback is asked for: A becomes version 3, and with LeaveWaiting
	// (the default) everyone stays on version 2.
	res, err = restarted.DeployWith(ctx, rollout("a"), flow.DeployOptions{Republish: true})
	require.NoError(t, err)
	require.Equal(t, flow.DeployResult{Version: 3, Matched: 3, Published: true}, *res)
	for _, p := range participantsOf(t, restarted, "rollout") {
		require.Equal(t, 2, p.FlowVersion)
	}
	_, err = restarted.DeployWith(ctx, rollout("a"), flow.DeployOptions{Waiting: "move"})
	require.ErrorContains(t, err, `DeployOptions.Waiting: unknown policy "move"`)
}
