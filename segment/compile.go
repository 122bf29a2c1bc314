package segment

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/flowkit/flowkit/internal/suggest"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
)

// ConditionError reports a problem with one condition: where it is and what
// is wrong. Parse, Compile and CompileWhere return it, and Match wraps
// evaluation errors in it.
type ConditionError struct {
	// Path locates the condition from the root: "all[2].any[0]",
	// "not.event.where[1]"; "" is the root itself.
	Path string
	// Err is the problem.
	Err error
}

// Error returns the path and the problem, such as
// `all[1]: attribute "age": operator "contains" does not apply to number`.
func (e *ConditionError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *ConditionError) Unwrap() error { return e.Err }

// Options are what Compile checks a condition against. The zero value
// allows the standard attributes only, checks no variables and uses UTC.
type Options struct {
	// Schema declares the custom attributes. Defaults to none.
	Schema store.Schema
	// Variables declares the flow's variables. When it is not nil, a
	// "{{name}}" placeholder must name one of them, and its type must fit
	// the condition. Defaults to nil: placeholders are not checked and are
	// converted at evaluation.
	Variables map[string]store.Type
	// Computed registers computed attributes by name. A name must not be a
	// standard or custom attribute. Defaults to none.
	Computed map[string]Computed
	// Location is the flow's time zone, used for calendar computations when
	// the Subject has none. Defaults to UTC.
	Location *time.Location
}

// Computed is a host-registered attribute computed from the person at
// evaluation time, by a Formula or by a Func (exactly one is set).
type Computed struct {
	// Type is the type of the value. Required.
	Type store.Type
	// Formula is an expr-lang expression over the person's standard and
	// custom attributes (by name, nil when empty) and now (the evaluation
	// time, in the flow's time zone). Its result is converted to Type with
	// values.Value.Set; nil is the empty value.
	Formula string
	// Func computes the value from the person and the evaluation time (in
	// the flow's time zone); nil is the empty value. It must be safe for
	// concurrent use and must not change the person. A panic in it is
	// recovered and returned as an error.
	Func func(p *store.Person, now time.Time) (any, error)
}

// Segment is a compiled audience condition. It is immutable and safe for
// concurrent use.
type Segment struct {
	root   *node
	events bool
	loc    *time.Location
}

// UsesEvents reports whether the segment has event conditions, so that
// evaluation needs Subject.Events.
func (s *Segment) UsesEvents() bool { return s != nil && s.events }

// Where is a compiled list of property conditions over an event, all of which
// must match. It is immutable and safe for concurrent use.
type Where struct {
	conds []*propCond
	loc   *time.Location
}

// count returns the number of property conditions.
func (w *Where) count() int {
	if w == nil {
		return 0
	}
	return len(w.conds)
}

// Compile checks a condition against opts and compiles it for evaluation.
// An error is a *ConditionError naming the offending condition's path.
func Compile(c Condition, opts Options) (*Segment, error) {
	cp := newCompiler(opts)
	if err := cp.checkComputed(); err != nil {
		return nil, err
	}
	root, err := cp.node(&c, "")
	if err != nil {
		return nil, err
	}
	return &Segment{root: root, events: cp.events, loc: cp.loc}, nil
}

// CompileWhere compiles property conditions over an event for reuse, such as
// the conditions of Wait for an Event. Errors are a *ConditionError with
// path "where[i]".
func CompileWhere(conds []PropertyCondition, opts Options) (*Where, error) {
	cp := newCompiler(opts)
	if err := cp.checkComputed(); err != nil {
		return nil, err
	}
	return cp.where(conds, "")
}

// checkComputed refuses computed attributes named like standard or custom
// ones, which would never be used.
func (cp *compiler) checkComputed() error {
	for _, name := range sortedNames(cp.opts.Computed) {
		if _, ok := cp.opts.Schema.TypeOf(name); ok {
			return &ConditionError{Err: fmt.Errorf("computed attribute %q has the name of a standard or custom attribute", name)}
		}
	}
	return nil
}

type compiler struct {
	opts     Options
	loc      *time.Location
	events   bool
	depth    int
	computed map[string]getter
}

