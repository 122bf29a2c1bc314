package element

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// Compiler is what an element's Validate gets: the flow's declarations and
// helpers that compile expressions and templates against them.
type Compiler struct {
	FlowID    string
	ElementID string
	// Variables are the flow's declared variables and their types.
	Variables map[string]store.Type
	// Schema declares the custom person attributes.
	Schema store.Schema
	// Location is the flow's time zone.
	Location *time.Location
	// Computed are the host's computed person attributes, for segments.
	Computed map[string]segment.Computed
	// Connected lists the element's branches that lead to another
	// element of the flow ("error" included), for kinds whose outcome
	// depends on which exits the flow uses, such as Call API's
	// BranchFailed. Nil when nothing is connected.
	Connected []string
	// Budget bounds each evaluation of the expressions and templates it
	// compiles. The zero value means the defaults (see Budget).
	Budget Budget

	env map[string]any
	// outbound is set on the compiler WithSettings returns.
	outbound bool
}

// SegmentOptions returns the options that compile the flow's segments and
// property conditions.
func (c *Compiler) SegmentOptions() segment.Options {
	return segment.Options{Schema: c.Schema, Variables: c.Variables, Computed: c.Computed, Location: c.Location}
}

// Program is a compiled expr expression. Its environment holds the flow
// variables by name, "person" (the person's attributes, tags, phones and
// emails), "entry" and "event" (the entry event and the event being handled:
// name, category, time and properties), "now", and "env" (the host's
// settings as text, read by name when the step runs: env.API_URL; only
// in fields compiled by Compiler.WithSettings; see flow.Config.Ports.Settings).
// The builtin now() is
// replaced by the variable now, which reads the engine's clock.
type Program struct {
	Source string
	prog   *vm.Program
	// names are the environment names the expression uses; Eval builds
	// only those.
	names []string
	// Type is the statically known result type, or "" when it is only known
	// at run time.
	Type store.Type
	// settings are the host settings ({{env.NAME}}) the expression reads.
	settings []string
	// budget bounds each evaluation; metered is set when the compiled
	// expression reads the meter (it calls a guarded function or loops).
	budget  Budget
	metered bool
	// textAttrs are the person's text attributes the expression reads
	// (person.firstName): one that is empty reads "", not nil, so that
	// person.firstName != "" means what it says (and person.firstName ??
	// "friend" is compiled as default(person.firstName, "friend")).
	textAttrs []string
	// path is the expression as a path of names, when it is one
	// (entry.properties.cartId, person.firstName, points): templates look
	// it up, and a path that leads nowhere renders empty.
	path []pathStep
}

// pathStep is one step of a path: a name, or an index of a list.
type pathStep struct {
	name  string
	index int
	isIdx bool
}

// Expr compiles an expression for field. Errors keep expr's line and column.
func (c *Compiler) Expr(field, source string) (*Program, error) {
	if strings.TrimSpace(source) == "" {
		return nil, Errorf(field, "expression is empty")
	}
	budget := c.Budget.withDefaults()
	patch := &budgetPatch{budget: budget, source: source}
	opts := append([]expr.Option{expr.Env(c.sampleEnv()), expr.DisableBuiltin("now"), expr.MaxNodes(2000), defaultFunction,
		expr.Patch(coalesceText{})}, budgetOptions(patch)...)
	err := checkPatterns(source, budget)
	var prog *vm.Program
	if err == nil {
		prog, err = expr.Compile(source, opts...)
	}
	if err == nil {
		err = patch.check()
	}
	if err != nil {
		return nil, &FieldError{Field: field, Err: fmt.Errorf("expression %q: %w", source, err)}
	}
	textAttrs, err := c.checkPersonRefs(source, prog.Node())
	if err != nil {
		return nil, &FieldError{Field: field, Err: fmt.Errorf("expression %q: %w", source, err)}
	}
	settings, err := settingNames(source, prog.Node())
	if err == nil && len(settings) > 0 && !c.outbound {
		err = errSettingHere(settings[0])
	}
	if err != nil {
		return nil, &FieldError{Field: field, Err: fmt.Errorf("expression %q: %w", source, err)}
	}
	names := identifiers(prog.Node())
	metered := slices.Contains(names, meterName)
	names = slices.DeleteFunc(names, func(n string) bool { return n == meterName })
	return &Program{Source: source, prog: prog, names: names, Type: staticType(prog.Node().Type()), settings: settings,
		budget: budget, metered: metered, textAttrs: textAttrs, path: pathOf(prog.Node())}, nil
}

