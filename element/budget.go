package element

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// Budget bounds each evaluation of a formula, a condition or a template
// (all of a template's placeholders together, and the text it renders):
// the memory the strings, lists and maps it builds may take, and the time
// it may run. Publish refuses an expression that would surely exceed it,
// such as repeat("x", 1e9) or 1..1000000000; an evaluation that exceeds it
// at run time fails its step with an error wrapping ErrBudget. The zero
// value means the defaults.
type Budget struct {
	// Memory is the most bytes one evaluation may build, and the most
	// the results of one step's evaluations (a message's fields, a
	// request's URL, headers and body) may take together. A list or map
	// element counts 16 bytes, a string its length, an iteration of a
	// loop 16 bytes. Defaults to 4 MiB.
	Memory int64
	// Time is the longest the evaluations of one step may loop (map,
	// filter, reduce and the other functions over lists), on the host's
	// own clock: it bounds CPU time, not flow time. Defaults to 250ms.
	Time time.Duration
}

// The defaults of Budget.
const (
	defaultMemoryBudget = 4 << 20
	defaultTimeBudget   = 250 * time.Millisecond
)

// ErrBudget is wrapped by the error of an evaluation that exceeds its
// Budget, and by Publish's error for an expression that would.
var ErrBudget = errors.New("evaluation budget exceeded")

// withDefaults returns b with its zero or negative fields set to the
// defaults.
func (b Budget) withDefaults() Budget {
	if b.Memory <= 0 {
		b.Memory = defaultMemoryBudget
	}
	if b.Time <= 0 {
		b.Time = defaultTimeBudget
	}
	return b
}

// budgetError is an evaluation over its budget: what took too much, and
// the budget it exceeded.
type budgetError struct {
	what  string
	limit string
}

func (e *budgetError) Error() string {
	return e.what + " exceeds the evaluation budget of " + e.limit
}

func (e *budgetError) Is(target error) bool { return target == ErrBudget }

// overMemory returns the error for what, which needs more than the budget.
func (b Budget) overMemory(what string) error {
	return &budgetError{what: what, limit: formatBytes(b.Memory)}
}

// formatBytes writes n bytes for people: 4 MiB, 1.5 KiB, 300 bytes.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// elementCost is what a list or map element counts against the memory
// budget: an interface value.
const elementCost = 16

// meter keeps one evaluation's account: the bytes charged so far and the
// loop iterations, whose time it checks now and then. The Run lends one to
// each evaluation; guarded functions find it in their first argument.
type meter struct {
	budget  Budget
	used    int64
	ticks   uint32
	started time.Time // at the first loop iteration; zero before
}

// tickEvery is how many loop iterations pass between two readings of the
// clock: reading it costs about as much as a simple iteration.
const tickEvery = 64

// start readies the evaluator's meter for an evaluation of r's step.
func (ev *evaluator) start(r *Run, b Budget) *meter {
	ev.meter = meter{budget: b, started: r.loopStart}
	return &ev.meter
}

// finish accounts an evaluation's result of size bytes to r's step: the
// results of a step together may not exceed the memory budget either.
func (ev *evaluator) finish(r *Run, size int64) error {
	r.loopStart = ev.meter.started
	r.produced = add(r.produced, size)
	if r.produced > ev.meter.budget.Memory {
		return ev.meter.budget.overMemory("what the step's formulas and templates gave")
	}
	return nil
}

// remaining returns the bytes the evaluation may still build.
func (m *meter) remaining() int64 { return m.budget.Memory - m.used }

// charge accounts n bytes for what, refusing them when they do not fit:
// before the memory is taken.
func (m *meter) charge(what string, n int64) error {
	if n < 0 || n > m.remaining() {
		return m.budget.overMemory(what)
	}
	m.used += n
	return nil
}

