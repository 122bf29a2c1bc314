package segment_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// The reference example: two age groups (a custom attribute) who viewed a
// web page (an external event).
func TestReferenceExample(t *testing.T) {
	young := compile(t, parse(t, `{"all": [
		{"attribute": "age", "op": "lessOrEqual", "value": 30},
		{"event": {"category": "external", "name": "PageViewed"}, "op": "happened"}
	]}`))
	older := compile(t, parse(t, `{"all": [
		{"attribute": "age", "op": "greaterThan", "value": 30},
		{"event": {"category": "external", "name": "PageViewed"}, "op": "happened"}
	]}`))
	viewed := &history{events: []*store.Event{event(store.External, "PageViewed", now.Add(-time.Hour), nil)}}
	notViewed := &history{events: []*store.Event{event(store.Channel, "PageViewed", now.Add(-time.Hour), nil)}}
	tests := []struct {
		age          any
		h            *history
		young, older bool
	}{
		{27.0, viewed, true, false},
		{30.0, viewed, true, false},
		{31.0, viewed, false, true},
		{27.0, notViewed, false, false},
		{nil, viewed, false, false},
	}
	for _, tc := range tests {
		p := person(map[string]any{"age": tc.age})
		sub := &segment.Subject{Person: p, Now: now, Events: tc.h.Events}
		require.Equal(t, tc.young, match(t, young, sub), "young, age %v", tc.age)
		require.Equal(t, tc.older, match(t, older, sub), "older, age %v", tc.age)
	}
	ok, why, err := young.MatchReason(&segment.Subject{Person: person(map[string]any{"age": 27.0}), Now: now, Events: viewed.Events})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "age 27 lessOrEqual 30 and event external/PageViewed happened", why)
	ok, why, err = young.MatchReason(&segment.Subject{Person: person(map[string]any{"age": 35.0}), Now: now, Events: viewed.Events})
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, "age 35 lessOrEqual 30 is false", why)
}

func TestEventCounts(t *testing.T) {
	entered := now.Add(-36 * time.Hour)
	h := &history{}
	for i, ago := range []time.Duration{10 * 24 * time.Hour, 3 * 24 * time.Hour, 30 * time.Hour, 2 * time.Hour, time.Minute} {
		h.events = append(h.events, event(store.External, "PageViewed", now.Add(-ago), map[string]any{"n": float64(i)}))
	}
	h.events = append(h.events, event(store.External, "OrderCompleted", now.Add(-time.Hour), nil))
	pv := func(op segment.Op, n int) segment.Condition {
		return segment.EventCount(store.External, "PageViewed", op, n)
	}
	tests := []struct {
		name string
		cond segment.Condition
		want bool
	}{
		{"happened", segment.Event(store.External, "PageViewed", segment.Happened), true},
		{"didNotHappen", segment.Event(store.External, "PageViewed", segment.DidNotHappen), false},
		{"didNotHappen other name", segment.Event(store.External, "CartAbandoned", segment.DidNotHappen), true},
		{"happened other category", segment.Event(store.Channel, "PageViewed", segment.Happened), false},
		{"any name of a category", segment.Event(store.External, "", segment.AtLeast).InLast(1, segment.Hours), true},
		{"atLeast 5", pv(segment.AtLeast, 5), true},
		{"atLeast 6", pv(segment.AtLeast, 6), false},
		{"atLeast 0", pv(segment.AtLeast, 0), true},
		{"atMost 5", pv(segment.AtMost, 5), true},
		{"atMost 4", pv(segment.AtMost, 4), false},
		{"atMost 0", pv(segment.AtMost, 0), false},
		{"within 7 days", pv(segment.AtLeast, 4).InLast(7, segment.Days), true},
		{"within 7 days, not 5", pv(segment.AtLeast, 5).InLast(7, segment.Days), false},
		{"within 1 day", pv(segment.AtMost, 2).InLast(1, segment.Days), true},
		{"within 1 day exactly 2", pv(segment.AtLeast, 2).InLast(1, segment.Days), true},
		{"within 1 minute, inclusive", pv(segment.AtLeast, 1).InLast(1, segment.Minutes), true},
		{"within 30 seconds", segment.Event(store.External, "PageViewed", segment.DidNotHappen).InLast(30, segment.Seconds), true},
		{"since entry", pv(segment.AtLeast, 3).FromEntry(), true},
		{"since entry, not 4", pv(segment.AtLeast, 4).FromEntry(), false},
		{"since entry and within 1 day", pv(segment.AtMost, 2).FromEntry().InLast(1, segment.Days), true},
		{"since entry and within 7 days: entry is later", pv(segment.AtMost, 3).FromEntry().InLast(7, segment.Days), true},
		{"where", segment.Event(store.External, "PageViewed", segment.Happened, segment.Prop("n", segment.GreaterOrEqual, 4)), true},
		{"where count", segment.EventCount(store.External, "PageViewed", segment.AtLeast, 2, segment.Prop("n", segment.GreaterThan, 2)), true},
		{"where count within", segment.EventCount(store.External, "PageViewed", segment.AtLeast, 2, segment.Prop("n", segment.LessThan, 2)).InLast(7, segment.Days), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := &segment.Subject{Person: &store.Person{}, Now: now, EnteredAt: entered, Events: h.Events}
			require.Equal(t, tc.want, match(t, compile(t, tc.cond), sub))
		})
	}
}

