package segment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/flowkit/flowkit/store"
)

// Parse decodes a condition from its JSON form. It refuses unknown fields and
// fields of the wrong JSON type, naming where they are in a *ConditionError;
// it does not check attribute names or operators, which is Compile's job.
// A "value" object with exactly the fields "amount" (a whole number) and
// "unit" decodes as a Period; other numbers decode as float64.
func Parse(data []byte) (Condition, error) {
	v, err := decodeTree(data)
	if err != nil {
		return Condition{}, err
	}
	return condFromTree(v, "", 1)
}

// UnmarshalJSON decodes c as Parse does; null leaves c unchanged.
func (c *Condition) UnmarshalJSON(data []byte) error {
	if isNull(data) {
		return nil
	}
	x, err := Parse(data)
	if err != nil {
		return err
	}
	*c = x
	return nil
}

// conditionJSON is a Condition's leaf fields, with count as a pointer so
// that a count of 0 survives a round trip; writeJSON writes its groups,
// empty ones included (which match everyone or no one).
type conditionJSON struct {
	Attribute      string     `json:"attribute,omitempty"`
	Tag            string     `json:"tag,omitempty"`
	Contact        string     `json:"contact,omitempty"`
	LastContacted  string     `json:"lastContacted,omitempty"`
	Event          *EventSpec `json:"event,omitempty"`
	Op             Op         `json:"op,omitempty"`
	Value          any        `json:"value,omitempty"`
	Count          *int       `json:"count,omitempty"`
	Within         *Period    `json:"within,omitempty"`
	SinceEntry     bool       `json:"sinceEntry,omitempty"`
	PersonTimeZone bool       `json:"personTimeZone,omitempty"`
}

// MarshalJSON encodes c in the form Parse reads. It refuses a condition
// nested deeper than MaxDepth (a cyclic one included) with a
// *ConditionError.
//
// The nested conditions are written into one buffer rather than each by
// its own MarshalJSON call, since encoding/json checks every byte a
// MarshalJSON returns: a condition n deep would cost n²/2.
func (c Condition) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := c.writeJSON(&b, 1); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeJSON writes c, at depth, to b: its leaves through conditionJSON,
// its groups and "not" in place. Its *ConditionError's path is made on
// the way back, so that writing costs no path per level.
func (c *Condition) writeJSON(b *bytes.Buffer, depth int) error {
	if depth > MaxDepth {
		return &ConditionError{Err: errTooDeep}
	}
	j := conditionJSON{
		Attribute: c.Attribute, Tag: c.Tag, Contact: c.Contact,
		LastContacted: c.LastContacted, Event: c.Event, Op: c.Op, Value: c.Value,
		Within: c.Within, SinceEntry: c.SinceEntry, PersonTimeZone: c.PersonTimeZone,
	}
	if c.Count != 0 || c.Op == AtLeast || c.Op == AtMost {
		j.Count = &c.Count
	}
	leaves, err := json.Marshal(j)
	if err != nil {
		return err
	}
	b.WriteByte('{')
	first := true
	sep := func(key string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(`"` + key + `":`)
	}
	for _, g := range []struct {
		key  string
		list []Condition
	}{{groupAll, c.All}, {groupAny, c.Any}} {
		if g.list == nil {
			continue
		}
		sep(g.key)
		b.WriteByte('[')
		for i := range g.list {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := g.list[i].writeJSON(b, depth+1); err != nil {
				return under(g.key+"["+strconv.Itoa(i)+"]", err)
			}
		}
		b.WriteByte(']')
	}
	if c.Not != nil {
		sep("not")
		if err := c.Not.writeJSON(b, depth+1); err != nil {
			return under("not", err)
		}
	}
	if inner := leaves[1 : len(leaves)-1]; len(inner) > 0 {
		if !first {
			b.WriteByte(',')
		}
		b.Write(inner)
	}
	b.WriteByte('}')
	return nil
}

// UnmarshalJSON decodes an event selection strictly, as Parse does.
func (e *EventSpec) UnmarshalJSON(data []byte) error {
	if isNull(data) {
		return nil
	}
	v, err := decodeTree(data)
	if err != nil {
		return err
	}
	x, err := eventFromTree(v, "")
	if err != nil {
		return err
	}
	*e = *x
	return nil
}

