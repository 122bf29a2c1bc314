package element

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/internal/values"
)

// Template is text with {{...}} placeholders. A placeholder holds an
// expression (see Program): a variable name ("{{cartId}}"), a person
// attribute ("{{person.firstName}}"), an entry event property
// ("{{entry.properties.cartId}}") or any formula.
type Template struct {
	Source string
	field  string
	parts  []templatePart
	budget Budget
}

type templatePart struct {
	text string
	prog *Program // nil for literal text
	// inQuotes is set for a placeholder written inside a JSON string
	// ("{{x}}", "Hi {{x}}!"), so JSON encoding writes string content
	// without quotes of its own.
	inQuotes bool
	// inQuery is set for a placeholder after the "?" of a URL.
	inQuery bool
	// setting is set for a placeholder that is one host setting,
	// {{env.NAME}}: before the "?" of a URL it is written as it is, so
	// that a setting may hold a base URL or a path.
	setting bool
}

// Encoding says how placeholder values are written into a template.
type Encoding int

// The encodings.
const (
	// Plain writes values as text.
	Plain Encoding = iota
	// URL escapes values: path escaping before the "?", query escaping
	// after it. A placeholder that is one host setting ({{env.API_URL}})
	// is written as it is before the "?": settings come from the host,
	// not from people, and may hold a base URL.
	URL
	// JSON writes values as JSON; inside a JSON string ("{{x}}",
	// "Hi {{x}}!") the value is written as escaped string content.
	JSON
)

// Template compiles text with placeholders for field.
func (c *Compiler) Template(field, text string) (*Template, error) {
	t := &Template{Source: text, field: field, budget: c.Budget.withDefaults()}
	rest := text
	seenQuery := false
	// inString tracks whether the literal text so far, read as JSON, is
	// inside a string. A stray "}}" is literal text: JSON bodies end in it.
	inString := false
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, templatePart{text: rest})
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, templatePart{text: rest[:i]})
		}
		seenQuery = seenQuery || strings.Contains(rest[:i], "?")
		inString = jsonStringState(rest[:i], inString)
		end := strings.Index(rest[i+2:], "}}")
		if end < 0 {
			return nil, Errorf(field, "%q: placeholder \"{{\" is not closed", text)
		}
		src := strings.TrimSpace(rest[i+2 : i+2+end])
		if src == "" {
			return nil, Errorf(field, "%q: empty placeholder", text)
		}
		prog, err := c.Expr(field, src)
		if err != nil {
			return nil, err
		}
		after := rest[i+2+end+2:]
		t.parts = append(t.parts, templatePart{
			prog:     prog,
			inQuotes: inString,
			inQuery:  seenQuery,
			setting:  prog.isSetting(),
		})
		rest = after
	}
}

// jsonStringState reports whether text, read as JSON from inside a string
// (in) or outside one, ends inside a string.
func jsonStringState(text string, in bool) bool {
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\\':
			if in {
				i++ // an escaped character, such as \"
			}
		case '"':
			in = !in
		}
	}
	return in
}

// Constant reports whether the template has no placeholders.
func (t *Template) Constant() bool {
	for _, p := range t.parts {
		if p.prog != nil {
			return false
		}
	}
	return true
}

// Single returns the program of a template that is exactly one
// placeholder, such as "{{points}}", and nil otherwise.
func (t *Template) Single() *Program {
	if len(t.parts) == 1 && t.parts[0].prog != nil {
		return t.parts[0].prog
	}
	return nil
}

// Shape returns the template's text with each placeholder replaced by a
// stand-in, for checking at Publish that the text keeps the form its
// encoding needs whatever the placeholders hold. With URL, a host setting
// that starts the text ({{env.API_URL}}) reads "http://x"; with JSON, a
// placeholder outside a JSON string reads null; any other reads x.
func (t *Template) Shape(enc Encoding) string {
	var b strings.Builder
	for i, p := range t.parts {
		switch {
		case p.prog == nil:
			b.WriteString(p.text)
		case enc == URL && i == 0 && p.setting:
			b.WriteString("http://x")
		case enc == JSON && !p.inQuotes:
			b.WriteString("null")
		default:
			b.WriteString("x")
		}
	}
	return b.String()
}

