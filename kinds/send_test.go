package kinds_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// apiOutbox is a Sender that keeps what it sends.
type apiOutbox struct {
	mu   sync.Mutex
	sent []element.Message
	err  error
}

func (o *apiOutbox) Send(_ context.Context, m *element.Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return "", o.err
	}
	o.sent = append(o.sent, *m)
	return fmt.Sprintf("msg-%d", len(o.sent)), nil
}

func (o *apiOutbox) messages() []element.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]element.Message(nil), o.sent...)
}

// history serves a fixed event history to the frequency cap.
func sendHistory(evs ...*store.Event) func(q *store.EventQuery) ([]*store.Event, error) {
	return func(q *store.EventQuery) ([]*store.Event, error) {
		var out []*store.Event
		for _, e := range evs {
			if q.Matches(e) {
				out = append(out, e)
			}
		}
		return out, nil
	}
}

func apiSendRun(o *apiOutbox) *element.Run {
	r := apiRun(apiT0)
	r.Person.Push = []store.PushRegistration{{App: "shop", Token: "tok-shop"}, {App: "news", Token: "tok-news"}}
	r.Ports.Sender = o
	r.History = sendHistory()
	return r
}

func TestSendMessageChannels(t *testing.T) {
	cases := []struct {
		el *kinds.SendMessage
		to string
	}{
		{&kinds.SendMessage{Channel: "sms", Body: "Hi {{person.firstName}}"}, "385911234567"},
		{&kinds.SendMessage{Channel: "whatsapp", Body: "Hi"}, "385911234567"},
		{&kinds.SendMessage{Channel: "email", Subject: "For {{person.firstName}}", Body: "Hi"}, "ann@example.com"},
		{&kinds.SendMessage{Channel: "push", Body: "Hi"}, "tok-shop"},
		{&kinds.SendMessage{Channel: "push", App: "news", Body: "Hi"}, "tok-news"},
		{&kinds.SendMessage{Channel: "slack", To: "@{{person.externalId}}", Body: "Hi"}, "@ann/42"},
	}
	for _, tc := range cases {
		t.Run(tc.el.Channel+tc.el.App, func(t *testing.T) {
			o := &apiOutbox{}
			tc.el.MessageIDVariable = "tier"
			apiCompile(t, tc.el)
			r := apiSendRun(o)
			out, err := tc.el.Run(context.Background(), r)
			require.NoError(t, err)
			require.Equal(t, kinds.BranchSent, out.Branch)
			msgs := o.messages()
			require.Len(t, msgs, 1)
			m := msgs[0]
			require.Equal(t, tc.to, m.To)
			require.Equal(t, tc.el.Channel, m.Channel)
			require.Equal(t, r.IdempotencyKey(), m.IdempotencyKey)
			require.Equal(t, r.Person.ID, m.PersonID)
			require.Equal(t, "msg-1", r.Vars["tier"])
			person, events := effects(r)
			require.NotNil(t, person)
			require.Equal(t, apiT0, person.LastContacted[tc.el.Channel])
			require.Len(t, events, 1)
			require.Equal(t, store.MessageSent, events[0].Name)
			require.Equal(t, store.Channel, events[0].Category)
			require.Equal(t, "msg-1", events[0].Properties["messageId"])
			require.Equal(t, tc.el.Channel, events[0].Properties["channel"])
			require.Equal(t, r.Participant.String(), events[0].Properties["participantId"])
		})
	}
}

func TestSendMessageContent(t *testing.T) {
	o := &apiOutbox{}
	el := &kinds.SendMessage{Channel: "email", From: "shop@example.com", Subject: "{{points}} points",
		Body: "Dear {{person.firstName}}, cart {{cartId}}", Data: map[string]string{"cart": "{{cartId}}", "kind": "promo"}}
	apiCompile(t, el)
	_, err := el.Run(context.Background(), apiSendRun(o))
	require.NoError(t, err)
	m := o.messages()[0]
	require.Equal(t, "shop@example.com", m.From)
	require.Equal(t, "7 points", m.Subject)
	require.Equal(t, "Dear Ann, cart c 1&2", m.Body)
	require.Equal(t, map[string]any{"cart": "c 1&2", "kind": "promo"}, m.Data)
}

