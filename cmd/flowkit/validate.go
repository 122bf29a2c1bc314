package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/internal/suggest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// Problem is one thing wrong with a flow document, where it is.
type Problem struct {
	Line, Col int
	ElementID string // "" for the flow's own settings
	Field     string
	Message   string
}

// String formats the problem as FILE:LINE:COL: element "id" field: message.
func (p Problem) String(file string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", file, p.Line, p.Col)
	if p.ElementID != "" {
		fmt.Fprintf(&b, "element %q", p.ElementID)
		if p.Field != "" {
			b.WriteByte(' ')
		}
	}
	if p.Field != "" {
		b.WriteString(p.Field)
	}
	if p.ElementID != "" || p.Field != "" {
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// checker finds every problem of one document.
type checker struct {
	data     []byte
	root     *jvalue
	problems []Problem
}

func (c *checker) add(off int, elementID, field, msg string) {
	line, col := lineCol(c.data, off)
	// One problem, one line: expression errors add the source and a
	// caret below, which the position already gives.
	msg, _, _ = strings.Cut(msg, "\n")
	c.problems = append(c.problems, Problem{Line: line, Col: col, ElementID: elementID, Field: field, Message: msg})
}

// validateDocument returns every problem of a flow document, in document
// order: JSON syntax, then what flow.Parse refuses (unknown fields with
// the nearest known name, wrong JSON types, unknown element kinds), then
// what the engine's Validate refuses (the same checks Publish makes). An
// element that cannot be decoded stands in as an exit with its branches,
// so that the rest of the flow is still checked. It reports nothing only
// when flow.Parse and Engine.Validate both accept the document.
func validateDocument(data []byte, schema store.Schema) []Problem {
	c := &checker{data: data}
	root, err := parseJSON(data)
	if err != nil {
		var se *syntaxError
		errors.As(err, &se)
		c.add(se.offset, "", "", "invalid JSON: "+se.msg)
		return c.problems
	}
	c.root = root
	if root.kind != '{' {
		c.add(root.start, "", "", "a flow document is a JSON object, not "+root.describe())
		return c.problems
	}
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Schema: schema})
	if err != nil {
		c.add(0, "", "", err.Error())
		return c.problems
	}
	f, skip := c.decode()
	if len(c.problems) == 0 {
		// Nothing refused piecewise: the document as flow.Parse reads it
		// is the one checked, so that the command and Publish agree.
		pf, err := flow.Parse(data)
		if err != nil {
			c.addErr(err, skipped{})
			return c.problems
		}
		f = pf
	}
	c.addErr(eng.Validate(f), skip)
	c.standInTargets(f, skip)
	slices.SortStableFunc(c.problems, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return c.problems
}

// standInTargets reports the branches of elements that did not decode
// (whose problems the engine's checks leave out, as the stand-ins hide
// them) that lead to elements the document does not have, so that a
// bad field does not hide a dangling target.
func (c *checker) standInTargets(f *flow.Flow, skip skipped) {
	if len(skip.elements) == 0 {
		return
	}
	ids := map[string]bool{}
	for _, n := range f.Elements {
		if n != nil {
			ids[n.ID] = true
		}
	}
	for i, n := range f.Elements {
		if !skip.elements[i] || n == nil {
			continue
		}
		for _, branch := range slices.Sorted(maps.Keys(n.Next)) {
			target := n.Next[branch]
			if target == "" || ids[target] {
				continue
			}
			id := n.ID
			if skip.ids[id] {
				id = ""
			}
			field := "next." + branch
			c.add(c.element(i).locate(field), id, field, fmt.Sprintf("target element %q does not exist%s", target, suggest.DidYouMean(target, slices.Sorted(maps.Keys(ids)))))
		}
	}
	slices.SortStableFunc(c.problems, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
}

// skipped says which validation problems are consequences of pieces the
// decoding step already reported.
type skipped struct {
	elements map[int]bool    // element indexes that stand in for bad ones
	fields   map[string]bool // flow fields that did not decode
	ids      map[string]bool // ids made up for stand-ins without one
}

// decode reads the document piece by piece, as flow.Parse does, reporting
// every piece it refuses instead of the first.
func (c *checker) decode() (*flow.Flow, skipped) {
	skip := skipped{elements: map[int]bool{}, fields: map[string]bool{}, ids: map[string]bool{}}
	known := jsonFields(reflect.TypeFor[flow.Flow]())
	head := map[string]json.RawMessage{}
	var elements *jvalue
	for _, m := range c.root.members {
		switch {
		case m.key == "elements":
			elements = m.value
			continue
		case !slices.Contains(known, m.key) && !slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, m.key) }):
			c.add(m.keyPos, "", m.key, unknownField(m.key, known))
			continue
		}
		one, _ := json.Marshal(map[string]json.RawMessage{m.key: m.value.raw(c.data)})
		var probe flow.Flow
		if err := strictDecode(one, &probe); err != nil {
			skip.fields[m.key] = true
			c.decodeErr(m.value, "", m.key, known, err)
			continue
		}
		head[m.key] = m.value.raw(c.data)
	}
	doc, _ := json.Marshal(head)
	f := &flow.Flow{}
	if err := strictDecode(doc, f); err != nil {
		c.add(c.root.start, "", "", err.Error()) // decoded piece by piece above
	}
	if elements == nil {
		return f, skip
	}
	if elements.kind != '[' {
		skip.fields["elements"] = true
		c.add(elements.start, "", "elements", "elements must be an array, not "+elements.describe())
		return f, skip
	}
	for i, ev := range elements.items {
		n, ok := c.decodeElement(i, ev)
		if !ok {
			skip.elements[i] = true
			if n.ID == "" {
				// No document can use this id: it keeps the stand-in
				// through the engine's copy of the flow.
				n.ID = fmt.Sprintf("\x00elements[%d]", i)
				skip.ids[n.ID] = true
			}
		}
		f.Elements = append(f.Elements, n)
	}
	return f, skip
}