// defaultFunction is the template filter default(value, fallback),
// written {{person.firstName | default("friend")}}: fallback when value
// is missing, nil or empty text, else value.
var defaultFunction = expr.Function("default", func(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("default takes a value and a fallback, got %d arguments", len(args))
	}
	if s, ok := args[0].(string); args[0] == nil || ok && s == "" {
		return args[1], nil
	}
	return args[0], nil
}, new(func(any, any) any))

// coalesceText compiles person.x ?? fallback, for a person attribute, as
// default(person.x, fallback): an empty attribute reads "" in expressions
// (see Program.textAttrs), which ?? alone would keep.
type coalesceText struct{}

func (coalesceText) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || b.Operator != "??" {
		return
	}
	m, ok := b.Left.(*ast.MemberNode)
	if !ok {
		return
	}
	if id, ok := m.Node.(*ast.IdentifierNode); !ok || id.Value != "person" {
		return
	}
	ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "default"}, Arguments: []ast.Node{b.Left, b.Right}})
}

// pathOf returns the expression as a path of names and list indexes from
// an environment name, or nil when it is anything else. Host settings
// (env.NAME) are not paths: they must be set.
func pathOf(node ast.Node) []pathStep {
	switch n := node.(type) {
	case *ast.IdentifierNode:
		if n.Value == envName || n.Value == meterName {
			return nil
		}
		return []pathStep{{name: n.Value}}
	case *ast.ChainNode:
		return pathOf(n.Node)
	case *ast.MemberNode:
		head := pathOf(n.Node)
		if head == nil {
			return nil
		}
		switch p := n.Property.(type) {
		case *ast.StringNode:
			return append(head, pathStep{name: p.Value})
		case *ast.IntegerNode:
			return append(head, pathStep{index: p.Value, isIdx: true})
		}
	}
	return nil
}

// lookup follows the program's path in the step's environment: the value
// there, and false when the path leads nowhere (a name not set, a
// property the event lacks, a list too short).
func (p *Program) lookup(r *Run) (any, bool) {
	env := r.env(p.names)
	v, ok := env[p.path[0].name]
	for _, st := range p.path[1:] {
		if !ok || v == nil {
			return nil, false
		}
		switch x := v.(type) {
		case map[string]any:
			if st.isIdx {
				return nil, false
			}
			v, ok = x[st.name]
		case []any:
			if !st.isIdx || st.index < 0 || st.index >= len(x) {
				return nil, false
			}
			v = x[st.index]
		default:
			return nil, false
		}
	}
	if !ok || v == nil {
		return nil, false
	}
	return values.Normalize(v), true
}

// fillText sets the empty text attributes the program reads to "".
func (p *Program) fillText(env map[string]any) {
	if len(p.textAttrs) == 0 {
		return
	}
	m, _ := env["person"].(map[string]any)
	if m == nil {
		return
	}
	for _, a := range p.textAttrs {
		if m[a] == nil {
			m[a] = ""
		}
	}
}

// identifiers lists the environment names an expression reads.
func identifiers(node ast.Node) []string {
	var names []string
	ast.Walk(&node, visitor(func(n *ast.Node) {
		if id, ok := (*n).(*ast.IdentifierNode); ok && !slices.Contains(names, id.Value) {
			names = append(names, id.Value)
		}
	}))
	return names
}

// checkPersonRefs refuses person.x for an attribute the schema lacks, and
// returns the text attributes the expression reads.
func (c *Compiler) checkPersonRefs(source string, node ast.Node) ([]string, error) {
	var err error
	var text []string
	ast.Walk(&node, visitor(func(n *ast.Node) {
		m, ok := (*n).(*ast.MemberNode)
		if !ok || err != nil {
			return
		}
		id, ok := m.Node.(*ast.IdentifierNode)
		if !ok || id.Value != "person" {
			return
		}
		prop, ok := m.Property.(*ast.StringNode)
		if !ok {
			return
		}
		if _, ok := personFields[prop.Value]; ok {
			return
		}
		t, ok := c.Schema.TypeOf(prop.Value)
		if !ok {
			e := &file.Error{Location: m.Property.Location(), Message: fmt.Sprintf("unknown person attribute %q", prop.Value)}
			err = e.Bind(file.NewSource(source))
			return
		}
		if t == store.Text && !slices.Contains(text, prop.Value) {
			text = append(text, prop.Value)
		}
	}))
	return text, err
}

type visitor func(*ast.Node)

func (v visitor) Visit(n *ast.Node) { v(n) }

// personFields are the non-attribute fields of the person in expressions.
var personFields = map[string]store.Type{"id": store.Text, "tags": store.List, "phones": store.List, "emails": store.List}

