package kinds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// CustomKind is an element kind the host brings as a function (an
// Exchange element): registered in an engine's registry with
// RegisterCustom, it is used by
// name from that engine's flows, JSON flows included, each use configured
// by its own Config.
//
// A flow uses it as {"type": "<name>", "config": {...}, "outputs":
// {"<output>": "<flow variable>"}, "next": {...}}. Strings in config may
// hold placeholders, filled in for each step (as in Call API bodies),
// host settings ({{env.NAME}}) included. The engine takes the values of
// those settings out of the step's reason and error (in every spelling,
// JSON-escaped included) and out of the outputs it stores.
type CustomKind struct {
	// Branches are the exits Run may choose. Defaults to ["next"]. The
	// "error" branch every element has is taken when Run fails or panics.
	Branches []string
	// Outputs declares the values Run returns and their types, so that a
	// flow mapping one to a variable of another type, or an output the
	// kind does not have, is refused at Publish. Nil declares nothing:
	// outputs are then checked at run time only.
	Outputs map[string]store.Type
	// Validate checks a use's config at Publish, placeholders unfilled.
	// Optional.
	Validate func(config json.RawMessage) error
	// Run performs one step. Required. It may be called more than once for
	// one step (at-least-once): CustomCall.IdempotencyKey stays the same.
	Run func(ctx context.Context, call *CustomCall) (CustomResult, error)
	// Timeout bounds each Run through its context. Defaults to none.
	Timeout time.Duration
}

// CustomCall is what a custom kind's Run gets: copies of the person and
// the variables it may read freely, and the use's config with its
// placeholders filled in.
type CustomCall struct {
	Kind           string
	FlowID         string
	ElementID      string
	Participant    uuid.UUID
	Now            time.Time
	IdempotencyKey string
	Config         json.RawMessage
	Person         *store.Person
	Vars           map[string]any
}

// CustomResult is what a custom kind's Run returns.
type CustomResult struct {
	// Branch is the exit taken; "" for the kind's only branch.
	Branch string
	// Outputs are values by output name; those the flow maps to variables
	// are stored there, converted to the variables' types.
	Outputs map[string]any
	// Reason says in words what happened, for the journal.
	Reason string
}

// RegisterCustom adds a custom element kind to reg under name. It fails
// for an empty or taken name, a nil Run, and bad branch names.
func RegisterCustom(reg *element.Registry, name string, k CustomKind) error {
	if strings.TrimSpace(name) == "" || strings.TrimSpace(name) != name {
		return fmt.Errorf("kinds: custom kind name %q is empty or has spaces around it", name)
	}
	if k.Run == nil {
		return fmt.Errorf("kinds: custom kind %q has no Run", name)
	}
	if k.Timeout < 0 {
		return fmt.Errorf("kinds: custom kind %q: Timeout is negative", name)
	}
	spec := k
	spec.Branches = slices.Clone(k.Branches)
	if len(spec.Branches) == 0 {
		spec.Branches = []string{element.BranchNext}
	}
	for i, b := range spec.Branches {
		if b == "" || b == element.BranchError || slices.Contains(spec.Branches[:i], b) {
			return fmt.Errorf("kinds: custom kind %q: branch %q is empty, %q or named twice", name, b, element.BranchError)
		}
	}
	spec.Outputs = make(map[string]store.Type, len(k.Outputs))
	for out, t := range k.Outputs {
		if !t.Valid() {
			return fmt.Errorf("kinds: custom kind %q: output %q has unknown type %q", name, out, t)
		}
		spec.Outputs[out] = t
	}
	if k.Outputs == nil {
		spec.Outputs = nil
	}
	return reg.Register(name, func() element.Element { return &Custom{kind: name, spec: &spec} })
}

// NewCustom returns a use of the custom kind registered in reg, with its
// config and output mapping, for flows built in Go (JSON flows get theirs
// from the registry by "type").
func NewCustom(reg *element.Registry, kind string, config json.RawMessage, outputs map[string]string) (*Custom, error) {
	el, err := reg.New(kind)
	if err != nil {
		return nil, err
	}
	c, ok := el.(*Custom)
	if !ok {
		return nil, fmt.Errorf("kinds: kind %q is not a custom kind", kind)
	}
	c.Config = append(json.RawMessage(nil), config...)
	c.Outputs = outputs
	return c, nil
}

// Custom is one use of a custom kind in a flow; see NewCustom.
type Custom struct {
	// Config is the use's configuration, checked by the kind's Validate.
	Config json.RawMessage `json:"config,omitempty"`
	// Outputs map the kind's output names to flow variables.
	Outputs map[string]string `json:"outputs,omitempty"`

	kind   string
	spec   *CustomKind
	config *jsonTemplate
	vars   map[string]store.Type
}

// Kind implements element.Element.
func (c *Custom) Kind() string { return c.kind }

