package element_test

import (
	"errors"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/steptest"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// The expression tests' declarations and step.
var (
	exprVars   = steptest.Vars
	exprSchema = steptest.Schema
	exprNow    = steptest.Now
	exprPerson = steptest.PersonID
)

func exprCompiler() *element.Compiler { return steptest.Compiler() }

func exprRun() *element.Run { return steptest.Run() }

func TestExprCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		source string
		msg    []string
	}{
		{"", []string{"expression is empty"}},
		{"   ", []string{"expression is empty"}},
		{"count +* 2", []string{`unexpected token Operator("*")`, "(1:8)"}},
		{"count +\n  * 2", []string{`unexpected token Operator("*")`, "(2:3)"}},
		{"1 + ", []string{"unexpected token EOF", "(1:4)"}},
		{`count + "x"`, []string{"mismatched types float64 and string", "(1:7)"}},
		{"missing + 1", []string{"unknown name missing", "(1:1)"}},
		{"now()", []string{"not callable", "(1:1)"}},
		// A person attribute the schema does not declare is refused with its
		// position, whichever way it is written.
		{"person.age", []string{`unknown person attribute "age"`, "(1:8)"}},
		{"count > 1 && person.age > 3", []string{`unknown person attribute "age"`, "(1:21)"}},
		{`person["age"]`, []string{`unknown person attribute "age"`, "(1:8)"}},
		{"count > 1 &&\n  person.age > 3", []string{`unknown person attribute "age"`, "(2:10)"}},
	} {
		_, err := exprCompiler().Expr("set[0].formula", tc.source)
		var fe *element.FieldError
		require.True(t, errors.As(err, &fe), "%q: want a *FieldError, got %v", tc.source, err)
		require.Equal(t, "set[0].formula", fe.Field)
		for _, m := range tc.msg {
			require.ErrorContains(t, err, m, tc.source)
		}
	}
}

func TestExprKnownNames(t *testing.T) {
	for _, src := range []string{
		"person.firstName", "person.birthDate", "person.timeZone", "person.externalId", "person.score",
		"person.vip", "person.plan", "person.id", "person.tags", "person.phones", "person.emails",
		"entry.properties.plan", "entry.name", "event?.properties?.x", "now", "cartId + nick",
		"due", "paidAt", "items", "meta.k",
	} {
		_, err := exprCompiler().Expr("f", src)
		require.NoError(t, err, src)
	}
}

func TestExprStaticType(t *testing.T) {
	for _, tc := range []struct {
		source string
		want   store.Type
	}{
		{"1 + 2", store.Number},
		{"count * total", store.Number},
		{"len(items)", store.Number},
		{"'a' + cartId", store.Text},
		{"upper(cartId)", store.Text},
		{"count > 1", store.Bool},
		{"flag && !flag", store.Bool},
		{"[1, 2]", store.List},
		{"items", store.List},
		{"{'a': 1}", store.Object},
		{"meta", store.Object},
		{"now", store.DateTime},
		{"due", store.DateTime},
		{"paidAt", store.DateTime},
		{"person.firstName", ""},
		{"entry.properties.plan", ""},
	} {
		p, err := exprCompiler().Expr("f", tc.source)
		require.NoError(t, err, tc.source)
		require.Equal(t, tc.want, p.Type, tc.source)
		require.Equal(t, tc.source, p.Source)
	}
}

func TestProgramFits(t *testing.T) {
	all := []store.Type{store.Text, store.Number, store.Bool, store.Date, store.DateTime, store.List, store.Object}
	for _, tc := range []struct {
		source string
		fits   []store.Type
	}{
		{"person.score", all}, // known only at run time
		{"count + 1", []store.Type{store.Number, store.Text}},
		{"cartId", []store.Type{store.Text}},
		{"flag", []store.Type{store.Bool, store.Text}},
		{"now", []store.Type{store.DateTime, store.Date, store.Text}},
		{"items", []store.Type{store.List}},
		{"meta", []store.Type{store.Object}},
	} {
		p, err := exprCompiler().Expr("f", tc.source)
		require.NoError(t, err)
		for _, typ := range all {
			want := false
			for _, f := range tc.fits {
				want = want || f == typ
			}
			require.Equal(t, want, p.Fits(typ), "%s (%s) fits %s", tc.source, p.Type, typ)
		}
	}
}

