// Package values holds how flowkit reads and converts values of its types
// (store.Type): Go values brought to the forms flowkit stores, conversion
// between types, comparison, and the standard attributes of a person. The
// engine, the kinds and the conditions share it; it is no part of the
// Store port.
package values

import (
	"time"

	"github.com/flowkit/flowkit/store"
)

// Normalize brings a Go value, such as an expression's result or a value
// host code returned, to flowkit's value forms (see TypeOf):
// numbers of any Go kind as float64, durations as seconds, lists as []any,
// inside lists and objects too. It changes lists and objects in place.
func Normalize(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float32:
		return float64(x)
	case time.Duration:
		return x.Seconds()
	case []any:
		for i := range x {
			x[i] = Normalize(x[i])
		}
		return x
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return l
	case map[string]any:
		for k, e := range x {
			x[k] = Normalize(e)
		}
		return x
	}
	if f, ok := Float(v); ok { // other Go number kinds
		return f
	}
	return v
}

// Person returns a person as formulas and conversation contexts see them:
// their attributes, standard ones included, and id, tags, phones and
// emails; an empty map for nil.
func Person(p *store.Person) map[string]any {
	m := map[string]any{}
	if p == nil {
		return m
	}
	for name := range StandardAttributes {
		if v, ok := p.Get(name); ok {
			m[name] = v
		}
	}
	for k, v := range p.Attributes {
		m[k] = v
	}
	m["id"] = p.ID.String()
	m["tags"] = list(p.Tags)
	m["phones"] = list(p.Phones)
	m["emails"] = list(p.Emails)
	return m
}

func list(s []string) []any {
	l := make([]any, len(s))
	for i, v := range s {
		l[i] = v
	}
	return l
}
