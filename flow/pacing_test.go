package flow_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// A Call API element at 10 calls a minute never makes more than 10 calls
// in any minute at the endpoint, whether ticks come on time or one comes
// 30 minutes late; no call is lost.
func TestSendingSpeedAtTheEndpoint(t *testing.T) {
	for _, gap := range []time.Duration{0, 30 * time.Minute} {
		t.Run(fmt.Sprint("gap=", gap), func(t *testing.T) {
			ctx := t.Context()
			srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			defer srv.Close()
			clk := clock.NewFake(t0)
			doer := &clockedDoer{clk: clk, next: srv.Client()}
			eng := integEngine(t, clk, flow.Config{Ports: flow.Ports{HTTP: doer}})
			integPublish(t, eng, flow.New("paced", "Paced").
				Add("call", &kinds.CallAPI{URL: srv.URL, Speed: &kinds.Speed{Count: 10, Per: kinds.PerMinute}}, nil))
			const people = 1000
			for i := range people {
				_, err := eng.Enter(ctx, "paced", store.PersonRef{ExternalID: fmt.Sprint("p", i)}, nil)
				require.NoError(t, err)
			}
			if gap > 0 {
				clk.Advance(gap) // no tick meanwhile
			}
			_, err := flowtest.Advance(ctx, eng, clk, 4*time.Hour)
			require.NoError(t, err)
			require.Len(t, doer.at, people, "every call made")
			require.Len(t, doer.keys, people, "each once")
			require.LessOrEqual(t, flowtest.MostWithin(doer.at, time.Minute), 10)
		})
	}
}
