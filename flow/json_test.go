package flow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// jsonFullDoc uses every flow setting and every configuration field of the
// core element kinds, written the way Marshal writes them.
const jsonFullDoc = `{
  "id": "onboarding",
  "name": "Onboarding",
  "timezone": "Europe/Zagreb",
  "schedule": {"start": "2026-01-01T00:00:00+01:00", "end": "2027-01-01T00:00:00Z"},
  "variables": {
    "plan": {"type": "text", "default": "free"},
    "score": {"type": "number", "default": 0},
    "vip": {"type": "bool"},
    "due": {"type": "date", "default": "2026-12-24"},
    "paidAt": {"type": "datetime"},
    "items": {"type": "list", "default": ["a", 1, true, null]},
    "meta": {"type": "object", "default": {"k": {"n": 1.5}}}
  },
  "trigger": {"category": "external", "name": "signedUp"},
  "reentry": true,
  "start": "tag",
  "elements": [
    {"id": "tag", "type": "addTag", "name": "Tag the sign-up", "tag": "new-{{plan}}", "next": {"next": "vars", "error": "done"}},
    {"id": "vars", "type": "updateVariable", "set": [
      {"variable": "plan", "value": "{{entry.properties.plan}}"},
      {"variable": "score", "formula": "score + 10"},
      {"variable": "vip", "empty": true},
      {"variable": "items", "value": ["x", 2]}
    ], "next": {"next": "profile"}},
    {"id": "profile", "type": "updateProfile", "set": [
      {"attribute": "city", "value": "Zagreb"},
      {"attribute": "score", "formula": "score * 2"},
      {"attribute": "lastName", "empty": true}
    ], "next": {"next": "wait-1d"}},
    {"id": "wait-1d", "type": "pause", "mode": "for", "period": {"amount": 1, "unit": "days"}, "at": "09:00", "personTimeZone": true, "next": {"next": "wait-monday"}},
    {"id": "wait-monday", "type": "pause", "mode": "until", "weekday": "Monday", "at": "13:00", "next": {"next": "wait-date"}},
    {"id": "wait-date", "type": "pause", "mode": "date", "date": "2026-11-30T13:00", "next": {"next": "untag"}},
    {"id": "untag", "type": "removeTag", "tag": "new-{{plan}}", "next": {"next": "done", "error": ""}},
    {"id": "done", "type": "exit", "reason": "onboarded"}
  ]
}`

var jsonSchema = store.Schema{"score": store.Number}

func TestJSONRoundTrip(t *testing.T) {
	f, err := flow.Parse([]byte(jsonFullDoc))
	require.NoError(t, err)
	require.NoError(t, f.Validate(jsonSchema))

	data, err := json.Marshal(f)
	require.NoError(t, err)
	require.JSONEq(t, jsonFullDoc, string(data), "Marshal writes back what Parse read")

	again, err := flow.Parse(data)
	require.NoError(t, err)
	require.Equal(t, f, again)
	data2, err := json.Marshal(again)
	require.NoError(t, err)
	require.Equal(t, string(data), string(data2), "Marshal is stable")

	clone, err := f.Clone()
	require.NoError(t, err)
	require.Equal(t, f, clone)

	// Spot checks that the fields landed where they belong.
	require.Equal(t, "Tag the sign-up", f.Node("tag").Name)
	require.Equal(t, flow.Next{"next": "vars", "error": "done"}, f.Node("tag").Next)
	require.Equal(t, &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}, At: kinds.At(9, 0), PersonTimeZone: true}, f.Node("wait-1d").Element)
	require.Equal(t, &kinds.Exit{Reason: "onboarded"}, f.Node("done").Element)
	require.Equal(t, []any{"a", 1.0, true, nil}, f.Variables["items"].Default)
	require.True(t, f.Schedule.Start.Equal(time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)))
	require.Equal(t, &flow.Trigger{Category: store.External, Name: "signedUp"}, f.Trigger)
	require.Nil(t, f.Node("nowhere"))
}

