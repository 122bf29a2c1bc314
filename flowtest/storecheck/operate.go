package storecheck

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// needOperations skips a scenario on a store without operation runs.
func needOperations(t *testing.T, b Backend, s store.Store) {
	t.Helper()
	b.Features.Need(t, s, storetest.Features{OperationRuns: storetest.Has})
}

// crm is a Call API whose base URL is a host setting, {{env.CRM}}: a
// wrong URL fails the participants, and a fixed one lets them go on.
type crm struct {
	api *api
	url atomic.Value // string
}

func newCRM(t *testing.T) *crm {
	c := &crm{api: newAPI(t, false)}
	broken := httptest.NewServer(nil)
	broken.Close() // refuses connections
	c.url.Store(broken.URL)
	return c
}

func (c *crm) fix() { c.url.Store(c.api.URL) }

func (c *crm) settings(name string) (string, bool) {
	if name == "CRM" {
		return c.url.Load().(string), true
	}
	return "", false
}

// synced calls the CRM, then waits a day for a click; version 2 of it
// calls a fixed path, so that its calls are told apart.
func synced(path string) *flow.Flow {
	return flow.New("synced", "Synced").
		Add("call", &kinds.CallAPI{URL: "{{env.CRM}}" + path, Method: "POST"}, flow.Next{"2xx": "wait", "other": "wait"}).
		Add("wait", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Clicked"}, WaitFor: segment.Period{Amount: 1, Unit: segment.Days}},
			flow.Next{"occurred": "done", "timeout": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

// failSynced enters n people (external ids prefix-0...) into synced while
// the CRM's URL is wrong: every one fails at "call".
func failSynced(t *testing.T, eng *flow.Engine, prefix string, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		var err error
		ids[i], err = eng.Enter(t.Context(), "synced", store.PersonRef{ExternalID: fmt.Sprint(prefix, "-", i)}, nil)
		require.NoError(t, err)
		p, err := eng.Participant(t.Context(), ids[i])
		require.NoError(t, err)
		require.Equal(t, store.Failed, p.Status, p.Reason)
		require.Equal(t, "call", p.Element)
	}
	return ids
}

// keysBy counts the CRM's calls by idempotency key.
func keysBy(a *api) map[string]int {
	out := map[string]int{}
	for _, k := range a.calls() {
		out[k]++
	}
	return out
}

// Failed participants are retried after the CRM's URL is fixed: a dry
// run says who would be, the retry runs each failed element once more
// with a new idempotency key, and running the operation again changes
// nothing. Others are retried on a newer version of the flow.
func testEngineBulkRetry(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.New(t)
	needOperations(t, b, s)
	clk := clock.NewFake(engineStart)
	c := newCRM(t)
	eng := newEngine(t, s, clk, flow.Config{Ports: flow.Ports{Settings: c.settings}})
	activate(t, eng, synced("/members"))
	const n = 12
	ids := failSynced(t, eng, "ann", n)
	other := failSynced(t, eng, "bob", 3)
	before := map[uuid.UUID]int64{}
	for _, id := range append(ids, other...) {
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Contains(t, p.Reason, `element "call" failed`)
		before[id] = p.Seq
	}
	require.Empty(t, c.api.calls(), "the wrong URL reached nobody")
	c.fix()

	annOnly := flow.Selection{Reason: "connection refused"}
	op := flow.Operation{Name: "retry-after-fix", FlowID: "synced", Action: flow.Retry, Select: annOnly, PageSize: 5}
	dry := op
	dry.DryRun = true
	rep, err := eng.Operate(ctx, dry)
	require.NoError(t, err)
	require.Equal(t, int64(n+3), rep.Changed, "every failure was a refused connection")
	require.Empty(t, c.api.calls(), "a dry run calls no one")

	// One person's participants alone, by the person.
	byPerson := op
	byPerson.Name, byPerson.Select = "retry-bob-0", flow.Selection{Person: store.PersonRef{ExternalID: "bob-0"}}
	rep, err = eng.Operate(ctx, byPerson)
	require.NoError(t, err)
	require.Equal(t, int64(1), rep.Changed)
	require.Len(t, rep.Rows, 1)
	require.Equal(t, other[0], rep.Rows[0].Participant)

	var progress []flow.OperationProgress
	op.Progress = func(p flow.OperationProgress) { progress = append(progress, p) }
	rep, err = eng.Operate(ctx, op)
	require.NoError(t, err)
	require.False(t, rep.Resumed)
	require.True(t, rep.Done)
	require.Equal(t, int64(n+2), rep.Total)
	require.Equal(t, int64(n+2), rep.Changed)
	require.Zero(t, rep.Refused)
	require.Len(t, rep.Rows, n+2)
	require.Greater(t, len(progress), 2, "a page of five at a time")
	require.Equal(t, rep.OperationProgress, progress[len(progress)-1])

	keys := keysBy(c.api)
	require.Len(t, keys, n+3, "one call per participant")
	for _, id := range append(ids, other...) {
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Waiting, p.Status, "retried, called and waiting: %s", p.Reason)
		require.Equal(t, "wait", p.Element)
		require.Empty(t, p.Reason)
		// The failed attempt's key was participant:seq; the retry's is the next.
		require.Equal(t, 1, keys[fmt.Sprintf("%s:%d", id, before[id]+1)], "a new idempotency key")
		require.Zero(t, keys[fmt.Sprintf("%s:%d", id, before[id])], "not the failed attempt's")
	}
	last := journalOf(t, eng, ids[0])
	require.Contains(t, last, `retried by operation "retry-after-fix" at element call (it had failed: `)
	st := stats(t, eng, "synced")
	require.Equal(t, int64(n+2), st["call"].Other["operation:retry-after-fix"])
	require.Equal(t, int64(n+3), st["call"].Other["retried"])

	// The same operation again: done already, nothing happens.
	rep, err = eng.Operate(ctx, op)
	require.NoError(t, err)
	require.True(t, rep.Resumed)
	require.Equal(t, int64(n+2), rep.Changed)
	require.Empty(t, rep.Rows)
	require.Len(t, c.api.calls(), n+3)
	// Its name with another selection is refused.
	op.Select = flow.Selection{Element: "call"}
	_, err = eng.Operate(ctx, op)
	var oe *flow.OperationError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "Name", oe.Field)

	// Failed on version 1, retried on version 2, whose element of the
	// same id calls another path.
	fresh := failedAgain(t, eng, c, 4)
	_, err = eng.Publish(ctx, synced("/v2"))
	require.NoError(t, err)
	c.fix()
	rep, err = eng.Operate(ctx, flow.Operation{Name: "retry-on-v2", FlowID: "synced", Action: flow.Retry, ToVersion: 2})
	require.NoError(t, err)
	require.Equal(t, int64(4), rep.Changed)
	for _, id := range fresh {
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, 2, p.FlowVersion)
		require.Equal(t, store.Waiting, p.Status)
	}
	require.Len(t, c.api.calls(), n+3+4)
	require.True(t, strings.HasSuffix(c.api.lastPath(), "/v2"))

	// Bad operations name the field.
	for field, bad := range map[string]flow.Operation{
		"Name":            {FlowID: "synced", Action: flow.Retry},
		"Action":          {Name: "x", FlowID: "synced", Action: "replay"},
		"Select.Statuses": {Name: "x", FlowID: "synced", Action: flow.Retry, Select: flow.Selection{Statuses: []store.Status{store.Waiting}}},
		"ToVersion":       {Name: "x", FlowID: "synced", Action: flow.Retry, ToVersion: 9},
		"FlowID":          {Name: "x", FlowID: "nope", Action: flow.Cancel},
		"Select.Person":   {Name: "x", FlowID: "synced", Action: flow.Cancel, Select: flow.Selection{Person: store.PersonRef{ExternalID: "nobody"}}},
	} {
		_, err := eng.Operate(ctx, bad)
		require.ErrorAs(t, err, &oe, field)
		require.Equal(t, field, oe.Field)
	}
}