// UnmarshalJSON decodes a property condition strictly, as Parse does.
func (p *PropertyCondition) UnmarshalJSON(data []byte) error {
	if isNull(data) {
		return nil
	}
	v, err := decodeTree(data)
	if err != nil {
		return err
	}
	x, err := propFromTree(v, "")
	if err != nil {
		return err
	}
	*p = x
	return nil
}

// UnmarshalJSON decodes a period strictly: {"amount":7,"unit":"days"},
// refusing other fields, with encoding/json's errors (so that a document
// holding the period names the field at fault).
func (p *Period) UnmarshalJSON(data []byte) error {
	if isNull(data) {
		return nil
	}
	type plain Period
	var x plain
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&x); err != nil {
		return err
	}
	*p = Period(x)
	return nil
}

// isNull reports whether data is JSON null, which an UnmarshalJSON method
// takes as "no change", as encoding/json does.
func isNull(data []byte) bool { return string(bytes.TrimSpace(data)) == "null" }

// maxJSONDepth is the deepest JSON nesting a condition of MaxDepth
// levels may take: two per level (an "all" array and its object), and a
// few for an event's property conditions and their values.
const maxJSONDepth = 2*MaxDepth + 16

// decodeTree decodes one JSON value, keeping numbers exact. It refuses a
// value nested deeper than any condition may be before decoding it.
func decodeTree(data []byte) (any, error) {
	if jsonDepthOver(data, maxJSONDepth) {
		return nil, &ConditionError{Err: errTooDeep}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &ConditionError{Err: fmt.Errorf("invalid json: %w", err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ConditionError{Err: errors.New("invalid json: data after the condition")}
	}
	return v, nil
}

// jsonDepthOver reports whether data nests arrays and objects deeper
// than limit, in one pass over its bytes. It does not check the syntax.
func jsonDepthOver(data []byte, limit int) bool {
	depth, inString := 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > limit {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

// under puts a *ConditionError of a nested condition under elem of its
// parent's path.
func under(elem string, err error) error {
	if ce, ok := err.(*ConditionError); ok {
		if ce.Path == "" {
			ce.Path = elem
		} else {
			ce.Path = elem + "." + ce.Path
		}
	}
	return err
}

func joinPath(path, elem string) string {
	if path == "" {
		return elem
	}
	return path + "." + elem
}

func pathErr(path string, format string, args ...any) error {
	return &ConditionError{Path: path, Err: fmt.Errorf(format, args...)}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func object(v any, path, what string) (map[string]any, []string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil, pathErr(path, "%s must be an object, not %s", what, jsonKind(v))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return m, keys, nil
}

func str(v any, path, field string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", pathErr(path, "%q must be a string, not %s", field, jsonKind(v))
	}
	return s, nil
}

func boolean(v any, path, field string) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, pathErr(path, "%q must be a boolean, not %s", field, jsonKind(v))
	}
	return b, nil
}

func whole(v any, path, field string) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, pathErr(path, "%q must be a number, not %s", field, jsonKind(v))
	}
	i, err := strconv.Atoi(string(n))
	if err != nil {
		return 0, pathErr(path, "%q must be a whole number, not %s", field, n)
	}
	return i, nil
}

