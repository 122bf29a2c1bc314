package flowotel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/contrib/otel"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// sender accepts every message.
type sender struct {
	mu   sync.Mutex
	sent []*element.Message
}

func (s *sender) Send(_ context.Context, m *element.Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	return "m-1", nil
}

// telemetry is an SDK tracer and meter provider that keep what they get.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
}

func newTelemetry() *telemetry {
	tm := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tm.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tm.spans))
	tm.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tm.reader))
	return tm
}

// collect reads the metrics, by instrument name.
func (tm *telemetry) collect(t *testing.T) map[string]metricdata.Metrics {
	var rm metricdata.ResourceMetrics
	require.NoError(t, tm.reader.Collect(t.Context(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, flowotel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// key names a data point by its element and, when present, branch and
// error type: "call/2xx", "call/!_OTHER".
func key(set attribute.Set) string {
	k := str(set, "flowkit.element.id")
	if b := str(set, "flowkit.branch"); b != "" {
		k += "/" + b
	}
	if e := str(set, "error.type"); e != "" {
		k += "/!" + e
	}
	return k
}

func str(set attribute.Set, k attribute.Key) string {
	v, _ := set.Value(k)
	return v.AsString()
}

// sums returns a counter's values of one flow by key.
func sums(t *testing.T, ms map[string]metricdata.Metrics, name, flowID string) map[string]int64 {
	m, ok := ms[name]
	require.True(t, ok, "no metric %s", name)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is a %T", name, m.Data)
	require.True(t, sum.IsMonotonic, name)
	out := map[string]int64{}
	for _, dp := range sum.DataPoints {
		if str(dp.Attributes, "flowkit.flow.id") == flowID {
			out[key(dp.Attributes)] += dp.Value
		}
	}
	return out
}

// histograms returns a histogram's data points of one flow by key.
func histograms(t *testing.T, ms map[string]metricdata.Metrics, name, flowID string) map[string]metricdata.HistogramDataPoint[float64] {
	m, ok := ms[name]
	require.True(t, ok, "no metric %s", name)
	require.Equal(t, "s", m.Unit, name)
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a %T", name, m.Data)
	out := map[string]metricdata.HistogramDataPoint[float64]{}
	for _, dp := range h.DataPoints {
		if str(dp.Attributes, "flowkit.flow.id") == flowID {
			out[key(dp.Attributes)] = dp
		}
	}
	return out
}

func counts(dps map[string]metricdata.HistogramDataPoint[float64]) map[string]uint64 {
	out := map[string]uint64{}
	for k, dp := range dps {
		out[k] = dp.Count
	}
	return out
}

// spanAttrs returns a span's attributes as strings.
func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// journey is the flow under test on an engine observed by flowotel:
// "otel" tags, pauses a day, calls an API and sends a message; the API
// hangs up on "cy", whose call takes the error branch. "dead" calls an
// API that is not there, with no error branch, so its participant fails.
type journey struct {
	eng    *flow.Engine
	clk    *clock.Fake
	tm     *telemetry
	sender *sender
	ids    map[string]uuid.UUID // participant by person
}

func newJourney(t *testing.T) *journey {
	ctx := t.Context()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/members/cy" {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"points": 10}`))
	}))
	t.Cleanup(api.Close)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	j := &journey{clk: clock.NewFake(t0), tm: newTelemetry(), sender: &sender{}, ids: map[string]uuid.UUID{}}
	obs, err := flowotel.NewObserver(flowotel.Options{TracerProvider: j.tm.tp, MeterProvider: j.tm.mp})
	require.NoError(t, err)
	j.eng, err = flow.NewEngine(flow.Config{Store: memory.New(), Clock: j.clk, Observer: obs, Ports: flow.Ports{Sender: j.sender}})
	require.NoError(t, err)
	main := flow.New("otel", "Observed").
		Add("tag", &kinds.AddTag{Tag: "new"}, flow.Next{"next": "pause"}).
		Add("pause", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, flow.Next{"next": "call"}).
		Add("call", &kinds.CallAPI{URL: api.URL + "/members/{{person.externalId}}"}, flow.Next{"2xx": "send", "error": "done"}).
		Add("send", &kinds.SendMessage{Channel: "email", Body: "hi"}, flow.Next{"sent": "done"}).
		Add("done", &kinds.Exit{}, nil)
	dead := flow.New("dead", "Unreachable").
		Add("call", &kinds.CallAPI{URL: gone.URL + "/hook"}, flow.Next{"2xx": "done"}).
		Add("done", &kinds.Exit{}, nil)
	for _, f := range []*flow.Flow{main, dead} {
		_, err := j.eng.Publish(ctx, f)
		require.NoError(t, err)
		require.NoError(t, j.eng.Activate(ctx, f.ID))
	}
	for _, who := range []string{"ana", "bob", "cy"} {
		j.ids[who], err = j.eng.Enter(ctx, "otel", store.PersonRef{ExternalID: who, Email: who + "@example.com"}, nil)
		require.NoError(t, err)
	}
	j.ids["dan"], err = j.eng.Enter(ctx, "dead", store.PersonRef{ExternalID: "dan"}, nil)
	require.NoError(t, err)
	return j
}

// spansOf returns the names of a participant's spans, in the order they
// ended.
func (j *journey) spansOf(who string) []string {
	var names []string
	for _, s := range j.tm.spans.Ended() {
		if spanAttrs(s)["flowkit.participant.id"] == j.ids[who].String() {
			names = append(names, s.Name())
		}
	}
	return names
}

func (j *journey) span(t *testing.T, who, elementID string) sdktrace.ReadOnlySpan {
	var found sdktrace.ReadOnlySpan
	for _, s := range j.tm.spans.Ended() {
		a := spanAttrs(s)
		if a["flowkit.participant.id"] == j.ids[who].String() && a["flowkit.element.id"] == elementID {
			require.Nil(t, found, "two spans of %s at %s", who, elementID)
			found = s
		}
	}
	require.NotNil(t, found, "no span of %s at %s", who, elementID)
	return found
}

// Every step becomes one span with its flow, element, kind, branch and
// participant, ending at the engine's time of the step; failures have
// status Error with the error.
func TestSpansPerStep(t *testing.T) {
	j := newJourney(t)
	require.Equal(t, []string{"flowkit.step addTag", "flowkit.step pause"}, j.spansOf("ana"), "before the pause is over")
	_, err := flowtest.Advance(t.Context(), j.eng, j.clk, 48*time.Hour)
	require.NoError(t, err)

	require.Len(t, j.tm.spans.Ended(), 5+5+4+1)
	full := []string{"flowkit.step addTag", "flowkit.step pause", "flowkit.step pause", "flowkit.step callApi", "flowkit.step sendMessage"}
	require.Equal(t, full, j.spansOf("ana"))
	require.Equal(t, full, j.spansOf("bob"))
	require.Equal(t, full[:4], j.spansOf("cy"), "cy's call took the error branch to the exit")
	require.Equal(t, []string{"flowkit.step callApi"}, j.spansOf("dan"), "a failed participant's span names its element kind")

	call := j.span(t, "ana", "call")
	require.Equal(t, map[string]string{
		"flowkit.flow.id": "otel", "flowkit.flow.version": "1", "flowkit.element.id": "call", "flowkit.element.kind": "callApi",
		"flowkit.branch": "2xx", "flowkit.observed": "step", "flowkit.participant.id": j.ids["ana"].String(),
		"flowkit.person.id": spanAttrs(call)["flowkit.person.id"],
	}, spanAttrs(call))
	_, err = uuid.Parse(spanAttrs(call)["flowkit.person.id"])
	require.NoError(t, err, "the person's id")
	require.True(t, call.EndTime().Equal(t0.Add(24*time.Hour)), "ends at the engine's time of the step: %s", call.EndTime())
	require.True(t, call.StartTime().Before(call.EndTime()), "starts the call's duration earlier")
	require.Equal(t, codes.Unset, call.Status().Code)

	wait := j.span(t, "ana", "tag") // the tag step, then the pause's wait
	require.True(t, wait.EndTime().Equal(t0))
	var pauses []map[string]string
	for _, s := range j.tm.spans.Ended() {
		if a := spanAttrs(s); a["flowkit.participant.id"] == j.ids["ana"].String() && a["flowkit.element.id"] == "pause" {
			pauses = append(pauses, a)
		}
	}
	require.Len(t, pauses, 2)
	require.Equal(t, "wait", pauses[0]["flowkit.observed"])
	require.NotContains(t, pauses[0], "flowkit.branch", "a wait takes no branch")
	require.Equal(t, "step", pauses[1]["flowkit.observed"])
	require.Equal(t, "next", pauses[1]["flowkit.branch"])

	failed := j.span(t, "cy", "call")
	require.Equal(t, codes.Error, failed.Status().Code)
	require.Contains(t, failed.Status().Description, "/members/cy", "the error names the request")
	require.Equal(t, "error", spanAttrs(failed)["flowkit.branch"])
	require.Equal(t, "failure", spanAttrs(failed)["flowkit.observed"])
	require.Len(t, failed.Events(), 1)
	require.Equal(t, "exception", failed.Events()[0].Name)

	gone := j.span(t, "dan", "call")
	require.Equal(t, codes.Error, gone.Status().Code)
	require.Contains(t, gone.Status().Description, `element "call" failed`)
	require.Equal(t, "dead", spanAttrs(gone)["flowkit.flow.id"])
	require.True(t, gone.EndTime().Equal(t0))
}

// The counters count what the engine's statistics count, and the
// histograms hold one duration per step and per call.
func TestMetricsMatchStats(t *testing.T) {
	ctx := t.Context()
	j := newJourney(t)
	ms := j.tm.collect(t)
	st, err := j.eng.Stats(ctx, "otel")
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"pause": st["pause"].Waiting}, sums(t, ms, "flowkit.waits", "otel"), "waits while they wait")
	require.Equal(t, int64(3), st["pause"].Waiting)

	_, err = flowtest.Advance(ctx, j.eng, j.clk, 48*time.Hour)
	require.NoError(t, err)
	ms = j.tm.collect(t)
	for _, flowID := range []string{"otel", "dead"} {
		st, err := j.eng.Stats(ctx, flowID)
		require.NoError(t, err)
		left, errs, entered := map[string]int64{}, map[string]int64{}, map[string]int64{}
		for el, s := range st {
			for b, n := range s.Left {
				left[el+"/"+b] = n
			}
			if s.Errors > 0 {
				errs[el] = s.Errors
			}
		}
		entered[map[string]string{"otel": "tag", "dead": "call"}[flowID]] = st[map[string]string{"otel": "tag", "dead": "call"}[flowID]].Entered
		require.Equal(t, left, sums(t, ms, "flowkit.steps", flowID), "%s: steps by element and branch", flowID)
		require.Equal(t, errs, sums(t, ms, "flowkit.failures", flowID), "%s: failures by element", flowID)
		require.Equal(t, entered, sums(t, ms, "flowkit.entries", flowID), "%s: entries", flowID)
	}
	st, err = j.eng.Stats(ctx, "otel")
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"call/2xx": 2, "call/error": 1, "pause/next": 3, "send/sent": 2, "tag/next": 3}, sums(t, ms, "flowkit.steps", "otel"))
	require.Equal(t, map[string]int64{"call": 1}, sums(t, ms, "flowkit.failures", "dead"))
	require.Equal(t, map[string]int64{"pause": 3}, sums(t, ms, "flowkit.waits", "otel"), "waits count arrivals, not who waits now")
	require.Equal(t, map[string]int64{"pause": 3}, sums(t, ms, "flowkit.resumes", "otel"))
	require.Equal(t, map[string]int64{"done": st["done"].Entered}, sums(t, ms, "flowkit.exits", "otel"))
	require.Empty(t, sums(t, ms, "flowkit.exits", "dead"), "a failed participant is a failure, not an exit")
	require.Equal(t, map[string]int64{"send/sent": st["send"].Left["sent"]}, sums(t, ms, "flowkit.sends", "otel"))
	require.Len(t, j.sender.sent, 2)

	steps := histograms(t, ms, "flowkit.step.duration", "otel")
	require.Equal(t, map[string]uint64{"tag": 3, "pause": 6, "call": 3, "send": 2}, counts(steps), "a duration per step and wait")
	api := histograms(t, ms, "flowkit.api.duration", "otel")
	require.Equal(t, map[string]uint64{"call/2xx": 2, "call/!_OTHER": 1}, counts(api), "a duration per call, failed ones apart")
	require.Equal(t, map[string]uint64{"call/!_OTHER": 1}, counts(histograms(t, ms, "flowkit.api.duration", "dead")))
	var spanSeconds float64
	for _, who := range []string{"ana", "bob"} {
		s := j.span(t, who, "call")
		spanSeconds += s.EndTime().Sub(s.StartTime()).Seconds()
	}
	require.InDelta(t, spanSeconds, api["call/2xx"].Sum, 1e-9, "the calls' durations, as their spans show")
	require.Positive(t, api["call/2xx"].Sum)
}