// failedAgain breaks the CRM's URL and fails n new people at "call".
func failedAgain(t *testing.T, eng *flow.Engine, c *crm, n int) []uuid.UUID {
	t.Helper()
	broken := httptest.NewServer(nil)
	broken.Close()
	c.url.Store(broken.URL)
	return failSynced(t, eng, "cy", n)
}

func journalOf(t *testing.T, eng *flow.Engine, id uuid.UUID) string {
	t.Helper()
	p, err := eng.Participant(t.Context(), id)
	require.NoError(t, err)
	var b strings.Builder
	for _, s := range p.Journal {
		b.WriteString(s.Reason + "\n")
	}
	return b.String()
}

// Participants are canceled in bulk by version, status and element; a dry
// run says who would be; others stay; one person's are canceled by the
// person.
func testEngineBulkCancel(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.New(t)
	needOperations(t, b, s)
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, s, clk, flow.Config{})
	activate(t, eng, rollout("a"))
	var v1 []uuid.UUID
	for i := range 7 {
		id, err := eng.Enter(ctx, "rollout", store.PersonRef{ExternalID: fmt.Sprint("v1-", i)}, nil)
		require.NoError(t, err)
		v1 = append(v1, id)
	}
	_, err := eng.Publish(ctx, rollout("b"))
	require.NoError(t, err)
	v2, err := eng.Enter(ctx, "rollout", store.PersonRef{ExternalID: "v2-0"}, nil)
	require.NoError(t, err)

	// By status: nobody of version 1 is in flight; all seven wait.
	inFlight := flow.Operation{Name: "cancel-v1-in-flight", FlowID: "rollout", Action: flow.Cancel, DryRun: true,
		Select: flow.Selection{Version: 1, Statuses: []store.Status{store.InFlight}}}
	rep, err := eng.Operate(ctx, inFlight)
	require.NoError(t, err)
	require.Zero(t, rep.Changed, "no one of version 1 is in flight")
	waiting := inFlight
	waiting.Name, waiting.Select.Statuses = "cancel-v1-waiting", []store.Status{store.Waiting}
	rep, err = eng.Operate(ctx, waiting)
	require.NoError(t, err)
	require.Equal(t, int64(7), rep.Changed, "the seven of version 1 wait")

	op := flow.Operation{Name: "cancel-v1", FlowID: "rollout", Action: flow.Cancel,
		Select: flow.Selection{Version: 1, Element: "wait"}, PageSize: 3, MaxRows: 2}
	dry := op
	dry.DryRun = true
	rep, err = eng.Operate(ctx, dry)
	require.NoError(t, err)
	require.Equal(t, int64(7), rep.Changed)
	require.Len(t, rep.Rows, 2)
	require.True(t, rep.Truncated)
	require.Equal(t, store.Waiting, only1(t, eng, v1[0]).Status, "a dry run changes nothing")

	rep, err = eng.Operate(ctx, op)
	require.NoError(t, err)
	require.Equal(t, int64(7), rep.Changed)
	require.Equal(t, int64(7), rep.Total)
	for _, id := range v1 {
		p := only1(t, eng, id)
		require.Equal(t, store.Canceled, p.Status)
		require.Equal(t, `canceled by operation "cancel-v1"`, p.Reason)
		require.Equal(t, []string{"cancel-v1"}, p.Operations)
	}
	require.Equal(t, store.Waiting, only1(t, eng, v2).Status, "version 2 is not selected")
	st := stats(t, eng, "rollout")
	require.Equal(t, int64(1), st["wait"].Waiting, "the one on version 2")
	require.Equal(t, int64(7), st["wait"].Other["canceled"])

	// Canceled participants are no longer selected: a new operation finds
	// no one; a canceled participant cannot be retried.
	rep, err = eng.Operate(ctx, flow.Operation{Name: "cancel-v1-again", FlowID: "rollout", Action: flow.Cancel, Select: flow.Selection{Version: 1}})
	require.NoError(t, err)
	require.Zero(t, rep.Changed)

	rep, err = eng.Operate(ctx, flow.Operation{Name: "cancel-v2-0", FlowID: "rollout", Action: flow.Cancel,
		Select: flow.Selection{Person: store.PersonRef{ExternalID: "v2-0"}}})
	require.NoError(t, err)
	require.Equal(t, int64(1), rep.Changed)
	require.Equal(t, store.Canceled, only1(t, eng, v2).Status)
	runs, err := eng.Operations(ctx, "rollout")
	require.NoError(t, err)
	require.Len(t, runs, 3)
	for _, r := range runs {
		require.True(t, r.Done)
	}
}

