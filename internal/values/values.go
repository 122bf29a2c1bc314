// Package values brings Go values to the forms flowkit stores.
package values

import (
	"time"

	"github.com/flowkit/flowkit/store"
)

// Normalize brings a Go value, such as an expression's result or a value
// host code returned, to flowkit's value forms (see store.TypeOf):
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
	if f, ok := store.Float(v); ok { // other Go number kinds
		return f
	}
	return v
}
