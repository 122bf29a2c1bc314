package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/store"
)

// simulate on the abandoned-cart flow and a script of the example's shop
// prints the timeline the example prints, and the same outcomes.
func TestSimulateAbandonedCartMatchesTheExample(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "run", "../../examples/abandoned-cart")
	cmd.Stderr = os.Stderr
	example, err := cmd.Output()
	require.NoError(t, err)

	status, out, errOut := flowkit(t, "simulate", "../../examples/abandoned-cart/flow.json", "-script", "../../examples/abandoned-cart/script.json")
	require.Equal(t, exitOK, status, errOut)
	wantTimeline, wantOutcome, ok := strings.Cut(string(example), "\nOutcome\n")
	require.True(t, ok, "the example printed no outcome")
	gotTimeline, gotOutcome, ok := strings.Cut(out, "\nOutcome\n")
	require.True(t, ok, "simulate printed no outcome")
	require.Equal(t, wantTimeline, gotTimeline)
	require.Contains(t, gotTimeline, `Mon 14:15  Ben    email to ben@example.com: "Ben, your cart is waiting"`)
	// The example words the order total its own way; status and reason
	// are the engine's.
	want := strings.Split(strings.TrimSpace(wantOutcome), "\n")
	got := strings.Split(strings.TrimSpace(gotOutcome), "\n")
	require.Len(t, got, len(want))
	for i := range want {
		w, _, _ := strings.Cut(want[i], " (order total")
		g, _, _ := strings.Cut(got[i], "; ")
		require.Equal(t, w, g)
	}
	require.Equal(t, "Ana  completed: bought without a reminder; total = 59.9", got[0])
}

func TestSimulateJSON(t *testing.T) {
	status, out, errOut := flowkit(t, "simulate", "-json", "-script", "../../examples/abandoned-cart/script.json", "../../examples/abandoned-cart/flow.json")
	require.Equal(t, exitOK, status, errOut)
	var tl Timeline
	require.NoError(t, json.Unmarshal([]byte(out), &tl))
	require.Equal(t, "Europe/Zagreb", tl.TimeZone)
	require.Len(t, tl.Outcome, 3)
	require.Equal(t, "Cid", tl.Outcome[2].Person)
	require.Equal(t, store.Completed, tl.Outcome[2].Status)
	require.Equal(t, "never came back", tl.Outcome[2].Reason)
	var mails []string
	for _, e := range tl.Entries {
		if e.Message != nil {
			mails = append(mails, e.Person+" "+e.Message.To+" "+e.Message.Subject)
		}
	}
	require.Equal(t, []string{"Ben ben@example.com Ben, your cart is waiting", "Cid cid@example.com Cid, your cart is waiting"}, mails)
}

// Profile changes and API entries run too, against a flow that reads the
// profile.
func TestSimulateProfileAndEntry(t *testing.T) {
	dir := t.TempDir()
	flowFile := filepath.Join(dir, "flow.json")
	require.NoError(t, os.WriteFile(flowFile, []byte(`{"id":"vip","name":"VIP","elements":[
	  {"id":"wait-plan","type":"waitForChange","attributes":[{"attribute":"plan"}],"waitFor":{"amount":1,"unit":"days"},"next":{"changed":"welcome","notChanged":"done"}},
	  {"id":"welcome","type":"addTag","tag":"vip-{{person.plan}}","next":{"next":"done"}},
	  {"id":"done","type":"exit"}]}`), 0o644))
	script := filepath.Join(dir, "script.json")
	require.NoError(t, os.WriteFile(script, []byte(`{"start":"2026-01-05T08:00:00Z","end":"2026-01-07T00:00:00Z",
	  "attributes":{"plan":"text"},
	  "people":[{"name":"Ana","attributes":{"plan":"free"}},{"name":"Ben"}],
	  "actions":[
	    {"after":"1h","person":"Ana","enter":{}},
	    {"after":"1h","person":"Ben","enter":{}},
	    {"after":"3h","person":"Ana","update":{"plan":"pro"}}]}`), 0o644))
	status, out, errOut := flowkit(t, "simulate", "-script", script, flowFile)
	require.Equal(t, exitOK, status, errOut)
	require.Contains(t, out, "VIP, times in UTC\n")
	require.Contains(t, out, "Mon 11:00  Ana  host: profile plan = \"pro\"\n")
	require.Contains(t, out, "Mon 11:00  Ana  flow: welcome -> next: tagged \"vip-pro\"\n")
	require.Contains(t, out, "Tue 09:00  Ben  flow: wait-plan -> notChanged: ")
}

func TestSimulateScriptErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, script, want string }{
		{"not JSON", `{`, "script: unexpected EOF"},
		{"unknown field", `{"start":"2026-01-01T00:00:00Z","peple":[]}`, `script: json: unknown field "peple"`},
		{"no start", `{}`, "script: start: a start time is needed"},
		{"unknown person", `{"start":"2026-01-01T00:00:00Z","actions":[{"after":"1h","person":"Zed","enter":{}}]}`, `script: actions[0].person: "Zed" is not one of the script's people`},
		{"two things at once", `{"start":"2026-01-01T00:00:00Z","people":[{"name":"Ana"}],"actions":[{"after":"1h","person":"Ana","enter":{},"update":{"firstName":"A"}}]}`, "script: actions[0]: give exactly one of event, update, enter"},
		{"out of order", `{"start":"2026-01-01T00:00:00Z","people":[{"name":"Ana"}],"actions":[{"after":"2h","person":"Ana","enter":{}},{"after":"1h","person":"Ana","enter":{}}]}`, "script: actions[1].at: 2026-01-01T01:00:00Z is before the action or start before it"},
		{"bad duration", `{"start":"2026-01-01T00:00:00Z","people":[{"name":"Ana"}],"actions":[{"after":"soon","person":"Ana","enter":{}}]}`, `script: actions[0].after: "soon" is not a duration`},
		{"unknown attribute", `{"start":"2026-01-01T00:00:00Z","people":[{"name":"Ana","attributes":{"shoeSize":42}}]}`, `script: people[0].attributes.shoeSize: unknown person attribute "shoeSize"`},
		{"bad event", `{"start":"2026-01-01T00:00:00Z","people":[{"name":"Ana"}],"actions":[{"after":"1h","person":"Ana","event":{"name":"x"}}]}`, "script: actions[0].event: an event needs a category"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := filepath.Join(dir, "script.json")
			require.NoError(t, os.WriteFile(script, []byte(tc.script), 0o644))
			status, _, errOut := flowkit(t, "simulate", "-script", script, "../../examples/abandoned-cart/flow.json")
			require.Equal(t, exitProblem, status)
			require.Contains(t, errOut, tc.want)
		})
	}
}
