package kinds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
)

// jsonTemplate is a JSON value whose strings may hold placeholders: a
// string that is exactly one placeholder ("{{points}}") becomes the value
// with its own type, JSON-encoded; any other string with placeholders is
// rendered as text. Object keys are literal. Numbers keep their exact
// source form.
type jsonTemplate struct {
	kind   byte // 'o' object, 'a' array, 's' string, 'l' other literal
	keys   []string
	fields []*jsonTemplate
	items  []*jsonTemplate
	lit    json.RawMessage   // for 'l' and constant strings
	tmpl   *element.Template // for strings with placeholders
}

// compileJSONTemplate parses raw (a JSON value) and compiles its strings.
func compileJSONTemplate(c *element.Compiler, field string, raw json.RawMessage) (*jsonTemplate, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, element.Errorf(field, "is not JSON: %v", err)
	}
	if dec.More() {
		return nil, element.Errorf(field, "holds more than one JSON value")
	}
	return buildJSONTemplate(c, field, v, 0)
}

func buildJSONTemplate(c *element.Compiler, field string, v any, depth int) (*jsonTemplate, error) {
	if depth > 64 {
		return nil, element.Errorf(field, "nested more than 64 levels deep")
	}
	switch x := v.(type) {
	case map[string]any:
		t := &jsonTemplate{kind: 'o'}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, err := buildJSONTemplate(c, field+"."+k, x[k], depth+1)
			if err != nil {
				return nil, err
			}
			t.keys = append(t.keys, k)
			t.fields = append(t.fields, f)
		}
		return t, nil
	case []any:
		t := &jsonTemplate{kind: 'a'}
		for i, e := range x {
			f, err := buildJSONTemplate(c, fmt.Sprintf("%s[%d]", field, i), e, depth+1)
			if err != nil {
				return nil, err
			}
			t.items = append(t.items, f)
		}
		return t, nil
	case string:
		if strings.Contains(x, "{{") {
			tm, err := c.Template(field, x)
			if err != nil {
				return nil, err
			}
			return &jsonTemplate{kind: 's', tmpl: tm}, nil
		}
		b, _ := json.Marshal(x)
		return &jsonTemplate{kind: 's', lit: b}, nil
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, element.Errorf(field, "%v", err)
		}
		return &jsonTemplate{kind: 'l', lit: b}, nil
	}
}

// render writes the value for a step.
func (t *jsonTemplate) render(r *element.Run, b *bytes.Buffer) error {
	switch t.kind {
	case 'o':
		b.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			if err := t.fields[i].render(r, b); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case 'a':
		b.WriteByte('[')
		for i, e := range t.items {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := e.render(r, b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case 's':
		if t.tmpl == nil {
			b.Write(t.lit)
			return nil
		}
		v, err := t.tmpl.Value(r)
		if err != nil {
			return err
		}
		j, err := json.Marshal(jsonValue(v))
		if err != nil {
			return fmt.Errorf("placeholder %q: %w", t.tmpl.Source, err)
		}
		b.Write(j)
	default:
		b.Write(t.lit)
	}
	return nil
}

// renderJSON renders the value as JSON.
func (t *jsonTemplate) renderJSON(r *element.Run) ([]byte, error) {
	var b bytes.Buffer
	if err := t.render(r, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// text renders a scalar as text: strings without quotes, other literals
// in their JSON form.
func (t *jsonTemplate) text(r *element.Run) (string, error) {
	switch {
	case t.kind == 's' && t.tmpl != nil:
		return t.tmpl.Render(r, element.Plain)
	case t.kind == 's':
		var s string
		_ = json.Unmarshal(t.lit, &s)
		return s, nil
	case t.kind == 'l' && string(t.lit) == "null":
		return "", nil
	}
	return string(t.lit), nil
}

// jsonValue is v as JSON writes it: a time as FormatValue writes it.
func jsonValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return element.FormatValue(t)
	}
	return v
}
