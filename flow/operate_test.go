package flow_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// A participant canceled while its send is in flight leaves at once; the
// send's result, when it comes, is dropped and runs nothing on.
func TestOperateCancelsInFlight(t *testing.T) {
	ctx := t.Context()
	w := &watchedStore{Store: memory.New()}
	g := &gateSender{w: w, arrived: make(chan struct{}), release: make(chan struct{})}
	eng := effectEngine(t, w, clock.NewFake(t0), g)
	entered := make(chan error, 1)
	go func() {
		_, err := eng.Enter(ctx, "fx", store.PersonRef{Email: "ana@example.com"}, nil)
		entered <- err
	}()
	<-g.arrived
	rep, err := eng.Operate(ctx, flow.Operation{Name: "stop", FlowID: "fx", Action: flow.Cancel,
		Select: flow.Selection{Statuses: []store.Status{store.InFlight}}})
	require.NoError(t, err)
	require.Equal(t, int64(1), rep.Changed)
	close(g.release)
	require.NoError(t, <-entered)
	p, err := eng.Participant(ctx, rep.Rows[0].Participant)
	require.NoError(t, err)
	require.Equal(t, store.Canceled, p.Status)
	require.Equal(t, "send", p.Element, "the send's result took it nowhere")
	st, err := eng.Stats(ctx, "fx")
	require.NoError(t, err)
	require.Zero(t, st["send"].InFlight)
	require.Nil(t, st["wait"], "no one reached the wait")
}

// Retry refuses participants whose version, or the newer one asked for,
// lacks their element, or when ToVersion is older than theirs; it runs
// the rest again at once, and they may fail again, each retried once.
// Retry needs an active flow; a store without operation runs is named.
func TestOperateRetryRefusals(t *testing.T) {
	ctx := t.Context()
	var broken atomic.Bool
	broken.Store(true)
	reg := kinds.Registry()
	require.NoError(t, kinds.RegisterCustom(reg, "ledger.book", kinds.CustomKind{
		Run: func(context.Context, *kinds.CustomCall) (kinds.CustomResult, error) {
			if broken.Load() {
				return kinds.CustomResult{}, errors.New("the ledger is down")
			}
			return kinds.CustomResult{Branch: "next", Reason: "booked"}, nil
		},
	}))
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(t0), Elements: reg})
	require.NoError(t, err)
	deploy := func(doc string) {
		t.Helper()
		f, err := flow.ParseWith([]byte(doc), reg)
		require.NoError(t, err)
		_, _, err = eng.Deploy(ctx, f)
		require.NoError(t, err)
	}
	deploy(`{"id": "ledger", "elements": [
	  {"id": "book", "type": "ledger.book", "next": {"next": "wait"}},
	  {"id": "wait", "type": "pause", "mode": "for", "period": {"amount": 1, "unit": "days"}, "next": {"next": "done"}},
	  {"id": "done", "type": "exit"}]}`)
	enter := func(who string) uuid.UUID {
		id, err := eng.Enter(ctx, "ledger", store.PersonRef{ExternalID: who}, nil)
		require.NoError(t, err)
		return id
	}
	a, b := enter("a"), enter("b")
	// Version 2 books at another element.
	deploy(`{"id": "ledger", "elements": [
	  {"id": "book-2", "type": "ledger.book", "next": {"next": "done"}},
	  {"id": "done", "type": "exit"}]}`)
	c := enter("c")

	rep, err := eng.Operate(ctx, flow.Operation{Name: "on-v2", FlowID: "ledger", Action: flow.Retry, ToVersion: 2, DryRun: true})
	require.NoError(t, err)
	require.Equal(t, map[string]int{`element "book" is not in version 2`: 2}, rep.Refusals)
	require.Equal(t, int64(1), rep.Changed, "c is on version 2 already")

	rep, err = eng.Operate(ctx, flow.Operation{Name: "on-v1", FlowID: "ledger", Action: flow.Retry, ToVersion: 1, Select: flow.Selection{Element: "book-2"}})
	require.NoError(t, err)
	require.Equal(t, map[string]int{"version 1 is older than the participant's version 2": 1}, rep.Refusals)
	require.Equal(t, int64(1), rep.Refused)

	// Still broken: retried once each, failed again, and the operation
	// done again changes no one.
	op := flow.Operation{Name: "too-early", FlowID: "ledger", Action: flow.Retry, Select: flow.Selection{Reason: "the ledger is down"}}
	for range 2 {
		rep, err = eng.Operate(ctx, op)
		require.NoError(t, err)
		require.Equal(t, int64(3), rep.Changed)
	}
	for _, id := range []uuid.UUID{a, b, c} {
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Failed, p.Status)
		require.Equal(t, []string{"too-early"}, p.Operations)
	}
	// Fixed: retried and on their way; each exit is an event of its own.
	broken.Store(false)
	rep, err = eng.Operate(ctx, flow.Operation{Name: "fixed", FlowID: "ledger", Action: flow.Retry, Select: flow.Selection{Version: 1}})
	require.NoError(t, err)
	require.Equal(t, int64(2), rep.Changed)
	for _, id := range []uuid.UUID{a, b} {
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Waiting, p.Status)
		require.Equal(t, "wait", p.Element)
		require.Equal(t, []string{"too-early", "fixed"}, p.Operations)
	}
	// Canceling c, failed, is refused by its status.
	_, err = eng.Operate(ctx, flow.Operation{Name: "x", FlowID: "ledger", Action: flow.Cancel, Select: flow.Selection{Statuses: []store.Status{store.Failed}}})
	require.ErrorContains(t, err, "operation: Select.Statuses: cancel cannot act on failed participants (it acts on active, waiting, inflight)")

	require.NoError(t, eng.Pause(ctx, "ledger"))
	_, err = eng.Operate(ctx, flow.Operation{Name: "paused", FlowID: "ledger", Action: flow.Retry})
	require.ErrorIs(t, err, flow.ErrFlowNotActive)

	bare, err := flow.NewEngine(flow.Config{Store: struct{ store.Store }{memory.New()}})
	require.NoError(t, err)
	_, err = bare.Operate(ctx, flow.Operation{Name: "x", FlowID: "ledger", Action: flow.Cancel})
	require.ErrorContains(t, err, "keeps no operation runs (store.OperationRuns)")
}