func TestExprEval(t *testing.T) {
	for _, tc := range []struct {
		source string
		want   any
	}{
		{"count * 2", 6.0},
		{"total > 10", true},
		{"cartId + '-x'", "c-17-x"},
		{"person.firstName", "Ana"},
		{"upper(person.firstName)", "ANA"},
		{"person.score + 1", 43.0},
		{"person.vip", true},
		{"person.birthDate", time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)},
		{"person.timeZone", "Europe/Zagreb"},
		{"person.tags", []any{"beta", "new"}},
		{"len(person.tags)", 2.0},
		{"'beta' in person.tags", true},
		{"person.id", exprPerson.String()},
		{"person.emails[0]", "ana@example.com"},
		{"person.lastName ?? 'unknown'", "unknown"},
		{"entry.properties.plan", "pro"},
		{"entry.properties.seats * 10", 50.0},
		{"entry.name", "signedUp"},
		{"entry.category", "external"},
		{"event == nil", true},
		{"now", exprNow},
		{"now.Year()", 2026.0},
		{"due", time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)},
		{"due.Sub(now).Hours() > 24", true},
		{"items", []any{"x", "y"}},
		{"meta.k", "v"},
		{"[1, 2]", []any{1.0, 2.0}},
		{"{'n': 1}", map[string]any{"n": 1.0}},
	} {
		p, err := exprCompiler().Expr("f", tc.source)
		require.NoError(t, err, tc.source)
		got, err := p.Eval(exprRun())
		require.NoError(t, err, tc.source)
		require.Equal(t, tc.want, got, tc.source)
	}
}

func TestExprBoolAndRuntimeErrors(t *testing.T) {
	p, err := exprCompiler().Expr("f", "count > 1 and person.vip")
	require.NoError(t, err)
	ok, err := p.Bool(exprRun())
	require.NoError(t, err)
	require.True(t, ok)

	p, err = exprCompiler().Expr("f", "person.plan")
	require.NoError(t, err)
	_, err = p.Bool(exprRun())
	require.EqualError(t, err, `expression "person.plan": result pro is not true/false`)

	for _, src := range []string{"int(cartId)", "items[5]", "person.plan.x"} {
		p, err := exprCompiler().Expr("f", src)
		require.NoError(t, err, src)
		_, err = p.Eval(exprRun())
		require.ErrorContains(t, err, "expression \""+src+"\": ", src)
	}
}

func TestFormatValue(t *testing.T) {
	zg, err := time.LoadLocation("Europe/Zagreb")
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, ""},
		{"text", "héllo", "héllo"},
		{"empty text", "", ""},
		{"whole number", 3.0, "3"},
		{"fraction", 19.99, "19.99"},
		{"negative", -0.25, "-0.25"},
		{"big number, no exponent", 1e21, "1000000000000000000000"},
		{"true", true, "true"},
		{"false", false, "false"},
		{"date", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), "2028-02-29"},
		{"date-time in UTC", time.Date(2026, 3, 1, 18, 5, 0, 0, time.UTC), "2026-03-01T18:05:00Z"},
		{"date-time with a zone", time.Date(2026, 3, 1, 18, 5, 0, 0, zg), "2026-03-01T18:05:00+01:00"},
		{"local midnight is not a date", time.Date(2026, 3, 1, 0, 0, 0, 0, zg), "2026-03-01T00:00:00+01:00"},
		{"list", []any{1.0, "a", true, nil}, `[1,"a",true,null]`},
		{"empty list", []any{}, `[]`},
		{"object", map[string]any{"b": 2.0, "a": "x"}, `{"a":"x","b":2}`},
		{"nested", map[string]any{"l": []any{map[string]any{"k": "v"}}}, `{"l":[{"k":"v"}]}`},
		{"other Go value", 7, "7"},
	} {
		require.Equal(t, tc.want, element.FormatValue(tc.v), tc.name)
	}
}
