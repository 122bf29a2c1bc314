package flow_test

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

func TestInspectVersionsAndStats(t *testing.T) {
	h := newHarness(t, flow.Config{})
	v1 := flow.New("f", "First").Add("wait", pauseFor(1, segment.Hours), flow.Next{"next": "tag"}).Add("tag", tag("x"), nil)
	h.publish(t, v1)
	ana := store.PersonRef{ExternalID: "ana"}
	_, err := h.eng.Enter(h.ctx, "f", ana, nil)
	require.NoError(t, err)
	_, err = h.eng.Enter(h.ctx, "f", store.PersonRef{ExternalID: "ben"}, nil)
	require.NoError(t, err)
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 2*time.Hour) // both leave v1
	require.NoError(t, err)

	h.clk.Advance(time.Minute)
	v2 := flow.New("f", "Second").Add("hold", pauseFor(1, segment.Days), nil)
	_, err = h.eng.Publish(h.ctx, v2)
	require.NoError(t, err)
	_, err = h.eng.Enter(h.ctx, "f", ana, nil)
	require.NoError(t, err)
	h.publish(t, flow.New("g", "Other").Add("hold", pauseFor(1, segment.Days), nil))
	_, err = h.eng.Enter(h.ctx, "g", ana, nil)
	require.NoError(t, err)

	flows, err := h.eng.Flows(h.ctx)
	require.NoError(t, err)
	require.Len(t, flows, 2)
	require.Equal(t, "f", flows[0].Flow.ID)
	require.Equal(t, "Second", flows[0].Flow.Name, "the latest version")
	require.Equal(t, 2, flows[0].Flow.Version)
	require.Equal(t, store.FlowActive, flows[0].Status)
	require.Equal(t, "g", flows[1].Flow.ID)

	versions, err := h.eng.Versions(h.ctx, "f")
	require.NoError(t, err)
	require.Equal(t, []flow.VersionInfo{{1, t0}, {2, t0.Add(2*time.Hour + time.Minute)}}, normVersions(versions))

	old, err := h.eng.FlowVersion(h.ctx, "f", 1)
	require.NoError(t, err)
	require.Equal(t, "First", old.Name)
	require.Equal(t, 1, old.Version)
	require.NotNil(t, old.Node("tag"))

	s1, err := h.eng.VersionStats(h.ctx, "f", 1)
	require.NoError(t, err)
	require.Equal(t, []flow.ElementReport{
		{ID: "wait", Kind: "pause", ElementStats: flow.ElementStats{Entered: 2, Left: map[string]int64{"next": 2}, Other: map[string]int64{}}},
		{ID: "tag", Kind: "addTag", ElementStats: flow.ElementStats{Entered: 2, Left: map[string]int64{"next": 2}, Other: map[string]int64{}}},
	}, s1)
	s2, err := h.eng.VersionStats(h.ctx, "f", 2)
	require.NoError(t, err)
	require.Equal(t, []flow.ElementReport{
		{ID: "hold", Kind: "pause", ElementStats: flow.ElementStats{Entered: 1, Waiting: 1, Left: map[string]int64{"next": 0}, Other: map[string]int64{}}},
	}, s2, "one version's figures only, zero rows included")

	for _, bad := range []struct {
		id string
		v  int
	}{{"f", 3}, {"f", 0}, {"nope", 1}} {
		_, err = h.eng.VersionStats(h.ctx, bad.id, bad.v)
		require.ErrorIs(t, err, store.ErrNotFound, "%s v%d", bad.id, bad.v)
		_, err = h.eng.FlowVersion(h.ctx, bad.id, bad.v)
		require.ErrorIs(t, err, store.ErrNotFound, "%s v%d", bad.id, bad.v)
	}
	_, err = h.eng.Versions(h.ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	parts, err := h.eng.Participations(h.ctx, ana)
	require.NoError(t, err)
	require.Len(t, parts, 3)
	require.Equal(t, []string{"f", "f", "g"}, []string{parts[0].FlowID, parts[1].FlowID, parts[2].FlowID})
	require.Equal(t, []int{1, 2, 1}, []int{parts[0].FlowVersion, parts[1].FlowVersion, parts[2].FlowVersion})
	require.Equal(t, store.Completed, parts[0].Status)
	require.NotEmpty(t, parts[0].Journal)
	parts[0].Journal[0].Reason = "changed by the host"
	again, err := h.eng.Participant(h.ctx, parts[0].ID)
	require.NoError(t, err)
	require.NotEqual(t, "changed by the host", again.Journal[0].Reason, "the host owns its copies")

	_, err = h.eng.Participations(h.ctx, store.PersonRef{ExternalID: "nobody"})
	require.ErrorIs(t, err, store.ErrNotFound)

	atTag, err := h.eng.Participants(h.ctx, store.ParticipantQuery{FlowID: "f", Element: "tag"})
	require.NoError(t, err)
	require.Len(t, atTag, 2, "the two who left v1 from its last element")
}

func normVersions(vs []flow.VersionInfo) []flow.VersionInfo {
	for i := range vs {
		vs[i].PublishedAt = vs[i].PublishedAt.UTC()
	}
	return vs
}
