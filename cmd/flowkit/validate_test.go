package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// flowkit runs one command line and returns its status and output.
func flowkit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status := run(context.Background(), args, &out, &errOut)
	return status, out.String(), errOut.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got)
}

// A document with five different mistakes gets all five, each at its
// line and column, with the intended name where one is near.
func TestValidateFiveMistakes(t *testing.T) {
	status, out, _ := flowkit(t, "validate", "testdata/five-mistakes.json")
	require.Equal(t, exitProblem, status)
	golden(t, "five-mistakes.golden", out)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 5)
	for _, want := range []string{
		`testdata/five-mistakes.json:5:3: colour: unknown field "colour"`,
		`testdata/five-mistakes.json:11:15: element "wait-signup" next.ocurred: waitForEvent has no branch "ocurred" (it has [occurred timeout error]): did you mean "occurred"?`,
		`testdata/five-mistakes.json:12:21: element "greet" type: unknown element kind "sendMesage": did you mean "sendMessage"?`,
		`did you mean "contains"? (text takes is, isNot, contains, startsWith, endsWith, isEmpty, isNotEmpty)`,
		`testdata/five-mistakes.json:16:77: element "score" set[0].formula: expression "score +": unexpected token EOF (1:7)`,
	} {
		require.Contains(t, out, want)
	}
}

func TestValidateProblems(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"trailing comma", "{\"id\":\"f\",\n \"elements\":[{\"id\":\"a\",\"type\":\"exit\"},]}",
			[]string{`2:38: invalid JSON: trailing comma before ']'`}},
		{"trailing comma in an object", "{\"id\":\"f\",\n\n  \"elements\":[],\n}",
			[]string{`3:16: invalid JSON: trailing comma before '}'`}},
		{"truncated", "{\"id\":\"f\",\n \"elements\":[{\"id\":\"a\",",
			[]string{`2:24: invalid JSON: unexpected end of JSON input`}},
		{"empty", "", []string{`1:1: invalid JSON: unexpected end of JSON input`}},
		{"data after the flow", `{"id":"f","elements":[{"id":"a","type":"exit"}]} {}`,
			[]string{`1:50: invalid JSON: invalid character '{' after top-level value`}},
		{"not an object", `[]`, []string{`1:1: a flow document is a JSON object, not an array`}},
		{"every decoding problem", `{"id":5,"elements":[
  {"id":"a","type":"pause","mode":"for","period":{"amount":"x","unit":"days"}},
  {"id":"b","type":"waitForEvent","event":{"name":"x","colour":1},"next":{"occurred":"a"}},
  {"type":"exit"},
  7,
  {"id":"a","type":"exit","tga":"x"}],
 "trigger":{"category":"external","nmae":"x"}}`, []string{
			`1:7: id: json number cannot be read as string`,
			`2:51: element "a" period.amount: json string cannot be read as int`,
			`3:55: element "b" colour: unknown field "colour"`,
			`4:3: elements[2].id: element id is missing`,
			`5:3: elements[3]: an element is a JSON object, not a number`,
			`6:4: element "a" id: two elements have this id`,
			`6:27: element "a" tga: unknown field "tga"`, // exit has no such field
			`7:35: trigger: unknown field "nmae": did you mean "name"?`,
		}},
		{"unknown element field, then the element's other problems", `{"id":"f","elements":[
  {"id":"a","type":"addTag","tga":"x","next":{"nxet":"b"}},
  {"id":"b","type":"exit"}]}`, []string{
			`2:3: element "a" tag: tag is empty`,
			`2:29: element "a" tga: unknown field "tga": did you mean "tag"?`,
			`2:47: element "a" next.nxet: addTag has no branch "nxet" (it has [next error]): did you mean "next"?`,
		}},
		{"flow settings", `{"id":"f","timezone":"Europe/Zagrbe","variables":{"n":{"type":"nubmer"}},"start":"nowhere",
  "elements":[{"id":"a","type":"exit"}]}`, []string{
			`1:11: timezone: "Europe/Zagrbe" is not an IANA time zone`,
			`1:56: variables.n.type: unknown type "nubmer"`,
			`1:74: start: start element "nowhere" does not exist`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range validateDocument([]byte(tc.doc), nil) {
				got = append(got, strings.TrimPrefix(p.String(""), ":"))
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestValidateExamples(t *testing.T) {
	attrs := filepath.Join(t.TempDir(), "attributes.json")
	require.NoError(t, os.WriteFile(attrs, []byte(`{"plan":"text","onboardingStage":"text","points":"number","onboardedAt":"datetime"}`), 0o644))
	status, out, errOut := flowkit(t, "validate", "-attributes", attrs, "../../examples/abandoned-cart/flow.json", "../../examples/onboarding/flow.json")
	require.Equal(t, exitOK, status, out+errOut)
	require.Empty(t, out)
	// Without the declarations the onboarding flow's attributes are unknown.
	status, out, _ = flowkit(t, "validate", "../../examples/onboarding/flow.json")
	require.Equal(t, exitProblem, status)
	require.Contains(t, out, `element "welcome-profile" set[0].attribute: unknown person attribute "plan"`)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"teleport"}, {"validate"}, {"schema", "extra"}, {"validate", "-colour", "x.json"}, {"graph"}, {"simulate", "x.json"}} {
		status, _, errOut := flowkit(t, args...)
		require.Equal(t, exitUsage, status, args)
		require.NotEmpty(t, errOut, args)
	}
	status, _, errOut := flowkit(t, "validate", "testdata/no-such-file.json")
	require.Equal(t, exitProblem, status)
	require.Contains(t, errOut, "no-such-file.json")
}

func TestSchemaCommand(t *testing.T) {
	status, out, _ := flowkit(t, "schema")
	require.Equal(t, exitOK, status)
	require.Equal(t, string(flow.Schema(nil)), out)
}

// FuzzValidate feeds the validate command's checks arbitrary bytes: they
// never panic, every problem has a position inside the document, and they
// report nothing exactly when flow.Parse and the engine's Validate accept
// the document.
func FuzzValidate(f *testing.F) {
	for _, name := range []string{"testdata/five-mistakes.json", "../../examples/abandoned-cart/flow.json", "../../examples/loyalty/flow.json"} {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(`{"id":"f","elements":[{"id":"a","type":"exit"},]}`))
	f.Add([]byte(`{"id":5,"elements":[{"type":"exit"},7,{"id":"a","type":"addTag","tga":"x","next":{"nxet":"b"}}]}`))
	eng, err := flow.NewEngine(flow.Config{Store: memory.New()})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		problems := validateDocument(data, store.Schema{})
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, p := range problems {
			if p.Line < 1 || p.Line > lines || p.Col < 1 || p.Message == "" {
				t.Fatalf("problem out of the document: %+v", p)
			}
		}
		fl, err := flow.Parse(data)
		if err == nil {
			err = eng.Validate(fl)
		}
		if (err == nil) != (len(problems) == 0) {
			t.Fatalf("flowkit validate says %d problems, Parse/Validate says %v", len(problems), err)
		}
	})
}

