// Package steptest holds the step that the element contract's tests and
// the built-in kinds' tests compile and run expressions against.
package steptest

import (
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Vars and Schema are the declarations the tests compile against; Run
// returns a step that fits them, at Now, for the person PersonID.
var (
	Vars = map[string]store.Type{
		"cartId": store.Text, "query": store.Text, "nick": store.Text, "count": store.Number,
		"total": store.Number, "flag": store.Bool, "due": store.Date, "paidAt": store.DateTime,
		"items": store.List, "meta": store.Object,
	}
	Schema   = store.Schema{"score": store.Number, "vip": store.Bool, "plan": store.Text, "nickname": store.Text}
	Now      = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	PersonID = uuid.MustParse("0190f5e4-0000-7000-8000-000000000001")
)

// Compiler returns a compiler of element "e" of flow "f" with Vars and
// Schema declared.
func Compiler() *element.Compiler {
	return &element.Compiler{FlowID: "f", ElementID: "e", Variables: Vars, Schema: Schema, Location: time.UTC}
}

// Run returns a fresh step of element "e" of flow "f" that fits Vars and
// Schema.
func Run() *element.Run {
	return &element.Run{
		Now: Now, Location: time.UTC, FlowID: "f", ElementID: "e",
		Person: &store.Person{
			ID: PersonID, FirstName: "Ana", City: "Zagreb", TimeZone: "Europe/Zagreb",
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
			ID: "ev-1", Name: "signedUp", Category: store.External, Time: Now.Add(-time.Hour),
			Properties: map[string]any{"plan": "pro", "source": "ad", "seats": 5.0},
		},
	}
}
