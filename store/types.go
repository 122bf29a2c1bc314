package store

import (
	"fmt"
	"math"
	"reflect"
	"time"
)

// Type is the type of a person attribute, a flow variable or an event
// property.
type Type string

// The value types. Values are held in Go as: Text string, Number float64,
// Bool bool, Date time.Time at midnight UTC (only the calendar day counts),
// DateTime time.Time, List []any, Object map[string]any.
const (
	Text     Type = "text"
	Number   Type = "number"
	Bool     Type = "bool"
	Date     Type = "date"
	DateTime Type = "datetime"
	List     Type = "list"
	Object   Type = "object"
)

// Valid reports whether t is one of the defined types.
func (t Type) Valid() bool {
	switch t {
	case Text, Number, Bool, Date, DateTime, List, Object:
		return true
	}
	return false
}

// Convert returns v as a value of type t, converting where the meaning is
// unambiguous: numbers from any Go integer or float kind, dates and
// date-times from RFC 3339 strings (a date also from "2006-01-02"), and any
// scalar to text. A nil v stays nil (the empty value).
func Convert(t Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	case Text:
		switch x := v.(type) {
		case string:
			return x, nil
		case float64:
			return fmt.Sprint(x), nil
		case bool:
			return fmt.Sprint(x), nil
		case time.Time:
			return x.Format(time.RFC3339), nil
		}
		if f, ok := Float(v); ok {
			return fmt.Sprint(f), nil
		}
	case Number:
		if f, ok := Float(v); ok {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%v is not a finite number", f)
			}
			return f, nil
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Date:
		switch x := v.(type) {
		case time.Time:
			return DateOf(x), nil
		case string:
			if d, err := time.Parse(time.DateOnly, x); err == nil {
				return d, nil
			}
			if d, err := time.Parse(time.RFC3339, x); err == nil {
				return DateOf(d), nil
			}
		}
	case DateTime:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			if d, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return d, nil
			}
		}
	case List:
		if l, ok := v.([]any); ok {
			return l, nil
		}
	case Object:
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
	default:
		return nil, fmt.Errorf("unknown type %q", t)
	}
	return nil, fmt.Errorf("%s value %v (%T) is not a %s", kindOf(v), v, v, t)
}

// TypeOf returns the Type of a value held in its Go form, and false for a
// value of no flowkit type (nil included).
func TypeOf(v any) (Type, bool) {
	switch v.(type) {
	case string:
		return Text, true
	case float64:
		return Number, true
	case bool:
		return Bool, true
	case time.Time:
		return DateTime, true
	case []any:
		return List, true
	case map[string]any:
		return Object, true
	}
	return "", false
}

// DateOf returns the calendar day of t (in t's location) as a Date value:
// midnight UTC of that day.
func DateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Float returns a Go number of any integer or float kind as a float64,
// and false for anything else.
func Float(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

func kindOf(v any) string {
	if t, ok := TypeOf(v); ok {
		return string(t)
	}
	return "unsupported"
}

// Zero returns the empty value of a type in its Go form: "", 0, false, the
// zero time, an empty list or object; nil for an unknown type.
func Zero(t Type) any {
	switch t {
	case Text:
		return ""
	case Number:
		return 0.0
	case Bool:
		return false
	case Date, DateTime:
		return time.Time{}
	case List:
		return []any{}
	case Object:
		return map[string]any{}
	}
	return nil
}

// Equal reports whether two values in their Go form are the same value:
// times are compared as instants, lists and objects deeply, nil only
// equals nil.
func Equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return reflect.DeepEqual(a, b)
}
