// Package clone deep-copies values held in their Go form (see store.Type):
// records, variables and event properties that must not share lists or
// objects with their originals.
package clone

// Value deep-copies lists and objects; other values are immutable and
// returned as they are.
func Value(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return Map(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = Value(e)
		}
		return c
	}
	return v
}

// Map deep-copies a map of values, so that the copy never shares mutable
// state with the original. An empty map copies to nil.
func Map(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = Value(v)
	}
	return c
}
