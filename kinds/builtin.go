package kinds

import (
	"context"
	"fmt"
	"strings"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/store"
)

// Assignment sets one variable or attribute: to Value, a text with
// placeholders (a value that is one placeholder keeps its type), to the
// result of Formula, an expr expression, or, with Empty, to nothing.
// Exactly one of the three is given.
type Assignment struct {
	Variable  string `json:"variable,omitempty"`
	Attribute string `json:"attribute,omitempty"`
	Value     any    `json:"value,omitempty"`
	Formula   string `json:"formula,omitempty"`
	Empty     bool   `json:"empty,omitempty"`

	field    string // the field of the formula or value, for errors
	typ      store.Type
	constant any
	tmpl     *element.Template
	prog     *element.Program
}

func (a *Assignment) compile(c *element.Compiler, field, target string, typ store.Type) error {
	a.typ = typ
	a.field = field + ".value"
	if a.Formula != "" {
		a.field = field + ".formula"
	}
	given := 0
	for _, set := range []bool{a.Value != nil, a.Formula != "", a.Empty} {
		if set {
			given++
		}
	}
	if given != 1 {
		return element.Errorf(field, "%s: give exactly one of value, formula, empty", target)
	}
	switch {
	case a.Formula != "":
		p, err := c.Expr(field+".formula", a.Formula)
		if err != nil {
			return err
		}
		if !p.Fits(typ) {
			return element.Errorf(field+".formula", "%s is %s but the formula gives %s", target, typ, p.Type)
		}
		a.prog = p
	case a.Value != nil:
		if s, ok := a.Value.(string); ok && strings.Contains(s, "{{") {
			t, err := c.Template(field+".value", s)
			if err != nil {
				return err
			}
			p := t.Single()
			if p != nil && !p.Fits(typ) {
				return element.Errorf(field+".value", "%s is %s but %s gives %s", target, typ, s, p.Type)
			}
			if p == nil && !textConverts(typ) {
				return element.Errorf(field+".value", "%s is %s but %q gives text", target, typ, s)
			}
			a.tmpl = t
			return nil
		}
		v, err := values.Convert(typ, a.Value)
		if err != nil {
			return element.Errorf(field+".value", "%s: %v", target, err)
		}
		a.constant = v
	}
	return nil
}

// textConverts reports whether text can become a value of type t.
func textConverts(t store.Type) bool {
	return t == store.Text || t == store.Date || t == store.DateTime
}

// eval returns the assigned value, converted to the target's type.
func (a *Assignment) eval(r *element.Run) (any, error) {
	var v any
	var err error
	switch {
	case a.prog != nil:
		v, err = a.prog.Eval(r)
	case a.tmpl != nil:
		v, err = a.tmpl.Value(r)
	default:
		return clone.Value(a.constant), nil
	}
	if err != nil {
		return nil, err
	}
	return values.Convert(a.typ, v)
}

func (a *Assignment) describe(v any) string {
	if v == nil {
		return "empty"
	}
	return fmt.Sprintf("%q", element.FormatValue(v))
}

// UpdateVariable sets one or many flow variables, then goes on by "next".
// Values are checked against the variables' declared types at Publish where
// they are known, and at run time otherwise (a failure takes the node's
// "error" branch or fails the participant).
type UpdateVariable struct {
	Set []*Assignment `json:"set"`
}

// Kind implements element.Element.
func (*UpdateVariable) Kind() string { return "updateVariable" }

// Branches implements element.Element.
func (*UpdateVariable) Branches() []string { return []string{element.BranchNext} }

// Validate implements element.Element.
func (u *UpdateVariable) Validate(c *element.Compiler) error {
	if len(u.Set) == 0 {
		return element.Errorf("set", "no variables to update")
	}
	for i, a := range u.Set {
		field := fmt.Sprintf("set[%d]", i)
		if a == nil || a.Variable == "" {
			return element.Errorf(field+".variable", "variable name is missing")
		}
		if a.Attribute != "" {
			return element.Errorf(field+".attribute", "updateVariable sets variables, not attributes")
		}
		typ, err := declaredVar(c, field+".variable", a.Variable)
		if err != nil {
			return err
		}
		if err := a.compile(c, field, "variable "+a.Variable, typ); err != nil {
			return err
		}
	}
	return nil
}

// Run implements element.Element.
func (u *UpdateVariable) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	// Evaluate all first: a failing step must leave the variables as they
	// were.
	values := make([]any, len(u.Set))
	for i, a := range u.Set {
		v, err := a.eval(r)
		if err != nil {
			return element.Outcome{}, fmt.Errorf("%s: variable %q: %w", a.field, a.Variable, err)
		}
		values[i] = v
	}
	reasons := make([]string, 0, len(u.Set))
	for i, a := range u.Set {
		r.Vars[a.Variable] = values[i]
		reasons = append(reasons, a.Variable+" = "+a.describe(values[i]))
	}
	return element.Next(element.BranchNext, "set "+strings.Join(reasons, ", ")), nil
}

// UpdateProfile sets person attributes (standard or custom) with a value,
// a formula or to empty, then goes on by "next". Each change records a
// People AttributeChanged event with the old and new values.
type UpdateProfile struct {
	Set []*Assignment `json:"set"`
}

// Kind implements element.Element.
func (*UpdateProfile) Kind() string { return "updateProfile" }

// Branches implements element.Element.
func (*UpdateProfile) Branches() []string { return []string{element.BranchNext} }

