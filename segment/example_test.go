package segment_test

import (
	"fmt"
	"time"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// Two age groups who viewed the web page in the last week: the reference
// example of Segment Audience.
func Example() {
	cond, err := segment.Parse([]byte(`{"all": [
		{"attribute": "age", "op": "lessOrEqual", "value": 30},
		{"event": {"category": "external", "name": "PageViewed",
		           "where": [{"property": "url", "op": "startsWith", "value": "/pricing"}]},
		 "op": "happened", "within": {"amount": 7, "unit": "days"}}
	]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	young, err := segment.Compile(cond, segment.Options{
		Schema:   store.Schema{"age": store.Number},
		Location: time.UTC,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	history := []*store.Event{{
		Category: store.External, Name: "PageViewed", Time: now.Add(-48 * time.Hour),
		Properties: map[string]any{"url": "/pricing?plan=gold"},
	}}
	events := func(q *store.EventQuery) ([]*store.Event, error) {
		var out []*store.Event
		for _, e := range history {
			if q.Matches(e) {
				out = append(out, e)
			}
		}
		return out, nil
	}
	for _, age := range []float64{27, 35} {
		p := &store.Person{Attributes: map[string]any{"age": age}}
		ok, why, err := young.MatchReason(&segment.Subject{Person: p, Now: now, Events: events})
		fmt.Println(ok, why, err)
	}
	// Output:
	// true age 27 lessOrEqual 30 and event external/PageViewed where url startsWith "/pricing" happened within 7 days <nil>
	// false age 35 lessOrEqual 30 is false <nil>
}

// Compile errors name the condition by its path.
func ExampleCompile_error() {
	cond := segment.All(
		segment.Tag("vip", segment.Has),
		segment.Attr("age", segment.Contains, "3"),
	)
	_, err := segment.Compile(cond, segment.Options{Schema: store.Schema{"age": store.Number}})
	fmt.Println(err)
	// Output:
	// all[1]: attribute "age": operator "contains" does not apply to number
}

// A Where is the property filter of Wait for an Event, here matching the
// cart the flow is about.
func ExampleCompileWhere() {
	where, err := segment.CompileWhere([]segment.PropertyCondition{
		segment.Prop("cartId", segment.Is, "{{cartId}}"),
		segment.Prop("total", segment.GreaterOrEqual, 50),
	}, segment.Options{Variables: map[string]store.Type{"cartId": store.Text}})
	if err != nil {
		fmt.Println(err)
		return
	}
	sub := &segment.Subject{Vars: map[string]any{"cartId": "c-42"}}
	for _, total := range []float64{80, 20} {
		ok, err := where.Match(&store.Event{Properties: map[string]any{"cartId": "c-42", "total": total}}, sub)
		fmt.Println(total, ok, err)
	}
	// Output:
	// 80 true <nil>
	// 20 false <nil>
}
