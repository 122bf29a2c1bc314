package kinds_test

import (
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/steprun"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// exprVars and exprSchema are the declarations the expression tests
// compile against; exprRun is a step that fits them.
var (
	exprVars = map[string]store.Type{
		"cartId": store.Text, "query": store.Text, "nick": store.Text, "count": store.Number,
		"total": store.Number, "flag": store.Bool, "due": store.Date, "paidAt": store.DateTime,
		"items": store.List, "meta": store.Object,
	}
	exprSchema = store.Schema{"score": store.Number, "vip": store.Bool, "plan": store.Text, "nickname": store.Text}
	exprNow    = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	exprPerson = uuid.MustParse("0190f5e4-0000-7000-8000-000000000001")
)

func exprCompiler() *element.Compiler {
	return &element.Compiler{FlowID: "f", ElementID: "e", Variables: exprVars, Schema: exprSchema, Location: time.UTC}
}

func exprRun() *element.Run {
	return &element.Run{
		Now: exprNow, Location: time.UTC, FlowID: "f", ElementID: "e",
		Person: &store.Person{
			ID: exprPerson, FirstName: "Ana", City: "Zagreb", TimeZone: "Europe/Zagreb",
			BirthDate:  time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC),
			Attributes: map[string]any{"score": 42.0, "vip": true, "plan": "pro"},
			Tags:       []string{"beta", "new"}, Emails: []string{"ana@example.com"},
		},
		Vars: map[string]any{
			"cartId": "c-17", "query": "rock & roll/50%", "nick": `Ann "The" \ Lee`, "count": 3.0, "total": 19.99, "flag": true,
			"due": time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), "paidAt": time.Date(2026, 3, 1, 18, 5, 0, 0, time.UTC),
			"items": []any{"x", "y"}, "meta": map[string]any{"k": "v"},
		},
		Entry: &store.Event{
			ID: "ev-1", Name: "signedUp", Category: store.External, Time: exprNow.Add(-time.Hour),
			Properties: map[string]any{"plan": "pro", "source": "ad", "seats": 5.0},
		},
	}
}

// services returns the services a test step lends its kind.
func services(r *element.Run) *kinds.Services { return r.Services.(*kinds.Services) }

// runOps read back what a test step recorded, as the engine does.
var runOps = steprun.Get[element.Run, element.Outcome]()
