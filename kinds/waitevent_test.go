package kinds_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// history is an event history for Run.History.
type history []*store.Event

func (h *history) query(q *store.EventQuery) ([]*store.Event, error) {
	var out []*store.Event
	for _, e := range *h {
		if q.Matches(e) {
			out = append(out, e)
		}
	}
	return out, nil
}

func TestWaitForEventValidate(t *testing.T) {
	vars := map[string]store.Type{"cartId": store.Text, "total": store.Number, "when": store.DateTime}
	ext := segment.EventSpec{Category: store.External, Name: "OrderCompleted"}
	cases := []struct {
		el    *kinds.WaitForEvent
		field string
		msg   string
	}{
		{&kinds.WaitForEvent{Event: segment.EventSpec{Name: "X"}}, "event.category", "event category is missing"},
		{&kinds.WaitForEvent{Event: segment.EventSpec{Category: "web", Name: "X"}}, "event.category", `"web" is not one of external, people, channel, product`},
		{&kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External}}, "event.name", "event name is missing"},
		{&kinds.WaitForEvent{Event: segment.EventSpec{Category: store.Channel, Name: "messageOpened"}}, "event.name",
			`channel events are messageSent, messageDelivered, messageSeen, messageClicked, messageFailed, not "messageOpened"`},
		{&kinds.WaitForEvent{Event: segment.EventSpec{Category: store.People, Name: "OrderCompleted"}}, "event.name", "people events are attributeChanged"},
		{&kinds.WaitForEvent{Event: ext, AnyMessage: true}, "anyMessage", "anyMessage applies to channel events, not external"},
		{&kinds.WaitForEvent{Event: ext, WaitFor: segment.Period{Amount: 4, Unit: "fortnights"}}, "waitFor.unit", `unit "fortnights"`},
		{&kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "OrderCompleted",
			Where: []segment.PropertyCondition{segment.Prop("cartId", segment.Is, "{{cartId}}"), segment.Prop("total", segment.LessThan, "abc")}}},
			"event.where[1]", `property "total": value "abc" is not a number`},
		{&kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "OrderCompleted",
			Where: []segment.PropertyCondition{segment.Prop("cartId", segment.Is, "{{basketId}}")}}},
			"event.where[0]", `unknown variable "basketId"`},
		{&kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "OrderCompleted",
			Where: []segment.PropertyCondition{segment.Prop("total", segment.GreaterThan, "{{cartId}}")}}},
			"event.where[0]", `value "{{cartId}}" is text, not number`},
		{&kinds.WaitForEvent{Event: ext, Set: []*kinds.EventVariable{{Property: "x"}}}, "set[0].variable", "variable name is missing"},
		{&kinds.WaitForEvent{Event: ext, Set: []*kinds.EventVariable{{Variable: "nope", Property: "x"}}}, "set[0].variable", `variable "nope" is not declared in the flow`},
		{&kinds.WaitForEvent{Event: ext, Set: []*kinds.EventVariable{{Variable: "total"}}}, "set[0]", "give exactly one of property, formula"},
		{&kinds.WaitForEvent{Event: ext, Set: []*kinds.EventVariable{{Variable: "total", Property: "x", Formula: "1"}}}, "set[0]", "give exactly one of property, formula"},
		{&kinds.WaitForEvent{Event: ext, Set: []*kinds.EventVariable{{Variable: "total", Formula: "event.properties.x +"}}}, "set[0].formula", "unexpected token"},
		{&kinds.WaitForEvent{Event: ext, Set: []*kinds.EventVariable{{Variable: "when", Formula: `"soon"`}}}, "set[0].formula", "variable when is datetime but the formula gives text"},
	}
	for _, tc := range cases {
		err := tc.el.Validate(&element.Compiler{Variables: vars, Location: time.UTC})
		var fe *element.FieldError
		require.ErrorAs(t, err, &fe, "%+v", tc.el)
		require.Equal(t, tc.field, fe.Field, err.Error())
		require.ErrorContains(t, err, tc.msg)
	}
}

