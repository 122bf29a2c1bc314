package element

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
)

// envName is the name under which expressions read the host's settings:
// {{env.API_URL}}.
const envName = "env"

// revealedSetting is a host setting a step read, kept so that its value
// can be taken out of the step's reasons and errors.
type revealedSetting struct {
	name, value string
}

// settingNames lists the settings an expression reads. A setting is read
// by its name (env.API_URL or env["API_URL"]); any other use of env, which
// would hand all of them to the expression, is refused.
func settingNames(source string, node ast.Node) ([]string, error) {
	var names []string
	uses := 0
	ast.Walk(&node, visitor(func(n *ast.Node) {
		switch x := (*n).(type) {
		case *ast.IdentifierNode:
			if x.Value == envName {
				uses++
			}
		case *ast.MemberNode:
			id, ok := x.Node.(*ast.IdentifierNode)
			if !ok || id.Value != envName {
				return
			}
			if prop, ok := x.Property.(*ast.StringNode); ok {
				uses--
				if !slices.Contains(names, prop.Value) {
					names = append(names, prop.Value)
				}
			}
		}
	}))
	if uses != 0 {
		return nil, errors.New("env is read by setting name, such as env.API_URL")
	}
	return names, nil
}

// settings returns the values of the named host settings, and notes them
// for redact. An unset setting is an error naming it.
func (r *Run) settings(names []string) (map[string]string, error) {
	lookup := os.LookupEnv
	if r.Ports.Settings != nil {
		lookup = r.Ports.Settings
	}
	out := make(map[string]string, len(names))
	for _, name := range names {
		v, ok := lookup(name)
		if !ok {
			return nil, fmt.Errorf("setting env.%s is not set", name)
		}
		out[name] = v
		if v != "" && !slices.Contains(r.revealed, revealedSetting{name, v}) {
			r.revealed = append(r.revealed, revealedSetting{name, v})
			r.redactor = nil
		}
	}
	return out, nil
}

// WithSettings returns a compiler for fields whose values go only to the
// host's own services, such as a request's URL, headers and body or a
// custom kind's config: their expressions and templates may read host
// settings ({{env.NAME}}). Every other field refuses them at Publish, so
// that a flow cannot copy a setting into a variable, the profile, an
// event, a message or a condition.
func (c *Compiler) WithSettings() *Compiler {
	out := *c
	out.outbound = true
	return &out
}

// errSettingHere is the error for a setting read in a field that may not
// read settings.
func errSettingHere(name string) error {
	return fmt.Errorf("reads host setting env.%s, which only fields sent to the host's services may read "+
		"(Call API url, headers and body; a custom kind's config)", name)
}

