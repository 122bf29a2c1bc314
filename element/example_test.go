package element_test

import (
	"context"
	"fmt"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// award is a custom element: it adds Points to the person's points.
type award struct {
	Points float64 `json:"points"`
}

func (*award) Kind() string       { return "loyalty.award" }
func (*award) Branches() []string { return []string{element.BranchNext} }

func (a *award) Validate(*element.Compiler) error {
	if a.Points <= 0 {
		return element.Errorf("points", "points must be positive, got %v", a.Points)
	}
	return nil
}

func (a *award) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	had, _ := r.Person.Get("points")
	total, _ := had.(float64)
	r.SetAttribute("points", total+a.Points) // recorded as an AttributeChanged event
	return element.Next(element.BranchNext, fmt.Sprintf("awarded %v points", a.Points)), nil
}

// A host registers its own kind in its engine's registry, beside the
// built-in kinds; that engine's flows use it by name.
func ExampleRegistry_Register() {
	reg := kinds.Registry()
	if err := reg.Register("loyalty.award", func() element.Element { return &award{} }); err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New(), Elements: reg, Schema: store.Schema{"points": store.Number}})
	f, _ := flow.ParseWith([]byte(`{"id": "welcome", "elements": [
	  {"id": "give", "type": "loyalty.award", "points": 50, "next": {"next": "done"}},
	  {"id": "done", "type": "exit"}]}`), reg)
	_, _ = eng.Publish(ctx, f)
	_ = eng.Activate(ctx, "welcome")
	id, _ := eng.Enter(ctx, "welcome", store.PersonRef{ExternalID: "ann"}, nil)
	p, _ := eng.Participant(ctx, id)
	fmt.Println(p.Journal[0].Reason)
	ann, _ := eng.Person(ctx, store.PersonRef{ExternalID: "ann"})
	fmt.Println(ann.Attributes["points"])

	bad, _ := flow.ParseWith([]byte(`{"id": "bad", "elements": [{"id": "give", "type": "loyalty.award"}]}`), reg)
	_, err := eng.Publish(ctx, bad)
	fmt.Println(err)
	// Output:
	// awarded 50 points
	// 50
	// element "give": points: points must be positive, got 0
}
