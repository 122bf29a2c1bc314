package flowotel_test

import (
	"context"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/contrib/otel"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// An engine observed by flowotel: each step becomes a span and counts in
// flowkit.steps. A service would hand NewObserver its exporting
// providers, or none for the global ones.
func ExampleNewObserver() {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	obs, err := flowotel.NewObserver(flowotel.Options{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	if err != nil {
		panic(err)
	}
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)), Observer: obs})
	if err != nil {
		panic(err)
	}
	f := flow.New("welcome", "Welcome").
		Add("tag", &kinds.AddTag{Tag: "new"}, flow.Next{"next": "vip"}).
		Add("vip", &kinds.AddTag{Tag: "vip"}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
	if _, err := eng.Publish(ctx, f); err != nil {
		panic(err)
	}
	if err := eng.Activate(ctx, "welcome"); err != nil {
		panic(err)
	}
	if _, err := eng.Enter(ctx, "welcome", store.PersonRef{ExternalID: "ana"}, nil); err != nil {
		panic(err)
	}

	for _, s := range spans.Ended() {
		fmt.Println(s.Name(), s.EndTime().Format(time.RFC3339))
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
			var n int64
			for _, dp := range sum.DataPoints {
				n += dp.Value
			}
			fmt.Println(m.Name, n)
		}
	}
	// Output:
	// flowkit.step addTag 2026-01-05T09:00:00Z
	// flowkit.step addTag 2026-01-05T09:00:00Z
	// flowkit.entries 1
	// flowkit.steps 2
	// flowkit.exits 1
}