func TestJSONRoundTripOfBuiltFlow(t *testing.T) {
	f := flow.New("built", "Built in Go").In("America/New_York").
		Var("n", store.Number, 1.0).Var("who", store.Text, nil).
		Add("tag", &kinds.AddTag{Tag: "vip"}, flow.Next{"next": "pause"}).
		Add("pause", &kinds.Pause{Mode: kinds.PauseUntil, Weekday: "friday", At: kinds.At(0, 0)}, flow.Next{"next": "calc"}).
		Add("calc", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n * 2"}, {Variable: "who", Value: "{{person.firstName}}"}}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
	f.Schedule.End = time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	require.NoError(t, f.Validate(nil))

	data, err := json.Marshal(f)
	require.NoError(t, err)
	back, err := flow.Parse(data)
	require.NoError(t, err)
	require.Equal(t, f, back)
	data2, err := json.Marshal(back)
	require.NoError(t, err)
	require.Equal(t, string(data), string(data2))
	require.Contains(t, string(data), `{"id":"pause","type":"pause","mode":"until","weekday":"friday","at":"00:00","next":{"next":"calc"}}`)
	require.Contains(t, string(data), `{"id":"done","type":"exit"}`)
}

// requireValidationError asserts err is a *flow.ValidationError naming the
// element and field, with a message holding msg.
func requireValidationError(t *testing.T, err error, elementID, field, msg string) {
	t.Helper()
	var ve *flow.ValidationError
	require.True(t, errors.As(err, &ve), "want a *flow.ValidationError, got %T: %v", err, err)
	require.Equal(t, elementID, ve.ElementID, "element id of %q", err.Error())
	require.Equal(t, field, ve.Field, "field of %q", err.Error())
	require.ErrorContains(t, err, msg)
	if elementID != "" {
		require.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("element %q: ", elementID)), err.Error())
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, elementID, field, msg string
	}{
		{"empty input", ``, "", "", "EOF"},
		{"truncated", `{"id":"f","elements":[`, "", "", "unexpected EOF"},
		{"syntax error", `{"id":"f",}`, "", "", "invalid character '}' looking for beginning of object key string (at byte 11)"},
		{"not an object", `[]`, "", "", "json array cannot be read as flow.Flow"},
		{"wrong type", `{"id": 5}`, "", "id", "json number cannot be read as string"},
		{"wrong type deeper", `{"id":"f","variables":{"x":{"type":1}}}`, "", "variables.type", "json number cannot be read as store.Type"},
		{"unknown field", `{"id":"f","colour":"red","elements":[]}`, "", "colour", `unknown field "colour"`},
		{"data after the flow", `{"id":"f","elements":[{"id":"a","type":"exit"}]} {}`, "", "", "data after the flow object"},
		{"element not an object", `{"id":"f","elements":[5]}`, "", "", "element is not a JSON object"},
		{"element without id", `{"id":"f","elements":[{"type":"exit"}]}`, "", "id", "element id is missing"},
		{"element without type", `{"id":"f","elements":[{"id":"a"}]}`, "a", "type", "element type is missing"},
		{"unknown element kind", `{"id":"f","elements":[{"id":"a","type":"teleport"}]}`, "a", "type", `unknown element kind "teleport"`},
		{"unknown element field", `{"id":"f","elements":[{"id":"a","type":"exit","colour":"red"}]}`, "a", "colour", `unknown field "colour"`},
		{"element field of the wrong type", `{"id":"f","elements":[{"id":"a","type":"pause","mode":"for","period":{"amount":"three","unit":"days"}}]}`, "a", "period.amount", "json string cannot be read as int"},
		{"bad time of day", `{"id":"f","elements":[{"id":"a","type":"pause","mode":"until","at":"9am"}]}`, "a", "at", `time of day "9am" is not HH:MM`},
		{"time of day not a string", `{"id":"f","elements":[{"id":"a","type":"pause","mode":"until","at":900}]}`, "a", "at", `time of day must be a string "HH:MM"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := flow.Parse([]byte(tc.doc))
			require.Nil(t, f)
			requireValidationError(t, err, tc.elementID, tc.field, tc.msg)
			if tc.name == "unknown element kind" {
				require.ErrorIs(t, err, element.ErrUnknownKind)
			}
		})
	}
}

// jsonFlow is a flow document with the given elements and extra settings.
func jsonFlow(extra string, elements ...string) string {
	return `{"id":"f"` + extra + `,"elements":[` + strings.Join(elements, ",") + `]}`
}

func jsonChain(n int) string {
	els := make([]string, n)
	for i := range els {
		next := ""
		if i+1 < n {
			next = fmt.Sprintf(`,"next":{"next":"e%d"}`, i+1)
		}
		els[i] = fmt.Sprintf(`{"id":"e%d","type":"addTag","tag":"t%d"%s}`, i, i, next)
	}
	return jsonFlow("", els...)
}

func TestValidateErrors(t *testing.T) {
	const exit = `{"id":"done","type":"exit"}`
	for _, tc := range []struct {
		name, doc, elementID, field, msg string
	}{
		{"no flow id", `{"elements":[` + exit + `]}`, "", "id", "flow id is missing"},
		{"no elements", jsonFlow(""), "", "elements", "flow has no elements"},
		{"null element", jsonFlow("", exit, "null"), "", "elements[1]", "element has no configuration"},
		{"101 elements", jsonChain(101), "", "elements", "flow has 101 elements, at most 100 are allowed"},
		{"bad time zone", jsonFlow(`,"timezone":"Mars/Olympus_Mons"`, exit), "", "timezone", `"Mars/Olympus_Mons" is not an IANA time zone`},
		{"schedule ends before it starts", jsonFlow(`,"schedule":{"start":"2026-02-01T00:00:00Z","end":"2026-01-01T00:00:00Z"}`, exit), "", "schedule.end", "is not after start"},
		{"bad variable type", jsonFlow(`,"variables":{"x":{"type":"string"}}`, exit), "", "variables.x.type", `unknown type "string"`},
		{"bad variable default", jsonFlow(`,"variables":{"x":{"type":"number","default":"ten"}}`, exit), "", "variables.x.default", "is not a number"},
		{"bad date default", jsonFlow(`,"variables":{"d":{"type":"date","default":"2027-02-29"}}`, exit), "", "variables.d.default", "is not a date"},
		{"reserved variable name", jsonFlow(`,"variables":{"person":{"type":"text"}}`, exit), "", "variables.person", `"person" cannot be a variable name`},
		{"bad trigger category", jsonFlow(`,"trigger":{"category":"web","name":"visited"}`, exit), "", "trigger.category", `unknown event category "web"`},
		{"trigger without a name", jsonFlow(`,"trigger":{"category":"external"}`, exit), "", "trigger.name", "event name is missing"},
		{"missing start", jsonFlow(`,"start":"nowhere"`, exit), "", "start", `start element "nowhere" does not exist`},
		{"duplicate id", jsonFlow("", `{"id":"done","type":"addTag","tag":"x"}`, exit), "done", "id", "two elements have this id"},
		{"missing branch target", jsonFlow("", `{"id":"a","type":"addTag","tag":"x","next":{"next":"ghost"}}`), "a", "next.next", `target element "ghost" does not exist`},
		{"bad branch name", jsonFlow("", `{"id":"a","type":"addTag","tag":"x","next":{"sideways":"done"}}`, exit), "a", "next.sideways", `addTag has no branch "sideways" (it has [next error])`},
		{"branch out of an exit", jsonFlow("", `{"id":"a","type":"exit","next":{"next":"a"}}`), "a", "next.next", `exit has no branch "next"`},
		{"unreachable element", jsonFlow("", `{"id":"a","type":"addTag","tag":"x","next":{"next":"done"}}`, exit, `{"id":"orphan","type":"exit"}`), "orphan", "", `element cannot be reached from the start element "a"`},
		{"unreachable loop", jsonFlow("", exit, `{"id":"x","type":"addTag","tag":"x","next":{"next":"y"}}`, `{"id":"y","type":"removeTag","tag":"x","next":{"next":"x"}}`), "x", "", "cannot be reached"},
		{"bad pause amount", jsonFlow("", `{"id":"p","type":"pause","mode":"for","period":{"amount":0,"unit":"days"}}`), "p", "period.amount", "amount must be positive, got 0"},
		{"bad pause unit", jsonFlow("", `{"id":"p","type":"pause","mode":"for","period":{"amount":2,"unit":"fortnights"}}`), "p", "period.unit", `unit "fortnights"`},
		{"Feb 29 of 2027", jsonFlow("", `{"id":"p","type":"pause","mode":"date","date":"2027-02-29T10:00"}`), "p", "date", `"2027-02-29T10:00" is not a local date and time`},
		{"empty tag", jsonFlow("", `{"id":"t","type":"addTag","tag":""}`), "t", "tag", "tag is empty"},
		{"undeclared variable", jsonFlow("", `{"id":"v","type":"updateVariable","set":[{"variable":"x","value":1}]}`), "v", "set[0].variable", `variable "x" is not declared in the flow`},
		{"wrong value type", jsonFlow(`,"variables":{"n":{"type":"number"}}`, `{"id":"v","type":"updateVariable","set":[{"variable":"n","value":"ten"}]}`), "v", "set[0].value", "is not a number"},
		{"wrong formula type", jsonFlow(`,"variables":{"n":{"type":"number"}}`, `{"id":"v","type":"updateVariable","set":[{"variable":"n","formula":"n > 1"}]}`), "v", "set[0].formula", "variable n is number but the formula gives bool"},
		{"bad expression keeps line and column", jsonFlow(`,"variables":{"n":{"type":"number"}}`, `{"id":"v","type":"updateVariable","set":[{"variable":"n","formula":"n +\n * 2"}]}`), "v", "set[0].formula", "unexpected token Operator(\"*\") (2:2)"},
		{"unknown person attribute", jsonFlow(`,"variables":{"n":{"type":"number"}}`, `{"id":"v","type":"updateVariable","set":[{"variable":"n","formula":"n + person.age"}]}`), "v", "set[0].formula", `unknown person attribute "age" (1:12)`},
		{"unknown profile attribute", jsonFlow("", `{"id":"u","type":"updateProfile","set":[{"attribute":"shoeSize","value":42}]}`), "u", "set[0].attribute", `unknown person attribute "shoeSize"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := flow.Parse([]byte(tc.doc))
			require.NoError(t, err)
			requireValidationError(t, f.Validate(nil), tc.elementID, tc.field, tc.msg)
		})
	}
}