// External implements element.External: its step is host code.
func (*Custom) External() bool { return true }

// Branches implements element.Element.
func (c *Custom) Branches() []string {
	if c.spec == nil {
		return nil
	}
	return slices.Clone(c.spec.Branches)
}

// Blank implements element.Blanker: a new use of the same custom kind.
func (c *Custom) Blank() element.Element { return &Custom{kind: c.kind, spec: c.spec} }

// Validate implements element.Element.
func (c *Custom) Validate(comp *element.Compiler) (err error) {
	if c.spec == nil {
		return errors.New("custom element has no kind: create it with NewCustom")
	}
	if c.spec.Validate != nil {
		err := func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = fmt.Errorf("validation of custom kind %q panicked: %v", c.kind, v)
				}
			}()
			return c.spec.Validate(c.Config)
		}()
		if err != nil {
			var fe *element.FieldError
			if errors.As(err, &fe) {
				return fieldErr("config", err)
			}
			return element.Errorf("config", "%v", err)
		}
	}
	c.config = nil
	if raw := strings.TrimSpace(string(c.Config)); raw != "" && raw != "null" {
		if c.config, err = compileJSONTemplate(comp.WithSettings(), "config", c.Config); err != nil {
			return err
		}
	}
	c.vars = map[string]store.Type{}
	outs := make([]string, 0, len(c.Outputs))
	for o := range c.Outputs {
		outs = append(outs, o)
	}
	sort.Strings(outs)
	for _, o := range outs {
		v := c.Outputs[o]
		field := "outputs." + o
		vt, err := declaredVar(comp, field, v)
		if err != nil {
			return err
		}
		if c.spec.Outputs != nil {
			ot, ok := c.spec.Outputs[o]
			if !ok {
				return element.Errorf(field, "custom kind %q has no output %q", c.kind, o)
			}
			if ot != vt && vt != store.Text && (vt != store.Date || ot != store.DateTime) {
				return element.Errorf(field, "output %q is %s but variable %q is %s", o, ot, v, vt)
			}
		}
		c.vars[v] = vt
	}
	return nil
}

// Run implements element.Element.
func (c *Custom) Run(ctx context.Context, r *element.Run) (element.Outcome, error) {
	call := &CustomCall{
		Kind: c.kind, FlowID: r.FlowID, ElementID: r.ElementID, Participant: r.Participant,
		Now: r.Now, IdempotencyKey: r.IdempotencyKey(), Person: r.Person.Clone(), Vars: clone.Map(r.Vars),
	}
	if c.config != nil {
		cfg, err := c.config.renderJSON(r)
		if err != nil {
			return element.Outcome{}, fmt.Errorf("config: %w", err)
		}
		call.Config = cfg
	}
	if c.spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.spec.Timeout)
		defer cancel()
	}
	res, err := c.call(ctx, r, call)
	if err != nil {
		return element.Outcome{}, err
	}
	branch := res.Branch
	if branch == "" && len(c.spec.Branches) == 1 {
		branch = c.spec.Branches[0]
	}
	if !slices.Contains(c.spec.Branches, branch) {
		return element.Outcome{}, fmt.Errorf("custom element %q chose branch %q, which it does not have (it has %v)", c.kind, res.Branch, c.spec.Branches)
	}
	// Convert every output first: a failing step leaves the variables as
	// they were.
	converted := map[string]any{}
	for o, v := range c.Outputs {
		val, ok := res.Outputs[o]
		if !ok {
			continue
		}
		cv, err := values.Convert(c.vars[v], values.Normalize(clone.Value(val)))
		if err != nil {
			return element.Outcome{}, fmt.Errorf("custom element %q: output %q into variable %q: %w", c.kind, o, v, err)
		}
		converted[v] = clone.Value(cv)
	}
	for v, val := range converted {
		r.Vars[v] = val
	}
	reason := res.Reason
	if reason == "" {
		reason = fmt.Sprintf("custom element %q chose %q", c.kind, branch)
	}
	return element.Next(branch, reason), nil
}

// call runs the host's function, turning a panic into an error.
func (c *Custom) call(ctx context.Context, r *element.Run, call *CustomCall) (res CustomResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			if r.Ports.Logger != nil {
				r.Ports.Logger.ErrorContext(ctx, "flowkit: custom element panicked", "kind", c.kind,
					"flow", r.FlowID, "element", r.ElementID, "panic", r.RedactText(fmt.Sprint(v)), "stack", string(debug.Stack()))
			}
			res, err = CustomResult{}, fmt.Errorf("custom element %q panicked: %v", c.kind, v)
		}
	}()
	r.Calling() // host code: any of it may call outside
	res, err = c.spec.Run(ctx, call)
	if err != nil {
		return CustomResult{}, fmt.Errorf("custom element %q: %w", c.kind, err)
	}
	return res, nil
}