// Validate implements element.Element.
func (u *UpdateProfile) Validate(c *element.Compiler) error {
	if len(u.Set) == 0 {
		return element.Errorf("set", "no attributes to update")
	}
	for i, a := range u.Set {
		field := fmt.Sprintf("set[%d]", i)
		if a == nil || a.Attribute == "" {
			return element.Errorf(field+".attribute", "attribute name is missing")
		}
		if a.Variable != "" {
			return element.Errorf(field+".variable", "updateProfile sets attributes, not variables")
		}
		typ, ok := c.Schema.TypeOf(a.Attribute)
		if !ok {
			return element.Errorf(field+".attribute", "unknown person attribute %q", a.Attribute)
		}
		if err := a.compile(c, field, "attribute "+a.Attribute, typ); err != nil {
			return err
		}
		if tz, ok := a.constant.(string); ok && a.Attribute == store.AttrTimeZone {
			if _, err := wall.LoadLocation(tz); err != nil {
				return element.Errorf(field+".value", "%q is not a time zone", tz)
			}
		}
	}
	return nil
}

// Run implements element.Element.
func (u *UpdateProfile) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	reasons := make([]string, 0, len(u.Set))
	for _, a := range u.Set {
		v, err := a.eval(r)
		if err != nil {
			return element.Outcome{}, fmt.Errorf("%s: attribute %q: %w", a.field, a.Attribute, err)
		}
		if tz, ok := v.(string); ok && a.Attribute == store.AttrTimeZone {
			if _, err := wall.LoadLocation(tz); err != nil {
				return element.Outcome{}, fmt.Errorf("attribute %q: %q is not a time zone", a.Attribute, tz)
			}
		}
		r.SetAttribute(a.Attribute, v)
		reasons = append(reasons, a.Attribute+" = "+a.describe(v))
	}
	return element.Next(element.BranchNext, "profile "+strings.Join(reasons, ", ")), nil
}

// AddTag tags the person, then goes on by "next". The tag may hold
// placeholders. Adding a tag records a People TagAdded event.
type AddTag struct {
	Tag  string `json:"tag"`
	tmpl *element.Template
}

// Kind implements element.Element.
func (*AddTag) Kind() string { return "addTag" }

// Branches implements element.Element.
func (*AddTag) Branches() []string { return []string{element.BranchNext} }

// Validate implements element.Element.
func (a *AddTag) Validate(c *element.Compiler) (err error) {
	a.tmpl, err = compileTag(c, a.Tag)
	return err
}

// Run implements element.Element.
func (a *AddTag) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	tag, err := renderTag(r, a.tmpl)
	if err != nil {
		return element.Outcome{}, err
	}
	if !r.AddTag(tag) {
		return element.Next(element.BranchNext, fmt.Sprintf("already tagged %q", tag)), nil
	}
	return element.Next(element.BranchNext, fmt.Sprintf("tagged %q", tag)), nil
}

// RemoveTag removes a tag from the person, then goes on by "next".
// Removing a tag the person had records a People TagRemoved event.
type RemoveTag struct {
	Tag  string `json:"tag"`
	tmpl *element.Template
}

// Kind implements element.Element.
func (*RemoveTag) Kind() string { return "removeTag" }

// Branches implements element.Element.
func (*RemoveTag) Branches() []string { return []string{element.BranchNext} }

// Validate implements element.Element.
func (a *RemoveTag) Validate(c *element.Compiler) (err error) {
	a.tmpl, err = compileTag(c, a.Tag)
	return err
}

// Run implements element.Element.
func (a *RemoveTag) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	tag, err := renderTag(r, a.tmpl)
	if err != nil {
		return element.Outcome{}, err
	}
	if !r.RemoveTag(tag) {
		return element.Next(element.BranchNext, fmt.Sprintf("had no tag %q", tag)), nil
	}
	return element.Next(element.BranchNext, fmt.Sprintf("removed tag %q", tag)), nil
}

func compileTag(c *element.Compiler, tag string) (*element.Template, error) {
	if strings.TrimSpace(tag) == "" {
		return nil, element.Errorf("tag", "tag is empty")
	}
	return c.Template("tag", tag)
}

func renderTag(r *element.Run, t *element.Template) (string, error) {
	tag, err := t.Render(r, element.Plain)
	if err != nil {
		return "", err
	}
	if tag = strings.TrimSpace(tag); tag == "" {
		return "", fmt.Errorf("tag %q is empty for this person", t.Source)
	}
	return tag, nil
}

// declaredVar returns the type of the flow variable name, or an error at
// field when the flow does not declare it.
func declaredVar(c *element.Compiler, field, name string) (store.Type, error) {
	t, ok := c.Variables[name]
	if !ok {
		return "", element.Errorf(field, "variable %q is not declared in the flow", name)
	}
	return t, nil
}

// textVar checks that name is a text variable of the flow, to hold what
// (such as "a message id").
func textVar(c *element.Compiler, field, name, what string) error {
	t, err := declaredVar(c, field, name)
	if err == nil && t != store.Text {
		err = element.Errorf(field, "variable %q is %s, but %s is text", name, t, what)
	}
	return err
}

// Exit ends the participant's journey in the flow.
type Exit struct {
	Reason string `json:"reason,omitempty"`
}

// Kind implements element.Element.
func (*Exit) Kind() string { return "exit" }

// Branches implements element.Element.
func (*Exit) Branches() []string { return nil }

// Validate implements element.Element.
func (*Exit) Validate(*element.Compiler) error { return nil }

// Run implements element.Element.
func (e *Exit) Run(context.Context, *element.Run) (element.Outcome, error) {
	if e.Reason != "" {
		return element.Leave(e.Reason), nil
	}
	return element.Leave("reached exit"), nil
}
