package storecheck

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// switchDoer answers Call API requests at once: refused while broken,
// else 200.
type switchDoer struct{ broken atomic.Bool }

func (d *switchDoer) Do(r *http.Request) (*http.Response, error) {
	if d.broken.Load() {
		return nil, errors.New("dial tcp: connection refused")
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{}`)), Request: r}, nil
}

// BenchOperations measures Operate on a store s that holds people people
// (and lists them, store.PeopleLister, and keeps audience and operation
// runs): an audience entry enters them all into a flow whose Call API
// fails for each, then a bulk Retry runs the call again (answered at
// once, so the figure is the engine's and the store's work: two
// transactions per participant, around the call) and each waits; a dry
// run of a Cancel reads them all; a bulk Cancel takes them out. It
// reports retries/s, dry-run/s and cancels/s. Run it with -benchtime 1x:
// each iteration sets the flow up anew.
func BenchOperations(b *testing.B, s store.Store, people int) {
	ctx := context.Background()
	var retry, dry, cancel time.Duration
	for i := range b.N {
		b.StopTimer()
		doer := &switchDoer{}
		doer.broken.Store(true)
		clk := clock.NewFake(engineStart)
		eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, AudiencePagesPerTick: 1_000_000, Ports: flow.Ports{HTTP: doer}})
		require.NoError(b, err)
		id := "ops-" + string(rune('a'+i))
		all := segment.All()
		f := flow.New(id, "Operations").
			Add("call", &kinds.CallAPI{URL: "https://crm.example.com/sync", Method: http.MethodPost}, flow.Next{kinds.Branch2xx: "wait"}).
			Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, flow.Next{"next": "done"}).
			Add("done", &kinds.Exit{}, nil)
		f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &all}}
		_, _, err = eng.Deploy(ctx, f)
		require.NoError(b, err)
		for {
			fired, err := eng.Tick(ctx)
			require.NoError(b, err)
			if fired == 0 {
				break
			}
		}
		st, err := eng.Stats(ctx, id)
		require.NoError(b, err)
		require.EqualValues(b, people, st["call"].Errors, "everyone failed at the call")
		doer.broken.Store(false)

		b.StartTimer()
		start := time.Now()
		rep, err := eng.Operate(ctx, flow.Operation{Name: "retry", FlowID: id, Action: flow.Retry, MaxRows: -1})
		retry += time.Since(start)
		require.NoError(b, err)
		require.EqualValues(b, people, rep.Changed)

		start = time.Now()
		cancelAll := flow.Operation{Name: "cancel", FlowID: id, Action: flow.Cancel, Select: flow.Selection{Element: "wait"}, MaxRows: -1}
		dryCancel := cancelAll
		dryCancel.DryRun = true
		rep, err = eng.Operate(ctx, dryCancel)
		dry += time.Since(start)
		require.NoError(b, err)
		require.EqualValues(b, people, rep.Changed)

		start = time.Now()
		rep, err = eng.Operate(ctx, cancelAll)
		cancel += time.Since(start)
		b.StopTimer()
		require.NoError(b, err)
		require.EqualValues(b, people, rep.Changed)
		st, err = eng.Stats(ctx, id)
		require.NoError(b, err)
		require.Zero(b, st["wait"].Waiting)
		b.StartTimer()
	}
	n := float64(people * b.N)
	b.ReportMetric(n/retry.Seconds(), "retries/s")
	b.ReportMetric(n/dry.Seconds(), "dry-run/s")
	b.ReportMetric(n/cancel.Seconds(), "cancels/s")
}
