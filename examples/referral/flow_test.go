package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// The flow files are the example's flows as files, for the flowkit
// command (validate, graph, simulate) and the JSON Schema tests: they must
// stay the flows the example runs.
func TestFlowFilesAreTheExampleFlows(t *testing.T) {
	for file, doc := range map[string]string{
		"refer-a-friend.flow.json":  referFlow,
		"referred-friend.flow.json": friendFlow,
	} {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, doc+"\n", string(data), file)
	}
}