// Step spans are children of the span in the context of the engine call
// that ran them.
func TestSpansJoinTheCallersTrace(t *testing.T) {
	tm := newTelemetry()
	obs, err := flowotel.NewObserver(flowotel.Options{TracerProvider: tm.tp, MeterProvider: tm.mp})
	require.NoError(t, err)
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(t0), Observer: obs})
	require.NoError(t, err)
	_, err = eng.Publish(t.Context(), flow.New("f", "").Add("tag", &kinds.AddTag{Tag: "x"}, flow.Next{"next": "done"}).Add("done", &kinds.Exit{}, nil))
	require.NoError(t, err)
	require.NoError(t, eng.Activate(t.Context(), "f"))

	ctx, parent := tm.tp.Tracer("host").Start(t.Context(), "POST /signup")
	_, err = eng.Enter(ctx, "f", store.PersonRef{ExternalID: "ana"}, nil)
	require.NoError(t, err)
	parent.End()
	ended := tm.spans.Ended()
	require.Len(t, ended, 2)
	require.Equal(t, "flowkit.step addTag", ended[0].Name())
	require.Equal(t, parent.SpanContext().TraceID(), ended[0].SpanContext().TraceID())
	require.Equal(t, parent.SpanContext().SpanID(), ended[0].Parent().SpanID())
}

