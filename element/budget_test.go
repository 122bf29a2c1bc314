package element_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/steptest"
	"github.com/stretchr/testify/require"
)

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Expressions that would build far more than the budget fail with
// ErrBudget, naming the budget, having allocated about the budget at most.
func TestBudgetExhaustion(t *testing.T) {
	for _, tc := range []struct {
		name, source string
		vars         map[string]any
	}{
		{"repeat of repeat", `repeat(repeat("x", int(count)), int(count))`, map[string]any{"count": 999999.0}},
		{"replace", `replace(repeat("x", 1000000), "x", repeat("y", int(count)))`, map[string]any{"count": 1000.0}},
		{"replace in a replace", `replace(replace(repeat("x", 1000000), "x", "yy"), "y", cartId)`, map[string]any{"cartId": strings.Repeat("z", 1000)}},
		{"join of one text many times", `let s = repeat("x", 1000000); join(map(1..int(count), s), ",")`, map[string]any{"count": 1000.0}},
		{"+ doubling", `let a = repeat(cartId, 1000); let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; let h = g + g; let i = h + h; let j = i + i; let k = j + j; let l = k + k; l + l`, map[string]any{"cartId": "xxxx"}},
		{"+ in a loop", `reduce(1..int(count), #acc + "0123456789", "")`, map[string]any{"count": 100000.0}},
		{"range", `map(1..int(count), #)`, map[string]any{"count": 1e9}},
		{"reduce over a range", `reduce(1..int(count), #acc + 1, 0)`, map[string]any{"count": 1e8}},
		{"one text many times", `let s = repeat("x", 1000000); map(1..int(count), s)`, map[string]any{"count": 100.0}},
		{"toJSON of one text many times", `let s = repeat("x", 100000); toJSON(map(1..int(count), s))`, map[string]any{"count": 100.0}},
		{"string of one text many times", `let s = repeat("x", 100000); string(map(1..int(count), s))`, map[string]any{"count": 100.0}},
		{"deep lists", `toJSON(reduce(1..int(count), [#acc], []))`, map[string]any{"count": 1000.0}},
		{"keys in a loop", `let m = fromPairs(map(1..1000, [string(#), #])); map(1..int(count), keys(m))`, map[string]any{"count": 100000.0}},
		{"concat", `let a = 1..int(count); concat(a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a)`, map[string]any{"count": 200000.0}},
		{"flatten", `let a = map(1..int(count), 1); let b = map(1..int(count), a); flatten(map(1..int(count), b))`, map[string]any{"count": 500.0}},
		{"split", `split(repeat(",", 1000000), ",")`, nil},
		{"groupBy in a loop", `let a = 1..1000; map(1..int(count), groupBy(a, # % 7))`, map[string]any{"count": 10000.0}},
		{"pattern", `"x" matches repeat("[a-z]{1000}", int(count))`, map[string]any{"count": 1000.0}},
		{"patterns in a loop", `let p = repeat("[a-z]{1000}", 10); map(1..int(count), "x" matches p)`, map[string]any{"count": 100.0}},
		{"upper in a loop", `let s = repeat("x", 1000000); map(1..int(count), upper(s))`, map[string]any{"count": 100.0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A budget of time that will not run out: this is about memory.
			c := exprCompiler()
			c.Budget = element.Budget{Time: time.Hour}
			p, err := c.Expr("set[0].formula", tc.source)
			require.NoError(t, err)
			r := exprRun()
			for k, v := range tc.vars {
				r.Vars[k] = v
			}
			runtime.GC()
			n := allocated(func() { _, err = p.Eval(r) })
			require.ErrorIs(t, err, element.ErrBudget)
			require.ErrorContains(t, err, "exceeds the evaluation budget of 4 MiB")
			require.Less(t, n, uint64(64<<20), "allocated %d bytes", n)
		})
	}
}

