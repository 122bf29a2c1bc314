package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// flow.json is the example's flow as a file, for the flowkit command
// (validate, graph, simulate) and the JSON Schema tests: it must stay the
// flow the example runs.
func TestFlowFileIsTheExampleFlow(t *testing.T) {
	data, err := os.ReadFile("flow.json")
	require.NoError(t, err)
	require.Equal(t, flowJSON+"\n", string(data))
}
