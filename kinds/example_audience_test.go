package kinds_test

import (
	"context"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// Two age groups who viewed the web page get their own branch; everybody
// else goes by "other". The journal says why.
func ExampleSegmentAudience() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Schema: store.Schema{"age": store.Number}})
	cond, _ := segment.Parse([]byte(`{"event": {"category": "external", "name": "PageViewed"}, "op": "happened", "within": {"amount": 7, "unit": "days"}}`))
	f := flow.New("ages", "Ages").
		Add("split", &kinds.SegmentAudience{Segments: []kinds.NamedSegment{
			{Name: "young", Condition: segment.All(segment.Attr("age", segment.LessOrEqual, 30), cond)},
			{Name: "older", Condition: segment.All(segment.Attr("age", segment.GreaterThan, 30), cond)},
		}}, flow.Next{"young": "y", "older": "o", "other": "x"}).
		Add("y", &kinds.AddTag{Tag: "young"}, nil).
		Add("o", &kinds.AddTag{Tag: "older"}, nil).
		Add("x", &kinds.Exit{}, nil)
	if _, err := eng.Publish(ctx, f); err != nil {
		fmt.Println(err)
		return
	}
	_ = eng.Activate(ctx, "ages")
	for i, age := range []int{27, 41, 35} {
		who := store.PersonRef{ExternalID: fmt.Sprint("p", i)}
		_, _ = eng.UpdatePerson(ctx, who, func(p *store.Person) error { p.Set("age", age); return nil })
		if i < 2 {
			_ = eng.Deliver(ctx, &store.Event{ID: fmt.Sprint("v", i), Person: who, Category: store.External, Name: "PageViewed"})
		}
		id, _ := eng.Enter(ctx, "ages", who, nil)
		p, _ := eng.Participant(ctx, id)
		fmt.Printf("age %d: %s: %s\n", age, p.Journal[0].Branch, p.Journal[0].Reason)
	}
	// Output:
	// age 27: young: segment "young" matched: age 27 lessOrEqual 30 and event external/PageViewed happened within 7 days
	// age 41: older: segment "older" matched: age 41 greaterThan 30 and event external/PageViewed happened within 7 days
	// age 35: other: no segment matched: "young": age 35 lessOrEqual 30 is false; "older": event external/PageViewed happened within 7 days is false
}

// An A/B test of two email versions and an SMS: each participant lands in
// one variant, the same one every time.
func ExampleSplitAudience() {
	split := &kinds.SplitAudience{Variants: []kinds.Variant{
		{Name: "emailA", Percent: 40}, {Name: "emailB", Percent: 40}, {Name: "sms", Percent: 20},
	}}
	fmt.Println(split.Validate(&element.Compiler{}))
	bad := &kinds.SplitAudience{Variants: []kinds.Variant{{Name: "a", Percent: 60}, {Name: "b", Percent: 30}}}
	fmt.Println(bad.Validate(&element.Compiler{}))
	// Output:
	// <nil>
	// variants: percentages sum to 90, not 100
}