// The zero Options report to the global providers.
func TestDefaultsToGlobalProviders(t *testing.T) {
	tm := newTelemetry()
	prevT, prevM := otel.GetTracerProvider(), otel.GetMeterProvider()
	otel.SetTracerProvider(tm.tp)
	otel.SetMeterProvider(tm.mp)
	t.Cleanup(func() { otel.SetTracerProvider(prevT); otel.SetMeterProvider(prevM) })

	obs, err := flowotel.NewObserver(flowotel.Options{})
	require.NoError(t, err)
	obs.Observe(t.Context(), &flow.Observation{What: flow.ObservedStep, At: t0, FlowID: "f", FlowVersion: 2, ElementID: "tag",
		Kind: "addTag", Branch: "next", Duration: time.Millisecond})
	ended := tm.spans.Ended()
	require.Len(t, ended, 1)
	require.Equal(t, "flowkit.step addTag", ended[0].Name())
	require.Equal(t, time.Millisecond, ended[0].EndTime().Sub(ended[0].StartTime()))
	require.Equal(t, "2", spanAttrs(ended[0])["flowkit.flow.version"])
	ms := tm.collect(t)
	require.Equal(t, map[string]int64{"tag/next": 1}, sums(t, ms, "flowkit.steps", "f"))
	require.InDelta(t, 0.001, histograms(t, ms, "flowkit.step.duration", "f")["tag"].Sum, 1e-12)
}

// BenchmarkObserveStep is the cost of one step's observation on the SDK's
// providers: a span and two measurements.
func BenchmarkObserveStep(b *testing.B) {
	// No span processor: spans record but are not kept, so memory stays flat.
	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	obs, err := flowotel.NewObserver(flowotel.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		b.Fatal(err)
	}
	ob := &flow.Observation{What: flow.ObservedStep, At: t0, FlowID: "f", FlowVersion: 1, ElementID: "tag", Kind: "addTag",
		Branch: "next", Participant: uuid.New(), Person: uuid.New(), Duration: 5 * time.Microsecond}
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		obs.Observe(ctx, ob)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "observations/s")
}
