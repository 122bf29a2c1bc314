package flow_test

import (
	"encoding/json"
	"testing"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// FuzzFormula feeds Publish's checks an arbitrary updateVariable formula
// and an arbitrary segment condition, in a flow document: Parse and
// Validate never panic, and whatever they refuse is refused with
// *flow.ValidationError values naming the element at fault.
func FuzzFormula(f *testing.F) {
	f.Add(`n + 1`, `{"attribute":"firstName","op":"is","value":"Ana"}`)
	f.Add(`person.points / 100 + (plan == "pro" ? 10 : 0)`, `{"all":[{"attribute":"points","op":"greaterThan","value":3},{"tag":"vip","op":"has"}]}`)
	f.Add(`len(person.firstName) * 2`, `{"event":{"category":"external","name":"Paid","where":[{"property":"total","op":"greaterThan","value":10}]},"op":"atLeast","count":2,"within":{"amount":7,"unit":"days"}}`)
	f.Add(`now.Year() > 2000 ? 1 : 0`, `{"not":{"attribute":"birthDate","op":"willBeWithin","value":{"amount":3,"unit":"days"}}}`)
	f.Add(`entry.properties.total ?? 0`, `{"any":[]}`)
	f.Add(`n +`, `{"attribute":"firstName","op":"contanis"}`)
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Schema: store.Schema{"points": store.Number, "plan": store.Text}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, formula, condition string) {
		quoted, _ := json.Marshal(formula)
		doc := `{"id":"f","variables":{"n":{"type":"number"},"plan":{"type":"text"}},"elements":[
		  {"id":"calc","type":"updateVariable","set":[{"variable":"n","formula":` + string(quoted) + `}],"next":{"next":"check"}},
		  {"id":"check","type":"segmentAudience","segments":[{"name":"match","condition":` + condition + `}],"next":{"match":"done","other":"done"}},
		  {"id":"done","type":"exit"}]}`
		fl, err := flow.Parse([]byte(doc))
		if err == nil {
			err = eng.Validate(fl)
		}
		if err == nil {
			return
		}
		ves := flow.ValidationErrors(err)
		if len(ves) == 0 {
			t.Fatalf("error is not a *flow.ValidationError: %v", err)
		}
		for _, ve := range ves {
			if ve.Err == nil {
				t.Fatalf("validation error without a cause: %+v", ve)
			}
		}
	})
}