func TestValidateAtMostElements(t *testing.T) {
	f, err := flow.Parse([]byte(jsonChain(flow.MaxElements)))
	require.NoError(t, err)
	require.NoError(t, f.Validate(nil))
}

// FuzzParse feeds Parse arbitrary bytes: it never panics, refuses with a
// *flow.ValidationError, and a flow it accepts marshals stably and
// validates without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(jsonFullDoc))
	f.Add([]byte(jsonChain(3)))
	for _, doc := range []string{
		``, `{}`, `null`, `[]`, `{"id":"f","elements":[null]}`, `{"id":"f","elements":[{"id":"a","type":"teleport"}]}`,
		`{"id":"f","elements":[{"id":"a","type":"pause","mode":"until","weekday":"Monday","at":"13:00"}]}`,
		`{"id":"f","elements":[{"id":"a","type":"pause","mode":"date","date":"2028-02-29T10:00","next":{"next":"a"}}]}`,
		`{"id":"f","variables":{"n":{"type":"number","default":1}},"elements":[{"id":"v","type":"updateVariable","set":[{"variable":"n","formula":"n * 2"}]}]}`,
		`{"id":"f","elements":[{"id":"a","type":"exit","next":"b"}]}`,
		`{"id":"f","reentry":true,"elements":[{"id":"a","type":"exit"}]}`,
		`{"id":"f","reentry":{"rule":"afterCoolDown","coolDown":{"amount":2,"unit":"days"}},"elements":[{"id":"a","type":"exit"}]}`,
		`{"id":"f","holdout":{"percent":5},"elements":[{"id":"s","type":"splitAudience","variants":[{"name":"c","percent":50,"control":true},{"name":"b","percent":50}],"experiment":{"goal":"g","samplePerVariant":100,"endAfter":{"amount":2,"unit":"weeks"},"confidence":0.9,"fallback":"b"}}],"goals":[{"name":"g","event":{"category":"external","name":"Bought"},"within":{"amount":7,"unit":"days"}}]}`,
		`{"id":"f","elements":[{"id":"p","type":"actionPaths","ranked":true,"waitFor":{"amount":1,"unit":"days"},"paths":[{"name":"a","event":{"category":"external","name":"A","where":[{"property":"x","op":"is","value":"{{entry.properties.x}}"}]},"includeFromEntrance":true},{"name":"b","event":{"category":"channel","name":"MessageClicked"},"anyMessage":true}],"next":{"a":"p","timeout":""}}]}`,
		`{"id":"f","entries":[{"type":"event","event":{"category":"external","name":"Signup","where":[{"property":"plan","op":"is","value":"gold"}]}},{"type":"date","date":{"attribute":"birthDate","everyYear":true,"at":"09:00"}}],"exitRules":[{"name":"bought","event":{"category":"external","name":"OrderCompleted"}},{"unless":{"tag":"vip","op":"has"}}],"goals":[{"name":"ordered","event":{"category":"external","name":"OrderCompleted"},"within":{"amount":7,"unit":"days"},"exit":true}],"elements":[{"id":"a","type":"exit"}]}`,
		`{"id":"f","entries":[{"type":"audience","segment":{"tag":"newsletter","op":"has"},"runAtActivation":false,"schedule":{"every":"week","weekday":"monday","at":"09:00","personTimeZone":true}}],"elements":[{"id":"p","type":"pause","mode":"until","at":"09:00","personTimeZone":true,"businessDays":{"weekdays":["monday","friday"],"holidays":["2026-12-24","12-25"]},"next":{"next":"m"}},{"id":"m","type":"sendMessage","channel":"sms","body":"Hi {{person.firstName | default(\"there\")}}","speed":{"count":100,"per":"minute"},"next":{"sent":"","blocked":"","capped":""}}]}`,
		`{"id":"f","elements":[{"id":"d","type":"waitForDate","attribute":"birthDate","at":"09:00","businessDays":{"holidays":["02-30"]}},{"id":"n","type":"notify","speed":{"count":0,"per":"fortnight"}}]}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := flow.Parse(data)
		if err != nil {
			var ve *flow.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse error %T is not a *flow.ValidationError: %v", err, err)
			}
			return
		}
		out, err := json.Marshal(fl)
		if err != nil {
			t.Fatalf("Marshal of a parsed flow: %v", err)
		}
		back, err := flow.Parse(out)
		if err != nil {
			t.Fatalf("Parse of Marshal output %s: %v", out, err)
		}
		out2, err := json.Marshal(back)
		if err != nil {
			t.Fatalf("second Marshal: %v", err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("Marshal is not stable:\n%s\n%s", out, out2)
		}
		if err := fl.Validate(jsonSchema); err != nil {
			var ve *flow.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate error %T is not a *flow.ValidationError: %v", err, err)
			}
		}
	})
}
