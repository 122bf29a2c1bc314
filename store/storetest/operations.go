package storetest

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Bulk operations: store.OperationRuns.

// operationTests need store.OperationRuns.
var operationTests = []test{
	{"OperationRunLifecycle", testOperationRunLifecycle},
	{"OperationRunsListed", testOperationRunsListed},
	{"OperationsOfParticipants", testOperationsOfParticipants},
}

func opRuns(s store.Store) store.OperationRuns { return s.(store.OperationRuns) }

func newOperationRun(t *testing.T, s store.Store, flowID, name string, at time.Time) *store.OperationRun {
	t.Helper()
	r := &store.OperationRun{ID: newID(t), Name: name, FlowID: flowID, Spec: []byte(`{"action":"retry"}`), StartedAt: at, Total: 5}
	require.NoError(t, opRuns(s).CreateOperationRun(t.Context(), r))
	return r
}

func getOperationRun(t *testing.T, s store.Store, id uuid.UUID) *store.OperationRun {
	t.Helper()
	r, err := opRuns(s).OperationRun(t.Context(), id)
	require.NoError(t, err)
	return r
}

// A run is created once with its spec, advances page by page adding to
// its counts, refuses a page read after a stale cursor or once done, and
// finishes; what it returns and what it is given are copies.
func testOperationRunLifecycle(t *testing.T, s store.Store) {
	rs := opRuns(s)
	ctx := t.Context()
	flowID := newFlow(t, s)
	r := newOperationRun(t, s, flowID, "retry-1", base)
	r.Spec[2] = 'X' // the store kept its own copy
	err := rs.CreateOperationRun(ctx, &store.OperationRun{ID: r.ID, FlowID: flowID, Name: "other", StartedAt: base})
	require.ErrorIs(t, err, store.ErrDuplicate, "a run is started once")
	_, err = rs.OperationRun(ctx, newID(t))
	require.ErrorIs(t, err, store.ErrNotFound)
	err = rs.AdvanceOperationRun(ctx, &store.AdvanceOperationRunParams{RunID: newID(t), To: newID(t)})
	require.ErrorIs(t, err, store.ErrNotFound)

	got := getOperationRun(t, s, r.ID)
	require.Equal(t, "retry-1", got.Name)
	require.Equal(t, flowID, got.FlowID)
	require.JSONEq(t, `{"action":"retry"}`, string(got.Spec))
	requireTime(t, base, got.StartedAt, "started")
	require.Equal(t, uuid.Nil, got.Cursor)
	require.EqualValues(t, 5, got.Total)
	require.False(t, got.Done)
	got.Spec[2] = 'X'
	require.JSONEq(t, `{"action":"retry"}`, string(getOperationRun(t, s, r.ID).Spec), "the spec returned is a copy")

	first, second := newID(t), newID(t)
	require.NoError(t, rs.AdvanceOperationRun(ctx, &store.AdvanceOperationRunParams{RunID: r.ID, From: uuid.Nil, To: first, Scanned: 3, Changed: 2, Refused: 1}))
	// A page read after the old cursor lost the race: nothing changes.
	err = rs.AdvanceOperationRun(ctx, &store.AdvanceOperationRunParams{RunID: r.ID, From: uuid.Nil, To: second, Scanned: 9, Changed: 9})
	require.ErrorIs(t, err, store.ErrConflict)
	got = getOperationRun(t, s, r.ID)
	require.Equal(t, first, got.Cursor)
	require.EqualValues(t, []int64{3, 2, 1}, []int64{got.Scanned, got.Changed, got.Refused})

	end := base.Add(time.Minute + time.Nanosecond)
	require.NoError(t, rs.AdvanceOperationRun(ctx, &store.AdvanceOperationRunParams{RunID: r.ID, From: first, To: second, Scanned: 2, Changed: 2, Done: true, FinishedAt: end}))
	got = getOperationRun(t, s, r.ID)
	require.True(t, got.Done)
	requireTime(t, end, got.FinishedAt, "finished")
	require.Equal(t, second, got.Cursor)
	require.EqualValues(t, []int64{5, 4, 1}, []int64{got.Scanned, got.Changed, got.Refused})
	err = rs.AdvanceOperationRun(ctx, &store.AdvanceOperationRunParams{RunID: r.ID, From: second, To: newID(t), Scanned: 1})
	require.ErrorIs(t, err, store.ErrConflict, "a done run moves no more")
}

// Runs are listed by flow, unfinished or all, oldest first.
func testOperationRunsListed(t *testing.T, s store.Store) {
	rs := opRuns(s)
	ctx := t.Context()
	flowID, other := newFlow(t, s), newFlow(t, s)
	late := newOperationRun(t, s, flowID, "late", base.Add(time.Hour))
	early := newOperationRun(t, s, flowID, "early", base)
	newOperationRun(t, s, other, "elsewhere", base)
	require.NoError(t, rs.AdvanceOperationRun(ctx, &store.AdvanceOperationRunParams{RunID: early.ID, To: newID(t), Done: true, FinishedAt: base}))

	names := func(q *store.OperationRunQuery) []string {
		t.Helper()
		got, err := rs.OperationRuns(ctx, q)
		require.NoError(t, err)
		var out []string
		for _, r := range got {
			if r.FlowID == flowID || r.FlowID == other {
				out = append(out, r.Name)
			}
		}
		return out
	}
	require.Equal(t, []string{"early", "late"}, names(&store.OperationRunQuery{FlowID: flowID}))
	require.Equal(t, []string{"late"}, names(&store.OperationRunQuery{FlowID: flowID, Unfinished: true}))
	require.ElementsMatch(t, []string{"late", "elsewhere"}, names(&store.OperationRunQuery{Unfinished: true}))
	require.Equal(t, late.ID, getOperationRun(t, s, late.ID).ID)
}

// A participant's Operations are stored with it, in order.
func testOperationsOfParticipants(t *testing.T, s store.Store) {
	flowID := newFlow(t, s)
	p := newPerson(t, s)
	part := newParticipant(t, p.ID, flowID)
	part.Operations = []string{"cancel-a", "retry-b"}
	put(t, s, part)
	require.Equal(t, []string{"cancel-a", "retry-b"}, participant(t, s, part.ID).Operations)
	update(t, s, p.ID, func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Equal(t, []string{"cancel-a", "retry-b"}, parts[0].Operations)
		parts[0].Operations = append(parts[0].Operations, "retry-c")
		return tx.PutParticipant(parts[0])
	})
	require.Equal(t, []string{"cancel-a", "retry-b", "retry-c"}, participant(t, s, part.ID).Operations)
}