// tick counts a loop iteration, charging it elementCost (an iteration
// boxes a value or two, garbage at once but memory taken all the same),
// and fails once the evaluation has looped for longer than its time
// budget.
func (m *meter) tick() error {
	if m.used += elementCost; m.used > m.budget.Memory {
		return m.budget.overMemory("looping, at 16 bytes an iteration,")
	}
	m.ticks++
	if m.ticks%tickEvery != 1 {
		return nil
	}
	now := time.Now()
	if m.started.IsZero() {
		m.started = now
		return nil
	}
	if now.Sub(m.started) > m.budget.Time {
		return &budgetError{what: "the evaluation's time", limit: m.budget.Time.String()}
	}
	return nil
}

// The names under which compiled expressions reach the meter and the
// guards that are not builtins. Spaces keep them out of what people can
// write.
const (
	meterName   = "budget meter"
	plusName    = "budget +"
	tickName    = "budget tick"
	growName    = "budget grow"
	sumItemName = "budget sum"
	matchesName = "budget matches"
)

var (
	meterType = reflect.TypeFor[*meter]()
	anyType   = reflect.TypeFor[any]()
)

// meterOf returns the meter a guard was called with.
func meterOf(args []any) (*meter, error) {
	if len(args) > 0 {
		if m, ok := args[0].(*meter); ok && m != nil {
			return m, nil
		}
	}
	return nil, errors.New("evaluation without a budget")
}

// guard says how a builtin that builds strings, lists or maps is
// accounted: cost returns the bytes its result will take, computed before
// it runs and at most about limit (past it, any larger number will do).
type guard struct {
	cost func(args []any, limit int64) int64
	// counted is set for builtins whose results the VM already counts
	// against its own budget once built: their cost is checked, not
	// charged.
	counted bool
}

var guards = map[string]guard{
	"repeat":     {cost: repeatCost},
	"replace":    {cost: replaceCost},
	"join":       {cost: joinCost},
	"split":      {cost: splitCost},
	"splitAfter": {cost: splitCost},
	"upper":      {cost: stringCost(2)},
	"lower":      {cost: stringCost(2)},
	"toBase64":   {cost: stringCost(2)},
	"fromBase64": {cost: stringCost(1)},
	"fromJSON":   {cost: stringCost(elementCost)},
	"string":     {cost: func(args []any, limit int64) int64 { return measure(arg(args, 0), false, limit) }},
	"toJSON":     {cost: func(args []any, limit int64) int64 { return measure(arg(args, 0), true, limit) }},
	"keys":       {cost: lenCost(elementCost)},
	"values":     {cost: lenCost(elementCost)},
	"toPairs":    {cost: lenCost(4 * elementCost)},
	"fromPairs":  {cost: lenCost(2 * elementCost)},
	"uniq":       {cost: lenCost(elementCost)},
	"take":       {cost: lenCost(elementCost)},
	"concat":     {cost: concatCost, counted: true},
	"flatten":    {cost: func(args []any, limit int64) int64 { return leaves(arg(args, 0), limit/elementCost+1) * elementCost }, counted: true},
}