// Loops that would run for minutes stop at the time budget.
func TestBudgetTime(t *testing.T) {
	for _, src := range []string{
		`let a = map(1..int(total), #); sum(a, sum(a, sum(a, 1)))`,
		`let a = map(1..int(total), #); one(a, any(a, all(a, # > 0) and false))`,
		`let a = map(1..int(total), #); reduce(a, #acc + reduce(a, #acc + reduce(a, #acc + 1, 0), 0), 0)`,
	} {
		c := exprCompiler()
		// Memory that will not run out: this is about time.
		c.Budget = element.Budget{Memory: 1 << 40, Time: 50 * time.Millisecond}
		p, err := c.Expr("f", src)
		require.NoError(t, err, src)
		r := exprRun()
		r.Vars["total"] = 1000.0
		start := time.Now()
		_, err = p.Eval(r)
		require.ErrorIs(t, err, element.ErrBudget, src)
		require.ErrorContains(t, err, "the evaluation's time exceeds the evaluation budget of 50ms", src)
		require.Less(t, time.Since(start), 2*time.Second, src)
	}
}

// Publish refuses what it can see exceeds the budget, naming the field and
// where in the expression.
func TestBudgetAtPublish(t *testing.T) {
	for _, tc := range []struct{ source, msg string }{
		{`repeat(repeat("x", 999999), 999999)`, `set[0].formula: expression "repeat(repeat(\"x\", 999999), 999999)": repeat makes 999998000001 bytes, which exceeds the evaluation budget of 4 MiB (1:1)`},
		{`repeat("ab", 3000000)`, "repeat makes 6000000 bytes, which exceeds the evaluation budget of 4 MiB"},
		{`repeat("a" + "b", 3000000)`, "repeat makes 6000000 bytes"},
		{`reduce(1..100000000, #acc + 1, 0)`, "range 1..100000000 has 100000000 numbers, which exceeds the evaluation budget of 4 MiB (1:9)"},
		{`map(-1000000..1000000, #)`, "range -1000000..1000000 has 2000001 numbers"},
		{`count in 1..1000000000`, "range 1..1000000000 has 1000000000 numbers"},
	} {
		_, err := exprCompiler().Expr("set[0].formula", tc.source)
		require.Error(t, err, tc.source)
		require.ErrorIs(t, err, element.ErrBudget, tc.source)
		require.ErrorContains(t, err, tc.msg, tc.source)
	}
	pattern := strings.Repeat("[a-z]{1000}", 20)
	_, err := exprCompiler().Expr("f", `cartId matches "`+pattern+`"`)
	require.ErrorIs(t, err, element.ErrBudget)
	require.ErrorContains(t, err, "compiling the pattern of matches exceeds the evaluation budget of 4 MiB (1:8)")
	// An integer in a range becomes two comparisons: nothing is built.
	_, err = exprCompiler().Expr("f", `len(cartId) in 1..1000000000`)
	require.NoError(t, err)
	// A smaller budget refuses less.
	c := exprCompiler()
	c.Budget = element.Budget{Memory: 1000}
	_, err = c.Expr("f", `repeat("x", 1001)`)
	require.ErrorContains(t, err, "repeat makes 1001 bytes, which exceeds the evaluation budget of 1000 bytes")
	tmpl, err := c.Template("body", `Hi {{repeat(cartId, 300)}}`)
	require.NoError(t, err)
	_, err = tmpl.Render(exprRun(), element.Plain)
	require.ErrorIs(t, err, element.ErrBudget)
}

// Loops count against the memory budget too, so that the default budget
// stops the same loops on any machine, however busy.
func TestBudgetIterations(t *testing.T) {
	c := exprCompiler()
	c.Budget = element.Budget{Time: time.Hour}
	p, err := c.Expr("f", `let a = map(1..int(total), #); sum(a, sum(a, 1))`)
	require.NoError(t, err)
	r := exprRun()
	r.Vars["total"] = 1000.0
	_, err = p.Eval(r)
	require.ErrorIs(t, err, element.ErrBudget)
	require.ErrorContains(t, err, "looping, at 16 bytes an iteration, exceeds the evaluation budget of 4 MiB")
	r.Vars["total"] = 400.0 // 160400 iterations: within
	v, err := p.Eval(r)
	require.NoError(t, err)
	require.Equal(t, 160000.0, v)
}

