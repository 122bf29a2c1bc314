package flow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// huge is a string far past every default limit: what a careless or
// hostile caller might send.
var huge = strings.Repeat("x", 64<<20)

func limitsEngine(t *testing.T, limits flow.Limits) *flow.Engine {
	t.Helper()
	eng, err := flow.NewEngine(flow.Config{
		Store: memory.New(), Clock: clock.NewFake(t0), Limits: limits,
		Schema: store.Schema{"bio": store.Text, "prefs": store.Object},
	})
	require.NoError(t, err)
	return eng
}

// requireInputError asserts err is a *flow.InputError naming field,
// with a message short enough to log and holding msg.
func requireInputError(t *testing.T, err error, field, msg string) {
	t.Helper()
	var ie *flow.InputError
	require.True(t, errors.As(err, &ie), "want a *flow.InputError, got %T: %v", err, err)
	require.Equal(t, field, ie.Field, "field of %q", err.Error())
	require.ErrorContains(t, err, msg)
	require.Less(t, len(err.Error()), 500, "the error does not repeat the input")
}

func TestPublishRefusesLongNames(t *testing.T) {
	ctx := context.Background()
	eng := limitsEngine(t, flow.Limits{})
	for _, tc := range []struct {
		name             string
		f                *flow.Flow
		elementID, field string
	}{
		{"flow name", flow.New("f", huge).Add("done", &kinds.Exit{}, nil), "", "name"},
		{"flow id", flow.New(huge, "f").Add("done", &kinds.Exit{}, nil), "", "id"},
		{"element id", flow.New("f", "f").Add(huge, &kinds.Exit{}, nil), "", "elements[0].id"},
		{"branch target", flow.New("f", "f").Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, flow.Next{"next": huge}), "wait", "next.next"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eng.Publish(ctx, tc.f)
			requireValidationError(t, err, tc.elementID, tc.field, "more than the limit of 4096 (Limits.MaxStringBytes)")
			require.Less(t, len(err.Error()), 500)
			requireValidationError(t, eng.Validate(tc.f), tc.elementID, tc.field, "Limits.MaxStringBytes")
		})
	}
	infos, err := eng.Flows(ctx)
	require.NoError(t, err)
	require.Empty(t, infos, "nothing was published")
}

func TestPublishRefusesLargeDocuments(t *testing.T) {
	ctx := context.Background()
	body := strings.Repeat("y", 2<<20) // an element's text is not a name
	f := flow.New("big", "big").Add("n", &kinds.Notify{Channel: "email", Recipients: []string{"ops@example.com"}, Subject: "big", Body: body}, nil)
	_, err := limitsEngine(t, flow.Limits{}).Publish(ctx, f)
	requireValidationError(t, err, "", "document", "more than the limit of 1048576 (Limits.MaxDocumentBytes)")

	// A host that allows larger documents publishes it.
	_, err = limitsEngine(t, flow.Limits{MaxDocumentBytes: 4 << 20}).Publish(ctx, f)
	require.NoError(t, err)
}

func TestParseRefusesLargeDocumentsBeforeDecoding(t *testing.T) {
	// Not even JSON: Parse refuses it by its length alone.
	doc := []byte(`{"id":"f","name":"` + strings.Repeat("z", 2<<20))
	_, err := flow.Parse(doc)
	requireValidationError(t, err, "", "document", "Limits.MaxDocumentBytes")
	_, err = limitsEngine(t, flow.Limits{}).Parse(doc)
	requireValidationError(t, err, "", "document", "Limits.MaxDocumentBytes")
	_, err = limitsEngine(t, flow.Limits{MaxDocumentBytes: 4 << 20}).Parse(doc)
	requireValidationError(t, err, "", "", "unexpected EOF")
}

// deepNot returns a condition of depth levels: not(not(...(a leaf))).
func deepNot(depth int) segment.Condition {
	c := segment.Condition{Attribute: "firstName", Op: segment.IsNotEmpty}
	for range depth - 1 {
		inner := c
		c = segment.Condition{Not: &inner}
	}
	return c
}

