package element

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
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
		}
	}
	return out, nil
}

// redact replaces in text the values of the host settings the step read
// ({{env.NAME}} placeholders) by their placeholders, so that journals,
// participant reasons, errors and observers never hold them. A value is
// replaced as it is, URL-escaped, and, for a URL, by its host too. The
// engine redacts every step's reason and error; elements need not.
func (r *Run) redact(text string) string {
	if len(r.revealed) == 0 {
		return text
	}
	type form struct{ value, name string }
	var forms []form
	for _, s := range r.revealed {
		forms = append(forms, form{s.value, s.name}, form{url.PathEscape(s.value), s.name}, form{url.QueryEscape(s.value), s.name})
		if strings.Contains(s.value, "://") {
			if u, err := url.Parse(s.value); err == nil && u.Host != "" {
				forms = append(forms, form{u.Host, s.name})
			}
		}
	}
	// Longer values first, so that a value holding another is replaced
	// whole.
	slices.SortStableFunc(forms, func(a, b form) int { return len(b.value) - len(a.value) })
	for _, f := range forms {
		text = strings.ReplaceAll(text, f.value, "{{env."+f.name+"}}")
	}
	return text
}

// redactOutcome returns the step's outcome and error with redact applied
// to the reason and the error's text. The error returned still matches
// what err matches with errors.Is and errors.As.
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
	return out, err
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
