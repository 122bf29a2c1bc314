package flow_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// nopSender sends nothing, so BenchmarkSendMessage measures the engine's
// side of a send: checks, event, profile update, commit.
type nopSender struct{}

func (nopSender) Send(context.Context, *element.Message) (string, error) { return "m", nil }

// BenchmarkCallAPIRoundTrip enters one participant per iteration into a
// flow that calls a local HTTP server, waits for the response, reads a
// value by JSONPath and leaves.
func BenchmarkCallAPIRoundTrip(b *testing.B) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"loyalty_points": 1250}`)
	}))
	defer srv.Close()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))})
	if err != nil {
		b.Fatal(err)
	}
	f := flow.New("bench-call", "").Var("points", store.Number, nil).
		Add("call", &kinds.CallAPI{URL: srv.URL + "/members/{{person.externalId}}",
			ResponseBody: []*kinds.JSONPathVariable{{Path: "$.loyalty_points", Variable: "points"}}}, flow.Next{"2xx": "done"}).
		Add("done", &kinds.Exit{}, nil)
	integPublish(b, eng, f)
	who := make([]store.PersonRef, b.N)
	for i := range who {
		who[i] = store.PersonRef{ExternalID: fmt.Sprint("p", i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := eng.Enter(ctx, "bench-call", who[i], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "roundtrips/s")
}

// BenchmarkSendMessage enters one participant per iteration into a flow
// that sends an SMS through a Sender that does nothing, with the frequency
// cap on (so each send reads the person's history).
func BenchmarkSendMessage(b *testing.B) {
	ctx := context.Background()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)),
		ElementOptions: kinds.Options{SendMessage: kinds.SendMessageOptions{
			FrequencyCap: kinds.FrequencyCap{Messages: 5, Within: 24 * time.Hour}}}, Ports: flow.Ports{Sender: nopSender{}}})
	if err != nil {
		b.Fatal(err)
	}
	f := flow.New("bench-send", "").
		Add("send", &kinds.SendMessage{Channel: "sms", Body: "Hi {{person.externalId}}, your code is {{person.phones[0]}}"}, flow.Next{"sent": "done"}).
		Add("done", &kinds.Exit{}, nil)
	integPublish(b, eng, f)
	who := make([]store.PersonRef, b.N)
	for i := range who {
		who[i] = store.PersonRef{Phone: fmt.Sprint(385910000000 + i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := eng.Enter(ctx, "bench-send", who[i], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}