// deepDoc returns a flow document whose one segment nests depth levels
// of "all" groups.
func deepDoc(depth int) []byte {
	return []byte(`{"id":"deep","elements":[{"id":"s","type":"segmentAudience","segments":[{"name":"a","condition":` +
		strings.Repeat(`{"all":[`, depth-1) + `{"attribute":"firstName","op":"isNotEmpty"}` + strings.Repeat(`]}`, depth-1) + `}]}]}`)
}

func TestDeepSegmentsAreRefused(t *testing.T) {
	ctx := context.Background()
	eng := limitsEngine(t, flow.Limits{})
	tooDeep := fmt.Sprintf("conditions are nested more than %d deep", segment.MaxDepth)

	// 9,000 levels: about 150 KB, within the document limit, refused
	// before it is decoded.
	_, err := flow.Parse(deepDoc(9000))
	requireValidationError(t, err, "s", "segments", "nested more than 232 levels deep")
	// Just past MaxDepth, refused when the segment is read.
	_, err = flow.Parse(deepDoc(segment.MaxDepth + 1))
	requireValidationError(t, err, "s", "segments", tooDeep)

	f := flow.New("deep", "deep").Add("s", &kinds.SegmentAudience{Segments: []kinds.NamedSegment{{Name: "a", Condition: deepNot(9000)}}}, nil)
	_, err = eng.Publish(ctx, f)
	requireValidationError(t, err, "s", "segments", tooDeep)

	// A cycle built in Go is refused the same way.
	cyclic := segment.Condition{}
	cyclic.Not = &cyclic
	f = flow.New("cycle", "cycle").Add("s", &kinds.SegmentAudience{Segments: []kinds.NamedSegment{{Name: "a", Condition: cyclic}}}, nil)
	_, err = eng.Publish(ctx, f)
	requireValidationError(t, err, "s", "segments", tooDeep)

	// MaxDepth itself is allowed.
	_, err = flow.Parse(deepDoc(segment.MaxDepth))
	require.NoError(t, err)
	f = flow.New("ok", "ok").Add("s", &kinds.SegmentAudience{Segments: []kinds.NamedSegment{{Name: "a", Condition: deepNot(segment.MaxDepth)}}}, nil)
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
}

// BenchmarkParseDeepSegment parses documents with one segment nested
// deeper than segment.MaxDepth: the work per byte stays flat as the
// depth grows (see the ns/byte metric).
func BenchmarkParseDeepSegment(b *testing.B) {
	for _, depth := range []int{1000, 9000} {
		doc := deepDoc(depth)
		b.Run(fmt.Sprint("depth=", depth), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := flow.Parse(doc); err == nil {
					b.Fatal("a deep segment was accepted")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(doc)), "ns/byte")
		})
	}
}

// BenchmarkPublishDeepSegment publishes a flow built in Go whose segment
// nests 9,000 levels: it is refused in time linear in its depth.
func BenchmarkPublishDeepSegment(b *testing.B) {
	eng, _ := benchEngine(b)
	ctx := context.Background()
	for _, depth := range []int{1000, 9000} {
		f := flow.New("deep", "deep").Add("s", &kinds.SegmentAudience{Segments: []kinds.NamedSegment{{Name: "a", Condition: deepNot(depth)}}}, nil)
		b.Run(fmt.Sprint("depth=", depth), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eng.Publish(ctx, f); err == nil {
					b.Fatal("a deep segment was accepted")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(depth), "ns/level")
		})
	}
}