func arg(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case float64:
		if x >= math.MinInt64 && x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// mul multiplies sizes, saturating instead of overflowing.
func mul(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

func add(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func repeatCost(args []any, _ int64) int64 {
	s, _ := arg(args, 0).(string)
	n, _ := toInt(arg(args, 1))
	return mul(int64(len(s)), n)
}

func replaceCost(args []any, _ int64) int64 {
	s, _ := arg(args, 0).(string)
	old, _ := arg(args, 1).(string)
	repl, _ := arg(args, 2).(string)
	var count int64
	if old == "" {
		count = int64(utf8.RuneCountInString(s)) + 1
	} else {
		count = int64(strings.Count(s, old))
	}
	if n, ok := toInt(arg(args, 3)); ok && n >= 0 && n < count {
		count = n
	}
	grow := int64(len(repl) - len(old))
	return add(int64(len(s)), mul(count, grow))
}

func joinCost(args []any, limit int64) int64 {
	glue, _ := arg(args, 1).(string)
	var n, total int64
	each := func(s string) {
		total = add(total, int64(len(s)))
		n++
	}
	switch l := arg(args, 0).(type) {
	case []string:
		for _, s := range l {
			if each(s); total > limit {
				break
			}
		}
	case []any:
		for _, v := range l {
			if s, ok := v.(string); ok {
				each(s)
			}
			if total > limit {
				break
			}
		}
	}
	return add(total, mul(n, int64(len(glue))))
}

func splitCost(args []any, _ int64) int64 {
	s, _ := arg(args, 0).(string)
	sep, _ := arg(args, 1).(string)
	var parts int64
	if sep == "" {
		parts = int64(utf8.RuneCountInString(s))
	} else {
		parts = int64(strings.Count(s, sep)) + 1
	}
	if n, ok := toInt(arg(args, 2)); ok && n >= 0 && n < parts {
		parts = n
	}
	return mul(parts, elementCost)
}

// stringCost charges a function of one string factor times its length.
func stringCost(factor int64) func([]any, int64) int64 {
	return func(args []any, _ int64) int64 {
		s, _ := arg(args, 0).(string)
		return mul(int64(len(s)), factor)
	}
}

// lenCost charges a function over one list or map per element.
func lenCost(per int64) func([]any, int64) int64 {
	return func(args []any, _ int64) int64 {
		return mul(int64(length(arg(args, 0))), per)
	}
}

func length(v any) int {
	switch x := v.(type) {
	case []any:
		return len(x)
	case map[string]any:
		return len(x)
	case nil, string:
		return 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return rv.Len()
	}
	return 0
}

func concatCost(args []any, _ int64) int64 {
	var n int64
	for _, a := range args {
		n = add(n, int64(length(a)))
	}
	return mul(n, elementCost)
}

// leaves counts the elements flatten makes of v, stopping past limit.
func leaves(v any, limit int64) int64 {
	var n int64
	var walk func(v any)
	walk = func(v any) {
		if n > limit {
			return
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			n++
			return
		}
		for i := 0; i < rv.Len() && n <= limit; i++ {
			walk(rv.Index(i).Interface())
		}
	}
	walk(v)
	return n
}

// maxDepth is how deep lists and maps may nest in what the budget
// measures: deeper ones count as over it, as JSON decoders refuse them.
const maxDepth = 100

// measure returns about the bytes v takes, and at most about the bytes
// of its JSON (indented when indent is set, as toJSON writes it), stopping
// once past limit. A list that holds one string many times counts it each
// time: that is the size of its text. Lists and maps nested deeper than
// maxDepth count as more than any limit.
func measure(v any, indent bool, limit int64) int64 {
	var n int64
	var walk func(v any, depth int64)
	walk = func(v any, depth int64) {
		if n > limit {
			return
		}
		if depth > maxDepth {
			n = math.MaxInt64
			return
		}
		per := int64(elementCost)
		if indent {
			per += 2 * depth
		}
		switch x := v.(type) {
		case string:
			n = add(n, stringJSONSize(x))
		case []any:
			n = add(n, mul(int64(len(x)), per))
			for _, e := range x {
				if n > limit {
					return
				}
				walk(e, depth+1)
			}
		case map[string]any:
			n = add(n, mul(int64(len(x)), per))
			for k, e := range x {
				if n > limit {
					return
				}
				n = add(n, stringJSONSize(k))
				walk(e, depth+1)
			}
		case nil, bool, int, int64, float64, time.Time, time.Duration:
			n += elementCost
		default:
			rv := reflect.ValueOf(v)
			switch rv.Kind() {
			case reflect.Slice, reflect.Array:
				n = add(n, mul(int64(rv.Len()), per))
				for i := 0; i < rv.Len() && n <= limit; i++ {
					walk(rv.Index(i).Interface(), depth+1)
				}
			case reflect.Map:
				n = add(n, mul(int64(rv.Len()), per))
				it := rv.MapRange()
				for it.Next() && n <= limit {
					walk(it.Key().Interface(), depth+1)
					walk(it.Value().Interface(), depth+1)
				}
			default:
				n += elementCost
			}
		}
	}
	walk(v, 1)
	return n
}

// stringJSONSize bounds the length of s written as a JSON string, where a
// control character or one of <>&" and \ may take six bytes.
func stringJSONSize(s string) int64 {
	n := int64(len(s)) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			n += 5
		}
	}
	return n
}

// evaluator is what a Run lends its evaluations: an expr VM, reused
// across them, and the meter of the evaluation under way.
type evaluator struct {
	vm    vm.VM
	meter meter
}

// evaluator returns the Run's evaluator.
func (r *Run) evaluator() *evaluator {
	if r.eval == nil {
		r.eval = new(evaluator)
	}
	return r.eval
}

// run runs prog with the VM's own budget (the lists, maps and ranges it
// builds, which it counts by element) set to what remains of the meter's.
func (ev *evaluator) run(prog *vm.Program, env map[string]any) (any, error) {
	ev.vm.MemoryBudget = uint(max(ev.meter.remaining()/elementCost, 1))
	out, err := ev.vm.Run(prog, env)
	clear(ev.vm.Variables) // let go of what the expression's let bound
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) && fe.Message == "memory budget exceeded" {
			fe.Message = ev.meter.budget.overMemory("a list, map or range").Error()
			fe.Wrap(ErrBudget)
		}
		return nil, err
	}
	return out, nil
}

