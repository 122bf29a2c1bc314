package flow_test

import (
	"fmt"
	"testing"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// BenchmarkStepsWithRules runs BenchmarkSteps' workload on the flow as it
// is ("plain") and with three exit rules and a goal on it ("rules"): an
// exit on the TagAdded events the chain emits (whose tag never matches),
// an exit on an event it never emits, an exit when the person stops
// matching a segment (checked on every event), and a goal on an event it
// never emits. Nobody leaves or converts, so both run the same steps and
// the difference is what the rules cost.
//
// In "chain" the participant runs its 50 steps and leaves in one call, so
// the events its steps emit are handed out after it left and the rules
// never look at them. In "chain-wait" the chain ends in a pause of a day:
// the participant is waiting when its events are handed out, and every
// rule looks at each of them (two: its entry and its first tag). In
// "tags-wait" each of its 16 tag steps adds a tag of its own, so 17 events
// reach the waiting participant and every rule: the most the rules can
// cost a chain of steps.
func BenchmarkStepsWithRules(b *testing.B) {
	for _, tc := range []struct {
		name  string
		flow  func() *flow.Flow
		steps int
	}{
		{"chain", stepsFlow, stepsChain},
		{"chain-wait", stepsThenWait, stepsChain + 1},
		{"tags-wait", tagsThenWait, stepsChain + 1},
	} {
		b.Run(tc.name+"/plain", func(b *testing.B) {
			eng, _ := benchEngine(b)
			benchSteps(b, eng, tc.flow(), tc.steps)
		})
		b.Run(tc.name+"/rules", func(b *testing.B) {
			eng, _ := benchEngine(b)
			benchSteps(b, eng, withRules(tc.flow()), tc.steps)
		})
	}
}

// stepsThenWait is stepsFlow with a pause of a day after its last step.
func stepsThenWait() *flow.Flow {
	f := stepsFlow()
	last := fmt.Sprint("s", stepsChain-1)
	f.Node(last).Next = flow.Next{"next": "hold"}
	return f.Add("hold", pauseFor(1, segment.Days), nil)
}

// tagsThenWait is stepsThenWait with a tag of its own at each tag step,
// each emitting a TagAdded event.
func tagsThenWait() *flow.Flow {
	f := stepsThenWait()
	for _, n := range f.Elements {
		if t, ok := n.Element.(*kinds.AddTag); ok {
			t.Tag = "t-" + n.ID
		}
	}
	return f
}

// withRules puts BenchmarkStepsWithRules' exit rules and goal on f.
func withRules(f *flow.Flow) *flow.Flow {
	f.ExitRules = []*flow.ExitRule{
		{Name: "stopped", Event: &segment.EventSpec{Category: store.People, Name: store.TagAdded,
			Where: []segment.PropertyCondition{{Property: "tag", Op: segment.Is, Value: "stop"}}}},
		{Name: "unsubscribed", Event: &segment.EventSpec{Category: store.External, Name: "Unsubscribed"}},
		{Name: "opted-out", Unless: &segment.Condition{Tag: "opted-out", Op: segment.HasNot}},
	}
	f.Goals = []*flow.Goal{{Name: "ordered", Event: segment.EventSpec{Category: store.External, Name: "OrderCompleted"}}}
	return f
}

// BenchmarkStepsWithGoals runs BenchmarkSteps' workload on the flow as it
// is ("plain") and with two goals with an attribution window ("goals"):
// one on the TagAdded events the chain emits (whose tag never matches)
// and one on an event it never emits. Nobody converts, so both run the
// same steps and the difference is what goals cost. In "chain" the
// participant leaves in the call that entered it, so its events reach it
// after it left: the goals that count after exit look at each; in
// "chain-wait" it waits, and the goals look at them in the flow.
func BenchmarkStepsWithGoals(b *testing.B) {
	for _, tc := range []struct {
		name  string
		flow  func() *flow.Flow
		steps int
	}{
		{"chain", stepsFlow, stepsChain},
		{"chain-wait", stepsThenWait, stepsChain + 1},
	} {
		b.Run(tc.name+"/plain", func(b *testing.B) {
			eng, _ := benchEngine(b)
			benchSteps(b, eng, tc.flow(), tc.steps)
		})
		b.Run(tc.name+"/goals", func(b *testing.B) {
			eng, _ := benchEngine(b)
			benchSteps(b, eng, withGoals(tc.flow()), tc.steps)
		})
	}
}

// withGoals puts BenchmarkStepsWithGoals' goals on f.
func withGoals(f *flow.Flow) *flow.Flow {
	week := segment.Period{Amount: 7, Unit: segment.Days}
	f.Goals = []*flow.Goal{
		{Name: "tagged", Within: week, Event: segment.EventSpec{Category: store.People, Name: store.TagAdded,
			Where: []segment.PropertyCondition{{Property: "tag", Op: segment.Is, Value: "never"}}}},
		{Name: "ordered", Within: week, Event: segment.EventSpec{Category: store.External, Name: "OrderCompleted"}},
	}
	return f
}
