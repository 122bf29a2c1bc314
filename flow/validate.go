package flow

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/suggest"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/kinds"
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
	journey   journey
	// holdout is the flow's holdout percent, 0 for none.
	holdout float64
	// experiments is set when an element makes an experiment;
	// endingExperiments when one of them ends (a winning path).
	experiments, endingExperiments bool
	// publishedAt is when the version was published, from which an
	// experiment's duration runs.
	publishedAt time.Time
	// slots number the elements' counters (see counterSlot).
	slots counterSlots
}

type node struct {
	id      string
	element element.Element
	resumer element.Resumer
	// external is set for elements whose steps call outside the engine
	// (element.External): they run outside the person's transaction.
	external bool
	next     map[string]*node
	// left holds the counter key of each branch, made once.
	left map[string]string
	// experiment is the element's experiment (element.Experimenter),
	// nil for none.
	experiment *compiledExperiment
	// reaches is set for elements whose steps reach the person
	// (element.ReachesPerson); held-out participants take heldOut
	// instead.
	reaches bool
	heldOut string
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
// It reports every problem it finds, each a *ValidationError naming the
// element and field at fault, joined with errors.Join (see
// ValidationErrors).
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
	budget   element.Budget
	// options are the settings of the built-in kinds, bound to each
	// element before it is validated; nil leaves their defaults.
	options *kinds.Options
}

// problems collects a flow's validation errors in document order.
type problems []error

func (p *problems) add(elementID, field string, err error) {
	*p = append(*p, &ValidationError{ElementID: elementID, Field: field, Err: err})
}

func (p *problems) addf(field, format string, args ...any) {
	p.add("", field, fmt.Errorf(format, args...))
}

// compile validates f and compiles its elements in place; f must be a
// private copy. It checks as much as it can and returns every problem,
// joined.
func compile(f *Flow, d decls) (*compiled, error) {
	var bad problems
	if f.ID == "" {
		bad.addf("id", "flow id is missing")
	}
	if len(f.Elements) == 0 {
		bad.addf("elements", "flow has no elements")
		return nil, errors.Join(bad...)
	}
	if len(f.Elements) > MaxElements {
		bad.addf("elements", "flow has %d elements, at most %d are allowed: split it with Add to Flow", len(f.Elements), MaxElements)
		return nil, errors.Join(bad...)
	}
	c := &compiled{enteredProps: map[string]any{"flowId": f.ID}, flow: f, loc: time.UTC, nodes: map[string]*node{}, vars: map[string]store.Type{}}
	if f.TimeZone != "" {
		loc, err := wall.LoadLocation(f.TimeZone)
		if err != nil {
			bad.addf("timezone", "%q is not an IANA time zone", f.TimeZone)
		} else {
			c.loc = loc
		}
	}
	if !f.Schedule.Start.IsZero() && !f.Schedule.End.IsZero() && !f.Schedule.End.After(f.Schedule.Start) {
		bad.addf("schedule.end", "end %s is not after start %s", f.Schedule.End.Format(time.RFC3339), f.Schedule.Start.Format(time.RFC3339))
	}
	for _, name := range slices.Sorted(maps.Keys(f.Variables)) {
		v := f.Variables[name]
		field := "variables." + name
		if name == "" || reservedNames[name] {
			bad.addf(field, "%q cannot be a variable name", name)
			continue
		}
		if !v.Type.Valid() {
			bad.addf(field+".type", "unknown type %q", v.Type)
			continue
		}
		def, err := values.Convert(v.Type, v.Default)
		if err != nil {
			bad.addf(field+".default", "%v", err)
		}
		v.Default = def
		f.Variables[name] = v
		c.vars[name] = v.Type
	}
	c.compileJourney(f, d, &bad)
	// accepted marks the elements with a usable, unique id: the others are
	// reported once here and left out of the checks below.
	accepted := make([]bool, len(f.Elements))
	for i, n := range f.Elements {
		if n == nil || n.Element == nil {
			bad.addf(fmt.Sprintf("elements[%d]", i), "element has no configuration")
			continue
		}
		if n.ID == "" {
			bad.addf(fmt.Sprintf("elements[%d].id", i), "element id is missing")
			continue
		}
		if _, dup := c.nodes[n.ID]; dup {
			bad.add(n.ID, "id", errors.New("two elements have this id"))
			continue
		}
		nd := &node{id: n.ID, element: n.Element, next: map[string]*node{}, left: map[string]string{}}
		for _, b := range branchesOf(n) {
			nd.left[b] = keyLeft + b
		}
		nd.resumer, _ = n.Element.(element.Resumer)
		if x, ok := n.Element.(element.External); ok {
			nd.external = x.External()
		}
		c.nodes[n.ID] = nd
		accepted[i] = true
	}
	start := f.Start
	if start == "" && f.Elements[0] != nil {
		start = f.Elements[0].ID
	}
	if c.start = c.nodes[start]; c.start == nil {
		bad.addf("start", "start element %q does not exist", start)
	}
	// links are the edges as written, wrong branch names included, so that
	// a misspelt branch is not also reported as unreachable elements.
	links := map[*node][]*node{}
	for i, n := range f.Elements {
		if !accepted[i] {
			continue
		}
		comp := &element.Compiler{FlowID: f.ID, ElementID: n.ID, Variables: c.vars, Schema: d.schema, Computed: d.computed, Location: c.loc,
			Connected: connected(n), Budget: d.budget}
		if d.options != nil {
			d.options.Bind(n.Element)
		}
		if err := n.Element.Validate(comp); err != nil {
			field := ""
			var fe *element.FieldError
			if errors.As(err, &fe) {
				field, err = fe.Field, fe.Err
			}
			bad.add(n.ID, field, err)
		}
		allowed := branchesOf(n)
		for _, branch := range slices.Sorted(maps.Keys(n.Next)) {
			target := n.Next[branch]
			if t := c.nodes[target]; t != nil {
				links[c.nodes[n.ID]] = append(links[c.nodes[n.ID]], t)
			}
			if !slices.Contains(allowed, branch) {
				bad.add(n.ID, "next."+branch, fmt.Errorf("%s has no branch %q (it has %v)%s", n.Element.Kind(), branch, allowed, suggest.DidYouMean(branch, allowed)))
				continue
			}
			if target == "" {
				continue
			}
			t := c.nodes[target]
			if t == nil {
				bad.add(n.ID, "next."+branch, fmt.Errorf("target element %q does not exist%s", target, suggest.DidYouMean(target, slices.Collect(maps.Keys(c.nodes)))))
				continue
			}
			c.nodes[n.ID].next[branch] = t
		}
	}
	c.compileOutcomes(f, &bad)
	if c.start != nil {
		reached := map[string]bool{}
		var walk func(*node)
		walk = func(n *node) {
			if reached[n.id] {
				return
			}
			reached[n.id] = true
			for _, t := range links[n] {
				walk(t)
			}
		}
		walk(c.start)
		for i, n := range f.Elements {
			if accepted[i] && !reached[n.ID] {
				bad.add(n.ID, "", fmt.Errorf("element cannot be reached from the start element %q", start))
			}
		}
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	return c, nil
}

// connected lists the branches of n that lead to an element, sorted.
func connected(n *Node) []string {
	var out []string
	for b, t := range n.Next {
		if t != "" {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// reservedNames are the names the expression environment uses.
var reservedNames = map[string]bool{"person": true, "entry": true, "event": true, "now": true, "env": true}

func asValidation(err error) error {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve
	}
	return &ValidationError{Err: err}
}