// checkResult returns the size of a result, refusing one whose lists and
// maps, counted as they are written out, exceed the budget: one that
// holds the same long text many times is cheap to build and costly to
// store or send.
func checkResult(out any, m *meter) (int64, error) {
	switch x := out.(type) {
	case string:
		return int64(len(x)), nil
	case nil, bool, int, float64, time.Time, time.Duration:
		return 0, nil
	}
	n := measure(out, false, m.budget.Memory)
	if n > m.budget.Memory {
		return 0, m.budget.overMemory("the result")
	}
	return n, nil
}

// budgetOptions are the expr options that put a compiled expression under
// its budget: the guarded builtins and the guards of loops and of +, and
// the patch that passes them the meter.
func budgetOptions(patch *budgetPatch) []expr.Option {
	return []expr.Option{func(c *conf.Config) {
		for name, g := range guards {
			c.Functions[name] = guarded(name, builtin.Builtins[builtin.Index[name]], g)
		}
		c.Functions[plusName] = plusFunction
		c.Functions[tickName] = tickFunction(tickName, 0)
		c.Functions[growName] = tickFunction(growName, elementCost)
		c.Functions[sumItemName] = sumItemFunction
		c.Functions[matchesName] = matchesFunction
	}, expr.Patch(patch)}
}

// guarded returns the builtin orig with its cost accounted before it
// runs. It takes the meter as its first argument.
func guarded(name string, orig *builtin.Function, g guard) *builtin.Function {
	call := orig.Func
	switch {
	case orig.Safe != nil:
		call = func(args ...any) (any, error) {
			out, _, err := orig.Safe(args...)
			return out, err
		}
	case orig.Fast != nil:
		call = func(args ...any) (any, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("invalid number of arguments (expected 1, got %d)", len(args))
			}
			return orig.Fast(args[0]), nil
		}
	}
	what := "the result of " + name
	f := &builtin.Function{
		Name: name,
		Func: func(args ...any) (any, error) {
			m, err := meterOf(args)
			if err != nil {
				return nil, err
			}
			args = args[1:]
			if err := m.tick(); err != nil {
				return nil, err
			}
			n := g.cost(args, m.remaining())
			if g.counted {
				if n > m.remaining() {
					return nil, m.budget.overMemory(what)
				}
			} else if err := m.charge(what, n); err != nil {
				return nil, err
			}
			return call(args...)
		},
	}
	for _, t := range orig.Types {
		f.Types = append(f.Types, withMeter(t))
	}
	if orig.Validate != nil {
		f.Validate = func(args []reflect.Type) (reflect.Type, error) {
			if len(args) == 0 || args[0] != meterType {
				return anyType, errors.New("evaluation without a budget")
			}
			return orig.Validate(args[1:])
		}
	}
	return f
}

