package store

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
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
// scalar to text (a time in RFC 3339, to the second). A nil v stays nil
// (the empty value). It is Value.Set with the zero ConvertOptions,
// returned in Go form.
func Convert(t Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !t.Valid() {
		return nil, fmt.Errorf("unknown type %q", t)
	}
	var x Value
	if !x.Set(t, v, ConvertOptions{}) {
		if f, num := Float(v); num && t == Number {
			return nil, fmt.Errorf("%v is not a finite number", f)
		}
		return nil, fmt.Errorf("%s value %v (%T) is not a %s", kindOf(v), v, v, t)
	}
	return x.Interface(), nil
}

// Value is a value of one Type held unboxed, so that converting values
// (Set) and reading them allocates nothing.
type Value struct {
	// Type is the value's type; "" for the empty value.
	Type   Type
	Text   string    // a Text
	Number float64   // a Number
	Bool   bool      // a Bool
	Time   time.Time // a Date (midnight UTC) or a DateTime
	Any    any       // a List ([]any) or an Object (map[string]any)
}

// Interface returns the value in its Go form (see the Type constants); nil
// for the empty value.
func (v Value) Interface() any {
	switch v.Type {
	case Text:
		return v.Text
	case Number:
		return v.Number
	case Bool:
		return v.Bool
	case Date, DateTime:
		return v.Time
	case List, Object:
		return v.Any
	}
	return nil
}

// ConvertOptions are the rules of Value.Set that differ by use: the
// zero value converts values to be kept, as Convert does; conditions,
// which compare values, read emptiness and dates their own way.
type ConvertOptions struct {
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
func (z *Value) Set(t Type, v any, o ConvertOptions) bool {
	*z = Value{}
	if v == nil {
		return true
	}
	switch t {
	case Text:
		switch x := v.(type) {
		case string:
			if x != "" || !o.EmptyIsAbsent {
				z.Type, z.Text = Text, x
			}
			return true
		case bool:
			z.Type, z.Text = Text, strconv.FormatBool(x)
			return true
		case time.Time:
			if !x.IsZero() || !o.EmptyIsAbsent {
				z.Type, z.Text = Text, x.Format(time.RFC3339)
			}
			return true
		}
		if f, ok := Float(v); ok {
			z.Type, z.Text = Text, strconv.FormatFloat(f, 'g', -1, 64)
			return true
		}
	case Number:
		if f, ok := Float(v); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
			z.Type, z.Number = Number, f
			return true
		}
	case Bool:
		if b, ok := v.(bool); ok {
			z.Type, z.Bool = Bool, b
			return true
		}
	case Date:
		switch x := v.(type) {
		case time.Time:
			if !x.IsZero() || !o.EmptyIsAbsent {
				z.Type, z.Time = Date, DateOf(x)
			}
			return true
		case string:
			if x == "" && o.EmptyIsAbsent {
				return true
			}
			if d, err := time.Parse(time.DateOnly, x); err == nil {
				z.Type, z.Time = Date, d
				return true
			}
			if d, err := time.Parse(time.RFC3339, x); err == nil {
				z.Type, z.Time = Date, DateOf(d)
				return true
			}
		}
	case DateTime:
		switch x := v.(type) {
		case time.Time:
			if !x.IsZero() || !o.EmptyIsAbsent {
				z.Type, z.Time = DateTime, x
			}
			return true
		case string:
			if x == "" && o.EmptyIsAbsent {
				return true
			}
			if d, err := time.Parse(time.RFC3339Nano, x); err == nil {
				z.Type, z.Time = DateTime, d
				return true
			}
			if o.DatesStayDates {
				if d, err := time.Parse(time.DateOnly, x); err == nil {
					z.Type, z.Time = Date, d
					return true
				}
			}
		}
	case List:
		if l, ok := v.([]any); ok {
			if len(l) > 0 || !o.EmptyIsAbsent {
				z.Type, z.Any = List, l
			}
			return true
		}
	case Object:
		if m, ok := v.(map[string]any); ok {
			if len(m) > 0 || !o.EmptyIsAbsent {
				z.Type, z.Any = Object, m
			}
			return true
		}
	case "":
		switch v.(type) {
		case string:
			return z.Set(Text, v, o)
		case bool:
			return z.Set(Bool, v, o)
		case time.Time:
			return z.Set(DateTime, v, o)
		case []any:
			return z.Set(List, v, o)
		case map[string]any:
			return z.Set(Object, v, o)
		}
		return z.Set(Number, v, o)
	}
	return false
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
