package kinds_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/stretchr/testify/require"
)

type apiAgents struct {
	got []*element.Conversation
	err error
}

func (a *apiAgents) Start(_ context.Context, c *element.Conversation) (string, error) {
	if a.err != nil {
		return "", a.err
	}
	a.got = append(a.got, c)
	return "conv-1", nil
}

func TestStartConversation(t *testing.T) {
	el := &kinds.StartConversation{Tag: "verify-{{tier}}", Variables: []string{"cartId", "points"}, ConversationIDVariable: "reqId"}
	k := apiKit(t, el)
	agents := &apiAgents{}
	k.Vars["tier"] = "gold"
	k.Person.Tags = []string{"vip"}
	k.Ports.Conversations = agents
	out, err := k.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, element.BranchNext, out.Branch)
	require.Equal(t, "conv-1", k.Vars["reqId"])
	require.Len(t, agents.got, 1)
	c := agents.got[0]
	require.Equal(t, "verify-gold", c.Tag)
	require.Equal(t, k.Person.ID, c.PersonID)
	require.Equal(t, k.IdempotencyKey(), c.IdempotencyKey)
	require.Equal(t, map[string]any{"cartId": "c 1&2", "points": 7.0}, c.Context["variables"])
	person := c.Context["person"].(map[string]any)
	require.Equal(t, "Ann", person["firstName"])
	require.Equal(t, "ann/42", person["externalId"])
	require.Equal(t, []any{"vip"}, person["tags"])
	require.Equal(t, []any{"385911234567"}, person["phones"])
	require.Contains(t, out.Reason, `tagged "verify-gold"`)

	agents.err = errors.New("no agents today")
	_, err = k.Run(context.Background())
	require.ErrorContains(t, err, "no agents today")
	k.Ports.Conversations = nil
	_, err = k.Run(context.Background())
	require.ErrorContains(t, err, "no Conversations service")
}

func TestStartConversationValidate(t *testing.T) {
	for _, tc := range []struct {
		el    *kinds.StartConversation
		field string
	}{
		{&kinds.StartConversation{}, "tag"},
		{&kinds.StartConversation{Tag: " "}, "tag"},
		{&kinds.StartConversation{Tag: "t", Variables: []string{"nope"}}, "variables[0]"},
		{&kinds.StartConversation{Tag: "t", Variables: []string{"tier", "tier"}}, "variables[1]"},
		{&kinds.StartConversation{Tag: "t", ConversationIDVariable: "points"}, "conversationIdVariable"},
	} {
		err := tc.el.Validate(&element.Compiler{Variables: apiVars, Location: time.UTC})
		var fe *element.FieldError
		require.True(t, errors.As(err, &fe), "%+v: %v", tc.el, err)
		require.Equal(t, tc.field, fe.Field)
	}
}