func TestEventQueries(t *testing.T) {
	h := &history{}
	sub := &segment.Subject{Person: &store.Person{}, Now: now, Events: h.Events}
	s := compile(t, segment.EventCount(store.External, "PageViewed", segment.AtMost, 3).InLast(7, segment.Days))
	_, err := s.Match(sub)
	require.NoError(t, err)
	require.Equal(t, []store.EventQuery{{Name: "PageViewed", Category: store.External, Since: now.AddDate(0, 0, -7), Limit: 4}}, h.queries,
		"without property conditions, no more events than needed are asked for")

	h.queries = nil
	s = compile(t, segment.Event(store.External, "PageViewed", segment.Happened, segment.Prop("url", segment.Contains, "x")))
	_, err = s.Match(sub)
	require.NoError(t, err)
	require.Equal(t, 0, h.queries[0].Limit, "property conditions need every event")
	require.True(t, s.UsesEvents())
	require.False(t, compile(t, segment.Tag("x", segment.Has)).UsesEvents())
}

func TestEventErrors(t *testing.T) {
	s := compile(t, segment.All(segment.Attr("age", segment.IsEmpty, nil), segment.Event(store.External, "PageViewed", segment.Happened)))
	_, err := s.Match(&segment.Subject{Person: &store.Person{}, Now: now})
	var ce *segment.ConditionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "all[1]", ce.Path)
	require.EqualError(t, err, "all[1]: event condition needs the subject's event history (Subject.Events)")

	s = compile(t, segment.Event(store.External, "PageViewed", segment.Happened).FromEntry())
	_, err = s.Match(&segment.Subject{Person: &store.Person{}, Now: now, Events: (&history{}).Events})
	require.EqualError(t, err, "sinceEntry needs the subject's entry time (Subject.EnteredAt)")

	boom := errors.New("boom")
	_, err = s.Match(&segment.Subject{Person: &store.Person{}, Now: now, EnteredAt: now,
		Events: func(*store.EventQuery) ([]*store.Event, error) { return nil, boom }})
	require.ErrorIs(t, err, boom)
	_, err = s.Match(&segment.Subject{Person: &store.Person{}, Now: now, EnteredAt: now,
		Events: func(*store.EventQuery) ([]*store.Event, error) { panic("bad store") }})
	require.ErrorContains(t, err, "panic: bad store")
}

func TestWhere(t *testing.T) {
	w, err := segment.CompileWhere([]segment.PropertyCondition{
		segment.Prop("cartId", segment.Is, "{{cartId}}"),
		segment.Prop("total", segment.GreaterOrEqual, 100),
		segment.Prop("shipping.country", segment.Is, "HR"),
		{Property: "coupon", Op: segment.IsEmpty},
		{Property: "paidAt", Op: segment.WasWithin, Value: segment.PeriodOf(1, segment.Hours)},
	}, segment.Options{Variables: map[string]store.Type{"cartId": store.Text}})
	require.NoError(t, err)
	require.Equal(t, 5, segment.WhereLen(w))
	sub := &segment.Subject{Now: now, Vars: map[string]any{"cartId": "c-1"}}
	props := func() map[string]any {
		return map[string]any{
			"cartId": "C-1", "total": 120, "shipping": map[string]any{"country": "hr"},
			"paidAt": now.Add(-10 * time.Minute).Format(time.RFC3339),
		}
	}
	ok, err := w.Match(&store.Event{Properties: props()}, sub)
	require.NoError(t, err)
	require.True(t, ok)

	for name, change := range map[string]func(m map[string]any){
		"other cart":        func(m map[string]any) { m["cartId"] = "c-2" },
		"small total":       func(m map[string]any) { m["total"] = 99.5 },
		"total not number":  func(m map[string]any) { m["total"] = "lots" },
		"other country":     func(m map[string]any) { m["shipping"] = map[string]any{"country": "SI"} },
		"with coupon":       func(m map[string]any) { m["coupon"] = "SPRING" },
		"paid long ago":     func(m map[string]any) { m["paidAt"] = now.Add(-2 * time.Hour) },
		"paidAt not a time": func(m map[string]any) { m["paidAt"] = "yesterday" },
		"no cart":           func(m map[string]any) { delete(m, "cartId") },
	} {
		p := props()
		change(p)
		ok, err := w.Match(&store.Event{Properties: p}, sub)
		require.NoError(t, err)
		require.False(t, ok, name)
	}

	ok, err = w.Match(&store.Event{Properties: props()}, &segment.Subject{Now: now})
	require.NoError(t, err)
	require.False(t, ok, "an unset variable matches nothing")

	var none *segment.Where
	ok, err = none.Match(&store.Event{}, nil)
	require.NoError(t, err)
	require.True(t, ok, "no conditions match every event")
	ok, err = w.Match(nil, sub)
	require.NoError(t, err)
	require.False(t, ok)
}

