package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// Flows

var flowTests = []test{
	{"PublishNumbersVersions", testPublishNumbersVersions},
	{"PublishExpectedVersion", testPublishExpectedVersion},
	{"PublishExpectedVersionRace", testPublishExpectedVersionRace},
	{"FlowVersion", testFlowVersion},
	{"FlowVersionIsCopied", testFlowVersionIsCopied},
	{"FlowStatesAreCopies", testFlowStatesAreCopies},
	{"FlowNotFound", testFlowNotFound},
	{"FlowsOrderedByID", testFlowsOrderedByID},
	{"SetFlowStatus", testSetFlowStatus},
}

func testPublishNumbersVersions(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := uniq(t, "flow")
	for want := 1; want <= 3; want++ {
		v, err := s.PublishFlow(ctx, &store.FlowVersion{
			FlowID:      id,
			Document:    doc(id),
			PublishedAt: base.Add(time.Duration(want) * time.Hour),
		})
		require.NoError(t, err)
		require.Equal(t, want, v, "version number")
		st, err := s.Flow(ctx, id)
		require.NoError(t, err)
		require.Equal(t, id, st.FlowID)
		require.Equal(t, store.FlowDraft, st.Status, "a new flow starts as draft")
		require.Equal(t, want, st.Latest)
	}
	require.Equal(t, 1, publish(t, s, uniq(t, "flow")), "versions are numbered per flow")
}

// A publish that names the version it expects stores it only when that
// is the next one.
func testPublishExpectedVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := uniq(t, "flow")
	for _, v := range []int{2, -1} {
		_, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Version: v, Document: doc(id), PublishedAt: base})
		require.ErrorIs(t, err, store.ErrConflict, "version %d of a new flow", v)
		_, err = s.Flow(ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, "a refused first version creates no flow")
	}
	for want := 1; want <= 2; want++ {
		v, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Version: want, Document: doc(id), PublishedAt: base.Add(time.Duration(want) * time.Hour)})
		require.NoError(t, err)
		require.Equal(t, want, v)
	}
	rev, err := s.FlowsRevision(ctx)
	require.NoError(t, err)
	for _, v := range []int{1, 2, 4} {
		_, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Version: v, Document: []byte(`{"refused":true}`), PublishedAt: base.Add(5 * time.Hour)})
		require.ErrorIs(t, err, store.ErrConflict, "version %d after 2", v)
	}
	st, err := s.Flow(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 2, st.Latest, "refused publishes store nothing")
	requireTime(t, base.Add(2*time.Hour), st.UpdatedAt)
	_, err = s.FlowVersion(ctx, id, 3)
	require.ErrorIs(t, err, store.ErrNotFound)
	after, err := s.FlowsRevision(ctx)
	require.NoError(t, err)
	require.Equal(t, rev, after, "a refused publish changes no flow")
	v, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Document: doc(id), PublishedAt: base.Add(6 * time.Hour)})
	require.NoError(t, err)
	require.Equal(t, 3, v, "a publish without an expected version still numbers on")
}

// Callers racing to publish the same next version: one wins, the others
// get ErrConflict.
func testPublishExpectedVersionRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, expect := range []int{1, 2} {
		id := uniq(t, "flow")
		if expect == 2 {
			publish(t, s, id)
		}
		var wg sync.WaitGroup
		var won, lost atomic.Int32
		for range 8 {
			wg.Go(func() {
				_, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Version: expect, Document: doc(id), PublishedAt: base})
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, store.ErrConflict):
					lost.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), won.Load(), "version %d", expect)
		require.Equal(t, int32(7), lost.Load(), "version %d", expect)
		st, err := s.Flow(ctx, id)
		require.NoError(t, err)
		require.Equal(t, expect, st.Latest)
	}
}

func testFlowVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := uniq(t, "flow")
	for i := 1; i <= 3; i++ {
		_, err := s.PublishFlow(ctx, &store.FlowVersion{
			FlowID:      id,
			Document:    fmt.Appendf(nil, `{"id":%q,"v":%d}`, id, i),
			PublishedAt: base.Add(time.Duration(i) * time.Hour),
		})
		require.NoError(t, err)
	}
	for i := 1; i <= 3; i++ {
		v, err := s.FlowVersion(ctx, id, i)
		require.NoError(t, err)
		require.Equal(t, id, v.FlowID)
		require.Equal(t, i, v.Version)
		require.JSONEq(t, fmt.Sprintf(`{"id":%q,"v":%d}`, id, i), string(v.Document))
		requireTime(t, base.Add(time.Duration(i)*time.Hour), v.PublishedAt)
	}
	for _, v := range []int{0, -1, 4} {
		_, err := s.FlowVersion(ctx, id, v)
		require.ErrorIs(t, err, store.ErrNotFound, "version %d", v)
	}
	_, err := s.FlowVersion(ctx, uniq(t, "flow"), 1)
	require.ErrorIs(t, err, store.ErrNotFound, "unknown flow")
}

func testFlowVersionIsCopied(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := uniq(t, "flow")
	d := []byte(`{"id":"a"}`)
	_, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Document: d, PublishedAt: base})
	require.NoError(t, err)
	d[2] = 'X'
	v, err := s.FlowVersion(ctx, id, 1)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"a"}`, string(v.Document), "the published document is the store's copy")
	v.Document[2] = 'Y'
	v, err = s.FlowVersion(ctx, id, 1)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"a"}`, string(v.Document), "a returned document is the caller's copy")
}

func testFlowNotFound(t *testing.T, s store.Store) {
	_, err := s.Flow(t.Context(), uniq(t, "flow"))
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testFlowsOrderedByID(t *testing.T, s store.Store) {
	u := newID(t).String()
	for _, id := range []string{"b-" + u, "c-" + u, "a-" + u, "b-" + u} {
		publish(t, s, id)
	}
	flows, err := s.Flows(t.Context())
	require.NoError(t, err)
	require.True(t, slices.IsSortedFunc(flows, func(a, b store.FlowState) int {
		return strings.Compare(a.FlowID, b.FlowID)
	}), "flows are ordered by flow ID")
	var mine []store.FlowState
	for _, f := range flows {
		if strings.HasSuffix(f.FlowID, u) {
			mine = append(mine, f)
		}
	}
	require.Len(t, mine, 3)
	for i, want := range []struct {
		id     string
		latest int
	}{{"a-" + u, 1}, {"b-" + u, 2}, {"c-" + u, 1}} {
		require.Equal(t, want.id, mine[i].FlowID)
		require.Equal(t, want.latest, mine[i].Latest)
		require.Equal(t, store.FlowDraft, mine[i].Status)
	}
}

func testSetFlowStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := newFlow(t, s)
	at := base.Add(time.Hour)
	require.NoError(t, s.SetFlowStatus(ctx, id, store.FlowDraft, store.FlowActive, at))
	st := flowState(t, s, id)
	require.Equal(t, store.FlowActive, st.Status)
	requireTime(t, at, st.UpdatedAt)

	err := s.SetFlowStatus(ctx, id, store.FlowDraft, store.FlowPaused, at.Add(time.Hour))
	require.ErrorIs(t, err, store.ErrConflict, "the flow is not draft")
	err = s.SetFlowStatus(ctx, id, store.FlowPaused, store.FlowActive, at.Add(time.Hour))
	require.ErrorIs(t, err, store.ErrConflict, "the flow is not paused")
	st = flowState(t, s, id)
	require.Equal(t, store.FlowActive, st.Status, "a conflict changes nothing")
	requireTime(t, at, st.UpdatedAt)

	require.Equal(t, 2, publish(t, s, id))
	st = flowState(t, s, id)
	require.Equal(t, store.FlowActive, st.Status, "publishing keeps the status")
	require.Equal(t, 2, st.Latest)

	steps := []store.FlowStatus{store.FlowActive, store.FlowPaused, store.FlowActive, store.FlowFinished}
	for i := 1; i < len(steps); i++ {
		require.NoError(t, s.SetFlowStatus(ctx, id, steps[i-1], steps[i], at.Add(time.Duration(i)*time.Minute)))
	}
	require.Equal(t, store.FlowFinished, flowState(t, s, id).Status)

	err = s.SetFlowStatus(ctx, uniq(t, "flow"), store.FlowDraft, store.FlowActive, at)
	require.ErrorIs(t, err, store.ErrNotFound, "unknown flow")
}