func TestDeliverRefusesLargeEvents(t *testing.T) {
	ctx := context.Background()
	eng := limitsEngine(t, flow.Limits{})
	ann := store.PersonRef{ExternalID: "ann"}
	deep := map[string]any{}
	for cur, i := deep, 0; i < 20; i++ {
		next := map[string]any{}
		cur["in"] = next
		cur = next
	}
	many := map[string]any{}
	for i := range 10_000 {
		many[fmt.Sprint("p", i)] = i
	}
	for _, tc := range []struct {
		name       string
		ev         *store.Event
		field, msg string
	}{
		{"long property", &store.Event{ID: "e1", Name: "Viewed", Properties: map[string]any{"note": huge}}, "properties.note", "Limits.MaxStringBytes"},
		{"long nested property", &store.Event{ID: "e2", Name: "Viewed", Properties: map[string]any{"cart": map[string]any{"items": []any{"a", huge}}}}, "properties.cart.items[1]", "Limits.MaxStringBytes"},
		{"properties too large", &store.Event{ID: "e3", Name: "Viewed", Properties: map[string]any{"a": strings.Repeat("a", 4000), "b": []any{strings.Repeat("b", 4000)}, "c": strings.Repeat("c", 4000), "d": map[string]any{
			"e": strings.Repeat("e", 4000), "f": strings.Repeat("f", 4000), "g": strings.Repeat("g", 4000), "h": strings.Repeat("h", 4000), "i": strings.Repeat("i", 4000),
			"j": strings.Repeat("j", 4000), "k": strings.Repeat("k", 4000), "l": strings.Repeat("l", 4000), "m": strings.Repeat("m", 4000), "n": strings.Repeat("n", 4000),
			"o": strings.Repeat("o", 4000), "p": strings.Repeat("p", 4000), "q": strings.Repeat("q", 4000), "r": strings.Repeat("r", 4000)}}}, "properties.d.r", "Limits.MaxEventBytes"},
		{"too many properties", &store.Event{ID: "e4", Name: "Viewed", Properties: many}, "properties", "Limits.MaxEventBytes"},
		{"nested too deep", &store.Event{ID: "e5", Name: "Viewed", Properties: deep}, "properties" + strings.Repeat(".in", 9), "Limits.MaxEventDepth"},
		{"long name", &store.Event{ID: "e6", Name: huge}, "name", "Limits.MaxStringBytes"},
		{"long id", &store.Event{ID: huge, Name: "Viewed"}, "id", "Limits.MaxStringBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.Person, tc.ev.Category = ann, store.External
			err := eng.Deliver(ctx, tc.ev)
			requireInputError(t, err, tc.field, tc.msg)
			require.ErrorIs(t, err, flow.ErrBadEvent)
		})
	}
	_, err := eng.Person(ctx, ann)
	require.ErrorIs(t, err, store.ErrNotFound, "a refused event creates no one")

	// Within the limits, and past the defaults with higher ones.
	require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "ok", Person: ann, Category: store.External, Name: "Viewed", Properties: map[string]any{"note": strings.Repeat("n", 4096)}}))
	roomy := limitsEngine(t, flow.Limits{MaxStringBytes: 1 << 20, MaxEventBytes: 2 << 20})
	require.NoError(t, roomy.Deliver(ctx, &store.Event{ID: "ok", Person: ann, Category: store.External, Name: "Viewed", Properties: map[string]any{"note": strings.Repeat("n", 1<<20)}}))
}

func TestPersonReferencesAreBounded(t *testing.T) {
	ctx := context.Background()
	eng := limitsEngine(t, flow.Limits{})
	who := store.PersonRef{ExternalID: huge}
	err := eng.Deliver(ctx, &store.Event{ID: "e", Person: who, Category: store.External, Name: "Viewed"})
	requireInputError(t, err, "externalId", "Limits.MaxStringBytes")
	_, err = eng.UpdatePerson(ctx, who, func(*store.Person) error { return nil })
	requireInputError(t, err, "externalId", "Limits.MaxStringBytes")
	_, err = eng.Person(ctx, store.PersonRef{Email: huge})
	requireInputError(t, err, "email", "Limits.MaxStringBytes")
}

