package flow_test

import (
	"encoding/json"
	"testing"

	"github.com/flowkit/flowkit/flow"
	"github.com/stretchr/testify/require"
)

// ElementStats are served as they are: lowerCamel names, and the same
// figures read back.
func TestElementStatsJSON(t *testing.T) {
	st := &flow.ElementStats{
		Entered: 10, Left: map[string]int64{"a": 6, "b": 3}, Waiting: 1, Errors: 2, InFlight: 1,
		ExitRules: map[string]int64{"bought": 1}, Conversions: map[string]int64{"paid": 4},
		BranchConversions: map[string]map[string]int64{"a": {"paid": 3}}, Other: map[string]int64{"sent": 9},
	}
	b, err := json.Marshal(st)
	require.NoError(t, err)
	require.JSONEq(t, `{"entered": 10, "left": {"a": 6, "b": 3}, "waiting": 1, "errors": 2, "inFlight": 1,
	  "exitRules": {"bought": 1}, "conversions": {"paid": 4}, "branchConversions": {"a": {"paid": 3}}, "other": {"sent": 9}}`, string(b))
	var back flow.ElementStats
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, st, &back)
}