// decodeElement decodes one element. An unknown field at the element's
// top level is reported and left out, so that the element's other
// problems are found too; any other refusal makes the element a stand-in.
func (c *checker) decodeElement(i int, ev *jvalue) (*flow.Node, bool) {
	if ev.kind != '{' {
		c.add(ev.start, "", fmt.Sprintf("elements[%d]", i), "an element is a JSON object, not "+ev.describe())
		return &flow.Node{Element: &kinds.Exit{}}, false
	}
	fields := map[string]json.RawMessage{}
	for _, m := range ev.members {
		fields[m.key] = m.value.raw(c.data)
	}
	var id, kind string
	_ = json.Unmarshal(fields["id"], &id)
	_ = json.Unmarshal(fields["type"], &kind)
	for range len(ev.members) + 1 {
		raw, _ := json.Marshal(fields)
		var n flow.Node
		err := json.Unmarshal(raw, &n)
		if err == nil {
			return &n, true
		}
		var ve *flow.ValidationError
		errors.As(err, &ve)
		name, unknown := unknownName(err)
		if _, top := fields[name]; unknown && top && name != "id" && name != "type" {
			m, _ := ev.member(name)
			c.add(m.keyPos, id, name, unknownField(name, elementFields(kind)))
			delete(fields, name)
			continue
		}
		field := ""
		if id == "" {
			// Without an id the element is named by its place.
			field = fmt.Sprintf("elements[%d]", i)
			if ve != nil && ve.Field != "" {
				field += "." + ve.Field
				err = ve.Err
			}
		}
		c.decodeErr(ev, id, field, elementFields(kind), err)
		break
	}
	// A stand-in keeps the element's id and branches, so that references
	// to it and the elements it leads to are checked as written.
	var next flow.Next
	_ = json.Unmarshal(fields["next"], &next)
	return &flow.Node{ID: id, Element: &kinds.Exit{}, Next: next}, false
}

// decodeErr reports a decoding error of the value v (an element, or one
// of the flow's settings), naming field unless the error names its own.
// An unknown field gets the nearest of candidates as a suggestion.
func (c *checker) decodeErr(v *jvalue, elementID, field string, candidates []string, err error) {
	msg := err.Error()
	var ve *flow.ValidationError
	if errors.As(err, &ve) {
		msg = ve.Err.Error()
		if ve.Field != "" {
			field = ve.Field
		}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		msg = fmt.Sprintf("json %s cannot be read as %s", te.Value, te.Type)
		if te.Field != "" {
			field = te.Field
		}
	}
	msg = strings.TrimPrefix(msg, "json: ")
	pos := v.start
	// An error that quotes the value it refuses ("time of day \"9am\"
	// is not HH:MM") names no field: the value's place in v names it.
	if q := quotedRE.FindStringSubmatch(msg); q != nil && te == nil && (ve == nil || ve.Field == "") {
		var text string
		if json.Unmarshal([]byte(`"`+q[1]+`"`), &text) == nil {
			if path, at, ok := v.findValue(c.data, text); ok && path != "" {
				switch {
				case v == c.root:
					field = path
				case field == "" || !strings.Contains(path, field):
					if field != "" && !strings.HasPrefix(path, "[") {
						field += "."
					}
					field += path
				default:
					field = path
				}
				c.add(at, elementID, field, msg)
				return
			}
		}
	}
	switch name, unknown := unknownName(err); {
	case unknown:
		if p, found := v.find(name); found {
			pos = p
		}
		msg = unknownField(name, candidates)
		if field == "" {
			field = name
		}
	case elementID != "" || v != c.root && field != "" && strings.Contains(field, "."):
		if elementID != "" {
			pos = v.locate(field)
		} else {
			pos = c.root.locate(field)
		}
	}
	c.add(pos, elementID, field, msg)
}