// Value evaluates the template: a template that is one placeholder yields
// the value with its own type; any other yields text.
func (t *Template) Value(r *Run) (any, error) {
	if p := t.Single(); p != nil {
		return p.Eval(r)
	}
	return t.Render(r, Plain)
}

// Render evaluates the template into text, writing placeholder values in
// the encoding. Its placeholders are one evaluation under the Budget, and
// the text it renders may not exceed its memory.
func (t *Template) Render(r *Run, enc Encoding) (string, error) {
	if len(t.parts) == 1 && t.parts[0].prog == nil {
		return t.parts[0].text, nil
	}
	ev := r.evaluator()
	ev.start(r, t.budget)
	var b strings.Builder
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.text)
			continue
		}
		var v any
		if p.prog.path != nil {
			// A path that leads nowhere renders empty, noted in the
			// journal: a missing value is not a failure.
			var ok bool
			if v, ok = p.prog.lookup(r); !ok {
				r.Note(fmt.Sprintf("%s: {{%s}} has no value: rendered empty", t.field, p.prog.Source))
				if enc == JSON && !p.inQuotes {
					b.WriteString("null")
				}
				continue
			}
		} else {
			var err error
			if v, _, err = p.prog.eval(r, ev); err != nil {
				return "", fmt.Errorf("expression %q: %w", p.prog.Source, err)
			}
		}
		// Refuse a value that would take the text past the budget before
		// escaping it, which may make it six times longer.
		if est := int64(b.Len()) + escapedSize(v, enc, p, t.budget.Memory); est > t.budget.Memory {
			return "", fmt.Errorf("placeholder {{%s}}: %w", p.prog.Source, t.budget.overMemory("the rendered text"))
		}
		var s string
		switch enc {
		case URL:
			if p.setting && !p.inQuery {
				s = FormatValue(v)
			} else if p.inQuery {
				s = url.QueryEscape(FormatValue(v))
			} else {
				s = url.PathEscape(FormatValue(v))
			}
		case JSON:
			if p.inQuotes {
				q, _ := json.Marshal(FormatValue(v))
				s = string(q[1 : len(q)-1])
			} else {
				j, err := json.Marshal(jsonValue(v))
				if err != nil {
					return "", fmt.Errorf("placeholder {{%s}}: %w", p.prog.Source, err)
				}
				s = string(j)
			}
		default:
			s = FormatValue(v)
		}
		if int64(b.Len())+int64(len(s)) > t.budget.Memory {
			return "", fmt.Errorf("placeholder {{%s}}: %w", p.prog.Source, t.budget.overMemory("the rendered text"))
		}
		b.WriteString(s)
	}
	if err := ev.finish(r, int64(b.Len())); err != nil {
		return "", err
	}
	return b.String(), nil
}

// FormatValue writes a value as text: numbers without trailing zeros, Date
// values (midnight UTC) as 2006-01-02, date-times in RFC 3339, lists and
// objects as JSON, nil as "".
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		if x.Location() == time.UTC && x.Equal(values.DateOf(x)) {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339)
	case []any, map[string]any:
		j, err := json.Marshal(jsonValue(x))
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(j)
	}
	return fmt.Sprint(v)
}

// escapedSize bounds the length of v written in a template part in enc.
func escapedSize(v any, enc Encoding, p templatePart, limit int64) int64 {
	s, isText := v.(string)
	switch {
	case !isText && enc == JSON && !p.inQuotes:
		return measure(v, false, limit)
	case !isText:
		return 0 // a number, a date or a list checked as a result: short
	case enc == JSON:
		return stringJSONSize(s)
	case enc == URL:
		n := int64(len(s))
		for i := 0; i < len(s); i++ {
			if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
				n += 2
			}
		}
		return n
	}
	return int64(len(s))
}

func jsonValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return FormatValue(t)
	}
	return v
}