// withMeter returns the function type t with a meter first.
func withMeter(t reflect.Type) reflect.Type {
	in := []reflect.Type{meterType}
	for i := range t.NumIn() {
		in = append(in, t.In(i))
	}
	out := make([]reflect.Type, t.NumOut())
	for i := range out {
		out[i] = t.Out(i)
	}
	return reflect.FuncOf(in, out, t.IsVariadic())
}

// plusFunction is + where strings may meet: it charges a concatenation
// before making it.
var plusFunction = &builtin.Function{
	Name: plusName,
	Func: func(args ...any) (any, error) {
		m, err := meterOf(args)
		if err != nil || len(args) != 3 {
			return nil, errors.New("evaluation without a budget")
		}
		if a, ok := args[1].(string); ok {
			if b, ok := args[2].(string); ok {
				if err := m.charge("a text joined with +", int64(len(a))+int64(len(b))); err != nil {
					return nil, err
				}
				return a + b, nil
			}
		}
		return runtime.Add(args[1], args[2]), nil
	},
	Validate: func(args []reflect.Type) (reflect.Type, error) {
		if len(args) == 3 && args[1].Kind() == reflect.String && args[2].Kind() == reflect.String {
			return args[1], nil
		}
		return anyType, nil
	},
}

// tickFunction returns the guard of a loop's body: it counts the
// iteration, charges it grow bytes, and passes the body's value on.
func tickFunction(name string, grow int64) *builtin.Function {
	return &builtin.Function{
		Name: name,
		Func: func(args ...any) (any, error) {
			m, err := meterOf(args)
			if err != nil || len(args) != 2 {
				return nil, errors.New("evaluation without a budget")
			}
			if err := m.tick(); err != nil {
				return nil, err
			}
			if grow > 0 {
				if err := m.charge("the groups of groupBy", grow); err != nil {
					return nil, err
				}
			}
			return args[1], nil
		},
		Validate: passThrough,
	}
}

// sumItemFunction guards an element of sum whose type is known only at
// run time: sum adds numbers, so that it never joins texts in a loop.
var sumItemFunction = &builtin.Function{
	Name: sumItemName,
	Func: func(args ...any) (any, error) {
		m, err := meterOf(args)
		if err != nil || len(args) != 2 {
			return nil, errors.New("evaluation without a budget")
		}
		if err := m.tick(); err != nil {
			return nil, err
		}
		switch args[1].(type) {
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
			return args[1], nil
		}
		return nil, fmt.Errorf("sum adds numbers, not %s", kindName(args[1]))
	},
	Validate: passThrough,
}

// regexpCost is what compiling a regular expression takes, about: its
// instructions, with repeats written out as the compiler writes them, at
// 256 bytes each. A pattern that does not parse costs nothing: compiling
// it fails at once.
func regexpCost(pattern string) int64 {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0
	}
	var size func(re *syntax.Regexp) int64
	size = func(re *syntax.Regexp) int64 {
		var n int64 = 1
		for _, sub := range re.Sub {
			n = add(n, size(sub))
		}
		switch re.Op {
		case syntax.OpLiteral:
			n = add(n, int64(len(re.Rune)))
		case syntax.OpRepeat:
			times := int64(re.Max)
			if times < 0 {
				times = int64(re.Min) + 1
			}
			n = mul(n, max(times, 1))
		}
		return n
	}
	return mul(size(re), 256)
}

// matchesFunction is "matches" with a pattern known only at run time: it
// charges compiling the pattern before compiling it.
var matchesFunction = &builtin.Function{
	Name: matchesName,
	Func: func(args ...any) (any, error) {
		m, err := meterOf(args)
		if err != nil || len(args) != 3 {
			return nil, errors.New("evaluation without a budget")
		}
		if runtime.IsNil(args[1]) || runtime.IsNil(args[2]) {
			return false, nil
		}
		s, okS := args[1].(string)
		pattern, okP := args[2].(string)
		if !okS || !okP {
			return nil, fmt.Errorf("matches needs texts, not %s and %s", kindName(args[1]), kindName(args[2]))
		}
		if err := m.tick(); err != nil {
			return nil, err
		}
		if err := m.charge("compiling the pattern of matches", regexpCost(pattern)); err != nil {
			return nil, err
		}
		return regexp.MatchString(pattern, s)
	},
	Validate: func(args []reflect.Type) (reflect.Type, error) {
		return reflect.TypeFor[bool](), nil
	},
}