func TestEnterRefusesLargeVariables(t *testing.T) {
	ctx := context.Background()
	eng := limitsEngine(t, flow.Limits{})
	f := flow.New("f", "f").Var("note", store.Text, nil).Add("done", &kinds.Exit{}, nil)
	_, err := eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "f"))
	_, err = eng.Enter(ctx, "f", store.PersonRef{ExternalID: "ann"}, map[string]any{"note": huge})
	requireInputError(t, err, "vars.note", "Limits.MaxStringBytes")
	_, err = eng.Person(ctx, store.PersonRef{ExternalID: "ann"})
	require.ErrorIs(t, err, store.ErrNotFound, "a refused entry creates no one")
}

func TestUpdatePersonRefusesLargeProfiles(t *testing.T) {
	ctx := context.Background()
	eng := limitsEngine(t, flow.Limits{})
	ann := store.PersonRef{ExternalID: "ann"}
	_, err := eng.UpdatePerson(ctx, ann, func(p *store.Person) error { p.FirstName = "Ann"; return nil })
	require.NoError(t, err)
	many := make([]string, 20_000)
	for i := range many {
		many[i] = fmt.Sprintf("tag-%05d", i) // 9 bytes each
	}
	for _, tc := range []struct {
		name       string
		change     func(p *store.Person)
		field, msg string
	}{
		{"long attribute", func(p *store.Person) { p.Attributes = map[string]any{"bio": huge} }, "attributes.bio", "Limits.MaxStringBytes"},
		{"long first name", func(p *store.Person) { p.FirstName = huge }, "firstName", "Limits.MaxStringBytes"},
		{"long tag", func(p *store.Person) { p.Tags = []string{"a", huge} }, "tags[1]", "Limits.MaxStringBytes"},
		{"many tags", func(p *store.Person) { p.Tags = many }, "tags[7281]", "Limits.MaxPersonBytes"},
		{"deep object", func(p *store.Person) {
			v := any("leaf")
			for range 20 {
				v = map[string]any{"in": v}
			}
			p.Attributes = map[string]any{"prefs": v}
		}, "attributes.prefs" + strings.Repeat(".in", 8), "Limits.MaxEventDepth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eng.UpdatePerson(ctx, ann, func(p *store.Person) error { tc.change(p); return nil })
			requireInputError(t, err, tc.field, tc.msg)
			require.Contains(t, err.Error(), `person externalId "ann"`)
		})
	}
	p, err := eng.Person(ctx, ann)
	require.NoError(t, err)
	require.Equal(t, "Ann", p.FirstName)
	require.Empty(t, p.Tags, "refused changes are not kept")
	require.Empty(t, p.Attributes)
}

func TestListingsRefuseLargePages(t *testing.T) {
	ctx := context.Background()
	eng := limitsEngine(t, flow.Limits{MaxPageSize: 10})
	ann := store.PersonRef{ExternalID: "ann"}
	require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "e", Person: ann, Category: store.External, Name: "Viewed"}))
	_, err := eng.Events(ctx, ann, store.EventQuery{Limit: 11})
	requireInputError(t, err, "limit", "more than the limit of 10 (Limits.MaxPageSize)")
	_, err = eng.Participants(ctx, store.ParticipantQuery{FlowID: "f", Limit: 11})
	requireInputError(t, err, "limit", "Limits.MaxPageSize")
	evs, err := eng.Events(ctx, ann, store.EventQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, evs, 1)
}

func TestNegativeLimitsAreRefused(t *testing.T) {
	_, err := flow.NewEngine(flow.Config{Store: memory.New(), Limits: flow.Limits{MaxStringBytes: -1, MaxPageSize: -5}})
	require.ErrorContains(t, err, "Config.Limits.MaxStringBytes is -1: must not be negative")
	require.ErrorContains(t, err, "Config.Limits.MaxPageSize is -5: must not be negative")
}