func TestWaitForEventMatch(t *testing.T) {
	ctx := context.Background()
	vars := map[string]store.Type{"cartId": store.Text, "minTotal": store.Number}
	el := validated(t, &kinds.WaitForEvent{
		Event: segment.EventSpec{Category: store.External, Name: "OrderCompleted", Where: []segment.PropertyCondition{
			segment.Prop("cartId", segment.Is, "{{cartId}}"),
			segment.Prop("shop", segment.Is, "{{entry.properties.shop}}"),
			segment.Prop("total", segment.GreaterOrEqual, "{{minTotal}}"),
		}},
		WaitFor: segment.Period{Amount: 4, Unit: segment.Hours},
	}, time.UTC, vars).(*kinds.WaitForEvent)
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	h := &history{}
	r := &element.Run{Now: now, Location: time.UTC, Person: &store.Person{}, Vars: map[string]any{"cartId": "c-1", "minTotal": 10.0},
		Entry:   &store.Event{ID: "in", Name: "CartAbandoned", Properties: map[string]any{"shop": "Zagreb"}},
		History: h.query}
	out, err := el.Run(ctx, r)
	require.NoError(t, err)
	require.Equal(t, now.Add(4*time.Hour), out.Wait.Until)
	require.Equal(t, []string{"OrderCompleted"}, out.Wait.Events)
	r.Wait = out.Wait

	order := func(id, cart, shop string, total float64) element.Wake {
		return element.Wake{Event: &store.Event{ID: id, Category: store.External, Name: "OrderCompleted", Time: now,
			Properties: map[string]any{"cartId": cart, "shop": shop, "total": total}}}
	}
	for _, tc := range []struct {
		wake element.Wake
		want string
	}{
		{order("o1", "c-2", "Zagreb", 20), ""},         // another cart
		{order("o2", "c-1", "Split", 20), ""},          // another shop than the entry's
		{order("o3", "c-1", "Zagreb", 5), ""},          // below minTotal
		{order("o4", "C-1", "zagreb", 10), "occurred"}, // text compares without case
		{element.Wake{Event: &store.Event{ID: "o5", Category: store.People, Name: "OrderCompleted", Properties: map[string]any{"cartId": "c-1", "shop": "Zagreb", "total": 10.0}}}, ""},
		{element.Wake{Timer: true}, "timeout"},
	} {
		out, err := el.Resume(ctx, r, tc.wake)
		require.NoError(t, err)
		require.Equal(t, tc.want, out.Branch, out.Reason)
		if tc.want == "" {
			require.Equal(t, *r.Wait, *out.Wait)
		}
	}
}

func TestWaitForEventSet(t *testing.T) {
	ctx := context.Background()
	vars := map[string]store.Type{"appointment": store.DateTime, "specialist": store.Text, "room": store.Number, "bookedAt": store.DateTime, "note": store.Text}
	el := validated(t, &kinds.WaitForEvent{
		Event: segment.EventSpec{Category: store.External, Name: "AppointmentBooked"},
		Set: []*kinds.EventVariable{
			{Variable: "appointment", Property: "time"},
			{Variable: "specialist", Property: "specialist.name"},
			{Variable: "room", Property: "room"},
			{Variable: "bookedAt", Formula: "event.time"},
			{Variable: "note", Property: "note"},
		},
	}, time.UTC, vars).(*kinds.WaitForEvent)
	booked := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	r := &element.Run{Now: booked, Location: time.UTC, Person: &store.Person{}, Vars: map[string]any{"note": "old"}, History: (&history{}).query}
	out, err := el.Run(ctx, r)
	require.NoError(t, err)
	r.Wait = out.Wait
	ev := &store.Event{ID: "b1", Category: store.External, Name: "AppointmentBooked", Time: booked, Properties: map[string]any{
		"time": "2026-01-12T14:30:00+01:00", "specialist": map[string]any{"name": "Dr. Horvat"}, "room": 12.0}}
	out, err = el.Resume(ctx, r, element.Wake{Event: ev})
	require.NoError(t, err)
	require.Equal(t, kinds.BranchOccurred, out.Branch)
	require.Equal(t, map[string]any{
		"appointment": time.Date(2026, 1, 12, 13, 30, 0, 0, time.UTC),
		"specialist":  "Dr. Horvat",
		"room":        12.0,
		"bookedAt":    booked,
		"note":        nil, // the event has no note: emptied
	}, normalizeTimes(r.Vars))
	require.Contains(t, out.Reason, `saved appointment = "2026-01-12T14:30:00+01:00", specialist = "Dr. Horvat", room = "12"`)

	// A property that cannot be converted fails the step and leaves the
	// variables as they were.
	r.Vars = map[string]any{"room": 1.0}
	bad := &store.Event{ID: "b2", Category: store.External, Name: "AppointmentBooked", Time: booked, Properties: map[string]any{"time": "tomorrow", "room": 3.0}}
	_, err = el.Resume(ctx, r, element.Wake{Event: bad})
	require.EqualError(t, err, `variable "appointment": event property "time": text value tomorrow (string) is not a datetime`)
	require.Equal(t, map[string]any{"room": 1.0}, r.Vars)
}