// checkPatterns refuses the literal patterns of "matches" that compiling
// would take more than the budget for: expr compiles them as it checks
// the expression, before any patch.
func checkPatterns(source string, b Budget) error {
	tree, err := parser.Parse(source)
	if err != nil {
		return nil // compiling reports it
	}
	var found *file.Error
	ast.Walk(&tree.Node, visitor(func(n *ast.Node) {
		m, ok := (*n).(*ast.BinaryNode)
		if !ok || m.Operator != "matches" || found != nil {
			return
		}
		if s, ok := m.Right.(*ast.StringNode); ok && regexpCost(s.Value) > b.Memory {
			found = &file.Error{Location: m.Location(), Message: b.overMemory("compiling the pattern of matches").Error()}
			found.Wrap(ErrBudget)
			found = found.Bind(file.NewSource(source))
		}
	}))
	if found != nil {
		return found
	}
	return nil
}

func kindName(v any) string {
	if v == nil {
		return "nil"
	}
	return reflect.TypeOf(v).String()
}

func passThrough(args []reflect.Type) (reflect.Type, error) {
	if len(args) != 2 {
		return anyType, errors.New("evaluation without a budget")
	}
	return args[1], nil
}

// budgetPatch rewrites a checked expression so that it runs under its
// budget: the guarded builtins get the meter, + where texts may meet and
// the bodies of loops go through guards. It also notes what Publish can
// see exceeds the budget: a range with literal bounds, repeat with a
// literal text and count.
type budgetPatch struct {
	budget Budget
	source string
	err    *file.Error
	// ranges are the literal ranges over the budget, unless they turn out
	// to be the right of an "in" that the optimizer turns into
	// comparisons.
	ranges []*ast.BinaryNode
}

func meterNode(at ast.Node) ast.Node {
	n := &ast.IdentifierNode{Value: meterName}
	n.SetLocation(at.Location())
	return n
}

// Visit implements ast.Visitor; ast.Walk visits children first.
func (p *budgetPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		if _, ok := guards[id.Value]; !ok {
			return
		}
		if id.Value == "repeat" && len(n.Arguments) == 2 {
			if size, ok := staticLen(n.Arguments[0]); ok {
				if count, ok := n.Arguments[1].(*ast.IntegerNode); ok && mul(size, int64(count.Value)) > p.budget.Memory {
					p.fail(n, fmt.Sprintf("repeat makes %d bytes, which", mul(size, int64(count.Value))))
				}
			}
		}
		n.Arguments = append([]ast.Node{meterNode(n)}, n.Arguments...)
	case *ast.BinaryNode:
		switch n.Operator {
		case "..":
			lo, okLo := literalInt(n.Left)
			hi, okHi := literalInt(n.Right)
			if okLo && okHi && hi >= lo && mul(hi-lo+1, elementCost) > p.budget.Memory {
				p.ranges = append(p.ranges, n)
			}
		case "in":
			if r, ok := n.Right.(*ast.BinaryNode); ok && r.Operator == ".." && n.Left.Type() != nil && n.Left.Type().Kind() == reflect.Int {
				for i, pending := range p.ranges {
					if pending == r {
						p.ranges = append(p.ranges[:i], p.ranges[i+1:]...)
						break
					}
				}
			}
		case "matches":
			if _, ok := n.Right.(*ast.StringNode); !ok {
				ast.Patch(node, &ast.CallNode{
					Callee:    &ast.IdentifierNode{Value: matchesName},
					Arguments: []ast.Node{meterNode(n), n.Left, n.Right},
				})
			}
		case "+":
			if mayBeText(n.Left) && mayBeText(n.Right) {
				ast.Patch(node, &ast.CallNode{
					Callee:    &ast.IdentifierNode{Value: plusName},
					Arguments: []ast.Node{meterNode(n), n.Left, n.Right},
				})
			}
		}
	case *ast.BuiltinNode:
		p.guardLoops(n)
	}
}

