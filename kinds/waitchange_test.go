package kinds_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

func TestWaitForChangeValidate(t *testing.T) {
	cases := []struct {
		el    *kinds.WaitForChange
		field string
		msg   string
	}{
		{&kinds.WaitForChange{}, "attributes", "no attributes to watch"},
		{&kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{}}}, "attributes[0].attribute", "attribute name is missing"},
		{&kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "plan"}, {Attribute: "age"}}}, "attributes[1].attribute", `unknown person attribute "age"`},
		{&kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "plan", Value: "pro"}}}, "attributes[0].op", "a value needs an operator"},
		{&kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "plan", Op: segment.GreaterThan, Value: 3}}}, "attributes[0]", `attribute plan: operator "greaterThan" does not apply to text`},
		{&kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "dueDate", Op: segment.Is, Value: "soon"}}}, "attributes[0]", `attribute dueDate: value "soon" is not a date`},
		{&kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "plan"}}, WaitFor: segment.Period{Amount: 0, Unit: segment.Days}}, "waitFor.amount", "amount must be positive"},
	}
	for _, tc := range cases {
		err := tc.el.Validate(&element.Compiler{Schema: dateSchema, Location: time.UTC})
		var fe *element.FieldError
		require.ErrorAs(t, err, &fe, "%+v", tc.el)
		require.Equal(t, tc.field, fe.Field, err.Error())
		require.ErrorContains(t, err, tc.msg)
	}
}

func TestWaitForChange(t *testing.T) {
	ctx := context.Background()
	el := validated(t, &kinds.WaitForChange{
		Attributes: []*kinds.AttributeChange{
			{Attribute: "plan", Op: segment.Is, Value: "premium"},
			{Attribute: store.AttrCity},
			{Attribute: "dueDate", Op: segment.IsEmpty},
		},
		WaitFor: segment.Period{Amount: 7, Unit: segment.Days},
	}, time.UTC, nil).(*kinds.WaitForChange)
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	r := &element.Run{Now: now, Location: time.UTC, Person: &store.Person{}}
	out, err := el.Run(ctx, r)
	require.NoError(t, err)
	require.Equal(t, now.AddDate(0, 0, 7), out.Wait.Until)
	require.Equal(t, []string{store.AttributeChanged}, out.Wait.Events)
	require.Equal(t, `waiting up to 7 days for a change of plan is "premium" or city or dueDate isEmpty`, out.Reason)
	r.Wait = out.Wait

	change := func(attr string, old, cur any) element.Wake {
		return element.Wake{Event: &store.Event{Category: store.People, Name: store.AttributeChanged, Properties: map[string]any{"attribute": attr, "old": old, "new": cur}}}
	}
	for _, tc := range []struct {
		wake   element.Wake
		branch string
		reason string
	}{
		{change("plan", "basic", "trial"), "", ""},
		{change("plan", "basic", "Premium"), "changed", `plan changed from "basic" to "Premium" (plan is "premium")`},
		{change("city", nil, "Split"), "changed", `city changed from empty to "Split"`},
		{change("country", nil, "HR"), "", ""},
		{change("dueDate", nil, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)), "", ""},
		{change("dueDate", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), nil), "changed", `dueDate changed from "2026-02-01" to empty (dueDate isEmpty)`},
		{element.Wake{Event: &store.Event{Category: store.People, Name: store.TagAdded, Properties: map[string]any{"tag": "vip"}}}, "", ""},
		{element.Wake{Timer: true}, "notChanged", "no change of plan is \"premium\" or city or dueDate isEmpty within 7 days"},
	} {
		out, err := el.Resume(ctx, r, tc.wake)
		require.NoError(t, err)
		require.Equal(t, tc.branch, out.Branch, out.Reason)
		require.Equal(t, tc.reason, out.Reason)
	}
}

// "phone" and "email" watch the person's contacts: an address added or
// removed is a change, and a condition tests the address added.
func TestWaitForChangeOfContacts(t *testing.T) {
	ctx := context.Background()
	el := validated(t, &kinds.WaitForChange{
		Attributes: []*kinds.AttributeChange{
			{Attribute: "email", Op: segment.EndsWith, Value: "@work.example"},
			{Attribute: "phone", Op: segment.IsEmpty},
		},
	}, time.UTC, nil).(*kinds.WaitForChange)
	r := &element.Run{Now: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC), Location: time.UTC, Person: &store.Person{}}
	out, err := el.Run(ctx, r)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{store.EmailAdded, store.EmailRemoved, store.PhoneAdded, store.PhoneRemoved}, out.Wait.Events,
		"only the contact events wake it")
	r.Wait = out.Wait
	ev := func(name, address string) element.Wake {
		return element.Wake{Event: &store.Event{Category: store.People, Name: name, Properties: map[string]any{"address": address}}}
	}
	for _, tc := range []struct {
		wake   element.Wake
		branch string
		reason string
	}{
		{ev(store.EmailAdded, "ann@home.example"), "", ""},
		{ev(store.EmailRemoved, "ann@work.example"), "", ""},
		{ev(store.PhoneAdded, "385911234567"), "", ""},
		{element.Wake{Event: &store.Event{Category: store.People, Name: store.AttributeChanged, Properties: map[string]any{"attribute": "email", "old": nil, "new": "x@work.example"}}}, "", ""},
		{ev(store.EmailAdded, "ann@work.example"), "changed", `email "ann@work.example" added (email endsWith "@work.example")`},
		{ev(store.PhoneRemoved, "385911234567"), "changed", `phone "385911234567" removed (phone isEmpty)`},
	} {
		out, err := el.Resume(ctx, r, tc.wake)
		require.NoError(t, err)
		require.Equal(t, tc.branch, out.Branch, out.Reason)
		require.Equal(t, tc.reason, out.Reason)
	}

	// A custom attribute named "email" is watched as declared.
	custom := &kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "email"}}}
	require.NoError(t, custom.Validate(&element.Compiler{Schema: store.Schema{"email": store.Text}, Location: time.UTC}))
	out, err = custom.Run(ctx, r)
	require.NoError(t, err)
	require.Equal(t, []string{store.AttributeChanged}, out.Wait.Events)
}