func TestSendMessageBlocked(t *testing.T) {
	for _, ch := range []string{"sms", "email", "push", "viber"} {
		o := &apiOutbox{}
		el := &kinds.SendMessage{Channel: ch, Body: "Hi"}
		apiCompile(t, el)
		r := apiSendRun(o)
		r.Person.DoNotContact = []string{"ann@example.com"} // any address blocks every channel
		out, err := el.Run(context.Background(), r)
		require.NoError(t, err)
		require.Equal(t, kinds.BranchBlocked, out.Branch, ch)
		require.Contains(t, out.Reason, "Do Not Contact")
		require.Empty(t, o.messages())
		_, events := effects(r)
		require.Empty(t, events)
	}
}

func TestSendMessageFrequencyCap(t *testing.T) {
	sent := func(ago time.Duration) *store.Event {
		return &store.Event{Category: store.Channel, Name: store.MessageSent, Time: apiT0.Add(-ago)}
	}
	el := &kinds.SendMessage{Channel: "sms", Body: "Hi"}
	apiCompile(t, el)
	cases := []struct {
		name   string
		events []*store.Event
		branch string
	}{
		{"under the cap", []*store.Event{sent(time.Hour), sent(2 * time.Hour)}, kinds.BranchSent},
		{"at the cap", []*store.Event{sent(time.Hour), sent(2 * time.Hour), sent(23 * time.Hour)}, kinds.BranchCapped},
		{"older ones do not count", []*store.Event{sent(time.Hour), sent(2 * time.Hour), sent(25 * time.Hour)}, kinds.BranchSent},
		{"other events do not count", []*store.Event{sent(time.Hour), sent(2 * time.Hour), {Category: store.Channel, Name: store.MessageSeen, Time: apiT0}}, kinds.BranchSent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := &apiOutbox{}
			r := apiSendRun(o)
			r.History = sendHistory(tc.events...)
			(&kinds.Options{SendMessage: kinds.SendMessageOptions{FrequencyCap: kinds.FrequencyCap{Messages: 3, Within: 24 * time.Hour}}}).Bind(el)
			out, err := el.Run(context.Background(), r)
			require.NoError(t, err)
			require.Equal(t, tc.branch, out.Branch, out.Reason)
		})
	}
	// Transactional messages ignore it.
	o := &apiOutbox{}
	r := apiSendRun(o)
	r.History = sendHistory(sent(time.Hour))
	tx := &kinds.SendMessage{Channel: "sms", Body: "Your code", IgnoreFrequencyCap: true}
	apiCompile(t, tx)
	(&kinds.Options{SendMessage: kinds.SendMessageOptions{FrequencyCap: kinds.FrequencyCap{Messages: 1, Within: time.Hour + time.Minute}}}).Bind(tx)
	out, err := tx.Run(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, kinds.BranchSent, out.Branch)
}

func TestSendMessageQuietHours(t *testing.T) {
	zg, _ := time.LoadLocation("Europe/Zagreb")
	el := &kinds.SendMessage{Channel: "sms", Body: "Hi"}
	apiCompile(t, el)
	quiet := kinds.QuietHours{Start: kinds.At(21, 0), End: kinds.At(8, 0)}
	(&kinds.Options{SendMessage: kinds.SendMessageOptions{QuietHours: quiet}}).Bind(el)
	cases := []struct {
		now   time.Time
		tz    string
		until time.Time
	}{
		{time.Date(2026, 3, 2, 22, 30, 0, 0, zg), "Europe/Zagreb", time.Date(2026, 3, 3, 8, 0, 0, 0, zg)},
		{time.Date(2026, 3, 3, 7, 59, 0, 0, zg), "Europe/Zagreb", time.Date(2026, 3, 3, 8, 0, 0, 0, zg)},
		{time.Date(2026, 3, 3, 8, 0, 0, 0, zg), "Europe/Zagreb", time.Time{}},
		{time.Date(2026, 3, 2, 20, 59, 0, 0, zg), "Europe/Zagreb", time.Time{}},
		// 14:00 in Zagreb is 08:00 in New York: the person's zone counts.
		{time.Date(2026, 3, 2, 13, 59, 0, 0, zg), "America/New_York", time.Date(2026, 3, 2, 14, 0, 0, 0, zg)},
	}
	for _, tc := range cases {
		o := &apiOutbox{}
		r := apiSendRun(o)
		r.Now = tc.now
		r.Person.TimeZone = tc.tz
		out, err := el.Run(context.Background(), r)
		require.NoError(t, err)
		if tc.until.IsZero() {
			require.Equal(t, kinds.BranchSent, out.Branch, tc.now.String())
			continue
		}
		require.NotNil(t, out.Wait, tc.now.String())
		require.True(t, tc.until.Equal(out.Wait.Until), "%s: until %s, want %s", tc.now, out.Wait.Until, tc.until)
		require.Empty(t, o.messages())
		// When they end, the message goes.
		r = apiSendRun(o)
		r.Now, r.Wait, r.Person.TimeZone = out.Wait.Until, out.Wait, tc.tz
		out, err = el.Resume(context.Background(), r, element.Wake{Timer: true})
		require.NoError(t, err)
		require.Equal(t, kinds.BranchSent, out.Branch)
	}
}

