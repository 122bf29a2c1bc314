package kinds_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

func TestNotify(t *testing.T) {
	o := &apiOutbox{}
	el := &kinds.Notify{Channel: "email", Recipients: []string{"store@example.com", "{{tier}}"},
		Subject: "Return started", Body: "{{person.firstName}} returns cart {{cartId}}"}
	k := apiKit(t, el)
	k.Ports.Sender = o
	k.Vars["tier"] = "manager@example.com"
	k.Person.DoNotContact = []string{"ann@example.com"} // not about the person: sent anyway
	out, err := k.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, element.BranchNext, out.Branch)
	msgs := o.messages()
	require.Len(t, msgs, 2)
	require.Equal(t, []string{"store@example.com", "manager@example.com"}, []string{msgs[0].To, msgs[1].To})
	for i, m := range msgs {
		require.Equal(t, "Ann returns cart c 1&2", m.Body)
		require.Equal(t, "Return started", m.Subject)
		require.Equal(t, store.PersonRef{}.ID, m.PersonID, "internal recipients are nobody's")
		require.Equal(t, k.IdempotencyKey()+":"+string(rune('0'+i)), m.IdempotencyKey)
	}
	require.Empty(t, k.Effects().Events, "no MessageSent for the person")
	require.Len(t, k.Effects().Counters, 2)
	require.Equal(t, store.Counter{FlowID: "f", FlowVersion: 1, Element: "el", Key: kinds.CounterNotified, N: 1}, k.Effects().Counters[0])
}

func TestNotifyRunTimeRecipientChecks(t *testing.T) {
	el := &kinds.Notify{Channel: "sms", Recipients: []string{"+385911111111", "{{tier}}"}, Body: "x"}
	apiCompile(t, el)
	for _, v := range []any{"not a phone", "385 91 1", "+3859111111112345678", "385911111111,385922222222"} {
		o := &apiOutbox{}
		r := apiSendRun(o)
		r.Vars["tier"] = v
		_, err := el.Run(context.Background(), r)
		require.ErrorContains(t, err, "recipients[1]", "%v", v)
		require.Empty(t, o.messages(), "nothing is sent when a recipient is bad")
		if s, ok := v.(string); ok && s != "" {
			require.NotContains(t, err.Error(), s, "the address is not quoted")
		}
	}
	o := &apiOutbox{}
	r := apiSendRun(o)
	r.Vars["tier"] = "385922222222"
	_, err := el.Run(context.Background(), r)
	require.NoError(t, err)
	require.Len(t, o.messages(), 2)
}

func TestNotifyValidate(t *testing.T) {
	cases := []struct {
		el    *kinds.Notify
		field string
		msg   string
	}{
		{&kinds.Notify{Channel: "push", Recipients: []string{"x"}, Body: "b"}, "channel", "sms or email"},
		{&kinds.Notify{Channel: "sms", Body: "b"}, "recipients", "no recipients"},
		{&kinds.Notify{Channel: "sms", Recipients: []string{"12"}, Body: "b"}, "recipients[0]", "6 to 15"},
		{&kinds.Notify{Channel: "sms", Recipients: []string{"ann@example.com"}, Body: "b"}, "recipients[0]", "not one phone number"},
		{&kinds.Notify{Channel: "email", Recipients: []string{"a@example.com, b@example.com"}, Body: "b"}, "recipients[0]", "not one email"},
		{&kinds.Notify{Channel: "email", Recipients: []string{"Ann <a@example.com>"}, Body: "b"}, "recipients[0]", "not one email"},
		{&kinds.Notify{Channel: "email", Recipients: []string{"{{items}}"}, Body: "b"}, "recipients[0]", "gives list"},
		{&kinds.Notify{Channel: "email", Recipients: []string{"{{points}}"}, Body: "b"}, "recipients[0]", "gives number"},
		{&kinds.Notify{Channel: "email", Recipients: []string{"boss-{{tier}}@example.com"}, Body: "b"}, "recipients[0]", "one placeholder"},
		{&kinds.Notify{Channel: "email", Recipients: []string{"{{nope}}"}, Body: "b"}, "recipients[0]", "unknown name"},
		{&kinds.Notify{Channel: "sms", Recipients: []string{"385911111111"}}, "body", "empty"},
		{&kinds.Notify{Channel: "sms", Recipients: []string{"385911111111"}, Subject: "s", Body: "b"}, "subject", "only email"},
	}
	for _, tc := range cases {
		err := tc.el.Validate(&element.Compiler{Variables: apiVars, Location: time.UTC})
		var fe *element.FieldError
		require.True(t, errors.As(err, &fe), "%+v: %v", tc.el, err)
		require.Equal(t, tc.field, fe.Field, "%v", err)
		require.Contains(t, err.Error(), tc.msg)
	}
}

// A recipient variable with no value is left out; with none left, the
// step goes on by "blocked" instead of failing.
func TestNotifyBlocked(t *testing.T) {
	el := &kinds.Notify{Channel: "email", Recipients: []string{"{{tier}}"}, Body: "x"}
	apiCompile(t, el)
	for _, v := range []any{nil, "", "  "} {
		o := &apiOutbox{}
		r := apiSendRun(o)
		r.Vars["tier"] = v
		out, err := el.Run(context.Background(), r)
		require.NoError(t, err)
		require.Equal(t, kinds.BranchBlocked, out.Branch)
		require.Equal(t, "notified nobody: no recipient has an address; left out: recipients[0] ({{tier}}) has no email address", out.Reason)
		require.Empty(t, o.messages())
	}
	two := &kinds.Notify{Channel: "email", Recipients: []string{"store@example.com", "{{tier}}"}, Body: "x"}
	apiCompile(t, two)
	o := &apiOutbox{}
	r := apiSendRun(o)
	delete(r.Vars, "tier")
	out, err := two.Run(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, element.BranchNext, out.Branch)
	require.Contains(t, out.Reason, "left out: recipients[1]")
	require.Len(t, o.messages(), 1)
}