// Deploy's MigrateWaiting takes, from Map, the elements each earlier
// version has: version 1's "hold" and version 2's "wait" both move to
// version 3's "wait-3".
func TestDeployMigratesEveryEarlierVersion(t *testing.T) {
	ctx := t.Context()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	version := func(wait string) *flow.Flow {
		return flow.New("m", "Migrated").Add(wait, waitPoke(2), flow.Next{"occurred": "done", "timeout": "done"}).Add("done", &kinds.Exit{}, nil)
	}
	for i, wait := range []string{"hold", "wait"} {
		_, _, err := eng.Deploy(ctx, version(wait))
		require.NoError(t, err)
		_, err = eng.Enter(ctx, "m", store.PersonRef{ExternalID: wait}, nil)
		require.NoError(t, err, "version %d", i+1)
	}
	res, err := eng.DeployWith(ctx, version("wait-3"), flow.DeployOptions{Waiting: flow.MigrateWaiting,
		Map: map[string]string{"hold": "wait-3", "wait": "wait-3"}})
	require.NoError(t, err)
	require.Equal(t, 3, res.Version)
	require.Len(t, res.Migrations, 2)
	require.Equal(t, map[flow.MigrationMove]int{{From: "hold", To: "wait-3"}: 1}, res.Migrations[0].Moves)
	require.Equal(t, map[flow.MigrationMove]int{{From: "wait", To: "wait-3"}: 1}, res.Migrations[1].Moves)
	ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "m"})
	require.NoError(t, err)
	for _, p := range ps {
		require.Equal(t, 3, p.FlowVersion)
	}
}

// An operation on one participant leaves the person's other
// participations in the flow as they are; a participant that is not
// there, or of another flow, is named.
func TestOperateOneParticipant(t *testing.T) {
	ctx := t.Context()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	f := flow.New("hold", "Hold").Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, nil)
	f.Reentry = &flow.Reentry{Rule: flow.ReenterConcurrent}
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "hold"))
	ana := store.PersonRef{ExternalID: "ana"}
	first, err := eng.Enter(ctx, "hold", ana, nil)
	require.NoError(t, err)
	second, err := eng.Enter(ctx, "hold", ana, nil)
	require.NoError(t, err)

	rep, err := eng.Operate(ctx, flow.Operation{Name: "one", FlowID: "hold", Action: flow.Cancel, Select: flow.Selection{Participant: second}})
	require.NoError(t, err)
	require.Equal(t, int64(1), rep.Changed)
	p, err := eng.Participant(ctx, second)
	require.NoError(t, err)
	require.Equal(t, store.Canceled, p.Status)
	p, err = eng.Participant(ctx, first)
	require.NoError(t, err)
	require.Equal(t, store.Waiting, p.Status, "the person's other participation stays")

	var oe *flow.OperationError
	_, err = eng.Operate(ctx, flow.Operation{Name: "none", FlowID: "hold", Action: flow.Cancel, Select: flow.Selection{Participant: uuid.Must(uuid.NewV7())}})
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "Select.Participant", oe.Field)
	require.ErrorIs(t, err, store.ErrNotFound)
}
