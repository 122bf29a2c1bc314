package kinds_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// webinarCalls records what the test kind was called with.
var webinarCalls = make(chan *kinds.CustomCall, 10)

// webinarKinds are the built-in kinds and the test kind.
var webinarKinds = kinds.Registry()

func init() {
	err := kinds.RegisterCustom(webinarKinds, "test.webinarRegister", kinds.CustomKind{
		Branches: []string{"registered", "full"},
		Outputs:  map[string]store.Type{"joinUrl": store.Text, "seats": store.Number},
		Validate: func(cfg json.RawMessage) error {
			var c struct {
				Webinar string `json:"webinar"`
			}
			if err := json.Unmarshal(cfg, &c); err != nil || c.Webinar == "" {
				return element.Errorf("webinar", "webinar id is missing")
			}
			return nil
		},
		Run: func(ctx context.Context, call *kinds.CustomCall) (kinds.CustomResult, error) {
			webinarCalls <- call
			var c struct {
				Webinar string `json:"webinar"`
				Email   string `json:"email"`
				Seats   any    `json:"seats"`
			}
			if err := json.Unmarshal(call.Config, &c); err != nil {
				return kinds.CustomResult{}, err
			}
			switch c.Webinar {
			case "full":
				return kinds.CustomResult{Branch: "full"}, nil
			case "boom":
				panic("webinar platform exploded")
			case "fail":
				return kinds.CustomResult{}, errors.New("platform said no")
			case "badbranch":
				return kinds.CustomResult{Branch: "maybe"}, nil
			case "badoutput":
				return kinds.CustomResult{Branch: "registered", Outputs: map[string]any{"seats": "many"}}, nil
			case "slow":
				<-ctx.Done()
				return kinds.CustomResult{}, ctx.Err()
			}
			return kinds.CustomResult{Branch: "registered", Reason: "registered " + c.Email,
				Outputs: map[string]any{"joinUrl": "https://w.example.com/" + c.Webinar, "seats": 3, "unmapped": true}}, nil
		},
		Timeout: 200 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
}

func customEl(t *testing.T, config string, outputs map[string]string) element.Element {
	t.Helper()
	el, err := webinarKinds.New("test.webinarRegister")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(fmt.Sprintf(`{"config": %s, "outputs": %s}`, config, mustJSON(t, outputs))), el))
	return el
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestCustomElement(t *testing.T) {
	el := customEl(t, `{"webinar": "w-{{cartId}}", "email": "{{person.emails[0]}}", "seats": "{{points}}"}`,
		map[string]string{"joinUrl": "tier", "seats": "points"})
	apiCompile(t, el)
	require.Equal(t, "test.webinarRegister", el.Kind())
	require.Equal(t, []string{"registered", "full"}, el.Branches())
	r := apiRun(apiT0)
	out, err := el.Run(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, "registered", out.Branch)
	require.Equal(t, "registered ann@example.com", out.Reason)
	require.Equal(t, "https://w.example.com/w-c 1&2", r.Vars["tier"])
	require.Equal(t, 3.0, r.Vars["points"], "outputs convert to the variables' types")
	require.NotContains(t, r.Vars, "unmapped")
	call := <-webinarCalls
	require.JSONEq(t, `{"webinar":"w-c 1&2","email":"ann@example.com","seats":7}`, string(call.Config))
	require.Equal(t, r.IdempotencyKey(), call.IdempotencyKey)
	require.Equal(t, "Ann", call.Person.FirstName)
	call.Person.FirstName = "changed"
	call.Vars["cartId"] = "changed"
	require.Equal(t, "Ann", r.Person.FirstName, "the kind gets copies")
	require.Equal(t, "c 1&2", r.Vars["cartId"])
}

func TestCustomElementFailures(t *testing.T) {
	cases := []struct {
		webinar, err string
	}{
		{"boom", `custom element "test.webinarRegister" panicked: webinar platform exploded`},
		{"fail", `custom element "test.webinarRegister": platform said no`},
		{"badbranch", `chose branch "maybe"`},
		{"badoutput", `output "seats" into variable "points"`},
		{"slow", "context deadline exceeded"},
	}
	for _, tc := range cases {
		el := customEl(t, `{"webinar": "`+tc.webinar+`"}`, map[string]string{"seats": "points"})
		apiCompile(t, el)
		r := apiRun(apiT0)
		_, err := el.Run(context.Background(), r)
		require.ErrorContains(t, err, tc.err)
		require.Equal(t, 7.0, r.Vars["points"], "a failed step leaves the variables alone")
		<-webinarCalls
	}
}

func TestCustomElementValidate(t *testing.T) {
	comp := &element.Compiler{Variables: apiVars, Location: time.UTC}
	for _, tc := range []struct {
		config  string
		outputs map[string]string
		field   string
		msg     string
	}{
		{`{}`, nil, "config.webinar", "webinar id is missing"},
		{`{"webinar": "{{nope}}"}`, nil, "config.webinar", "unknown name nope"},
		{`{"webinar": "w"}`, map[string]string{"seats": "nope"}, "outputs.seats", "not declared"},
		{`{"webinar": "w"}`, map[string]string{"other": "points"}, "outputs.other", "has no output"},
		{`{"webinar": "w"}`, map[string]string{"joinUrl": "points"}, "outputs.joinUrl", "is text but variable"},
	} {
		err := customEl(t, tc.config, tc.outputs).Validate(comp)
		var fe *element.FieldError
		require.True(t, errors.As(err, &fe), "%s: %v", tc.config, err)
		require.Equal(t, tc.field, fe.Field, "%v", err)
		require.Contains(t, err.Error(), tc.msg)
	}
}

func TestRegisterCustom(t *testing.T) {
	run := func(context.Context, *kinds.CustomCall) (kinds.CustomResult, error) {
		return kinds.CustomResult{}, nil
	}
	reg := webinarKinds
	require.ErrorContains(t, kinds.RegisterCustom(reg, "", kinds.CustomKind{Run: run}), "empty")
	require.ErrorContains(t, kinds.RegisterCustom(reg, "x.noRun", kinds.CustomKind{}), "no Run")
	require.ErrorContains(t, kinds.RegisterCustom(reg, "x.errBranch", kinds.CustomKind{Run: run, Branches: []string{"error"}}), "branch")
	require.ErrorContains(t, kinds.RegisterCustom(reg, "x.dupBranch", kinds.CustomKind{Run: run, Branches: []string{"a", "a"}}), "twice")
	require.ErrorContains(t, kinds.RegisterCustom(reg, "x.badType", kinds.CustomKind{Run: run, Outputs: map[string]store.Type{"a": "money"}}), "unknown type")
	require.ErrorContains(t, kinds.RegisterCustom(reg, "callApi", kinds.CustomKind{Run: run}), "already registered")
	_, err := kinds.NewCustom(reg, "callApi", nil, nil)
	require.ErrorContains(t, err, "not a custom kind")
	_, err = kinds.NewCustom(reg, "x.nothing", nil, nil)
	require.ErrorIs(t, err, element.ErrUnknownKind)
	c, err := kinds.NewCustom(reg, "test.webinarRegister", json.RawMessage(`{"webinar": "w"}`), map[string]string{"seats": "points"})
	require.NoError(t, err)
	require.NoError(t, c.Validate(&element.Compiler{Variables: apiVars}))
	// The registry outlives the test: a name of its own per run keeps -count=N green.
	simple := "x.simple." + uuid.NewString()
	require.NoError(t, kinds.RegisterCustom(reg, simple, kinds.CustomKind{Run: run}))
	require.ErrorContains(t, kinds.RegisterCustom(reg, simple, kinds.CustomKind{Run: run}), "already registered")
	require.ErrorContains(t, (&kinds.Custom{}).Validate(&element.Compiler{}), "NewCustom")
	el, err := reg.New(simple)
	require.NoError(t, err)
	require.Equal(t, []string{element.BranchNext}, el.Branches())
	require.NoError(t, el.Validate(&element.Compiler{Variables: apiVars}))
	out, err := el.Run(context.Background(), apiRun(apiT0))
	require.NoError(t, err)
	require.Equal(t, element.BranchNext, out.Branch, "an empty branch is the only one")
}