// Untyped properties take their type from the operator, the literal or the
// placeholder; a value that does not convert is present but equal to nothing.
func TestWhereTypes(t *testing.T) {
	tests := []struct {
		name  string
		cond  segment.PropertyCondition
		props map[string]any
		want  bool
	}{
		{"text literal", segment.Prop("plan", segment.Is, "gold"), map[string]any{"plan": "GOLD"}, true},
		{"number literal", segment.Prop("qty", segment.Is, 2), map[string]any{"qty": 2}, true},
		{"number literal, text value", segment.Prop("qty", segment.Is, 2), map[string]any{"qty": "2"}, false},
		{"number literal, text value isNot", segment.Prop("qty", segment.IsNot, 2), map[string]any{"qty": "2"}, true},
		{"bool literal", segment.Prop("gift", segment.Is, true), map[string]any{"gift": true}, true},
		{"explicit text type", segment.PropertyCondition{Property: "qty", Op: segment.Is, Value: "2", Type: store.Text}, map[string]any{"qty": 2}, true},
		{"explicit date type", segment.PropertyCondition{Property: "day", Op: segment.Is, Value: "2025-03-10", Type: store.Date}, map[string]any{"day": "2025-03-10"}, true},
		{"explicit list type", segment.PropertyCondition{Property: "skus", Op: segment.Contains, Value: "a-1", Type: store.List}, map[string]any{"skus": []any{"A-1"}}, true},
		{"before", segment.Prop("at", segment.Before, "2025-03-10"), map[string]any{"at": "2025-03-09T23:00:00Z"}, true},
		{"isEmpty missing", segment.Prop("x", segment.IsEmpty, nil), map[string]any{}, true},
		{"isEmpty empty text", segment.Prop("x", segment.IsEmpty, nil), map[string]any{"x": ""}, true},
		{"isEmpty empty list", segment.Prop("x", segment.IsEmpty, nil), map[string]any{"x": []any{}}, true},
		{"isNotEmpty number", segment.Prop("x", segment.IsNotEmpty, nil), map[string]any{"x": 0.0}, true},
		{"dotted name, exact key first", segment.Prop("a.b", segment.Is, "flat"), map[string]any{"a.b": "flat", "a": map[string]any{"b": "nested"}}, true},
		{"untyped placeholder, text", segment.Prop("ref", segment.Is, "{{entry.ref}}"), map[string]any{"ref": "R-7"}, true},
		{"untyped placeholder, number", segment.Prop("qty", segment.Is, "{{entry.qty}}"), map[string]any{"qty": 3}, true},
		{"untyped placeholder, number vs text", segment.Prop("qty", segment.Is, "{{entry.qty}}"), map[string]any{"qty": "3"}, false},
		{"person placeholder", segment.Prop("city", segment.Is, "{{person.city}}"), map[string]any{"city": "zagreb"}, true},
		{"person date placeholder", segment.Prop("day", segment.Since, "{{person.renewal}}"), map[string]any{"day": "2025-03-11T08:00:00+01:00"}, true},
	}
	entry := &store.Event{Properties: map[string]any{"ref": "r-7", "qty": 3.0}}
	p := &store.Person{City: "Zagreb", Attributes: map[string]any{"renewal": date(2025, 3, 11)}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := segment.CompileWhere([]segment.PropertyCondition{tc.cond}, segment.Options{Schema: schema})
			require.NoError(t, err)
			ok, err := w.Match(&store.Event{Properties: tc.props}, &segment.Subject{Person: p, Now: now, Entry: entry})
			require.NoError(t, err)
			require.Equal(t, tc.want, ok)
		})
	}
}