// guardLoops puts the body of each predicate of a builtin through a
// guard that counts its iterations.
func (p *budgetPatch) guardLoops(n *ast.BuiltinNode) {
	guard := tickName
	switch n.Name {
	case "groupBy":
		guard = growName
	case "sum":
		if elementUnknown(n.Arguments[0]) {
			if len(n.Arguments) == 1 {
				item := &ast.PointerNode{}
				item.SetLocation(n.Location())
				pred := &ast.PredicateNode{Node: item}
				pred.SetLocation(n.Location())
				n.Arguments = append(n.Arguments, pred)
			}
			guard = sumItemName
		}
	}
	for _, a := range n.Arguments {
		pred, ok := a.(*ast.PredicateNode)
		if !ok {
			continue
		}
		g := guard
		if g == sumItemName && !mayBeText(pred.Node) {
			g = tickName
		}
		call := &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: g},
			Arguments: []ast.Node{meterNode(pred.Node), pred.Node},
		}
		call.SetLocation(pred.Node.Location())
		pred.Node = call
	}
}

func (p *budgetPatch) fail(at ast.Node, what string) {
	if p.err != nil {
		return
	}
	e := &file.Error{Location: at.Location(), Message: (&budgetError{what: what, limit: formatBytes(p.budget.Memory)}).Error()}
	e.Wrap(ErrBudget)
	p.err = e.Bind(file.NewSource(p.source))
}

// check returns the first thing Publish saw exceeds the budget.
func (p *budgetPatch) check() error {
	for _, r := range p.ranges {
		lo, _ := literalInt(r.Left)
		hi, _ := literalInt(r.Right)
		p.fail(r, fmt.Sprintf("range %d..%d has %d numbers, which", lo, hi, hi-lo+1))
	}
	if p.err != nil {
		return p.err
	}
	return nil
}

// mayBeText reports whether a node's value may be a string at run time.
func mayBeText(n ast.Node) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.String || t.Kind() == reflect.Interface
}

// elementUnknown reports whether the elements of a list node may be of any
// type.
func elementUnknown(n ast.Node) bool {
	t := n.Type()
	if t == nil || t.Kind() == reflect.Interface {
		return true
	}
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		return t.Elem().Kind() == reflect.Interface
	}
	return false
}

func literalInt(n ast.Node) (int64, bool) {
	switch x := n.(type) {
	case *ast.IntegerNode:
		return int64(x.Value), true
	case *ast.UnaryNode:
		if v, ok := literalInt(x.Node); ok && x.Operator == "-" {
			return -v, true
		}
	}
	return 0, false
}

// staticLen returns the length of a text known at Publish: a literal, a
// repeat of one by a literal count, or two joined with +.
func staticLen(n ast.Node) (int64, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return int64(len(x.Value)), true
	case *ast.CallNode:
		id, ok := x.Callee.(*ast.IdentifierNode)
		if !ok {
			return 0, false
		}
		args := x.Arguments
		if len(args) > 0 {
			if m, ok := args[0].(*ast.IdentifierNode); ok && m.Value == meterName {
				args = args[1:]
			}
		}
		switch {
		case id.Value == "repeat" && len(args) == 2:
			size, ok := staticLen(args[0])
			count, isInt := args[1].(*ast.IntegerNode)
			if ok && isInt {
				return mul(size, int64(count.Value)), true
			}
		case id.Value == plusName && len(args) == 2:
			a, okA := staticLen(args[0])
			b, okB := staticLen(args[1])
			if okA && okB {
				return add(a, b), true
			}
		}
	}
	return 0, false
}
