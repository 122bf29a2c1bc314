package values

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/flowkit/flowkit/store"
)

// Convert returns v as a value of type t, converting where the meaning is
// unambiguous: numbers from any Go integer or float kind, dates and
// date-times from RFC 3339 strings (a date also from "2006-01-02"), and any
// scalar to text (a time in RFC 3339, to the second). A nil v stays nil
// (the empty value). It is Value.Set with the zero Options,
// returned in Go form.
func Convert(t store.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !t.Valid() {
		return nil, fmt.Errorf("unknown type %q", t)
	}
	var x Value
	if !x.Set(t, v, Options{}) {
		if f, num := Float(v); num && t == store.Number {
			return nil, fmt.Errorf("%v is not a finite number", f)
		}
		return nil, fmt.Errorf("%s value %v (%T) is not a %s", kindOf(v), v, v, t)
	}
	return x.Interface(), nil
}

// Value is a value of one store.Type held unboxed, so that converting values
// (Set) and reading them allocates nothing.
type Value struct {
	// Type is the value's type; "" for the empty value.
	Type   store.Type
	Text   string    // a Text
	Number float64   // a Number
	Bool   bool      // a Bool
	Time   time.Time // a Date (midnight UTC) or a DateTime
	Any    any       // a List ([]any) or an Object (map[string]any)
}

// Interface returns the value in its Go form (see the store.Type constants); nil
// for the empty value.
func (v Value) Interface() any {
	switch v.Type {
	case store.Text:
		return v.Text
	case store.Number:
		return v.Number
	case store.Bool:
		return v.Bool
	case store.Date, store.DateTime:
		return v.Time
	case store.List, store.Object:
		return v.Any
	}
	return nil
}

// Options are the rules of Value.Set that differ by use: the
// zero value converts values to be kept, as Convert does; conditions,
// which compare values, read emptiness and dates their own way.
type Options struct {
	// EmptyIsAbsent reads an empty text, list or object and a zero time
	// as the empty value (Type ""): an empty city is no city. Without it
	// they keep their type, and "" is no Date or DateTime.
	EmptyIsAbsent bool
	// DatesStayDates reads a date-only text ("2026-03-02") wanted as a
	// DateTime as a Date, which a condition compares by calendar day.
	// Without it that text is no DateTime.
	DatesStayDates bool
}

// Set makes z the value v, given in its Go form, converted to type t by
// the rules Convert documents, amended by o. t "" keeps v's own type (a
// number of any Go kind is a Number, a time a DateTime). Set reports false,
// leaving z the empty value, when v is not nil and has no value of type t,
// such as text that is no number, NaN, or a list wanted as text; a nil v
// is the empty value. It allocates nothing.
func (z *Value) Set(t store.Type, v any, o Options) bool {
	*z = Value{}
	if v == nil {
		return true
	}
	switch t {
	case store.Text:
		switch x := v.(type) {
		case string:
			if x != "" || !o.EmptyIsAbsent {
				z.Type, z.Text = store.Text, x
			}
			return true
		case bool:
			z.Type, z.Text = store.Text, strconv.FormatBool(x)
			return true
		case time.Time:
			if !x.IsZero() || !o.EmptyIsAbsent {
				z.Type, z.Text = store.Text, x.Format(time.RFC3339)
			}
			return true
		}
		if f, ok := Float(v); ok {
			z.Type, z.Text = store.Text, strconv.FormatFloat(f, 'g', -1, 64)
			return true
		}
	case store.Number:
		if f, ok := Float(v); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
			z.Type, z.Number = store.Number, f
			return true
		}
	case store.Bool:
		if b, ok := v.(bool); ok {
			z.Type, z.Bool = store.Bool, b
			return true
		}
	case store.Date:
		switch x := v.(type) {
		case time.Time:
			if !x.IsZero() || !o.EmptyIsAbsent {
				z.Type, z.Time = store.Date, DateOf(x)
			}
			return true
		case string:
			if x == "" && o.EmptyIsAbsent {
				return true
			}
			if d, err := time.Parse(time.DateOnly, x); err == nil {
				z.Type, z.Time = store.Date, d
				return true
			}
			if d, err := time.Parse(time.RFC3339, x); err == nil {
				z.Type, z.Time = store.Date, DateOf(d)
				return true
			}
		}
	case store.DateTime:
		switch x := v.(type) {
		case time.Time:
			if !x.IsZero() || !o.EmptyIsAbsent {
				z.Type, z.Time = store.DateTime, x
			}
			return true
		case string:
			if x == "" && o.EmptyIsAbsent {
				return true
			}
			if d, err := time.Parse(time.RFC3339Nano, x); err == nil {
				z.Type, z.Time = store.DateTime, d
				return true
			}
			if o.DatesStayDates {
				if d, err := time.Parse(time.DateOnly, x); err == nil {
					z.Type, z.Time = store.Date, d
					return true
				}
			}
		}
	case store.List:
		if l, ok := v.([]any); ok {
			if len(l) > 0 || !o.EmptyIsAbsent {
				z.Type, z.Any = store.List, l
			}
			return true
		}
	case store.Object:
		if m, ok := v.(map[string]any); ok {
			if len(m) > 0 || !o.EmptyIsAbsent {
				z.Type, z.Any = store.Object, m
			}
			return true
		}
	case "":
		switch v.(type) {
		case string:
			return z.Set(store.Text, v, o)
		case bool:
			return z.Set(store.Bool, v, o)
		case time.Time:
			return z.Set(store.DateTime, v, o)
		case []any:
			return z.Set(store.List, v, o)
		case map[string]any:
			return z.Set(store.Object, v, o)
		}
		return z.Set(store.Number, v, o)
	}
	return false
}

// TypeOf returns the store.Type of a value held in its Go form, and false for a
// value of no flowkit type (nil included).
func TypeOf(v any) (store.Type, bool) {
	switch v.(type) {
	case string:
		return store.Text, true
	case float64:
		return store.Number, true
	case bool:
		return store.Bool, true
	case time.Time:
		return store.DateTime, true
	case []any:
		return store.List, true
	case map[string]any:
		return store.Object, true
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
func Zero(t store.Type) any {
	switch t {
	case store.Text:
		return ""
	case store.Number:
		return 0.0
	case store.Bool:
		return false
	case store.Date, store.DateTime:
		return time.Time{}
	case store.List:
		return []any{}
	case store.Object:
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