func TestPlaceholders(t *testing.T) {
	opts := segment.Options{Schema: schema, Variables: map[string]store.Type{
		"maxAge": store.Number, "city": store.Text, "deadline": store.DateTime, "day": store.Date, "n": store.Number,
	}}
	p := &store.Person{City: "Zagreb", Attributes: map[string]any{
		"age": 27.0, "nickname": "Zagreb", "renewal": date(2025, 3, 10), "trialEnd": now.Add(time.Hour),
	}}
	entry := &store.Event{Properties: map[string]any{"limit": 30, "city": "zagreb", "when": "2025-03-10T13:00:00Z"}}
	vars := map[string]any{"maxAge": 30.0, "city": "ZAGREB", "deadline": now.Add(time.Hour), "day": date(2025, 3, 10), "n": 27}
	tests := []struct {
		cond segment.Condition
		want bool
	}{
		{segment.Attr("age", segment.LessOrEqual, "{{maxAge}}"), true},
		{segment.Attr("age", segment.LessOrEqual, "{{ maxAge }}"), true},
		{segment.Attr("age", segment.Is, "{{n}}"), true}, // an int variable converts
		{segment.Attr("city", segment.Is, "{{city}}"), true},
		{segment.Attr("city", segment.Is, "{{person.nickname}}"), true},
		{segment.Attr("nickname", segment.Is, "{{person.age}}"), false}, // number as text: "27"
		{segment.Attr("age", segment.LessOrEqual, "{{entry.limit}}"), true},
		{segment.Attr("city", segment.Is, "{{entry.city}}"), true},
		{segment.Attr("trialEnd", segment.Is, "{{deadline}}"), true},
		{segment.Attr("trialEnd", segment.Is, "{{entry.when}}"), true},
		{segment.Attr("trialEnd", segment.Is, "{{day}}"), true}, // a date compares by day
		{segment.Attr("renewal", segment.Is, "{{deadline}}"), true},
		{segment.Attr("age", segment.Is, "{{entry.missing}}"), false},
		{segment.Attr("age", segment.IsNot, "{{entry.missing}}"), false}, // unresolved: false whatever the operator
		{segment.Attr("age", segment.Is, "{{entry.city}}"), false},       // not a number: unresolved
	}
	for _, tc := range tests {
		t.Run(string(tc.cond.Op)+" "+tc.cond.Value.(string), func(t *testing.T) {
			s := compile(t, tc.cond, opts)
			require.Equal(t, tc.want, match(t, s, &segment.Subject{Person: p, Now: now, Vars: vars, Entry: entry}))
		})
	}

	// Without declared variables, placeholders are not checked and convert
	// at evaluation.
	s := compile(t, segment.Attr("age", segment.LessThan, "{{limit}}"))
	require.True(t, match(t, s, &segment.Subject{Person: p, Now: now, Vars: map[string]any{"limit": 28}}))
	require.False(t, match(t, s, &segment.Subject{Person: p, Now: now, Vars: map[string]any{"limit": "28"}}))
	require.False(t, match(t, s, &segment.Subject{Person: p, Now: now}))

	ok, why, err := compile(t, segment.Attr("age", segment.LessOrEqual, "{{maxAge}}"), opts).
		MatchReason(&segment.Subject{Person: p, Now: now, Vars: vars})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "age 27 lessOrEqual {{maxAge}} (30)", why)
	ok, why, err = compile(t, segment.Attr("age", segment.LessOrEqual, "{{maxAge}}"), opts).
		MatchReason(&segment.Subject{Person: p, Now: now})
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, "age 27 lessOrEqual {{maxAge}} (unresolved) is false", why)
}

// Mismatch names the property whose value a condition could not compare,
// and says nothing for a match or an ordinary miss.
func TestWhereMismatch(t *testing.T) {
	w, err := segment.CompileWhere([]segment.PropertyCondition{
		{Property: "cartId", Op: segment.IsNotEmpty},
		{Property: "total", Op: segment.GreaterThan, Value: 50},
	}, segment.Options{})
	require.NoError(t, err)
	for _, tc := range []struct {
		props map[string]any
		want  string
	}{
		{map[string]any{"cartId": "c1", "total": "99.5"}, `property "total" is text "99.5", not a number: total greaterThan 50 cannot compare it`},
		{map[string]any{"cartId": "c1", "total": true}, `property "total" is bool true, not a number: total greaterThan 50 cannot compare it`},
		{map[string]any{"cartId": "c1", "total": 99.5}, ""}, // a match
		{map[string]any{"cartId": "c1", "total": 10.0}, ""}, // compared, smaller
		{map[string]any{"cartId": "c1"}, ""},                // missing
		{map[string]any{"total": "99.5"}, ""},               // fails first on the cart
		{map[string]any{"cartId": "c1", "total": []any{1.0}}, `property "total" is list [1], not a number: total greaterThan 50 cannot compare it`},
	} {
		ev := &store.Event{Name: "CartAbandoned", Properties: tc.props}
		require.Equal(t, tc.want, w.Mismatch(ev, nil), "%v", tc.props)
		if tc.want != "" {
			ok, err := w.Match(ev, nil)
			require.NoError(t, err)
			require.False(t, ok)
		}
	}
	require.Empty(t, (*segment.Where)(nil).Mismatch(&store.Event{}, nil))
}
