package flow_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// bombFlow builds, at its first step, a text of 999999² bytes: on an engine
// without evaluation budgets it takes the host process down with "fatal
// error: out of memory" (Go's runtime cannot recover from that).
const bombFlow = `{"id":"bomb","variables":{"s":{"type":"text"}},"elements":[{"id":"calc","type":"updateVariable","set":[{"variable":"s","formula":"repeat(repeat(\"x\", 999999), 999999)"}]}]}`

func budgetEngine(t *testing.T, cfg flow.Config) *flow.Engine {
	t.Helper()
	cfg.Store = memory.New()
	cfg.Clock = clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	eng, err := flow.NewEngine(cfg)
	require.NoError(t, err)
	return eng
}

// Publish, and so flowkit validate, refuses the bomb: it can see the
// text's size.
func TestBudgetBombRefusedAtPublish(t *testing.T) {
	eng := budgetEngine(t, flow.Config{})
	f, err := flow.Parse([]byte(bombFlow))
	require.NoError(t, err)
	_, err = eng.Publish(context.Background(), f)
	require.ErrorIs(t, err, element.ErrBudget)
	ves := flow.ValidationErrors(err)
	require.Len(t, ves, 1)
	require.Equal(t, "calc", ves[0].ElementID)
	require.Equal(t, "set[0].formula", ves[0].Field)
	require.ErrorContains(t, err, `element "calc": set[0].formula: expression "repeat(repeat(\"x\", 999999), 999999)": repeat makes 999998000001 bytes, which exceeds the evaluation budget of 4 MiB`)
	require.ErrorIs(t, f.Validate(nil), element.ErrBudget)
}

// heapGrowth runs f and returns how much the live heap grew and how many
// bytes f allocated in all.
func heapGrowth(f func()) (live int64, total uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc), after.TotalAlloc - before.TotalAlloc
}

// The bomb with its sizes given at run time passes Publish; its
// participants fail with the budget named, the element's error branch
// takes them where there is one, and the process lives with its heap
// bounded.
func TestBudgetBombAtRunTime(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, set, next string
		status          store.Status
		reason          string
	}{
		{"formula", `{"variable":"s","formula":"repeat(repeat(\"x\", int(n)), int(n))"}`, ``, store.Failed,
			`element "calc" failed: set[0].formula: variable "s": expression "repeat(repeat(\"x\", int(n)), int(n))": the result of repeat exceeds the evaluation budget of 4 MiB`},
		{"template", `{"variable":"s","value":"{{repeat(\"abc\", int(n))}} and {{repeat(\"abc\", int(n))}}"}`, ``, store.Failed,
			`element "calc" failed: set[0].value: variable "s": expression "repeat(\"abc\", int(n))": the result of repeat exceeds the evaluation budget of 4 MiB`},
		{"range", `{"variable":"s","formula":"string(reduce(1..int(n), #acc + 1, 0))"}`, ``, store.Failed,
			`exceeds the evaluation budget of 4 MiB`},
		{"error branch", `{"variable":"s","formula":"join(map(1..int(n), repeat(\"x\", 1000)))"}`, `,"next":{"next":"done","error":"oops"}`, store.Completed,
			`a list, map or range exceeds the evaluation budget of 4 MiB`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := budgetEngine(t, flow.Config{})
			doc := `{"id":"bomb","variables":{"s":{"type":"text"},"n":{"type":"number"}},"elements":[
			  {"id":"calc","type":"updateVariable","set":[` + tc.set + `]` + tc.next + `},
			  {"id":"done","type":"exit"},{"id":"oops","type":"exit"}]}`
			if tc.next == "" {
				doc = `{"id":"bomb","variables":{"s":{"type":"text"},"n":{"type":"number"}},"elements":[
				  {"id":"calc","type":"updateVariable","set":[` + tc.set + `]}]}`
			}
			f, err := flow.Parse([]byte(doc))
			require.NoError(t, err)
			_, err = eng.Publish(ctx, f)
			require.NoError(t, err)
			require.NoError(t, eng.Activate(ctx, "bomb"))

			var p *store.Participant
			live, total := heapGrowth(func() {
				id, err := eng.Enter(ctx, "bomb", store.PersonRef{ExternalID: "p1"}, map[string]any{"n": 999999})
				require.NoError(t, err)
				p, err = eng.Participant(ctx, id)
				require.NoError(t, err)
			})
			require.Equal(t, tc.status, p.Status)
			if tc.status == store.Failed {
				require.Contains(t, p.Reason, tc.reason)
			} else {
				require.Equal(t, []string{"calc", "oops"}, pathOf(p))
				require.Contains(t, p.Journal[0].Reason, tc.reason)
			}
			require.Less(t, live, int64(64<<20), "live heap grew by %d bytes", live)
			require.Less(t, total, uint64(64<<20), "allocated %d bytes", total)
		})
	}
}

func pathOf(p *store.Participant) []string {
	var path []string
	for _, s := range p.Journal {
		path = append(path, s.Element)
	}
	return path
}

// Config.EvalBudget sets the budget: Publish refuses by it, and a negative
// one is refused.
func TestEvalBudgetConfig(t *testing.T) {
	eng := budgetEngine(t, flow.Config{EvalBudget: element.Budget{Memory: 1000}})
	f, err := flow.Parse([]byte(strings.Replace(bombFlow, `repeat(repeat(\"x\", 999999), 999999)`, `repeat(\"x\", 1001)`, 1)))
	require.NoError(t, err)
	err = eng.Validate(f)
	require.ErrorIs(t, err, element.ErrBudget)
	require.ErrorContains(t, err, "repeat makes 1001 bytes, which exceeds the evaluation budget of 1000 bytes")
	require.NoError(t, budgetEngine(t, flow.Config{}).Validate(f))

	_, err = flow.NewEngine(flow.Config{Store: memory.New(), EvalBudget: element.Budget{Memory: -1, Time: -time.Second}})
	require.EqualError(t, err, "flow: Config.EvalBudget.Memory is -1: must not be negative\nflow: Config.EvalBudget.Time is -1s: must not be negative")
}
