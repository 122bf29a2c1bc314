package kinds_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestSplitAudienceShares(t *testing.T) {
	split := &kinds.SplitAudience{Variants: []kinds.Variant{{Name: "a", Percent: 50}, {Name: "b", Percent: 30}, {Name: "c", Percent: 20}}}
	require.NoError(t, split.Validate(&element.Compiler{}))
	const n = 100_000
	counts := map[string]int{}
	first := map[uuid.UUID]string{}
	for range n {
		id := uuid.New()
		r := &element.Run{Participant: id, ElementID: "split", Now: time.Now()}
		out, err := split.Run(context.Background(), r)
		require.NoError(t, err)
		counts[out.Branch]++
		first[id] = out.Branch
	}
	for name, pct := range map[string]float64{"a": 50, "b": 30, "c": 20} {
		got := float64(counts[name]) / n * 100
		require.InDelta(t, pct, got, 1, "variant %s got %.2f%%", name, got)
	}
	// The same participant always gets the same variant.
	i := 0
	for id, branch := range first {
		if i++; i > 1000 {
			break
		}
		out, err := split.Run(context.Background(), &element.Run{Participant: id, ElementID: "split"})
		require.NoError(t, err)
		require.Equal(t, branch, out.Branch)
	}
	// Another split element assigns independently.
	other := 0
	for id, branch := range first {
		out, _ := split.Run(context.Background(), &element.Run{Participant: id, ElementID: "split-2"})
		if out.Branch != branch {
			other++
		}
	}
	require.Greater(t, other, n/3)
}

func TestSplitAudienceValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		variants []kinds.Variant
		field    string
		msg      string
	}{
		"one":      {[]kinds.Variant{{Name: "a", Percent: 100}}, "variants", "at least two"},
		"sum":      {[]kinds.Variant{{Name: "a", Percent: 50}, {Name: "b", Percent: 40}}, "variants", "sum to 90, not 100"},
		"zero":     {[]kinds.Variant{{Name: "a", Percent: 100}, {Name: "b", Percent: 0}}, "variants[1].percent", "above 0"},
		"negative": {[]kinds.Variant{{Name: "a", Percent: 120}, {Name: "b", Percent: -20}}, "variants[0].percent", "at most 100"},
		"dup":      {[]kinds.Variant{{Name: "a", Percent: 50}, {Name: "a", Percent: 50}}, "variants[1].name", "two branches"},
		"empty":    {[]kinds.Variant{{Name: "", Percent: 50}, {Name: "a", Percent: 50}}, "variants[0].name", "empty"},
		"reserved": {[]kinds.Variant{{Name: "error", Percent: 50}, {Name: "a", Percent: 50}}, "variants[0].name", "reserved"},
	} {
		err := (&kinds.SplitAudience{Variants: tc.variants}).Validate(&element.Compiler{})
		var fe *element.FieldError
		require.ErrorAs(t, err, &fe, name)
		require.Equal(t, tc.field, fe.Field, name)
		require.ErrorContains(t, err, tc.msg, name)
	}
}

func TestSegmentAudienceValidate(t *testing.T) {
	c := &element.Compiler{Schema: store.Schema{"age": store.Number}}
	bad := &kinds.SegmentAudience{Segments: []kinds.NamedSegment{
		{Name: "young", Condition: segment.Attr("age", segment.LessOrEqual, 30)},
		{Name: "odd", Condition: segment.All(segment.Attr("age", segment.Contains, "x"))},
	}}
	err := bad.Validate(c)
	var fe *element.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "segments[1].condition.all[0]", fe.Field)
	require.ErrorContains(t, err, `operator "contains" does not apply to number`)

	err = (&kinds.SegmentAudience{Segments: []kinds.NamedSegment{{Name: "x", Condition: segment.Attr("shoeSize", segment.Is, 42)}}}).Validate(c)
	require.ErrorContains(t, err, `shoeSize`)
	err = (&kinds.SegmentAudience{Segments: []kinds.NamedSegment{{Name: "other", Condition: segment.Attr("age", segment.Is, 1)}}}).Validate(c)
	require.ErrorContains(t, err, "reserved")
	err = (&kinds.SegmentAudience{}).Validate(c)
	require.ErrorContains(t, err, "no segments")
	err = (&kinds.SegmentAudience{Segments: []kinds.NamedSegment{{Name: "x", Condition: segment.Attr("age", segment.Is, "old")}}}).Validate(c)
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "segments[0].condition", fe.Field)
}
