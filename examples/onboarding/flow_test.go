package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/flow"
)

// flow.json is the example's flow in its JSON form, for the flowkit
// command (validate, graph, simulate) and the JSON Schema tests: it must
// stay the flow the example builds.
func TestFlowFileIsTheExampleFlow(t *testing.T) {
	data, err := os.ReadFile("flow.json")
	require.NoError(t, err)
	f, err := flow.Parse(data)
	require.NoError(t, err)
	got, err := json.Marshal(f)
	require.NoError(t, err)
	want, err := json.Marshal(onboarding())
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))
}
