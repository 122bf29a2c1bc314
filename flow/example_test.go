package flow_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// A flow that tags a new person, pauses until the next Monday at 09:00 and
// tags them again, run on a fake clock.
func Example() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)) // a Wednesday
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk})
	if err != nil {
		panic(err)
	}
	f := flow.New("welcome", "Welcome").In("Europe/Zagreb").
		Add("tag", &kinds.AddTag{Tag: "new"}, flow.Next{"next": "monday"}).
		Add("monday", &kinds.Pause{Mode: kinds.PauseUntil, Weekday: "monday", At: kinds.At(9, 0)}, flow.Next{"next": "welcomed"}).
		Add("welcomed", &kinds.AddTag{Tag: "welcomed"}, nil)
	if _, err := eng.Publish(ctx, f); err != nil {
		panic(err)
	}
	if err := eng.Activate(ctx, "welcome"); err != nil {
		panic(err)
	}
	id, err := eng.Enter(ctx, "welcome", store.PersonRef{ExternalID: "ana"}, nil)
	if err != nil {
		panic(err)
	}
	if _, err := flowtest.Advance(ctx, eng, clk, 7*24*time.Hour); err != nil {
		panic(err)
	}
	p, _ := eng.Participant(ctx, id)
	for _, s := range p.Journal {
		fmt.Printf("%s  %-8s %-4s %s\n", s.At.Format("Mon 15:04 MST"), s.Element, s.Branch, s.Reason)
	}
	fmt.Println(p.Status)
	// Output:
	// Wed 15:00 UTC  tag      next tagged "new"
	// Wed 15:00 UTC  monday        pause Monday 09:00: until Mon 2026-11-30 09:00 CET
	// Mon 08:00 UTC  monday   next pause over: Monday 09:00
	// Mon 08:00 UTC  welcomed next tagged "welcomed"
	// Mon 08:00 UTC  welcomed      left the flow after welcomed (no element after branch "next")
	// completed
}

// Publish refuses a flow that cannot run, naming the element and field.
func ExampleEngine_Publish_error() {
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New()})
	f := flow.New("broken", "Broken").Var("points", store.Number, 0).
		Add("calc", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "points", Formula: "points * "}}}, flow.Next{"next": "gone"})
	_, err := eng.Publish(context.Background(), f)
	var ve *flow.ValidationError
	if errors.As(err, &ve) {
		fmt.Println("element:", ve.ElementID)
		fmt.Println("field:", ve.Field)
	}
	// Output:
	// element: calc
	// field: set[0].formula
}

// Enter refuses a flow that is not active.
func ExampleEngine_Enter_notActive() {
	ctx := context.Background()
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New()})
	if _, err := eng.Publish(ctx, flow.New("draft", "Draft").Add("x", &kinds.Exit{}, nil)); err != nil {
		panic(err)
	}
	_, err := eng.Enter(ctx, "draft", store.PersonRef{ExternalID: "ana"}, nil)
	fmt.Println(errors.Is(err, flow.ErrFlowNotActive), err)
	// Output:
	// true flow "draft" is draft: flow is not active
}

// Parse reads a flow from JSON.
func ExampleParse() {
	f, err := flow.Parse([]byte(`{
		"id": "cart", "timezone": "Europe/Zagreb",
		"variables": {"cartId": {"type": "text"}},
		"elements": [
			{"id": "wait", "type": "pause", "mode": "for", "period": {"amount": 4, "unit": "hours"}, "next": {"next": "bye"}},
			{"id": "bye", "type": "exit"}
		]
	}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(f.ID, len(f.Elements), f.Elements[0].Element.Kind(), f.Validate(nil))
	_, err = flow.Parse([]byte(`{"id": "x", "elements": [{"id": "a", "type": "teleport"}]}`))
	fmt.Println(err)
	// Output:
	// cart 2 pause <nil>
	// element "a": type: unknown element kind "teleport"
}

// Deploy at start-up publishes a flow only when it changed, and activates
// it when it is new.
func ExampleEngine_Deploy() {
	ctx := context.Background()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New()})
	if err != nil {
		panic(err)
	}
	doc := func(tag string) *flow.Flow {
		f, err := flow.Parse([]byte(`{"id": "welcome", "elements": [{"id": "tag", "type": "addTag", "tag": "` + tag + `"}]}`))
		if err != nil {
			panic(err)
		}
		return f
	}
	for _, tag := range []string{"new", "new", "fresh"} {
		v, changed, err := eng.Deploy(ctx, doc(tag))
		fmt.Println(v, changed, err)
	}
	info, _ := eng.Flow(ctx, "welcome")
	fmt.Println(info.Status)
	// Output:
	// 1 true <nil>
	// 1 false <nil>
	// 2 true <nil>
	// active
}

// A profile change the schema does not allow is an *InputError naming the
// person as the host referred to them and the field at fault.
func ExampleInputError() {
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Schema: store.Schema{"score": store.Number}})
	if err != nil {
		panic(err)
	}
	_, err = eng.UpdatePerson(context.Background(), store.PersonRef{ExternalID: "ann-1"}, func(p *store.Person) error {
		p.Attributes = map[string]any{"score": "high"}
		return nil
	})
	var ie *flow.InputError
	if errors.As(err, &ie) {
		fmt.Println(ie.Ref, "|", ie.Field)
	}
	fmt.Println(err)
	// Output:
	// externalId "ann-1" | attributes.score
	// person externalId "ann-1": attributes.score: attribute "score": text value high (string) is not a number
}
