package flow_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// The reference example: two age groups who viewed the web page go down
// their own branches; everybody else takes "all other cases".
func TestSegmentAudienceReferenceExample(t *testing.T) {
	h := newHarness(t, flow.Config{})
	viewed := segment.Event(store.External, "PageViewed", segment.Happened).InLast(7, segment.Days)
	f := flow.New("ages", "Ages").
		Add("segment", &kinds.SegmentAudience{Segments: []kinds.NamedSegment{
			{Name: "young", Condition: segment.All(segment.Attr("age", segment.LessOrEqual, 30), viewed)},
			{Name: "older", Condition: segment.All(segment.Attr("age", segment.GreaterThan, 30), viewed)},
		}}, flow.Next{"young": "push-young", "older": "push-older", "other": "nothing"}).
		Add("push-young", tag("young-push"), nil).
		Add("push-older", tag("older-push"), nil).
		Add("nothing", tag("no-push"), nil)
	h.publish(t, f)

	people := []struct {
		id     string
		age    any
		viewed time.Duration // ago; 0 for never
		want   string
	}{
		{"ana", 27, 2 * 24 * time.Hour, "young-push"},
		{"ben", 30, time.Hour, "young-push"},
		{"cat", 31, 6 * 24 * time.Hour, "older-push"},
		{"dan", 45, 0, "no-push"},
		{"eve", 22, 8 * 24 * time.Hour, "no-push"}, // viewed, but not within 7 days
		{"fay", nil, time.Hour, "no-push"},         // age unknown
	}
	for _, p := range people {
		ref := store.PersonRef{ExternalID: p.id}
		_, err := h.eng.UpdatePerson(h.ctx, ref, func(x *store.Person) error {
			if p.age != nil {
				x.Set("age", p.age)
			}
			return nil
		})
		require.NoError(t, err)
		if p.viewed > 0 {
			require.NoError(t, h.eng.Deliver(h.ctx, &store.Event{ID: "view-" + p.id, Person: ref, Category: store.External, Name: "PageViewed", Time: h.clk.Now().Add(-p.viewed)}))
		}
		id, err := h.eng.Enter(h.ctx, "ages", ref, nil)
		require.NoError(t, err)
		person, err := h.eng.Person(h.ctx, ref)
		require.NoError(t, err)
		require.Equal(t, []string{p.want}, person.Tags, p.id)
		if p.id == "ana" {
			require.Equal(t, `segment "young" matched: age 27 lessOrEqual 30 and event external/PageViewed happened within 7 days`, h.participant(t, id).Journal[0].Reason)
		}
	}
	st, err := h.eng.Stats(h.ctx, "ages")
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"young": 2, "older": 1, "other": 3}, st["segment"].Left)
}

func TestSplitAudienceThroughEngine(t *testing.T) {
	h := newHarness(t, flow.Config{})
	f := flow.New("ab", "AB").
		Add("split", &kinds.SplitAudience{Variants: []kinds.Variant{{Name: "email", Percent: 50}, {Name: "sms", Percent: 30}, {Name: "push", Percent: 20}}},
			flow.Next{"email": "e", "sms": "s", "push": "p"}).
		Add("e", tag("email"), nil).Add("s", tag("sms"), nil).Add("p", tag("push"), nil)
	h.publish(t, f)
	const n = 3000
	for i := range n {
		_, err := h.eng.Enter(h.ctx, "ab", store.PersonRef{ExternalID: fmt.Sprint("p", i)}, nil)
		require.NoError(t, err)
	}
	st, err := h.eng.Stats(h.ctx, "ab")
	require.NoError(t, err)
	left := st["split"].Left
	require.EqualValues(t, n, left["email"]+left["sms"]+left["push"])
	require.InDelta(t, 0.5*n, left["email"], 0.05*n)
	require.InDelta(t, 0.3*n, left["sms"], 0.05*n)
	require.InDelta(t, 0.2*n, left["push"], 0.05*n)
	require.EqualValues(t, left["sms"], st["s"].Entered)
}
