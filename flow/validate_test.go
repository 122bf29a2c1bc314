package flow_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store/memory"
)

// Validate and Publish report every problem of a flow, in document order,
// each naming its element and field.
func TestValidateReportsEveryProblem(t *testing.T) {
	doc := `{"id":"f","timezone":"Mars/Base","variables":{"n":{"type":"number","default":"ten"}},
	  "elements":[
	    {"id":"calc","type":"updateVariable","set":[{"variable":"m","value":1}],"next":{"next":"wait"}},
	    {"id":"wait","type":"waitForEvent","event":{"category":"external","name":"Paid"},
	     "waitFor":{"amount":1,"unit":"days"},"next":{"ocurred":"done","timeout":"gone"}},
	    {"id":"done","type":"exit"},
	    {"id":"orphan","type":"exit"}
	  ]}`
	f, err := flow.Parse([]byte(doc))
	require.NoError(t, err)
	type problem struct{ element, field, msg string }
	want := []problem{
		{"", "timezone", `"Mars/Base" is not an IANA time zone`},
		{"", "variables.n.default", "text value ten (string) is not a number"},
		{"calc", "set[0].variable", `variable "m" is not declared in the flow`},
		{"wait", "next.ocurred", `waitForEvent has no branch "ocurred" (it has [occurred timeout error]): did you mean "occurred"?`},
		{"wait", "next.timeout", `target element "gone" does not exist: did you mean "done"?`},
		{"orphan", "", `element cannot be reached from the start element "calc"`},
	}
	eng, err := flow.NewEngine(flow.Config{Store: memory.New()})
	require.NoError(t, err)
	_, perr := eng.Publish(context.Background(), f)
	for _, err := range []error{f.Validate(nil), eng.Validate(f), perr} {
		var got []problem
		for _, ve := range flow.ValidationErrors(err) {
			got = append(got, problem{ve.ElementID, ve.Field, ve.Err.Error()})
		}
		require.Equal(t, want, got, err)
		// errors.As still finds the first problem.
		var ve *flow.ValidationError
		require.True(t, errors.As(err, &ve))
		require.Equal(t, "timezone", ve.Field)
	}
}

func TestValidationErrors(t *testing.T) {
	require.Nil(t, flow.ValidationErrors(nil))
	require.Nil(t, flow.ValidationErrors(errors.New("plain")))
	_, err := flow.Parse([]byte(`{"id":"f","elements":[{"id":"a","type":"sendMesage"}]}`))
	ves := flow.ValidationErrors(err)
	require.Len(t, ves, 1)
	require.Equal(t, "a", ves[0].ElementID)
	require.EqualError(t, err, `element "a": type: unknown element kind "sendMesage": did you mean "sendMessage"?`)
}