func only1(t *testing.T, eng *flow.Engine, id uuid.UUID) *store.Participant {
	t.Helper()
	p, err := eng.Participant(t.Context(), id)
	require.NoError(t, err)
	return p
}

// An operation stopped half-way (its ctx canceled after the first page)
// goes on where it stopped when run again, and two processes running one
// operation at once retry each participant once: every participant made
// one call, and the counts are exact.
func testEngineBulkResumed(t *testing.T, b Backend) {
	stores := processes(t, b, 2)
	needOperations(t, b, stores[0])
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	c := newCRM(t)
	var engines []*flow.Engine
	for _, s := range stores {
		engines = append(engines, newEngine(t, s, clk, flow.Config{Ports: flow.Ports{Settings: c.settings}}))
	}
	activate(t, engines[0], synced("/members"))
	const n = 40
	ids := failSynced(t, engines[0], "dee", n)
	c.fix()

	op := flow.Operation{Name: "retry", FlowID: "synced", Action: flow.Retry, PageSize: 10}
	stopped, stop := context.WithCancel(ctx)
	op.Progress = func(flow.OperationProgress) { stop() }
	rep, err := engines[0].Operate(stopped, op)
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.Equal(t, int64(10), rep.Changed, "one page")
	require.Len(t, c.api.calls(), 10)

	op.Progress = nil
	reps := make([]*flow.OperationReport, 4)
	var wg sync.WaitGroup
	for i := range reps {
		wg.Go(func() {
			var err error
			reps[i], err = engines[i%2].Operate(ctx, op)
			require.NoError(t, err)
		})
	}
	wg.Wait()
	rows := 0
	for _, r := range reps {
		require.True(t, r.Resumed)
		require.True(t, r.Done)
		rows += len(r.Rows)
	}
	require.Equal(t, n-10, rows, "each participant changed by one call of the operation")
	keys := keysBy(c.api)
	require.Len(t, keys, n)
	for k, calls := range keys {
		require.Equal(t, 1, calls, "participant step %s called once", k)
	}
	runs, err := engines[1].Operations(ctx, "synced")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, int64(n), runs[0].Changed)
	require.Equal(t, int64(n), runs[0].Total)
	for _, id := range ids {
		p := only1(t, engines[1], id)
		require.Equal(t, store.Waiting, p.Status)
		require.Equal(t, 1, strings.Count(journalOf(t, engines[1], id), "retried by operation"))
	}

	// Retried while the URL is still wrong, participants fail again and
	// match the selection again: the operation's name on them keeps
	// either process from retrying them twice.
	broken := failedAgain(t, engines[0], c, 12)
	again := flow.Operation{Name: "too-early", FlowID: "synced", Action: flow.Retry, PageSize: 4}
	for i := range reps {
		wg.Go(func() {
			var err error
			reps[i], err = engines[i%2].Operate(ctx, again)
			require.NoError(t, err)
		})
	}
	wg.Wait()
	for _, id := range broken {
		p := only1(t, engines[0], id)
		require.Equal(t, store.Failed, p.Status, "failed again")
		require.Equal(t, 1, strings.Count(journalOf(t, engines[0], id), `retried by operation "too-early"`))
	}
	runs, err = engines[0].Operations(ctx, "synced")
	require.NoError(t, err)
	require.Equal(t, int64(12), runs[1].Changed)
}
