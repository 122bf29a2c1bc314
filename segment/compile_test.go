package segment_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

func TestCompileErrors(t *testing.T) {
	opts := segment.Options{
		Schema:    schema,
		Variables: map[string]store.Type{"maxAge": store.Number, "flag": store.Bool},
		Computed:  map[string]segment.Computed{"score": {Type: store.Number, Formula: "age * 2"}},
	}
	tests := []struct {
		name string
		doc  string
		path string
		err  string
	}{
		{"unknown attribute", `{"all":[{"attribute":"agee","op":"is","value":1}]}`,
			"all[0]", `unknown attribute "agee"`},
		{"operator does not fit", `{"all":[{"tag":"vip","op":"has"},{"attribute":"age","op":"contains","value":"3"}]}`,
			"all[1]", `attribute "age": operator "contains" does not apply to number`},
		{"unknown operator", `{"attribute":"age","op":"lessOrEqualTo","value":3}`,
			"", `attribute "age": unknown operator "lessOrEqualTo": did you mean "lessOrEqual"? (number takes is, isNot, lessThan, lessOrEqual, greaterThan, greaterOrEqual, isEmpty, isNotEmpty)`},
		{"no operator", `{"attribute":"age"}`,
			"", `attribute "age": no operator`},
		{"wrong value type", `{"any":[{"attribute":"age","op":"is","value":"thirty"}]}`,
			"any[0]", `attribute "age": value "thirty" is not a number`},
		{"wrong value type, bool", `{"attribute":"vip","op":"is","value":"yes"}`,
			"", `attribute "vip": value "yes" is not a bool`},
		{"wrong value type, date", `{"attribute":"renewal","op":"before","value":"next week"}`,
			"", `attribute "renewal": value "next week" is not a date`},
		{"missing value", `{"attribute":"age","op":"lessThan"}`,
			"", `attribute "age": operator "lessThan" needs a value`},
		{"value on isEmpty", `{"attribute":"age","op":"isEmpty","value":3}`,
			"", `attribute "age": operator "isEmpty" takes no value`},
		{"relative without period", `{"attribute":"renewal","op":"willBeIn","value":3}`,
			"", `attribute "renewal": operator "willBeIn" needs a period value such as {"amount":7,"unit":"days"}, not 3`},
		{"unknown unit", `{"attribute":"renewal","op":"willBeIn","value":{"amount":3,"unit":"fortnights"}}`,
			"", `attribute "renewal": unknown unit "fortnights" (seconds, minutes, hours, days, weeks, months or years)`},
		{"hours on a date", `{"not":{"attribute":"renewal","op":"wasWithin","value":{"amount":3,"unit":"hours"}}}`,
			"not", `attribute "renewal": unit "hours" does not apply to date (days, weeks, months or years)`},
		{"negative amount", `{"attribute":"trialEnd","op":"wasWithin","value":{"amount":-3,"unit":"hours"}}`,
			"", `attribute "trialEnd": amount -3 is negative`},
		{"huge amount", `{"attribute":"trialEnd","op":"wasWithin","value":{"amount":9000000000,"unit":"hours"}}`,
			"", `attribute "trialEnd": amount 9000000000 hours is more than a century`},
		{"undeclared variable", `{"attribute":"age","op":"lessThan","value":"{{minAge}}"}`,
			"", `attribute "age": value "{{minAge}}": unknown variable "minAge"`},
		{"variable of the wrong type", `{"attribute":"age","op":"lessThan","value":"{{flag}}"}`,
			"", `attribute "age": value "{{flag}}" is bool, not number`},
		{"unknown person attribute", `{"attribute":"age","op":"lessThan","value":"{{person.height}}"}`,
			"", `attribute "age": value "{{person.height}}": unknown attribute "height"`},
		{"empty placeholder", `{"attribute":"age","op":"lessThan","value":"{{ }}"}`,
			"", `attribute "age": value "{{ }}": empty placeholder`},
		{"no kind", `{"all":[{"op":"is","value":1}]}`,
			"all[0]", `condition has none of all, any, not, attribute, tag, contact, lastContacted, event`},
		{"two kinds", `{"attribute":"age","tag":"vip","op":"has"}`,
			"", `condition has both attribute and tag`},
		{"group with op", `{"all":[],"op":"is"}`,
			"", `all group takes no op`},
		{"count on attribute", `{"attribute":"age","op":"isEmpty","count":3}`,
			"", `attribute "age": count, within and sinceEntry apply to event conditions only`},
		{"tag operator", `{"tag":"vip","op":"is"}`,
			"", `tag "vip": operator "is" does not apply to tags (has or hasNot)`},
		{"contact kind", `{"contact":"fax","op":"isEmpty"}`,
			"", `contact "fax": unknown contact (email, phone or push)`},
		{"contact operator", `{"contact":"phone","op":"lessThan","value":"3"}`,
			"", `contact "phone": operator "lessThan" does not apply to text`},
		{"personTimeZone on number", `{"attribute":"age","op":"isEmpty","personTimeZone":true}`,
			"", `attribute "age": personTimeZone applies to date and datetime values only`},
		{"event operator", `{"event":{"name":"X"},"op":"is"}`,
			"", `event "X": operator "is" does not apply to events (happened, didNotHappen, atLeast or atMost)`},
		{"event negative count", `{"any":[{"tag":"a","op":"has"},{"event":{"name":"X"},"op":"atLeast","count":-1}]}`,
			"any[1]", `event "X": count -1 is negative`},
		{"event count on happened", `{"event":{"name":"X"},"op":"happened","count":2}`,
			"", `event "X": operator "happened" takes no count`},
		{"event category", `{"event":{"category":"web","name":"X"},"op":"happened"}`,
			"", `event: unknown category "web" (external, people, channel or product)`},
		{"event within unit", `{"event":{"name":"X"},"op":"happened","within":{"amount":1,"unit":"day"}}`,
			"", `event "X": within: unknown unit "day" (seconds, minutes, hours, days, weeks, months or years)`},
		{"event where", `{"all":[{"event":{"name":"X","where":[{"property":"a","op":"is","value":1},{"property":"b","op":"lessThan","value":"x"}]},"op":"happened"}]}`,
			"all[0].event.where[1]", `property "b": value "x" is not a number`},
		{"event where no property", `{"event":{"name":"X","where":[{"op":"is","value":1}]},"op":"happened"}`,
			"event.where[0]", `property condition names no property`},
		{"event where type", `{"event":{"name":"X","where":[{"property":"a","op":"is","value":1,"type":"money"}]},"op":"happened"}`,
			"event.where[0]", `property "a": unknown type "money"`},
		{"computed wrong type", `{"attribute":"score","op":"contains","value":"1"}`,
			"", `attribute "score": operator "contains" does not apply to number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := segment.Parse([]byte(tc.doc))
			require.NoError(t, err)
			_, err = segment.Compile(c, opts)
			var ce *segment.ConditionError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.path, ce.Path)
			require.EqualError(t, ce.Err, tc.err)
			if tc.path != "" {
				require.EqualError(t, err, tc.path+": "+tc.err)
			}
		})
	}
}

func TestComputed(t *testing.T) {
	opts := segment.Options{
		Schema: schema,
		Computed: map[string]segment.Computed{
			"ageInMonths": {Type: store.Number, Formula: "age == nil ? nil : age * 12"},
			"fullName":    {Type: store.Text, Formula: `firstName + " " + lastName`},
			"trialDays": {Type: store.Number, Func: func(p *store.Person, now time.Time) (any, error) {
				end, ok := p.Attributes["trialEnd"].(time.Time)
				if !ok {
					return nil, nil
				}
				return int(end.Sub(now).Hours() / 24), nil
			}},
			"broken": {Type: store.Number, Func: func(*store.Person, time.Time) (any, error) { return nil, errors.New("no data") }},
			"panics": {Type: store.Number, Func: func(*store.Person, time.Time) (any, error) { panic("oops") }},
			"wrong":  {Type: store.Number, Func: func(*store.Person, time.Time) (any, error) { return "many", nil }},
		},
	}
	p := &store.Person{FirstName: "Ana", LastName: "Horvat", Attributes: map[string]any{"age": 27.0, "trialEnd": now.Add(72 * time.Hour)}}
	sub := &segment.Subject{Person: p, Now: now}
	require.True(t, match(t, compile(t, segment.Attr("ageInMonths", segment.Is, 324), opts), sub))
	require.True(t, match(t, compile(t, segment.Attr("ageInMonths", segment.IsEmpty, nil), opts), &segment.Subject{Person: &store.Person{}, Now: now}))
	require.True(t, match(t, compile(t, segment.Attr("fullName", segment.Is, "ana horvat"), opts), sub))
	require.True(t, match(t, compile(t, segment.Attr("trialDays", segment.LessOrEqual, 3), opts), sub))
	require.True(t, match(t, compile(t, segment.Attr("age", segment.LessThan, "{{person.ageInMonths}}"), opts), sub))

	for name, want := range map[string]string{
		"broken": `computed attribute "broken": no data`,
		"panics": `computed attribute "panics": panic: oops`,
		"wrong":  `computed attribute "wrong": value many (string) is not a number`,
	} {
		_, err := compile(t, segment.All(segment.Attr(name, segment.IsEmpty, nil)), opts).Match(sub)
		require.EqualError(t, err, "all[0]: "+want)
	}

	for formula, want := range map[string]string{
		`firstName + 1`: "formula: invalid operation",
		`firstName`:     "formula returns string, not number",
		`nosuch * 2`:    "formula: unknown name nosuch",
		`now()`:         "formula: ",
		`age * `:        "formula: unexpected token",
	} {
		bad := segment.Options{Schema: schema, Computed: map[string]segment.Computed{"x": {Type: store.Number, Formula: formula}}}
		_, err := segment.Compile(segment.Attr("x", segment.IsEmpty, nil), bad)
		require.ErrorContains(t, err, `computed attribute "x": `+want, formula)
	}
	for _, tc := range []struct {
		c    segment.Computed
		want string
	}{
		{segment.Computed{Type: store.Number}, "neither a formula nor a func"},
		{segment.Computed{Type: "money", Formula: "1"}, `unknown type "money"`},
		{segment.Computed{Type: store.Number, Formula: "1", Func: func(*store.Person, time.Time) (any, error) { return 1, nil }}, "both a formula and a func"},
	} {
		_, err := segment.Compile(segment.Attr("x", segment.IsEmpty, nil), segment.Options{Computed: map[string]segment.Computed{"x": tc.c}})
		require.ErrorContains(t, err, tc.want)
	}
	_, err := segment.Compile(segment.Attr("age", segment.IsEmpty, nil), segment.Options{Schema: schema, Computed: map[string]segment.Computed{"age": {Type: store.Number, Formula: "1"}}})
	require.EqualError(t, err, `computed attribute "age" has the name of a standard or custom attribute`)
}

func TestDeepNesting(t *testing.T) {
	c := segment.Tag("a", segment.Has)
	for range 99 {
		c = segment.Not(c)
	}
	_, err := segment.Compile(c, segment.Options{})
	require.NoError(t, err)
	_, err = segment.Compile(segment.Not(c), segment.Options{})
	require.ErrorContains(t, err, "conditions are nested more than 100 deep")

	cyclic := segment.Condition{}
	cyclic.Any = []segment.Condition{{}}
	cyclic.Any[0].Not = &cyclic
	_, err = segment.Compile(cyclic, segment.Options{})
	require.Error(t, err)
}

func TestStoredValueOfWrongType(t *testing.T) {
	s := compile(t, segment.Any(segment.Attr("age", segment.Is, 3)))
	_, err := s.Match(&segment.Subject{Person: person(map[string]any{"age": "three"}), Now: now})
	require.EqualError(t, err, `any[0]: attribute "age" holds three (string), not a number`)
	ok, err := s.Match(&segment.Subject{Person: person(map[string]any{"age": 3}), Now: now})
	require.NoError(t, err)
	require.True(t, ok, "any Go number is a number")
}

func TestMatchMisuse(t *testing.T) {
	var s *segment.Segment
	_, err := s.Match(&segment.Subject{Person: &store.Person{}})
	require.Error(t, err)
	_, _, err = s.MatchReason(&segment.Subject{Person: &store.Person{}})
	require.Error(t, err)
	s = compile(t, segment.Tag("a", segment.Has))
	_, err = s.Match(nil)
	require.Error(t, err)
	_, err = s.Match(&segment.Subject{})
	require.EqualError(t, err, "segment: subject has no person")
}
