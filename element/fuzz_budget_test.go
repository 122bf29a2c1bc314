package element_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
)

// fuzzBudget is small, so that inputs that exhaust it are quick to find
// and to run.
var fuzzBudget = element.Budget{Memory: 64 << 10, Time: 50 * time.Millisecond}

// fuzzAllocLimit is what one evaluation may allocate in all under
// fuzzBudget: its budget a few times over (the VM counts list elements,
// not the values in them, and a result is converted once), and what any
// evaluation allocates for its environment.
const fuzzAllocLimit = 16*(64<<10) + 256<<10

// FuzzEvalBudget compiles an arbitrary formula and template against the
// test step's declarations and evaluates them: whatever compiles runs
// without a panic, within about its memory budget and time, and fails, if
// it does, with an error.
func FuzzEvalBudget(f *testing.F) {
	for _, src := range []string{
		`repeat(repeat("x", 999), int(count) * 333)`,
		`replace(repeat("x", 1000), "x", repeat(cartId, 1000))`,
		`let s = repeat("x", 1000); join(map(1..100, s), ",")`,
		`let a = cartId + cartId; let b = a + a; let c = b + b; c + c + c`,
		`reduce(1..1000, #acc + "0123456789", "")`,
		`map(1..int(total) * 100000, #)`,
		`let a = map(1..100, #); sum(a, sum(a, sum(a, 1)))`,
		`toJSON(reduce(1..200, [#acc], []))`,
		`let m = fromPairs(map(1..100, [string(#), #])); map(1..1000, keys(m))`,
		`let a = 1..1000; concat(a, a, a, a, a, a)`,
		`flatten(map(1..30, map(1..30, map(1..30, #))))`,
		`split(repeat(",", 10000), ",")`,
		`let a = 1..100; map(1..100, groupBy(a, # % 7))`,
		`sum(map(items, #))`,
		`upper(person.firstName) + " " + string(person.tags)`,
		`fromJSON(toJSON(items)) ?? entry.properties.plan`,
	} {
		f.Add(src, "Hi {{person.firstName}}, {{"+src+"}}!")
	}
	f.Add(`n +`, `{{`)
	f.Add(`"x" matches "(a+)+$"`, `{"q": "{{nick}}"}`)
	f.Fuzz(func(t *testing.T, formula, text string) {
		c := exprCompiler()
		c.Budget = fuzzBudget
		check := func(what string, eval func() error) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			err := eval()
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > fuzzAllocLimit {
				t.Fatalf("%s allocated %d bytes, budget %d (error: %v)", what, n, fuzzBudget.Memory, err)
			}
			if took > 5*time.Second {
				t.Fatalf("%s ran %v, budget %v", what, took, fuzzBudget.Time)
			}
		}
		if p, err := c.Expr("f", formula); err == nil {
			check("formula", func() error { _, err := p.Eval(exprRun()); return err })
		}
		if tmpl, err := c.Template("t", text); err == nil {
			for _, enc := range []element.Encoding{element.Plain, element.URL, element.JSON} {
				check("template", func() error { _, err := tmpl.Render(exprRun(), enc); return err })
			}
		}
	})
}