func TestValidateRefusesOversizedDocuments(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	require.NoError(t, os.WriteFile(big, []byte(`{"id":"f","name":"`+strings.Repeat("x", 3<<20)+`","elements":[]}`), 0o644))
	status, out, errOut := flowkit(t, "validate", big)
	require.Equal(t, exitProblem, status)
	require.Empty(t, out)
	require.Contains(t, errOut, "a flow document is at most 1048576 bytes")

	deep := filepath.Join(dir, "deep.json")
	require.NoError(t, os.WriteFile(deep, []byte(`{"id":"d","elements":[{"id":"s","type":"segmentAudience","segments":[{"name":"a","condition":`+
		strings.Repeat(`{"not":`, 9000)+`{"attribute":"firstName","op":"isNotEmpty"}`+strings.Repeat(`}`, 9000)+`}]}]}`), 0o644))
	status, out, _ = flowkit(t, "validate", deep)
	require.Equal(t, exitProblem, status)
	require.Contains(t, out, `element "s" segments: conditions are nested more than 100 deep`)
}

// A valid flow whose exit rule shadows a wait on the same event passes,
// with a warning.
func TestValidateWarnsOfShadowedWait(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "cart.json")
	require.NoError(t, os.WriteFile(doc, []byte(`{"id": "cart", "trigger": {"category": "external", "name": "CartAbandoned"},
 "exitRules": [{"name": "purchased", "event": {"category": "external", "name": "OrderCompleted"}}],
 "elements": [
  {"id": "wait", "type": "waitForEvent", "event": {"category": "external", "name": "OrderCompleted"},
   "waitFor": {"amount": 4, "unit": "hours"}, "next": {"occurred": "thanks", "timeout": "done"}},
  {"id": "thanks", "type": "exit"}, {"id": "done", "type": "exit"}]}`), 0o644))
	status, out, _ := flowkit(t, "validate", doc)
	require.Equal(t, exitOK, status, "a warning does not fail the check")
	require.Equal(t, doc+`: warning: element "wait" event: exit rule "purchased" takes participants out on every external/OrderCompleted event before this wait sees it: the wait never goes on by that event`+"\n", out)
}

// A problem that makes an element undecodable hides none of its other
// problems: its dangling targets are reported too, and a bad time of day
// names its field wherever it is.
func TestValidateReportsEveryProblem(t *testing.T) {
	doc := `{"id": "f",
  "entries": [{"type": "audience", "segment": {"attribute": "city", "op": "is", "value": "x"}, "schedule": {"every": "day", "at": "9am"}}],
  "elements": [
    {"id": "a", "type": "pause", "mode": "until", "at": "9am", "next": {"next": "nowhere"}},
    {"id": "b", "type": "sendMesage", "bogus": 1, "next": {"sent": "gone"}},
    {"id": "c", "type": "exit"}
  ]
}`
	path := filepath.Join(t.TempDir(), "f.json")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
	status, out, _ := flowkit(t, "validate", path)
	require.Equal(t, exitProblem, status)
	out = strings.ReplaceAll(out, path, "f.json")
	for _, want := range []string{
		`f.json:2:131: entries[0].schedule.at: time of day "9am" is not HH:MM`,
		`f.json:4:51: element "a" at: time of day "9am" is not HH:MM`,
		`f.json:4:73: element "a" next.next: target element "nowhere" does not exist`,
		`f.json:5:17: element "b" type: unknown element kind "sendMesage": did you mean "sendMessage"?`,
		`f.json:5:60: element "b" next.sent: target element "gone" does not exist`,
	} {
		require.Contains(t, out, want+"\n")
	}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		require.Regexp(t, `^f\.json:\d+:\d+: `, line)
		require.NotContains(t, line, `" :`, "a problem without a field has no stray space")
	}
}