func newCompiler(opts Options) *compiler {
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	return &compiler{opts: opts, loc: loc, computed: map[string]getter{}}
}

// nodeKind is the kind of a compiled node.
type nodeKind uint8

const (
	nAll nodeKind = iota
	nAny
	nNot
	nAttr // attribute or lastContacted: get + test
	nTag
	nContact
	nEvent
)

type node struct {
	kind  nodeKind
	path  string
	label string // the leaf's subject in reasons
	kids  []*node

	get  getter // nAttr
	test test   // nAttr, nContact
	tag  string // nTag
	neg  bool   // nTag: hasNot

	contact string // nContact
	ev      *eventCond
}

// getter reads one attribute of a person.
type getter func(p *store.Person, now time.Time) (val, error)

// test is an operator with its operand, ready to apply to a value.
type test struct {
	op       Op
	want     kind // the kind values are compared as; kAny: inferred from the operand
	arg      operand
	period   Period
	personTZ bool
	phone    bool // strip a leading "+" from text values
}

type eventCond struct {
	category   store.Category
	name       string
	where      *Where
	op         Op
	count      int
	within     *Period
	sinceEntry bool
	personTZ   bool
}

type propCond struct {
	path string
	name string
	test test
	desc string // for reasons: `url startsWith "/pricing"`
}

const (
	groupAll = "all"
	groupAny = "any"
)

// MaxDepth is the deepest a condition may nest: the root is at depth 1,
// the conditions of its "all", "any" or "not" at depth 2, and so on.
// Parse, MarshalJSON and Compile refuse deeper conditions, which also
// stops a cyclic condition built in Go.
const MaxDepth = 100

// errTooDeep is the problem of a condition nested deeper than MaxDepth.
var errTooDeep = fmt.Errorf("conditions are nested more than %d deep", MaxDepth)

func (cp *compiler) node(c *Condition, path string) (*node, error) {
	if cp.depth++; cp.depth > MaxDepth {
		return nil, &ConditionError{Path: path, Err: errTooDeep}
	}
	defer func() { cp.depth-- }()
	var kinds []string
	if c.All != nil {
		kinds = append(kinds, groupAll)
	}
	if c.Any != nil {
		kinds = append(kinds, groupAny)
	}
	if c.Not != nil {
		kinds = append(kinds, "not")
	}
	if c.Attribute != "" {
		kinds = append(kinds, "attribute")
	}
	if c.Tag != "" {
		kinds = append(kinds, "tag")
	}
	if c.Contact != "" {
		kinds = append(kinds, "contact")
	}
	if c.LastContacted != "" {
		kinds = append(kinds, "lastContacted")
	}
	if c.Event != nil {
		kinds = append(kinds, "event")
	}
	switch len(kinds) {
	case 0:
		return nil, pathErr(path, "condition has none of all, any, not, attribute, tag, contact, lastContacted, event")
	case 1:
	default:
		return nil, pathErr(path, "condition has both %s and %s", kinds[0], kinds[1])
	}
	n := &node{path: path}
	var err error
	switch kinds[0] {
	case groupAll, groupAny:
		cs, k := c.All, nAll
		if kinds[0] == groupAny {
			cs, k = c.Any, nAny
		}
		if err := cp.groupOnly(c, path, kinds[0]); err != nil {
			return nil, err
		}
		n.kind = k
		n.kids = make([]*node, len(cs))
		for i := range cs {
			if n.kids[i], err = cp.node(&cs[i], joinPath(path, kinds[0]+"["+strconv.Itoa(i)+"]")); err != nil {
				return nil, err
			}
		}
	case "not":
		if err := cp.groupOnly(c, path, "not"); err != nil {
			return nil, err
		}
		n.kind = nNot
		kid, err := cp.node(c.Not, joinPath(path, "not"))
		if err != nil {
			return nil, err
		}
		n.kids = []*node{kid}
	case "attribute":
		err = cp.attribute(n, c)
	case "tag":
		err = cp.tag(n, c)
	case "contact":
		err = cp.contactCond(n, c)
	case "lastContacted":
		err = cp.lastContacted(n, c)
	case "event":
		err = cp.event(n, c, path)
	}
	if err != nil {
		var ce *ConditionError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, &ConditionError{Path: path, Err: err}
	}
	return n, nil
}

