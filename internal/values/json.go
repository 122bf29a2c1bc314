package values

import (
	"fmt"
	"time"
)

// JSON has no time type, so values held as `any` (custom attributes,
// variables, wait state, event properties) are encoded with a tag for the
// types JSON would lose:
//
//	time.Time           {"$t": "2030-01-15T09:30:00.000000001Z"}
//	map with one key
//	"$t" or "$o"         {"$o": {...the map...}}
//
// Strings, numbers, bools, lists and other maps are plain JSON. A value of
// any other Go type (stores keep flowkit's types, see store.Type) is
// written as encoding/json writes it and read back as the JSON type it
// became.
const (
	tagTime   = "$t"
	tagObject = "$o"
)

// EncodeJSON returns v as a tree encoding/json writes in the tagged form.
func EncodeJSON(v any) any {
	switch x := v.(type) {
	case time.Time:
		return map[string]string{tagTime: x.UTC().Format(time.RFC3339Nano)}
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = EncodeJSON(e)
		}
		if len(x) == 1 {
			for k := range x {
				if k == tagTime || k == tagObject {
					return map[string]any{tagObject: m}
				}
			}
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = EncodeJSON(e)
		}
		return l
	}
	return v
}

// EncodeJSONMap encodes a value map; nil and empty maps become nil, as
// clone.Map makes them.
func EncodeJSONMap(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = EncodeJSON(v)
	}
	return out
}

// DecodeJSON turns a tree encoding/json read back into flowkit values, in
// place where it can.
func DecodeJSON(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			if s, ok := x[tagTime].(string); ok {
				t, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					return nil, fmt.Errorf("time value %q: %w", s, err)
				}
				return t.UTC(), nil
			}
			if inner, ok := x[tagObject].(map[string]any); ok {
				x = inner
			}
		}
		for k, e := range x {
			d, err := DecodeJSON(e)
			if err != nil {
				return nil, err
			}
			x[k] = d
		}
		return x, nil
	case []any:
		for i, e := range x {
			d, err := DecodeJSON(e)
			if err != nil {
				return nil, err
			}
			x[i] = d
		}
		return x, nil
	}
	return v, nil
}

// DecodeJSONMap decodes a value map read by encoding/json.
func DecodeJSONMap(m map[string]any) (map[string]any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	for k, v := range m {
		d, err := DecodeJSON(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		m[k] = d
	}
	return m, nil
}