// What stays within the budget gives what it always gave.
func TestBudgetAllows(t *testing.T) {
	for _, tc := range []struct {
		source string
		want   any
	}{
		{`repeat("ab", 3)`, "ababab"},
		{`replace("a-b-c", "-", "+")`, "a+b+c"},
		{`replace("a-b-c", "-", "", 1)`, "ab-c"},
		{`join(items, ",")`, "x,y"},
		{`join(["a", "b"])`, "ab"},
		{`split("a,b", ",")`, []any{"a", "b"}},
		{`cartId + "/" + person.firstName`, "c-17/Ana"},
		{`entry.properties.plan + "!"`, "pro!"},
		{`entry.properties.seats + 1`, 6.0},
		{`sum(map(items, 1))`, 2.0},
		{`sum([1, 2.5])`, 3.5},
		{`sum(1..4)`, 10.0},
		{`sum(items, len(#))`, 2.0},
		{`reduce(1..10, #acc + #, 0)`, 55.0},
		{`reduce(items, #acc + #, "")`, "xy"},
		{`len(filter(1..1000, # % 2 == 0))`, 500.0},
		{`groupBy(1..4, # % 2)[0]`, []any{2.0, 4.0}},
		{`upper(cartId)`, "C-17"},
		{`toJSON({"a": 1})`, "{\n  \"a\": 1\n}"},
		{`fromJSON("[1]")`, []any{1.0}},
		{`keys({"a": 1})`, []any{"a"}},
		{`len(concat(1..3, [4]))`, 4.0},
		{`flatten([[1], [2, [3]]])`, []any{1.0, 2.0, 3.0}},
		{`string(42)`, "42"},
		{`cartId matches "^c-[0-9]+$"`, true},
		{`cartId matches ("^c-" + "[0-9]{1,5}$")`, true},
		{`entry.properties.plan matches "p"`, true},
		{`entry.properties.none matches cartId`, false},
		{`len(1..100000)`, 100000.0},
	} {
		p, err := exprCompiler().Expr("f", tc.source)
		require.NoError(t, err, tc.source)
		got, err := p.Eval(exprRun())
		require.NoError(t, err, tc.source)
		require.Equal(t, tc.want, got, tc.source)
	}
	for _, src := range []string{`sum(items)`, `sum(items, #)`} {
		p, err := exprCompiler().Expr("f", src)
		require.NoError(t, err, src)
		_, err = p.Eval(exprRun())
		require.ErrorContains(t, err, "sum adds numbers, not string", src)
	}
}

// A template's placeholders share one budget, and the text it renders may
// not exceed it, though each value alone would fit.
func TestBudgetTemplates(t *testing.T) {
	big := strings.Repeat("y", 3<<20)
	for _, tc := range []struct {
		name, text string
		enc        element.Encoding
		msg        string
	}{
		{"placeholders together", `{{repeat(cartId, 700000)}} and {{repeat(cartId, 700000)}}`, element.Plain, "the result of repeat exceeds the evaluation budget of 4 MiB"},
		{"rendered text", `{{query}}{{query}}`, element.Plain, "the rendered text exceeds the evaluation budget of 4 MiB"},
		{"escaped text", `{"q": "{{nick}}"}`, element.JSON, "the rendered text exceeds"},
		{"URL", `https://example.com/?q={{nick}}`, element.URL, "the rendered text exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := exprCompiler().Template("body", tc.text)
			require.NoError(t, err)
			r := exprRun()
			r.Vars["query"] = big
			r.Vars["nick"] = strings.Repeat("<\n", 1<<20)
			runtime.GC()
			n := allocated(func() { _, err = tmpl.Render(r, tc.enc) })
			require.ErrorIs(t, err, element.ErrBudget)
			require.ErrorContains(t, err, tc.msg)
			require.Less(t, n, uint64(64<<20))
		})
	}
}

// The results of one step's evaluations count together: a step of many
// fields cannot build many budgets' worth.
func TestBudgetAcrossStep(t *testing.T) {
	c := steptest.Compiler()
	p, err := c.Expr("f", `repeat(cartId, 300000)`) // 1.2 MB
	require.NoError(t, err)
	r := exprRun()
	for range 3 {
		_, err = p.Eval(r)
		require.NoError(t, err)
	}
	_, err = p.Eval(r)
	require.ErrorIs(t, err, element.ErrBudget)
	require.ErrorContains(t, err, "what the step's formulas and templates gave exceeds")
}