func condFromTree(v any, path string, depth int) (Condition, error) {
	var c Condition
	if depth > MaxDepth {
		// Refused before going deeper: each level's path is longer than
		// the last, so walking on would cost the square of the depth.
		return c, &ConditionError{Path: path, Err: errTooDeep}
	}
	m, keys, err := object(v, path, "condition")
	if err != nil {
		return c, err
	}
	for _, k := range keys {
		x := m[k]
		if x == nil {
			continue // null is absent
		}
		switch k {
		case "all", "any":
			l, ok := x.([]any)
			if !ok {
				return c, pathErr(path, "%q must be an array, not %s", k, jsonKind(x))
			}
			cs := make([]Condition, len(l))
			for i, e := range l {
				if cs[i], err = condFromTree(e, joinPath(path, k+"["+strconv.Itoa(i)+"]"), depth+1); err != nil {
					return c, err
				}
			}
			if k == "all" {
				c.All = cs
			} else {
				c.Any = cs
			}
		case "not":
			n, err := condFromTree(x, joinPath(path, "not"), depth+1)
			if err != nil {
				return c, err
			}
			c.Not = &n
		case "attribute":
			c.Attribute, err = str(x, path, k)
		case "tag":
			c.Tag, err = str(x, path, k)
		case "contact":
			c.Contact, err = str(x, path, k)
		case "lastContacted":
			c.LastContacted, err = str(x, path, k)
		case "event":
			c.Event, err = eventFromTree(x, joinPath(path, "event"))
		case "op":
			var s string
			s, err = str(x, path, k)
			c.Op = Op(s)
		case "value":
			c.Value, err = valueFromTree(x, path)
		case "count":
			c.Count, err = whole(x, path, k)
		case "within":
			var p Period
			p, err = periodFromTree(x, joinPath(path, "within"))
			c.Within = &p
		case "sinceEntry":
			c.SinceEntry, err = boolean(x, path, k)
		case "personTimeZone":
			c.PersonTimeZone, err = boolean(x, path, k)
		default:
			return c, pathErr(path, "unknown field %q", k)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

func eventFromTree(v any, path string) (*EventSpec, error) {
	m, keys, err := object(v, path, "event")
	if err != nil {
		return nil, err
	}
	e := &EventSpec{}
	for _, k := range keys {
		x := m[k]
		if x == nil {
			continue
		}
		switch k {
		case "category":
			var s string
			s, err = str(x, path, k)
			e.Category = store.Category(s)
		case "name":
			e.Name, err = str(x, path, k)
		case "where":
			l, ok := x.([]any)
			if !ok {
				return nil, pathErr(path, "%q must be an array, not %s", k, jsonKind(x))
			}
			for i, p := range l {
				pc, err := propFromTree(p, joinPath(path, "where["+strconv.Itoa(i)+"]"))
				if err != nil {
					return nil, err
				}
				e.Where = append(e.Where, pc)
			}
		default:
			return nil, pathErr(path, "unknown field %q", k)
		}
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

func propFromTree(v any, path string) (PropertyCondition, error) {
	var p PropertyCondition
	m, keys, err := object(v, path, "property condition")
	if err != nil {
		return p, err
	}
	for _, k := range keys {
		x := m[k]
		if x == nil {
			continue
		}
		switch k {
		case "property":
			p.Property, err = str(x, path, k)
		case "op":
			var s string
			s, err = str(x, path, k)
			p.Op = Op(s)
		case "value":
			p.Value, err = valueFromTree(x, path)
		case "type":
			var s string
			s, err = str(x, path, k)
			p.Type = store.Type(s)
		case "personTimeZone":
			p.PersonTimeZone, err = boolean(x, path, k)
		default:
			return p, pathErr(path, "unknown field %q", k)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func periodFromTree(v any, path string) (Period, error) {
	var p Period
	m, keys, err := object(v, path, "period")
	if err != nil {
		return p, err
	}
	for _, k := range keys {
		x := m[k]
		switch k {
		case "amount":
			p.Amount, err = whole(x, path, k)
		case "unit":
			var s string
			s, err = str(x, path, k)
			p.Unit = Unit(s)
		default:
			return p, pathErr(path, "unknown field %q in period", k)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

// valueFromTree turns a decoded JSON value into a condition value: a Period
// for an {"amount","unit"} object, float64 for numbers.
func valueFromTree(v any, path string) (any, error) {
	if m, ok := v.(map[string]any); ok && len(m) == 2 {
		if _, ok := m["amount"].(json.Number); ok {
			if _, ok := m["unit"].(string); ok {
				return periodFromTree(m, joinPath(path, "value"))
			}
		}
	}
	return plain(v, path)
}

func plain(v any, path string) (any, error) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, pathErr(path, "number %s is out of range", x)
		}
		return f, nil
	case []any:
		for i, e := range x {
			p, err := plain(e, path)
			if err != nil {
				return nil, err
			}
			x[i] = p
		}
	case map[string]any:
		for k, e := range x {
			p, err := plain(e, path)
			if err != nil {
				return nil, err
			}
			x[k] = p
		}
	}
	return v, nil
}
