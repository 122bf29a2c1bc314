package segment_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

var documents = []string{
	`{"attribute":"age","op":"lessOrEqual","value":30}`,
	`{"all":[]}`,
	`{"any":[]}`,
	`{"all":[{"attribute":"age","op":"lessOrEqual","value":30},{"event":{"category":"external","name":"PageViewed"},"op":"happened","within":{"amount":7,"unit":"days"}}]}`,
	`{"any":[{"not":{"tag":"vip","op":"has"}},{"tag":"churned","op":"hasNot"}]}`,
	`{"contact":"phone","op":"startsWith","value":"+385"}`,
	`{"lastContacted":"email","op":"wasWithin","value":{"amount":7,"unit":"days"}}`,
	`{"attribute":"renewal","op":"willBeIn","value":{"amount":0,"unit":"days"},"personTimeZone":true}`,
	`{"attribute":"nickname","op":"is","value":""}`,
	`{"attribute":"vip","op":"is","value":false}`,
	`{"attribute":"age","op":"is","value":1e+21}`,
	`{"attribute":"age","op":"is","value":0.1}`,
	`{"attribute":"prefs","op":"is","value":{"amount":7,"unit":"days","x":[1,"a",null]}}`,
	`{"attribute":"age","op":"lessThan","value":"{{person.age}}"}`,
	`{"event":{"category":"external","name":"OrderCompleted","where":[{"property":"cartId","op":"is","value":"{{cartId}}"},{"property":"total","op":"greaterThan","value":100,"type":"number"},{"property":"at","op":"wasToday","personTimeZone":true}]},"op":"atLeast","count":2,"sinceEntry":true}`,
	`{"event":{"name":"X"},"op":"atMost","count":0,"within":{"amount":3,"unit":"hours"},"sinceEntry":true}`,
}

// marshal(unmarshal(x)) is x, and unmarshal(marshal(c)) is c.
func TestJSONRoundTrip(t *testing.T) {
	for _, doc := range documents {
		t.Run(doc, func(t *testing.T) {
			c := parse(t, doc)
			out, err := json.Marshal(c)
			require.NoError(t, err)
			require.JSONEq(t, doc, string(out))
			require.Equal(t, c, parse(t, string(out)))

			var viaStd segment.Condition
			require.NoError(t, json.Unmarshal([]byte(doc), &viaStd))
			require.Equal(t, c, viaStd)
		})
	}
}

// Conditions built in Go encode to the JSON form.
func TestBuilderJSON(t *testing.T) {
	c := segment.All(
		segment.Attr("age", segment.LessOrEqual, 30),
		segment.Not(segment.Tag("vip", segment.Has)),
		segment.Attr("renewal", segment.WillBeWithin, segment.PeriodOf(7, segment.Days)).InPersonTimeZone(),
		segment.EventCount(store.External, "PageViewed", segment.AtLeast, 2,
			segment.Prop("url", segment.Contains, "/pricing")).InLast(7, segment.Days).FromEntry(),
	)
	out, err := json.Marshal(c)
	require.NoError(t, err)
	require.JSONEq(t, `{"all":[
		{"attribute":"age","op":"lessOrEqual","value":30},
		{"not":{"tag":"vip","op":"has"}},
		{"attribute":"renewal","op":"willBeWithin","value":{"amount":7,"unit":"days"},"personTimeZone":true},
		{"event":{"category":"external","name":"PageViewed","where":[{"property":"url","op":"contains","value":"/pricing"}]},
		 "op":"atLeast","count":2,"within":{"amount":7,"unit":"days"},"sinceEntry":true}
	]}`, string(out))

	// Embedded in a larger document, the strict decoder is used.
	var el struct {
		Segment segment.Condition           `json:"segment"`
		Where   []segment.PropertyCondition `json:"where"`
		Window  segment.Period              `json:"window"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"segment":{"tag":"a","op":"has"},"where":[{"property":"p","op":"isEmpty"}],"window":{"amount":2,"unit":"hours"}}`), &el))
	require.Equal(t, segment.Tag("a", segment.Has), el.Segment)
	require.Equal(t, []segment.PropertyCondition{{Property: "p", Op: segment.IsEmpty}}, el.Where)
	require.Equal(t, segment.PeriodOf(2, segment.Hours), el.Window)
	require.Error(t, json.Unmarshal([]byte(`{"where":[{"property":"p","opp":"isEmpty"}]}`), &el))
	require.NoError(t, json.Unmarshal([]byte(`{"segment":null,"window":null}`), &el), "null is no change")
	require.Equal(t, segment.Tag("a", segment.Has), el.Segment)
	require.Error(t, json.Unmarshal([]byte(`{"window":{"amount":2,"units":"hours"}}`), &el))
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ doc, err string }{
		{``, `invalid json: EOF`},
		{`{"all":[`, `invalid json: unexpected EOF`},
		{`{"tag":"a","op":"has"} {}`, `invalid json: data after the condition`},
		{`[]`, `condition must be an object, not an array`},
		{`{"all":{}}`, `"all" must be an array, not an object`},
		{`{"all":[{"attribute":"age","opp":"is"}]}`, `all[0]: unknown field "opp"`},
		{`{"any":[{"tag":"a","op":"has"},{"not":{"tag":3}}]}`, `any[1].not: "tag" must be a string, not a number`},
		{`{"event":{"name":"X","where":[{"property":"a","value":1,"extra":true}]},"op":"happened"}`, `event.where[0]: unknown field "extra"`},
		{`{"event":{"name":"X"},"op":"atLeast","count":1.5}`, `"count" must be a whole number, not 1.5`},
		{`{"event":{"name":"X"},"op":"atLeast","count":1e40}`, `"count" must be a whole number, not 1e40`},
		{`{"event":{"name":"X"},"op":"happened","within":{"amount":1}}`, ``},
		{`{"event":{"name":"X"},"op":"happened","within":{"amount":1,"unit":"days","x":1}}`, `within: unknown field "x" in period`},
		{`{"attribute":"age","op":"is","value":1e400}`, `number 1e400 is out of range`},
		{`{"attribute":"renewal","op":"willBeIn","value":{"amount":1.5,"unit":"days"}}`, `value: "amount" must be a whole number, not 1.5`},
		{`{"sinceEntry":"yes"}`, `"sinceEntry" must be a boolean, not a string`},
		{`{"event":[],"op":"happened"}`, `event: event must be an object, not an array`},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			_, err := segment.Parse([]byte(tc.doc))
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			var ce *segment.ConditionError
			require.ErrorAs(t, err, &ce)
			require.EqualError(t, err, tc.err)
		})
	}
	c := parse(t, `{"attribute":null,"tag":"a","op":"has"}`)
	require.Equal(t, segment.Tag("a", segment.Has), c, "null is absent")
}