func TestSendMessageErrors(t *testing.T) {
	el := &kinds.SendMessage{Channel: "sms", Body: "Hi"}
	apiCompile(t, el)
	o := &apiOutbox{err: errors.New("gateway down")}
	r := apiSendRun(o)
	_, err := el.Run(context.Background(), r)
	require.ErrorContains(t, err, "send on sms: gateway down")
	_, events := effects(r)
	require.Empty(t, events)

	r = apiSendRun(&apiOutbox{})
	r.Person.Phones = nil
	out, err := el.Run(context.Background(), r)
	require.NoError(t, err, "a missing address is not a failure")
	require.Equal(t, kinds.BranchBlocked, out.Branch)
	require.Equal(t, "not sent on sms: the person has no phone number", out.Reason)

	r = apiSendRun(nil)
	r.Ports.Sender = nil
	_, err = el.Run(context.Background(), r)
	require.ErrorContains(t, err, "no Sender")
}

func TestSendMessageValidate(t *testing.T) {
	cases := []struct {
		el    *kinds.SendMessage
		field string
	}{
		{&kinds.SendMessage{Body: "x"}, "channel"},
		{&kinds.SendMessage{Channel: "SMS", Body: "x"}, "channel"},
		{&kinds.SendMessage{Channel: "slack", Body: "x"}, "to"},
		{&kinds.SendMessage{Channel: "sms", App: "a", Body: "x"}, "app"},
		{&kinds.SendMessage{Channel: "sms"}, "body"},
		{&kinds.SendMessage{Channel: "sms", Body: "{{nope}}"}, "body"},
		{&kinds.SendMessage{Channel: "sms", Body: "x", Data: map[string]string{"k": "{{nope}}"}}, "data.k"},
		{&kinds.SendMessage{Channel: "sms", Body: "x", MessageIDVariable: "points"}, "messageIdVariable"},
		{&kinds.SendMessage{Channel: "sms", Body: "x", MessageIDVariable: "nope"}, "messageIdVariable"},
	}
	for _, tc := range cases {
		err := tc.el.Validate(&element.Compiler{Variables: apiVars, Location: time.UTC})
		var fe *element.FieldError
		require.True(t, errors.As(err, &fe), "%+v: %v", tc.el, err)
		require.Equal(t, tc.field, fe.Field, "%v", err)
	}
}

func TestCapAndQuietHoursValidate(t *testing.T) {
	require.NoError(t, kinds.FrequencyCap{}.Validate())
	require.NoError(t, kinds.FrequencyCap{Messages: 2, Within: time.Hour}.Validate())
	require.Error(t, kinds.FrequencyCap{Messages: 2}.Validate())
	require.Error(t, kinds.FrequencyCap{Within: time.Hour}.Validate())
	require.NoError(t, kinds.QuietHours{}.Validate())
	require.NoError(t, kinds.QuietHours{Start: kinds.At(21, 0), End: kinds.At(8, 0)}.Validate())
	require.Error(t, kinds.QuietHours{Start: kinds.At(21, 0)}.Validate())
	require.Error(t, kinds.QuietHours{Start: kinds.At(8, 0), End: kinds.At(8, 0)}.Validate())
}

