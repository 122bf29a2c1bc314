package flow

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// compiled is a validated flow version, ready to run.
type compiled struct {
	// enteredProps are the properties of this flow's EnteredFlow events,
	// shared by all of them: the store copies the events it is given.
	enteredProps map[string]any
	// exits shares the properties of ExitedFlow events by status and
	// reason (a few per flow, but error reasons vary: it is capped).
	exits     sync.Map // exitKey -> map[string]any
	exitCount atomic.Int32
	flow      *Flow
	loc       *time.Location
	start     *node
	nodes     map[string]*node
	vars      map[string]store.Type
}

type node struct {
	id      string
	element element.Element
	resumer element.Resumer
	next    map[string]*node
	// left holds the counter key of each branch, made once.
	left map[string]string
}

type exitKey struct {
	status store.Status
	reason string
}

// maxSharedExits caps how many distinct exit property maps a flow version
// shares; beyond it each exit gets its own.
const maxSharedExits = 256

// exitProps returns the properties of an ExitedFlow event, shared between
// the participants that leave alike: the store copies the events it is
// given.
func (c *compiled) exitProps(status store.Status, reason string) map[string]any {
	k := exitKey{status, reason}
	if m, ok := c.exits.Load(k); ok {
		return m.(map[string]any)
	}
	m := map[string]any{"flowId": c.flow.ID, "reason": reason, "status": string(status)}
	if c.exitCount.Add(1) <= maxSharedExits {
		actual, _ := c.exits.LoadOrStore(k, m)
		return actual.(map[string]any)
	}
	return m
}

func (n *node) leftKey(branch string) string {
	if k, ok := n.left[branch]; ok {
		return k
	}
	return keyLeft + branch
}

// Validate checks the flow against a schema of custom person attributes
// without publishing it, compiling every expression, template and segment.
// It returns a *ValidationError naming the element and field at fault.
func (f *Flow) Validate(schema store.Schema) error {
	c, err := f.Clone()
	if err != nil {
		return asValidation(err)
	}
	_, err = compile(c, decls{schema: schema})
	return err
}

// decls are the host's declarations a flow is compiled against.
type decls struct {
	schema   store.Schema
	computed map[string]segment.Computed
}

// compile validates f and compiles its elements in place; f must be a
// private copy.
func compile(f *Flow, d decls) (*compiled, error) {
	bad := func(field, format string, args ...any) error {
		return &ValidationError{Field: field, Err: fmt.Errorf(format, args...)}
	}
	if f.ID == "" {
		return nil, bad("id", "flow id is missing")
	}
	if len(f.Elements) == 0 {
		return nil, bad("elements", "flow has no elements")
	}
	if len(f.Elements) > MaxElements {
		return nil, bad("elements", "flow has %d elements, at most %d are allowed: split it with Add to Flow", len(f.Elements), MaxElements)
	}
	c := &compiled{enteredProps: map[string]any{"flowId": f.ID}, flow: f, loc: time.UTC, nodes: map[string]*node{}, vars: map[string]store.Type{}}
	if f.TimeZone != "" {
		loc, err := element.LoadLocation(f.TimeZone)
		if err != nil {
			return nil, bad("timezone", "%q is not an IANA time zone", f.TimeZone)
		}
		c.loc = loc
	}
	if !f.Schedule.Start.IsZero() && !f.Schedule.End.IsZero() && !f.Schedule.End.After(f.Schedule.Start) {
		return nil, bad("schedule.end", "end %s is not after start %s", f.Schedule.End.Format(time.RFC3339), f.Schedule.Start.Format(time.RFC3339))
	}
	for name, v := range f.Variables {
		field := "variables." + name
		if name == "" || reservedNames[name] {
			return nil, bad(field, "%q cannot be a variable name", name)
		}
		if !v.Type.Valid() {
			return nil, bad(field+".type", "unknown type %q", v.Type)
		}
		def, err := store.Convert(v.Type, v.Default)
		if err != nil {
			return nil, bad(field+".default", "%v", err)
		}
		v.Default = def
		f.Variables[name] = v
		c.vars[name] = v.Type
	}
	if t := f.Trigger; t != nil {
		if !t.Category.Valid() {
			return nil, bad("trigger.category", "unknown event category %q", t.Category)
		}
		if t.Name == "" {
			return nil, bad("trigger.name", "event name is missing")
		}
	}
	for i, n := range f.Elements {
		if n == nil || n.Element == nil {
			return nil, bad(fmt.Sprintf("elements[%d]", i), "element has no configuration")
		}
		if n.ID == "" {
			return nil, bad(fmt.Sprintf("elements[%d].id", i), "element id is missing")
		}
		if _, dup := c.nodes[n.ID]; dup {
			return nil, &ValidationError{ElementID: n.ID, Field: "id", Err: errors.New("two elements have this id")}
		}
		nd := &node{id: n.ID, element: n.Element, next: map[string]*node{}, left: map[string]string{}}
		for _, b := range branchesOf(n) {
			nd.left[b] = keyLeft + b
		}
		nd.resumer, _ = n.Element.(element.Resumer)
		c.nodes[n.ID] = nd
	}
	start := f.Start
	if start == "" {
		start = f.Elements[0].ID
	}
	if c.start = c.nodes[start]; c.start == nil {
		return nil, bad("start", "start element %q does not exist", start)
	}
	for _, n := range f.Elements {
		comp := &element.Compiler{FlowID: f.ID, ElementID: n.ID, Variables: c.vars, Schema: d.schema, Computed: d.computed, Location: c.loc}
		if err := n.Element.Validate(comp); err != nil {
			ve := &ValidationError{ElementID: n.ID, Err: err}
			var fe *element.FieldError
			if errors.As(err, &fe) {
				ve.Field, ve.Err = fe.Field, fe.Err
			}
			return nil, ve
		}
		allowed := branchesOf(n)
		for branch, target := range n.Next {
			if !slices.Contains(allowed, branch) {
				return nil, &ValidationError{ElementID: n.ID, Field: "next." + branch, Err: fmt.Errorf("%s has no branch %q (it has %v)", n.Element.Kind(), branch, allowed)}
			}
			if target == "" {
				continue
			}
			t := c.nodes[target]
			if t == nil {
				return nil, &ValidationError{ElementID: n.ID, Field: "next." + branch, Err: fmt.Errorf("target element %q does not exist", target)}
			}
			c.nodes[n.ID].next[branch] = t
		}
	}
	reached := map[string]bool{}
	var walk func(*node)
	walk = func(n *node) {
		if reached[n.id] {
			return
		}
		reached[n.id] = true
		for _, t := range n.next {
			walk(t)
		}
	}
	walk(c.start)
	for _, n := range f.Elements {
		if !reached[n.ID] {
			return nil, &ValidationError{ElementID: n.ID, Err: fmt.Errorf("element cannot be reached from the start element %q", start)}
		}
	}
	return c, nil
}

// reservedNames are the names the expression environment uses.
var reservedNames = map[string]bool{"person": true, "entry": true, "event": true, "now": true}

func asValidation(err error) error {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve
	}
	return &ValidationError{Err: err}
}