func normalizeTimes(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if t, ok := v.(time.Time); ok {
			v = t.UTC()
		}
		out[k] = v
	}
	return out
}

func TestWaitForEventIncludeFromEntrance(t *testing.T) {
	ctx := context.Background()
	entered := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	now := entered.Add(48 * time.Hour)
	click := func(id string, at time.Time) *store.Event {
		return &store.Event{ID: id, Category: store.Channel, Name: store.MessageClicked, Time: at, Properties: map[string]any{"url": "/a"}}
	}
	h := &history{click("before", entered.Add(-time.Minute)), click("after", entered.Add(time.Hour))}
	r := &element.Run{Now: now, Location: time.UTC, Person: &store.Person{}, EnteredAt: entered, ArrivedAt: now, Participant: uuid.New(),
		History: h.query}

	plain := validated(t, &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.Channel, Name: store.MessageClicked}}, time.UTC, nil)
	out, err := plain.Run(ctx, r)
	require.NoError(t, err)
	require.NotNil(t, out.Wait, "without the option past events do not count")
	require.True(t, out.Wait.Until.IsZero(), "indefinitely")
	require.Equal(t, "waiting indefinitely for channel/messageClicked", out.Reason)

	incl := validated(t, &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.Channel, Name: store.MessageClicked}, IncludeFromEntrance: true}, time.UTC, nil)
	out, err = incl.Run(ctx, r)
	require.NoError(t, err)
	require.Equal(t, kinds.BranchOccurred, out.Branch)
	require.Contains(t, out.Reason, "occurred since entering the flow (event after at")

	// Only the click before the entrance: not counted.
	*h = (*h)[:1]
	out, err = incl.Run(ctx, r)
	require.NoError(t, err)
	require.NotNil(t, out.Wait)
}

func TestWaitForEventOwnMessages(t *testing.T) {
	ctx := context.Background()
	me, other := uuid.New(), uuid.New()
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	h := &history{
		{ID: "s1", Category: store.Channel, Name: store.MessageSent, Time: now, Properties: map[string]any{"messageId": "m-mine", "participantId": me.String()}},
		{ID: "s2", Category: store.Channel, Name: store.MessageSent, Time: now, Properties: map[string]any{"messageId": "m-other", "participantId": other.String()}},
	}
	seen := func(props map[string]any) element.Wake {
		return element.Wake{Event: &store.Event{ID: "x", Category: store.Channel, Name: store.MessageSeen, Time: now, Properties: props}}
	}
	for _, anyMessage := range []bool{false, true} {
		el := validated(t, &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.Channel, Name: store.MessageSeen}, AnyMessage: anyMessage}, time.UTC, nil).(*kinds.WaitForEvent)
		r := &element.Run{Now: now, Location: time.UTC, Person: &store.Person{}, Participant: me, History: h.query}
		out, err := el.Run(ctx, r)
		require.NoError(t, err)
		r.Wait = out.Wait
		for _, tc := range []struct {
			props map[string]any
			own   bool
		}{
			{map[string]any{"participantId": me.String(), "messageId": "m-mine"}, true},
			{map[string]any{"participantId": other.String()}, false},
			{map[string]any{"messageId": "m-mine"}, true},   // resolved through messageSent
			{map[string]any{"messageId": "m-other"}, false}, // another participant's message
			{map[string]any{"messageId": "m-host"}, true},   // a message no flow sent
			{map[string]any{"channel": "email"}, true},      // names no message at all
		} {
			out, err := el.Resume(ctx, r, seen(tc.props))
			require.NoError(t, err)
			want := ""
			if tc.own || anyMessage {
				want = kinds.BranchOccurred
			}
			require.Equal(t, want, out.Branch, "anyMessage=%v %v", anyMessage, tc.props)
		}
	}
}
