package flowotel

import (
	"context"
	"fmt"
	"sync"

	"github.com/flowkit/flowkit/flow"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and the meter the
// Observer uses.
const ScopeName = "github.com/flowkit/flowkit/contrib/otel"

// The attribute keys of spans and metrics.
const (
	flowIDKey        = attribute.Key("flowkit.flow.id")
	flowVersionKey   = attribute.Key("flowkit.flow.version")
	elementIDKey     = attribute.Key("flowkit.element.id")
	elementKindKey   = attribute.Key("flowkit.element.kind")
	branchKey        = attribute.Key("flowkit.branch")
	observedKey      = attribute.Key("flowkit.observed")
	participantIDKey = attribute.Key("flowkit.participant.id")
	personIDKey      = attribute.Key("flowkit.person.id")
	errorTypeKey     = attribute.Key("error.type")
)

// Options configure an Observer. The zero value uses the global providers.
type Options struct {
	// TracerProvider makes the tracer of step spans. Defaults to
	// otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the meter of the counters and histograms.
	// Defaults to otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// Observer is a flow.Observer that records spans and metrics. It is safe
// for concurrent use.
type Observer struct {
	tracer trace.Tracer

	entries, steps, waits, resumes, exits, failures, sends metric.Int64Counter
	stepDuration, apiDuration                              metric.Float64Histogram

	// sets caches metric attribute sets by setKey: a flow has few
	// elements and branches, and a cached set records without allocating.
	sets sync.Map
}

var _ flow.Observer = (*Observer)(nil)

// Bucket boundaries in seconds: element steps take microseconds, calls
// outside milliseconds to seconds.
var (
	stepBuckets = []float64{0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5}
	apiBuckets  = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30}
)

// NewObserver returns an Observer that reports to the providers of opts.
// It returns an error when the meter refuses an instrument.
func NewObserver(opts Options) (*Observer, error) {
	tp, mp := opts.TracerProvider, opts.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(ScopeName)
	o := &Observer{tracer: tp.Tracer(ScopeName)}
	var err error
	counter := func(dst *metric.Int64Counter, name, unit, desc string) {
		if err == nil {
			*dst, err = m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		}
	}
	histogram := func(dst *metric.Float64Histogram, name, desc string, buckets []float64) {
		if err == nil {
			*dst, err = m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
				metric.WithExplicitBucketBoundaries(buckets...))
		}
	}
	counter(&o.entries, "flowkit.entries", "{participant}", "Participants that entered a flow.")
	counter(&o.steps, "flowkit.steps", "{step}", "Steps that went on by a branch, the error branch included.")
	counter(&o.waits, "flowkit.waits", "{step}", "Steps that held a participant in a wait.")
	counter(&o.resumes, "flowkit.resumes", "{participant}", "Waiting participants woken by an event or a timer.")
	counter(&o.exits, "flowkit.exits", "{participant}", "Participants that left a flow, not by a failure.")
	counter(&o.failures, "flowkit.failures", "{failure}", "Failed steps and failed participants.")
	counter(&o.sends, "flowkit.sends", "{message}", "Messages sent or refused by the Sender.")
	histogram(&o.stepDuration, "flowkit.step.duration", "How long an element's step took.", stepBuckets)
	histogram(&o.apiDuration, "flowkit.api.duration", "How long a call outside the engine took: Call API, Conversations, custom elements.", apiBuckets)
	if err != nil {
		return nil, fmt.Errorf("flowotel: %w", err)
	}
	return o, nil
}

// Observe records one observation: a span for a step, a wait or a
// failure, and the metrics of its kind.
func (o *Observer) Observe(ctx context.Context, ob *flow.Observation) {
	switch ob.What {
	case flow.ObservedEnter:
		o.entries.Add(ctx, 1, o.set(ob, false))
	case flow.ObservedStep:
		o.step(ctx, ob)
		o.steps.Add(ctx, 1, o.set(ob, true))
	case flow.ObservedWait:
		o.step(ctx, ob)
		o.waits.Add(ctx, 1, o.set(ob, false))
	case flow.ObservedResume:
		o.resumes.Add(ctx, 1, o.set(ob, false))
	case flow.ObservedExit:
		o.exits.Add(ctx, 1, o.set(ob, false))
	case flow.ObservedFailure:
		o.step(ctx, ob)
		if ob.Branch != "" { // it took the error branch: a step that went on
			o.steps.Add(ctx, 1, o.set(ob, true))
		}
		o.failures.Add(ctx, 1, o.set(ob, false))
	case flow.ObservedSend:
		o.sends.Add(ctx, 1, o.set(ob, true))
	case flow.ObservedCall:
		o.apiDuration.Record(ctx, ob.Duration.Seconds(), o.set(ob, true))
	}
}

// step records the span of a step and, when the observation carries the
// element's call (a failed participant's observation does not), its
// duration.
func (o *Observer) step(ctx context.Context, ob *flow.Observation) {
	name := "flowkit.step"
	if ob.Kind != "" {
		name += " " + ob.Kind
		o.stepDuration.Record(ctx, ob.Duration.Seconds(), o.set(ob, false))
	}
	attrs := []attribute.KeyValue{
		flowIDKey.String(ob.FlowID),
		flowVersionKey.Int(ob.FlowVersion),
		elementIDKey.String(ob.ElementID),
		elementKindKey.String(ob.Kind),
		observedKey.String(ob.What.String()),
		participantIDKey.String(ob.Participant.String()),
		personIDKey.String(ob.Person.String()),
	}
	if ob.Branch != "" {
		attrs = append(attrs, branchKey.String(ob.Branch))
	}
	_, span := o.tracer.Start(ctx, name, trace.WithTimestamp(ob.At.Add(-ob.Duration)),
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	if ob.What == flow.ObservedFailure {
		desc := ob.Reason
		if ob.Err != nil {
			desc = ob.Err.Error()
			span.RecordError(ob.Err, trace.WithTimestamp(ob.At))
		}
		span.SetStatus(codes.Error, desc)
	}
	span.End(trace.WithTimestamp(ob.At))
}

// setKey names one metric attribute set.
type setKey struct {
	flow, element, kind, branch string
	failed                      bool
}

// set returns the metric attributes of an observation: its flow, element
// and kind, its branch when withBranch, and error.type when it failed a
// send or a call.
func (o *Observer) set(ob *flow.Observation, withBranch bool) metric.MeasurementOption {
	k := setKey{flow: ob.FlowID, element: ob.ElementID, kind: ob.Kind}
	if withBranch {
		k.branch = ob.Branch
	}
	k.failed = ob.Err != nil && (ob.What == flow.ObservedSend || ob.What == flow.ObservedCall)
	if v, ok := o.sets.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, flowIDKey.String(k.flow), elementIDKey.String(k.element))
	if k.kind != "" {
		attrs = append(attrs, elementKindKey.String(k.kind))
	}
	if k.branch != "" {
		attrs = append(attrs, branchKey.String(k.branch))
	}
	if k.failed {
		attrs = append(attrs, errorTypeKey.String("_OTHER"))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attrs...))
	v, _ := o.sets.LoadOrStore(k, opt)
	return v.(metric.MeasurementOption)
}