// addErr reports the problems of a Parse or Validate error, located in the
// document, leaving out those skip says are already reported.
func (c *checker) addErr(err error, skip skipped) {
	if err == nil {
		return
	}
	ves := flow.ValidationErrors(err)
	if len(ves) == 0 {
		c.add(c.root.start, "", "", err.Error())
		return
	}
	seen := map[string]int{} // element id -> occurrences used
	for _, ve := range ves {
		if skip.ids[ve.ElementID] {
			continue
		}
		if ve.ElementID == "" {
			top, _, _ := strings.Cut(ve.Field, ".")
			top, _, _ = strings.Cut(top, "[")
			if skip.fields[top] {
				continue
			}
			if i, ok := elementIndex(ve.Field); ok && skip.elements[i] {
				continue
			}
			c.add(c.root.locate(ve.Field), "", ve.Field, ve.Err.Error())
			continue
		}
		idx := c.elementsWithID(ve.ElementID)
		if len(idx) == 0 {
			c.add(c.root.start, ve.ElementID, ve.Field, ve.Err.Error())
			continue
		}
		// A duplicate id is reported at its second and later uses.
		k := 0
		if ve.Field == "id" && len(idx) > 1 {
			seen[ve.ElementID]++
			k = min(seen[ve.ElementID], len(idx)-1)
		}
		if skip.elements[idx[k]] {
			continue
		}
		el := c.element(idx[k])
		c.add(el.locate(ve.Field), ve.ElementID, ve.Field, ve.Err.Error())
	}
}

func (c *checker) element(i int) *jvalue {
	m, _ := c.root.member("elements")
	return m.value.items[i]
}

func (c *checker) elementsWithID(id string) []int {
	m, ok := c.root.member("elements")
	if !ok || m.value.kind != '[' {
		return nil
	}
	var out []int
	for i, ev := range m.value.items {
		if idv, ok := ev.member("id"); ok {
			var s string
			if json.Unmarshal(idv.value.raw(c.data), &s) == nil && s == id {
				out = append(out, i)
			}
		}
	}
	return out
}

var elementIndexRE = regexp.MustCompile(`^elements\[(\d+)\]`)

func elementIndex(field string) (int, bool) {
	m := elementIndexRE.FindStringSubmatch(field)
	if m == nil {
		return 0, false
	}
	var i int
	_, err := fmt.Sscan(m[1], &i)
	return i, err == nil
}

func kindOf(data []byte, v *jvalue) (string, bool) {
	m, ok := v.member("type")
	if !ok {
		return "", false
	}
	var k string
	return k, json.Unmarshal(m.value.raw(data), &k) == nil && k != ""
}

func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

var quotedRE = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)

var unknownRE = regexp.MustCompile(`unknown field "((?:[^"\\]|\\.)*)"`)

// unknownName returns the field name of an "unknown field" error.
func unknownName(err error) (string, bool) {
	m := unknownRE.FindStringSubmatch(err.Error())
	if m == nil {
		return "", false
	}
	var name string
	if json.Unmarshal([]byte(`"`+m[1]+`"`), &name) != nil {
		return m[1], true
	}
	return name, true
}

func unknownField(name string, candidates []string) string {
	return fmt.Sprintf("unknown field %q%s", name, suggest.DidYouMean(name, candidates))
}

// elementFields lists the JSON field names an element of kind may have,
// at any depth, for suggestions; all kinds' fields when kind is unknown.
func elementFields(kind string) []string {
	names := []string{"id", "type", "name", "next"}
	look := []string{kind}
	builtins := kinds.Registry()
	if _, err := builtins.New(kind); err != nil {
		look = builtins.Kinds()
	}
	for _, k := range look {
		if el, err := builtins.New(k); err == nil {
			names = append(names, jsonFields(reflect.TypeOf(el))...)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// jsonFields lists the JSON names of a struct type's fields and of the
// structs within it.
func jsonFields(t reflect.Type) []string {
	var out []string
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] || t == reflect.TypeFor[time.Time]() {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			if name == "" && !f.Anonymous {
				name = f.Name
			}
			if name != "" {
				out = append(out, name)
			}
			walk(f.Type)
		}
	}
	walk(t)
	return out
}