func staticType(t reflect.Type) store.Type {
	if t == nil {
		return ""
	}
	switch t.Kind() {
	case reflect.String:
		return store.Text
	case reflect.Bool:
		return store.Bool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return store.Number
	case reflect.Slice, reflect.Array:
		return store.List
	case reflect.Map:
		return store.Object
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			return store.DateTime
		}
	}
	return ""
}

// Fits reports whether a value of the program's static type can be stored
// in a variable or attribute of type t; true when the type is known only at
// run time.
func (p *Program) Fits(t store.Type) bool {
	switch {
	case p.Type == "" || p.Type == t:
		return true
	case t == store.Text:
		return p.Type != store.List && p.Type != store.Object
	case t == store.Date:
		return p.Type == store.DateTime
	}
	return false
}

// Eval runs the program for a step, under its Budget: an evaluation that
// exceeds it returns an error wrapping ErrBudget.
func (p *Program) Eval(r *Run) (any, error) {
	ev := r.evaluator()
	ev.start(r, p.budget)
	v, size, err := p.eval(r, ev)
	if err == nil {
		err = ev.finish(r, size)
	}
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", p.Source, err)
	}
	return v, nil
}

// eval runs the program on the evaluator's meter, which a template's
// placeholders share, and returns its result and the result's size.
// Errors do not name the expression.
func (p *Program) eval(r *Run, ev *evaluator) (any, int64, error) {
	env := r.env(p.names)
	p.fillText(env)
	if p.metered {
		env[meterName] = &ev.meter
	}
	if len(p.settings) > 0 {
		s, err := r.settings(p.settings)
		if err != nil {
			return nil, 0, err
		}
		env[envName] = s
	}
	out, err := ev.run(p.prog, env)
	if err != nil {
		return nil, 0, err
	}
	size, err := checkResult(out, &ev.meter)
	if err != nil {
		return nil, 0, err
	}
	return values.Normalize(out), size, nil
}

// Bool runs the program and requires a true/false result.
func (p *Program) Bool(r *Run) (bool, error) {
	v, err := p.Eval(r)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("expression %q: result %v is not true/false", p.Source, v)
	}
	return b, nil
}

func (c *Compiler) sampleEnv() map[string]any {
	if c.env != nil {
		return c.env
	}
	env := map[string]any{
		"person": map[string]any{},
		"entry":  eventSample,
		"event":  eventSample,
		"now":    time.Time{},
		envName:  map[string]string{},
		// meterName is not a name people can write: the budget's guards
		// read it.
		meterName: (*meter)(nil),
	}
	for name, t := range c.Variables {
		if _, reserved := env[name]; !reserved {
			env[name] = values.Zero(t)
		}
	}
	c.env = env
	return env
}

var eventSample = map[string]any{"id": "", "name": "", "category": "", "time": time.Time{}, "properties": map[string]any{}}

// env builds the part of the step's expression environment that names
// uses.
func (r *Run) env(names []string) map[string]any {
	// One map serves every evaluation of the Run: expr reads it only
	// during Run.
	env := r.envMap
	if env == nil {
		env = make(map[string]any, len(names))
		r.envMap = env
	} else {
		clear(env)
	}
	for _, name := range names {
		switch name {
		case "person":
			env[name] = values.Person(r.Person)
		case "entry":
			env[name] = eventEnv(r.Entry)
		case "event":
			env[name] = eventEnv(r.Event)
		case "now":
			env[name] = r.Now
		case envName, meterName: // filled by eval
		default:
			if v, ok := r.Vars[name]; ok {
				env[name] = v
			}
		}
	}
	return env
}

func eventEnv(e *store.Event) map[string]any {
	if e == nil {
		return nil
	}
	return map[string]any{"id": e.ID, "name": e.Name, "category": string(e.Category), "time": e.Time, "properties": e.Properties}
}

// Where compiles the property conditions of an event selection, as Wait
// for an Event does: values may name the participant's variables
// ("{{cartId}}") and the entry event's properties
// ("{{entry.properties.cartId}}"). Errors name the field under prefix.
// It returns nil for no conditions.
func (c *Compiler) Where(prefix string, conds []segment.PropertyCondition) (*segment.Where, error) {
	if len(conds) == 0 {
		return nil, nil
	}
	where, err := segment.CompileWhere(conds, c.SegmentOptions())
	if err != nil {
		var ce *segment.ConditionError
		if errors.As(err, &ce) && ce.Path != "" {
			return nil, Errorf(prefix+ce.Path, "%v", ce.Err)
		}
		return nil, Errorf(prefix+"where", "%v", err)
	}
	return where, nil
}