// forms returns the spellings of a setting's value that the engine and
// the kinds write: as it is; URL path and query escaped (url.PathEscape,
// url.QueryEscape, and the escaping of a URL's path, which keeps ";" and
// ","); JSON string content (with and without the \u escapes of <, > and
// &); Go quoting (%q); and, for a URL, its host.
func forms(value string) []string {
	out := []string{value, url.PathEscape(value), url.QueryEscape(value), (&url.URL{Path: value}).EscapedPath()}
	// A value holding %XX escapes is read back decoded when it is part of
	// a URL, and written again in the URL's own escaping.
	if dec, err := url.PathUnescape(value); err == nil && dec != value && dec != "" {
		out = append(out, dec, (&url.URL{Path: dec}).EscapedPath())
	}
	j, _ := json.Marshal(value)
	out = append(out, string(j[1:len(j)-1]))
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(value)
	plain := strings.TrimSuffix(b.String(), "\n")
	out = append(out, plain[1:len(plain)-1])
	q := strconv.Quote(value)
	out = append(out, q[1:len(q)-1])
	if strings.Contains(value, "://") {
		if u, err := url.Parse(value); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}

// redact replaces in text the values of the host settings the step read
// ({{env.NAME}} placeholders) by their placeholders, so that journals,
// participant reasons, errors and observers never hold them. A value is
// replaced in every spelling forms lists. The engine redacts every step's
// reason, error and effects (see redactOutcome); elements need not.
func (r *Run) redact(text string) string {
	if len(r.revealed) == 0 || text == "" {
		return text
	}
	if r.redactor == nil {
		type form struct{ value, name string }
		var fs []form
		for _, s := range r.revealed {
			for _, v := range forms(s.value) {
				if v != "" && !slices.ContainsFunc(fs, func(f form) bool { return f.value == v }) {
					fs = append(fs, form{v, s.name})
				}
			}
		}
		// Longer values first: where two start at one place, a value
		// holding another is replaced whole.
		slices.SortStableFunc(fs, func(a, b form) int { return len(b.value) - len(a.value) })
		r.redactForms = r.redactForms[:0]
		pairs := make([]string, 0, 2*len(fs))
		for _, f := range fs {
			r.redactForms = append(r.redactForms, f.value)
			pairs = append(pairs, f.value, "{{env."+f.name+"}}")
		}
		// One pass: a placeholder written is not read again.
		r.redactor = strings.NewReplacer(pairs...)
	}
	// Most texts hold no setting: finding that out costs no allocation.
	if !slices.ContainsFunc(r.redactForms, func(f string) bool { return strings.Contains(text, f) }) {
		return text
	}
	return r.redactor.Replace(text)
}

// redactOutcome returns the step's outcome and error with redact applied
// to the reason and the error's text, and applies it to what the step
// recorded: the text in the participant's variables, in the properties of
// the events it emitted and in the profile attributes it changed. So a
// value that reaches them indirectly (a response that echoes a token into
// a variable, a custom kind's output) is stored as its placeholder. The
// error returned still matches what err matches with errors.Is and
// errors.As. The step's settings are then forgotten: a second call
// changes nothing.
func (r *Run) redactOutcome(out Outcome, err error) (Outcome, error) {
	if len(r.revealed) == 0 {
		return out, err
	}
	out.Reason = r.redact(out.Reason)
	if err != nil {
		if msg := r.redact(err.Error()); msg != err.Error() {
			err = &redactedError{msg: msg, err: err}
		}
	}
	r.scrubMap(r.Vars)
	for _, ev := range r.emitted {
		r.scrubMap(ev.Properties)
	}
	if r.changed {
		r.scrubPerson()
	}
	r.revealed, r.redactor = nil, nil
	return out, err
}

// scrubMap redacts the text values in m, in place.
func (r *Run) scrubMap(m map[string]any) {
	for k, v := range m {
		if nv, changed := r.scrub(v); changed {
			m[k] = nv
		}
	}
}

// scrub returns v with redact applied to its text, lists and objects
// included, copying only what changes.
func (r *Run) scrub(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		s := r.redact(x)
		return s, s != x
	case []any:
		var out []any
		for i, e := range x {
			if ne, changed := r.scrub(e); changed {
				if out == nil {
					out = slices.Clone(x)
				}
				out[i] = ne
			}
		}
		return out, out != nil
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			if ne, changed := r.scrub(e); changed {
				if out == nil {
					out = maps.Clone(x)
				}
				out[k] = ne
			}
		}
		return out, out != nil
	}
	return v, false
}

// scrubPerson redacts the profile attributes the step changed.
func (r *Run) scrubPerson() {
	p, before := r.Person, r.before
	if before == nil {
		before = &store.Person{}
	}
	for name := range values.StandardAttributes {
		if field, ok := values.StandardText(name); ok && *field(p) != *field(before) {
			*field(p) = r.redact(*field(p))
		}
	}
	for name, v := range p.Attributes {
		if !values.Equal(v, before.Attributes[name]) {
			if nv, changed := r.scrub(v); changed {
				p.Attributes[name] = nv
			}
		}
	}
}

// redactedError is an error whose text lost the setting values it held.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// isSetting reports whether a placeholder's program is exactly one setting
// read by name, such as env.API_URL.
func (p *Program) isSetting() bool {
	if p == nil || len(p.settings) != 1 || len(p.names) != 1 {
		return false
	}
	m, ok := p.prog.Node().(*ast.MemberNode)
	return ok && !m.Optional
}