// groupOnly refuses leaf fields on a group.
func (cp *compiler) groupOnly(c *Condition, path, group string) error {
	switch {
	case c.Op != "":
		return pathErr(path, "%s group takes no op", group)
	case c.Value != nil:
		return pathErr(path, "%s group takes no value", group)
	case c.Count != 0, c.Within != nil, c.SinceEntry:
		return pathErr(path, "%s group takes no count, within or sinceEntry", group)
	case c.PersonTimeZone:
		return pathErr(path, "%s group takes no personTimeZone", group)
	}
	return nil
}

// noEventFields refuses event-only fields on a non-event leaf.
func noEventFields(c *Condition, what string) error {
	if c.Count != 0 || c.Within != nil || c.SinceEntry {
		return fmt.Errorf("%s: count, within and sinceEntry apply to event conditions only", what)
	}
	return nil
}

func (cp *compiler) attribute(n *node, c *Condition) error {
	what := fmt.Sprintf("attribute %q", c.Attribute)
	if err := noEventFields(c, what); err != nil {
		return err
	}
	t, get, err := cp.lookup(c.Attribute)
	if err != nil {
		return err
	}
	n.kind, n.label, n.get = nAttr, c.Attribute, get
	n.test, err = cp.test(c.Op, t, c.Value, c.PersonTimeZone)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (cp *compiler) lastContacted(n *node, c *Condition) error {
	what := fmt.Sprintf("lastContacted %q", c.LastContacted)
	if err := noEventFields(c, what); err != nil {
		return err
	}
	ch := c.LastContacted
	n.kind, n.label = nAttr, "lastContacted "+ch
	n.get = func(p *store.Person, _ time.Time) (val, error) {
		return dateTimeVal(p.LastContacted[ch]), nil
	}
	var err error
	n.test, err = cp.test(c.Op, store.DateTime, c.Value, c.PersonTimeZone)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (cp *compiler) tag(n *node, c *Condition) error {
	what := fmt.Sprintf("tag %q", c.Tag)
	if err := noEventFields(c, what); err != nil {
		return err
	}
	switch c.Op {
	case Has, HasNot:
	case "":
		return fmt.Errorf("%s: no operator (has or hasNot)", what)
	default:
		return fmt.Errorf("%s: operator %q does not apply to tags (has or hasNot)%s", what, c.Op, suggest.DidYouMean(string(c.Op), opNames([]Op{Has, HasNot})))
	}
	if c.Value != nil {
		return fmt.Errorf("%s: operator %q takes no value", what, c.Op)
	}
	if c.PersonTimeZone {
		return fmt.Errorf("%s: personTimeZone does not apply to tags", what)
	}
	n.kind, n.tag, n.neg, n.label = nTag, c.Tag, c.Op == HasNot, "tag "+strconv.Quote(c.Tag)
	return nil
}

func (cp *compiler) contactCond(n *node, c *Condition) error {
	what := fmt.Sprintf("contact %q", c.Contact)
	if err := noEventFields(c, what); err != nil {
		return err
	}
	switch c.Contact {
	case ContactEmail, ContactPhone, ContactPush:
	default:
		return fmt.Errorf("%s: unknown contact (email, phone or push)", what)
	}
	if c.PersonTimeZone {
		return fmt.Errorf("%s: personTimeZone does not apply to contacts", what)
	}
	var err error
	n.kind, n.contact, n.label = nContact, c.Contact, c.Contact
	n.test, err = cp.test(c.Op, store.Text, c.Value, false)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if c.Contact == ContactPhone {
		n.test.phone = true
		if n.test.arg.ph == nil {
			n.test.arg.v.s = strings.TrimPrefix(n.test.arg.v.s, "+")
		}
	}
	return nil
}

func (cp *compiler) event(n *node, c *Condition, path string) error {
	e := c.Event
	if e.Category != "" && !e.Category.Valid() {
		return fmt.Errorf("event: unknown category %q (external, people, channel or product)", e.Category)
	}
	what := "event"
	if e.Name != "" {
		what = fmt.Sprintf("event %q", e.Name)
	}
	ec := &eventCond{category: e.Category, name: e.Name, op: c.Op, count: c.Count,
		sinceEntry: c.SinceEntry, personTZ: c.PersonTimeZone}
	switch c.Op {
	case Happened, DidNotHappen:
		if c.Count != 0 {
			return fmt.Errorf("%s: operator %q takes no count", what, c.Op)
		}
	case AtLeast, AtMost:
		if c.Count < 0 {
			return fmt.Errorf("%s: count %d is negative", what, c.Count)
		}
	case "":
		return fmt.Errorf("%s: no operator (happened, didNotHappen, atLeast or atMost)", what)
	default:
		return fmt.Errorf("%s: operator %q does not apply to events (happened, didNotHappen, atLeast or atMost)%s", what, c.Op, suggest.DidYouMean(string(c.Op), opNames([]Op{Happened, DidNotHappen, AtLeast, AtMost})))
	}
	if c.Value != nil {
		return fmt.Errorf("%s: event conditions take no value (use count)", what)
	}
	if c.Within != nil {
		if err := checkPeriod(*c.Within, kDateTime); err != nil {
			return fmt.Errorf("%s: within: %w", what, err)
		}
		w := *c.Within
		ec.within = &w
	}
	if len(e.Where) > 0 {
		w, err := cp.where(e.Where, joinPath(path, "event"))
		if err != nil {
			return err
		}
		ec.where = w
	}
	label := string(e.Category)
	if label == "" {
		label = "*"
	}
	name := e.Name
	if name == "" {
		name = "*"
	}
	n.kind, n.ev, n.label = nEvent, ec, "event "+label+"/"+name
	cp.events = true
	return nil
}

func (cp *compiler) where(conds []PropertyCondition, path string) (*Where, error) {
	w := &Where{conds: make([]*propCond, len(conds)), loc: cp.loc}
	for i := range conds {
		p := &conds[i]
		pp := joinPath(path, "where["+strconv.Itoa(i)+"]")
		pc, err := cp.prop(p)
		if err != nil {
			return nil, &ConditionError{Path: pp, Err: err}
		}
		pc.path = pp
		w.conds[i] = pc
	}
	return w, nil
}

func (cp *compiler) prop(p *PropertyCondition) (*propCond, error) {
	what := fmt.Sprintf("property %q", p.Property)
	if p.Property == "" {
		return nil, errors.New("property condition names no property")
	}
	t := p.Type
	if t != "" && !t.Valid() {
		return nil, fmt.Errorf("%s: unknown type %q", what, t)
	}
	if t == "" {
		var err error
		if t, err = cp.inferType(p); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	tst, err := cp.test(p.Op, t, p.Value, p.PersonTimeZone)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &propCond{name: p.Property, test: tst, desc: p.Property + " " + tst.String()}, nil
}

// typeAny is the type of a property condition that compares as whatever the
// operand turns out to be, or only asks for emptiness.
const typeAny store.Type = ""

// inferType gives an untyped property condition a type: from the operator
// when only one type has it, else from the literal value or the declared
// type of the placeholder; "" when it is known only at evaluation.
func (cp *compiler) inferType(p *PropertyCondition) (store.Type, error) {
	switch p.Op {
	case LessThan, LessOrEqual, GreaterThan, GreaterOrEqual:
		return store.Number, nil
	case Contains, StartsWith, EndsWith:
		return store.Text, nil
	case Before, Until, Since, After, WillBeIn, WillBeWithin, WillBeMoreThan,
		WasWithin, WasMoreThan, WasToday:
		return store.DateTime, nil
	case IsEmpty, IsNotEmpty:
		return typeAny, nil
	}
	switch v := p.Value.(type) {
	case nil:
		return typeAny, nil
	case string:
		if name, ok := placeholderName(v); ok {
			if t, ok, err := cp.placeholderType(name); err != nil || ok {
				return t, err
			}
			return typeAny, nil
		}
		return store.Text, nil
	case bool:
		return store.Bool, nil
	case time.Time:
		return store.DateTime, nil
	case Period, *Period:
		return "", fmt.Errorf("operator %q takes no period", p.Op)
	}
	if _, ok := values.Float(p.Value); ok {
		return store.Number, nil
	}
	return "", fmt.Errorf("cannot infer a type from value %s; set \"type\"", describe(p.Value))
}

// opsByType lists the operators of each type.
var opsByType = map[store.Type][]Op{
	store.Text:     {Is, IsNot, Contains, StartsWith, EndsWith, IsEmpty, IsNotEmpty},
	store.Number:   {Is, IsNot, LessThan, LessOrEqual, GreaterThan, GreaterOrEqual, IsEmpty, IsNotEmpty},
	store.Bool:     {Is, IsNot, IsEmpty, IsNotEmpty},
	store.Date:     {Is, IsNot, Before, Until, Since, After, IsEmpty, IsNotEmpty, WillBeIn, WillBeWithin, WillBeMoreThan, WasWithin, WasMoreThan, WasToday},
	store.DateTime: {Is, IsNot, Before, Until, Since, After, IsEmpty, IsNotEmpty, WillBeIn, WillBeWithin, WillBeMoreThan, WasWithin, WasMoreThan, WasToday},
	store.List:     {Contains, IsEmpty, IsNotEmpty},
	store.Object:   {IsEmpty, IsNotEmpty},
	typeAny:        {Is, IsNot, IsEmpty, IsNotEmpty},
}

// Operators returns the operators that apply to values of type t, in
// documentation order; nil for an unknown type.
func Operators(t store.Type) []Op {
	if t == typeAny {
		return nil
	}
	return slices.Clone(opsByType[t])
}

func opNames(ops []Op) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = string(op)
	}
	return out
}

var knownOps = func() map[Op]bool {
	m := map[Op]bool{Has: true, HasNot: true, Happened: true, DidNotHappen: true, AtLeast: true, AtMost: true}
	for _, ops := range opsByType {
		for _, op := range ops {
			m[op] = true
		}
	}
	return m
}()

func relative(op Op) bool {
	switch op {
	case WillBeIn, WillBeWithin, WillBeMoreThan, WasWithin, WasMoreThan:
		return true
	}
	return false
}

func typeName(t store.Type) string {
	if t == typeAny {
		return "an untyped property"
	}
	return string(t)
}

// test compiles an operator and its operand for values of type t.
func (cp *compiler) test(op Op, t store.Type, value any, personTZ bool) (test, error) {
	tst := test{op: op, personTZ: personTZ, want: kindOf(t)}
	if t == typeAny {
		tst.want = kAny
	}
	switch {
	case op == "":
		return tst, errors.New("no operator")
	case !knownOps[op]:
		valid := opNames(opsByType[t])
		return tst, fmt.Errorf("unknown operator %q%s (%s takes %s)", op, suggest.DidYouMean(string(op), valid), typeName(t), strings.Join(valid, ", "))
	case !slices.Contains(opsByType[t], op):
		return tst, fmt.Errorf("operator %q does not apply to %s", op, typeName(t))
	}
	if personTZ && tst.want != kDate && tst.want != kDateTime {
		return tst, fmt.Errorf("personTimeZone applies to date and datetime values only")
	}
	switch {
	case op == IsEmpty || op == IsNotEmpty || op == WasToday:
		if value != nil {
			return tst, fmt.Errorf("operator %q takes no value", op)
		}
	case relative(op):
		var p Period
		switch v := value.(type) {
		case Period:
			p = v
		case *Period:
			if v == nil {
				return tst, fmt.Errorf("operator %q needs a period value such as {\"amount\":7,\"unit\":\"days\"}", op)
			}
			p = *v
		default:
			return tst, fmt.Errorf("operator %q needs a period value such as {\"amount\":7,\"unit\":\"days\"}, not %s", op, describe(value))
		}
		if err := checkPeriod(p, tst.want); err != nil {
			return tst, err
		}
		tst.period = p
	default:
		if value == nil {
			return tst, fmt.Errorf("operator %q needs a value", op)
		}
		arg, err := cp.operand(value, t)
		if err != nil {
			return tst, err
		}
		tst.arg = arg
	}
	return tst, nil
}

func checkPeriod(p Period, k kind) error {
	max, ok := maxAmount[p.Unit]
	switch {
	case p.Unit == "":
		return errors.New("period has no unit")
	case !ok:
		return fmt.Errorf("unknown unit %q (seconds, minutes, hours, days, weeks, months or years)", p.Unit)
	case k == kDate && !p.Unit.calendar():
		return fmt.Errorf("unit %q does not apply to date (days, weeks, months or years)", p.Unit)
	case p.Amount < 0:
		return fmt.Errorf("amount %d is negative", p.Amount)
	case p.Amount > max:
		return fmt.Errorf("amount %d %s is more than a century", p.Amount, p.Unit)
	}
	return nil
}

// String renders the operator and its operand as written, for reasons.
func (t *test) String() string {
	switch {
	case relative(t.op):
		return string(t.op) + " " + t.period.String()
	case t.op == IsEmpty || t.op == IsNotEmpty || t.op == WasToday:
		return string(t.op)
	case t.arg.ph != nil:
		return string(t.op) + " " + t.arg.ph.src
	}
	return string(t.op) + " " + t.arg.v.format(nil)
}

// operand is a comparison value: a constant, or a placeholder resolved at
// evaluation.
type operand struct {
	v  val
	ph *placeholder
}

// placeholder scopes.
const (
	scopeVar = iota
	scopePerson
	scopeEntry
)

type placeholder struct {
	src   string // as written, for reasons
	scope int
	name  string
	get   getter // scopePerson
	date  bool   // declared a date: a time value is a calendar day
}

// placeholderName returns the name inside a "{{name}}" value.
func placeholderName(s string) (string, bool) {
	inner, ok := strings.CutPrefix(s, "{{")
	if !ok {
		return "", false
	}
	inner, ok = strings.CutSuffix(inner, "}}")
	if !ok {
		return "", false
	}
	return strings.TrimSpace(inner), true
}

// entryProperty returns the property an "entry." placeholder names:
// "entry.properties.x", as templates write it, or the short "entry.x".
func entryProperty(name string) string {
	name = strings.TrimPrefix(name, "entry.")
	if rest, ok := strings.CutPrefix(name, "properties."); ok {
		return rest
	}
	return name
}

// placeholderType returns the declared type of a placeholder, and false when
// it is known only at evaluation.
func (cp *compiler) placeholderType(name string) (store.Type, bool, error) {
	switch {
	case name == "":
		return "", false, errors.New("empty placeholder")
	case strings.HasPrefix(name, "person."):
		t, _, err := cp.lookup(strings.TrimPrefix(name, "person."))
		return t, err == nil, err
	case strings.HasPrefix(name, "entry."):
		if entryProperty(name) == "" {
			return "", false, fmt.Errorf("placeholder {{%s}} names no property", name)
		}
		return "", false, nil
	}
	if cp.opts.Variables == nil {
		return "", false, nil
	}
	t, ok := cp.opts.Variables[name]
	if !ok {
		return "", false, fmt.Errorf("unknown variable %q", name)
	}
	return t, true, nil
}

// fits reports whether a value of type from can be compared as type to.
func fits(from, to store.Type) bool {
	switch {
	case from == to || to == typeAny:
		return true
	case to == store.Text:
		return from == store.Number || from == store.Bool || from == store.Date || from == store.DateTime
	case to == store.Date || to == store.DateTime:
		return from == store.Date || from == store.DateTime
	case to == store.List:
		return from == store.Text || from == store.Number || from == store.Bool
	}
	return false
}

func (cp *compiler) operand(value any, t store.Type) (operand, error) {
	if s, ok := value.(string); ok {
		if name, ok := placeholderName(s); ok {
			from, known, err := cp.placeholderType(name)
			if err != nil {
				return operand{}, fmt.Errorf("value %q: %w", s, err)
			}
			if known && !fits(from, t) {
				return operand{}, fmt.Errorf("value %q is %s, not %s", s, from, typeName(t))
			}
			ph := &placeholder{src: s, name: name, date: known && from == store.Date}
			switch {
			case strings.HasPrefix(name, "person."):
				ph.scope, ph.name = scopePerson, strings.TrimPrefix(name, "person.")
				_, ph.get, _ = cp.lookup(ph.name)
			case strings.HasPrefix(name, "entry."):
				ph.scope, ph.name = scopeEntry, entryProperty(name)
			}
			return operand{ph: ph}, nil
		}
	}
	var v val
	ok := toVal(&v, operandKind(kindOf(t)), value, compared)
	if !ok || v.k == kList || v.k == kObject || (t == store.List && v.k == kDateTime) {
		return operand{}, fmt.Errorf("value %s is not %s", describe(value), article(t))
	}
	if v.k == kNone {
		if t != store.Text {
			return operand{}, fmt.Errorf("value %s is empty; use isEmpty", describe(value))
		}
		v.k = kText
	}
	return operand{v: v}, nil
}

// operandKind is the kind an operand is converted to for values of kind k:
// any date or date-time for dates (a date-time operand of a date is taken
// as its calendar day in the condition's time zone), and whatever scalar it
// is for list elements and untyped properties.
func operandKind(k kind) kind {
	switch k {
	case kDate, kDateTime:
		return kDateTime
	case kList, kNone, kAny:
		return kAny
	}
	return k
}

func article(t store.Type) string {
	switch t {
	case typeAny:
		return "a text, number, bool or datetime"
	case store.List:
		return "a text, number or bool (a list element)"
	}
	return "a " + string(t)
}

// describe renders a literal for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return strconv.Quote(x.Format(time.RFC3339Nano))
	case Period:
		return "period " + x.String()
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	if f, ok := values.Float(v); ok {
		return formatNumber(f)
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

// lookup returns the type of an attribute and a getter for it.
func (cp *compiler) lookup(name string) (store.Type, getter, error) {
	if name == "" {
		return "", nil, errors.New("no attribute name")
	}
	if t, ok := values.StandardAttributes[name]; ok {
		return t, standardGetter(name), nil
	}
	if t, ok := cp.opts.Schema[name]; ok {
		if !t.Valid() {
			return "", nil, fmt.Errorf("attribute %q: schema declares unknown type %q", name, t)
		}
		return t, customGetter(name, t), nil
	}
	if c, ok := cp.opts.Computed[name]; ok {
		g, err := cp.computedGetter(name, c)
		if err != nil {
			return "", nil, fmt.Errorf("computed attribute %q: %w", name, err)
		}
		return c.Type, g, nil
	}
	return "", nil, fmt.Errorf("unknown attribute %q", name)
}

func standardGetter(name string) getter {
	if field, ok := values.StandardText(name); ok {
		return func(p *store.Person, _ time.Time) (val, error) { return textVal(*field(p)), nil }
	}
	if name == store.AttrBirthDate {
		return func(p *store.Person, _ time.Time) (val, error) { return dateVal(p.BirthDate), nil }
	}
	// A standard attribute of another type: read it through Person.Get
	// (which may allocate).
	t := values.StandardAttributes[name]
	k := kindOf(t)
	return func(p *store.Person, _ time.Time) (val, error) {
		v, _ := p.Get(name)
		return stored(name, k, v)
	}
}

func customGetter(name string, t store.Type) getter {
	k := kindOf(t)
	return func(p *store.Person, _ time.Time) (val, error) {
		return stored(name, k, p.Attributes[name])
	}
}

// stored converts a stored attribute value; one not of the attribute's type
// is an error, since the store keeps values in the Go form of their type.
func stored(name string, k kind, v any) (val, error) {
	switch x := v.(type) {
	case nil:
		return val{}, nil
	case float64:
		if k == kNumber {
			return val{k: kNumber, f: x}, nil
		}
	case string:
		if k == kText {
			return textVal(x), nil
		}
	case bool:
		if k == kBool {
			return val{k: kBool, b: x}, nil
		}
	case time.Time:
		if k == kDate {
			return dateVal(x), nil
		}
		if k == kDateTime {
			return dateTimeVal(x), nil
		}
	}
	var r val
	if !toVal(&r, k, v, held) {
		return val{}, fmt.Errorf("attribute %q holds %v (%T), not a %s", name, v, v, k)
	}
	return r, nil
}

func (cp *compiler) computedGetter(name string, c Computed) (getter, error) {
	if g, ok := cp.computed[name]; ok {
		return g, nil
	}
	if !c.Type.Valid() {
		return nil, fmt.Errorf("unknown type %q", c.Type)
	}
	k := kindOf(c.Type)
	var g getter
	switch {
	case c.Func != nil && c.Formula != "":
		return nil, errors.New("both a formula and a func")
	case c.Func != nil:
		fn := c.Func
		g = func(p *store.Person, now time.Time) (v val, err error) {
			defer func() {
				if r := recover(); r != nil {
					v, err = val{}, fmt.Errorf("computed attribute %q: panic: %v", name, r)
				}
			}()
			out, err := fn(p, now)
			if err != nil {
				return val{}, fmt.Errorf("computed attribute %q: %w", name, err)
			}
			return computedVal(name, k, out)
		}
	case c.Formula != "":
		prog, err := cp.formula(c)
		if err != nil {
			return nil, err
		}
		schema := sortedNames(cp.opts.Schema)
		g = func(p *store.Person, now time.Time) (val, error) {
			out, err := expr.Run(prog, formulaEnv(schema, p, now))
			if err != nil {
				return val{}, fmt.Errorf("computed attribute %q: %w", name, err)
			}
			return computedVal(name, k, out)
		}
	default:
		return nil, errors.New("neither a formula nor a func")
	}
	cp.computed[name] = g
	return g, nil
}

func computedVal(name string, k kind, out any) (val, error) {
	if t, ok := out.(time.Time); ok && k == kDate {
		return dateVal(t), nil
	}
	var v val
	if !toVal(&v, k, out, held) {
		return val{}, fmt.Errorf("computed attribute %q: value %v (%T) is not a %s", name, out, out, k)
	}
	return v, nil
}

// formula compiles a computed attribute's expression, type checked against
// the person's attributes.
func (cp *compiler) formula(c Computed) (*vm.Program, error) {
	env := map[string]any{}
	for name, t := range values.StandardAttributes {
		env[name] = values.Zero(t)
	}
	for name, t := range cp.opts.Schema {
		env[name] = values.Zero(t)
	}
	env["now"] = time.Time{}
	prog, err := expr.Compile(c.Formula, expr.Env(env), expr.DisableBuiltin("now"))
	if err != nil {
		return nil, fmt.Errorf("formula: %w", err)
	}
	if rt := prog.Node().Type(); rt != nil && rt.Kind() != reflect.Interface && !returns(rt, c.Type) {
		return nil, fmt.Errorf("formula returns %s, not %s", rt, c.Type)
	}
	return prog, nil
}

var timeType = reflect.TypeFor[time.Time]()

func returns(rt reflect.Type, t store.Type) bool {
	switch t {
	case store.Number:
		switch rt.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			return true
		}
	case store.Text:
		return rt.Kind() == reflect.String || rt.Kind() == reflect.Bool ||
			rt.Kind() == reflect.Float64 || rt.Kind() == reflect.Int
	case store.Bool:
		return rt.Kind() == reflect.Bool
	case store.Date, store.DateTime:
		return rt == timeType
	case store.List:
		return rt.Kind() == reflect.Slice
	case store.Object:
		return rt.Kind() == reflect.Map
	}
	return false
}

// formulaEnv is the environment of a formula: every standard and declared
// custom attribute by name (nil when empty) and now.
func formulaEnv(schema []string, p *store.Person, now time.Time) map[string]any {
	env := make(map[string]any, len(values.StandardAttributes)+len(schema)+1)
	for name := range values.StandardAttributes {
		if v, ok := p.Get(name); ok {
			env[name] = v
		} else {
			env[name] = nil
		}
	}
	for _, name := range schema {
		env[name] = p.Attributes[name]
	}
	env["now"] = now
	return env
}

// sortedNames returns the keys of m in order.
func sortedNames[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