// Calendar caps count from the start of the person's own day or week
// (Monday), and a channel's cap counts and caps only that channel.
func TestSendMessageCalendarCaps(t *testing.T) {
	sent := func(ch string, at time.Time) *store.Event {
		return &store.Event{Category: store.Channel, Name: store.MessageSent, Time: at, Properties: map[string]any{"channel": ch}}
	}
	// apiT0 is Monday 10:00 UTC, 05:00 in New York.
	sundayNightNY := time.Date(2026, 3, 2, 4, 30, 0, 0, time.UTC) // Sunday 23:30 in New York
	smsDay := kinds.FrequencyCap{Messages: 1, Per: kinds.CalendarDay, Channel: "sms"}
	week := kinds.FrequencyCap{Messages: 2, Per: kinds.CalendarWeek}
	cases := []struct {
		name    string
		channel string
		zone    string
		events  []*store.Event
		branch  string
	}{
		{"an sms earlier today caps sms", "sms", "America/New_York", []*store.Event{sent("sms", apiT0.Add(-time.Hour))}, kinds.BranchCapped},
		{"an sms yesterday in the person's zone does not", "sms", "America/New_York", []*store.Event{sent("sms", sundayNightNY)}, kinds.BranchSent},
		{"the same sms is today in UTC", "sms", "", []*store.Event{sent("sms", sundayNightNY)}, kinds.BranchCapped},
		{"an email does not count for the sms cap", "sms", "America/New_York", []*store.Event{sent("email", apiT0.Add(-time.Hour))}, kinds.BranchSent},
		{"the sms cap does not cap email", "email", "America/New_York", []*store.Event{sent("sms", apiT0.Add(-time.Hour))}, kinds.BranchSent},
		{"two messages this week cap every channel", "email", "America/New_York", []*store.Event{sent("sms", apiT0.Add(-time.Hour)), sent("push", apiT0.Add(-2*time.Hour))}, kinds.BranchCapped},
		{"last week's do not count", "email", "America/New_York", []*store.Event{sent("push", apiT0.Add(-2*time.Hour)), sent("sms", sundayNightNY)}, kinds.BranchSent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			el := &kinds.SendMessage{Channel: tc.channel, Body: "Hi"}
			apiCompile(t, el)
			(&kinds.Options{SendMessage: kinds.SendMessageOptions{FrequencyCaps: []kinds.FrequencyCap{smsDay, week}}}).Bind(el)
			o := &apiOutbox{}
			r := apiSendRun(o)
			r.Person.TimeZone = tc.zone
			r.History = sendHistory(tc.events...)
			out, err := el.Run(context.Background(), r)
			require.NoError(t, err)
			require.Equal(t, tc.branch, out.Branch, out.Reason)
			if tc.branch == kinds.BranchCapped {
				require.Contains(t, out.Reason, "frequency cap of")
				require.Empty(t, o.messages())
			}
		})
	}
}

func TestFrequencyCapValidate(t *testing.T) {
	for _, tc := range []struct {
		cap kinds.FrequencyCap
		msg string
	}{
		{kinds.FrequencyCap{Messages: 1}, "Within or Per is required"},
		{kinds.FrequencyCap{Messages: 1, Per: "month"}, `Per "month"`},
		{kinds.FrequencyCap{Messages: 1, Per: "day", Within: time.Hour}, "exclusive"},
		{kinds.FrequencyCap{Per: "day"}, "Messages must be positive"},
		{kinds.FrequencyCap{Messages: 1, Per: "day", Channel: "SMS"}, "lower-case"},
	} {
		require.ErrorContains(t, tc.cap.Validate(), tc.msg)
	}
	require.NoError(t, kinds.FrequencyCap{Messages: 3, Per: kinds.CalendarWeek, Channel: "sms"}.Validate())
}

// Every sending element takes a sending speed: sends of all its
// participants are spaced out, each waiting for its slot.
func TestSendingSpeedOnSends(t *testing.T) {
	for _, el := range []element.Element{
		&kinds.SendMessage{Channel: "sms", Body: "Hi", Speed: &kinds.Speed{Count: 2, Per: kinds.PerMinute}},
		&kinds.Notify{Channel: "sms", Recipients: []string{"385922222222"}, Body: "Hi", Speed: &kinds.Speed{Count: 2, Per: kinds.PerMinute}},
	} {
		t.Run(el.Kind(), func(t *testing.T) {
			apiCompile(t, el)
			pacer := kinds.NewPacer()
			(&kinds.Options{Pacer: pacer}).Bind(el)
			o := &apiOutbox{}
			var at []time.Time
			for i := 0; i < 3; i++ {
				r := apiSendRun(o)
				out, err := el.Run(context.Background(), r)
				require.NoError(t, err)
				if out.Wait == nil {
					at = append(at, r.Now)
					continue
				}
				require.Contains(t, out.Reason, "sending speed 2 per minute")
				r = apiSendRun(o)
				r.Now, r.Wait = out.Wait.Until, out.Wait
				out, err = el.(element.Resumer).Resume(context.Background(), r, element.Wake{Timer: true})
				require.NoError(t, err)
				require.Nil(t, out.Wait)
				at = append(at, r.Now)
			}
			require.Equal(t, []time.Time{apiT0, apiT0.Add(30 * time.Second), apiT0.Add(time.Minute)}, at)
			require.Len(t, o.messages(), 3)
		})
	}
}
