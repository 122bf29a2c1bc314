package flow_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// waitsSchema declares the attributes the wait tests use.
var waitsSchema = store.Schema{"plan": store.Text, "trialExpiry": store.DateTime, "dueDate": store.Date}

func waitHarness(t testing.TB, cfg flow.Config) *harness {
	t.Helper()
	if cfg.Schema == nil {
		cfg.Schema = waitsSchema
	}
	return newHarness(t, cfg)
}

// deliver delivers an event now to the person with the external id.
func (h *harness) deliver(t testing.TB, id, who string, cat store.Category, name string, props map[string]any) {
	t.Helper()
	require.NoError(t, h.eng.Deliver(h.ctx, &store.Event{ID: id, Person: store.PersonRef{ExternalID: who}, Category: cat, Name: name, Properties: props}))
}

func (h *harness) advanceTo(t testing.TB, at time.Time) {
	t.Helper()
	_, err := flowtest.AdvanceTo(h.ctx, h.eng, h.clk, at)
	require.NoError(t, err)
}

func (h *harness) enter(t testing.TB, flowID, who string, vars map[string]any) uuid.UUID {
	t.Helper()
	id, err := h.eng.Enter(h.ctx, flowID, store.PersonRef{ExternalID: who}, vars)
	require.NoError(t, err)
	return id
}

// path lists the journal as "element:branch" for the steps that took a
// branch, and "element!" for the step that left the flow.
func path(p *store.Participant) string {
	var out []string
	for i, s := range p.Journal {
		switch {
		case s.Branch != "":
			out = append(out, s.Element+":"+s.Branch)
		case p.Status.Done() && i == len(p.Journal)-1:
			out = append(out, s.Element+"!")
		}
	}
	return strings.Join(out, " ")
}

// stepAt returns when the participant took a branch at an element.
func stepAt(t testing.TB, p *store.Participant, elementID, branch string) time.Time {
	t.Helper()
	for _, s := range p.Journal {
		if s.Element == elementID && s.Branch == branch {
			return s.At
		}
	}
	t.Fatalf("no step %s:%s in %s", elementID, branch, path(p))
	return time.Time{}
}

func waitEvent(cat store.Category, name string, period segment.Period, where ...segment.PropertyCondition) *kinds.WaitForEvent {
	return &kinds.WaitForEvent{Event: segment.EventSpec{Category: cat, Name: name, Where: where}, WaitFor: period}
}

func days(n int) segment.Period { return segment.Period{Amount: n, Unit: segment.Days} }

// emailFunnel is the reference's funnel: wait for Email sent, then Email
// opened, then Email link clicked, each for 2 days.
func emailFunnel(include bool) *flow.Flow {
	opened := waitEvent(store.Channel, store.MessageSeen, days(2))
	clicked := waitEvent(store.Channel, store.MessageClicked, days(2))
	opened.IncludeFromEntrance, clicked.IncludeFromEntrance = include, include
	return flow.New("funnel", "Email funnel").
		Add("sent", waitEvent(store.Channel, store.MessageSent, days(2)), flow.Next{"occurred": "opened", "timeout": "not-sent"}).
		Add("opened", opened, flow.Next{"occurred": "clicked", "timeout": "clicked"}).
		Add("clicked", clicked, flow.Next{"occurred": "converted", "timeout": "no-click"}).
		Add("converted", &kinds.Exit{Reason: "clicked the email"}, nil).
		Add("not-sent", &kinds.Exit{Reason: "email never sent"}, nil).
		Add("no-click", &kinds.Exit{Reason: "did not click"}, nil)
}

func TestEmailFunnel(t *testing.T) {
	for _, tc := range []struct {
		include bool
		path    string
		reason  string
		exited  time.Time
	}{
		// The click came while the participant waited for the opening the
		// mail client blocked: without the option it is not seen.
		{false, "sent:occurred opened:timeout clicked:timeout no-click!", "did not click", t0.Add(time.Hour + 4*24*time.Hour)},
		// With it, reaching "clicked" finds the click since the entrance.
		{true, "sent:occurred opened:timeout clicked:occurred converted!", "clicked the email", t0.Add(time.Hour + 2*24*time.Hour)},
	} {
		t.Run(fmt.Sprintf("includeFromEntrance=%v", tc.include), func(t *testing.T) {
			h := waitHarness(t, flow.Config{})
			h.publish(t, emailFunnel(tc.include))
			id := h.enter(t, "funnel", "ann", nil)
			msg := map[string]any{"messageId": "m-1", "channel": "email"}
			h.advanceTo(t, t0.Add(time.Hour))
			h.deliver(t, "sent-1", "ann", store.Channel, store.MessageSent, msg)
			// No opened event: the client blocks the tracking pixel.
			h.advanceTo(t, t0.Add(3*time.Hour))
			h.deliver(t, "click-1", "ann", store.Channel, store.MessageClicked, msg)
			p := h.participant(t, id)
			require.Equal(t, "opened", p.Element)
			require.Equal(t, store.Waiting, p.Status)

			h.advanceTo(t, t0.AddDate(0, 0, 10))
			p = h.participant(t, id)
			require.Equal(t, store.Completed, p.Status)
			require.Equal(t, tc.path, path(p))
			require.Equal(t, tc.reason, p.Reason)
			require.Equal(t, tc.exited, p.ExitedAt)
			require.Equal(t, t0.Add(time.Hour+2*24*time.Hour), stepAt(t, p, "opened", "timeout"))
		})
	}
}

// TestOwnMessages shows a wait for Email opened after a send matching only
// the events about this participant's own message.
func TestOwnMessages(t *testing.T) {
	h := waitHarness(t, flow.Config{})
	// The host sent a newsletter itself and two flows sent emails.
	h.publish(t, flow.New("a", "A").
		Add("opened", waitEvent(store.Channel, store.MessageSeen, days(1)), flow.Next{"occurred": "yes", "timeout": "no"}).
		Add("yes", tag("a-opened"), nil).Add("no", tag("a-not-opened"), nil))
	h.publish(t, flow.New("b", "B").
		Add("opened", waitEvent(store.Channel, store.MessageSeen, days(1)), flow.Next{"occurred": "yes", "timeout": "no"}).
		Add("yes", tag("b-opened"), nil).Add("no", tag("b-not-opened"), nil))
	a := h.enter(t, "a", "ann", nil)
	b := h.enter(t, "b", "ann", nil)
	// Each flow's send recorded a MessageSent naming its participant (what
	// Send Message does); the provider's webhook knows only message ids.
	h.deliver(t, "sent-a", "ann", store.Channel, store.MessageSent, map[string]any{"messageId": "m-a", "participantId": a.String()})
	h.deliver(t, "sent-b", "ann", store.Channel, store.MessageSent, map[string]any{"messageId": "m-b", "participantId": b.String()})
	h.deliver(t, "seen-b", "ann", store.Channel, store.MessageSeen, map[string]any{"messageId": "m-b"})
	require.Equal(t, store.Waiting, h.participant(t, a).Status, "B's message was opened, not A's")
	require.Equal(t, "opened:occurred yes:next yes!", path(h.participant(t, b)))
	h.advanceTo(t, t0.AddDate(0, 0, 2))
	require.Equal(t, "opened:timeout no:next no!", path(h.participant(t, a)))
}

// TestAppointment is the reference's variable sets example: the booking's
// time and specialist are saved and used in the confirmation.
func TestAppointment(t *testing.T) {
	h := waitHarness(t, flow.Config{})
	f := flow.New("booking", "Appointment").In("Europe/Zagreb").
		Var("appointmentTime", store.DateTime, nil).Var("specialist", store.Text, nil).Var("confirmation", store.Text, nil).
		Add("wait-booking", &kinds.WaitForEvent{
			Event: segment.EventSpec{Category: store.External, Name: "AppointmentBooked"},
			Set: []*kinds.EventVariable{
				{Variable: "appointmentTime", Property: "time"},
				{Variable: "specialist", Property: "specialist"},
			},
			WaitFor: days(14),
		}, flow.Next{"occurred": "confirm"}).
		Add("confirm", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "confirmation",
			Formula: `"Dear " + person.firstName + ", your appointment with " + specialist + " is on " + appointmentTime.In(timezone("Europe/Zagreb")).Format("Monday 2 January at 15:04") + "."`}}}, nil)
	h.publish(t, f)
	_, err := h.eng.UpdatePerson(h.ctx, store.PersonRef{ExternalID: "ann"}, func(p *store.Person) error { p.FirstName = "Ann"; return nil })
	require.NoError(t, err)
	id := h.enter(t, "booking", "ann", nil)
	h.advanceTo(t, t0.Add(26*time.Hour))
	h.deliver(t, "booking-1", "ann", store.External, "AppointmentBooked", map[string]any{"time": "2026-03-10T13:30:00Z", "specialist": "Dr. Ivana Horvat"})
	p := h.participant(t, id)
	require.Equal(t, store.Completed, p.Status, p.Reason)
	require.Equal(t, "Dear Ann, your appointment with Dr. Ivana Horvat is on Tuesday 10 March at 14:30.", p.Vars["confirmation"])
	require.Contains(t, p.Journal[len(p.Journal)-3].Reason, `saved appointmentTime = "2026-03-10T13:30:00Z", specialist = "Dr. Ivana Horvat"`)
}

// TestAbandonedCartMatchesItsCart waits for the order of the cart that
// started the flow, compared with the entry event, not for any order.
func TestAbandonedCartMatchesItsCart(t *testing.T) {
	h := waitHarness(t, flow.Config{})
	f := flow.New("cart", "Cart").Var("cartId", store.Text, nil)
	f.Trigger = &flow.Trigger{Category: store.External, Name: "CartAbandoned"}
	f.Add("wait-order", waitEvent(store.External, "OrderCompleted", segment.Period{Amount: 4, Unit: segment.Hours},
		segment.Prop("cartId", segment.Is, "{{entry.properties.cartId}}")), flow.Next{"occurred": "bought", "timeout": "remind"}).
		Add("remind", tag("reminded"), nil).
		Add("bought", tag("bought"), nil)
	h.publish(t, f)
	h.deliver(t, "abandon-1", "ann", store.External, "CartAbandoned", map[string]any{"cartId": "c-1"})
	h.advanceTo(t, t0.Add(time.Hour))
	h.deliver(t, "order-9", "ann", store.External, "OrderCompleted", map[string]any{"cartId": "c-9"})
	ps, err := h.eng.Participants(h.ctx, store.ParticipantQuery{FlowID: "cart"})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, store.Waiting, ps[0].Status, "an order of another cart does not count")
	h.deliver(t, "order-1", "ann", store.External, "OrderCompleted", map[string]any{"cartId": "c-1"})
	p := h.participant(t, ps[0].ID)
	require.Equal(t, "wait-order:occurred bought:next bought!", path(p))
}

func TestYearLongWaits(t *testing.T) {
	renewal := func(f *flow.Flow, period segment.Period) *flow.Flow {
		return f.Add("wait", waitEvent(store.External, "Renewed", period), flow.Next{"occurred": "renewed", "timeout": "lapsed"}).
			Add("renewed", tag("renewed"), nil).Add("lapsed", tag("lapsed"), nil)
	}
	t.Run("an event after 11 months is caught", func(t *testing.T) {
		h := waitHarness(t, flow.Config{})
		h.publish(t, renewal(flow.New("r", "R"), segment.Period{}))
		id := h.enter(t, "r", "ann", nil)
		h.advanceTo(t, t0.AddDate(0, 11, 0))
		h.deliver(t, "renew-1", "ann", store.External, "Renewed", nil)
		p := h.participant(t, id)
		require.Equal(t, "wait:occurred renewed:next renewed!", path(p))
		require.Equal(t, t0.AddDate(0, 11, 0), p.ExitedAt)
	})
	t.Run("indefinitely ends at the one-year inactivity mark", func(t *testing.T) {
		h := waitHarness(t, flow.Config{})
		h.publish(t, renewal(flow.New("r", "R"), segment.Period{}))
		id := h.enter(t, "r", "ann", nil)
		h.advanceTo(t, t0.Add(365*24*time.Hour-time.Second))
		require.Equal(t, store.Waiting, h.participant(t, id).Status)
		h.advanceTo(t, t0.AddDate(2, 0, 0))
		p := h.participant(t, id)
		require.Equal(t, store.Completed, p.Status)
		require.Equal(t, t0.Add(365*24*time.Hour), p.ExitedAt)
		require.Equal(t, "no element activated for a year: left the flow", p.Reason)
	})
	t.Run("a period longer than a year is cut at the mark too", func(t *testing.T) {
		h := waitHarness(t, flow.Config{})
		h.publish(t, renewal(flow.New("r", "R"), days(500)))
		id := h.enter(t, "r", "ann", nil)
		h.advanceTo(t, t0.AddDate(2, 0, 0))
		p := h.participant(t, id)
		require.Equal(t, t0.Add(365*24*time.Hour), p.ExitedAt)
		require.Equal(t, "wait!", path(p), "no branch was taken: %s", p.Reason)
	})
	t.Run("indefinitely ends at the flow's end date when it comes first", func(t *testing.T) {
		h := waitHarness(t, flow.Config{})
		f := flow.New("r", "R")
		f.Schedule.End = t0.AddDate(0, 7, 0)
		h.publish(t, renewal(f, segment.Period{}))
		id := h.enter(t, "r", "ann", nil)
		h.advanceTo(t, t0.AddDate(2, 0, 0))
		p := h.participant(t, id)
		require.Equal(t, t0.AddDate(0, 7, 0), p.ExitedAt)
		require.Contains(t, p.Reason, "flow schedule ended at")
	})
	t.Run("an end date after the mark does not extend the wait", func(t *testing.T) {
		h := waitHarness(t, flow.Config{})
		f := flow.New("r", "R")
		f.Schedule.End = t0.AddDate(1, 6, 0)
		h.publish(t, renewal(f, segment.Period{}))
		id := h.enter(t, "r", "ann", nil)
		h.advanceTo(t, t0.AddDate(2, 0, 0))
		require.Equal(t, t0.Add(365*24*time.Hour), h.participant(t, id).ExitedAt)
	})
}

// TestRedeliveredEvent shows that an event id wakes a participant once,
// however often the host delivers it.
func TestRedeliveredEvent(t *testing.T) {
	h := waitHarness(t, flow.Config{})
	h.publish(t, flow.New("ping", "Ping").Var("n", store.Number, 0).
		Add("wait", waitEvent(store.External, "Ping", segment.Period{}), flow.Next{"occurred": "count"}).
		Add("count", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n + 1"}}}, flow.Next{"next": "wait"}))
	id := h.enter(t, "ping", "ann", nil)
	for _, ev := range []string{"p-1", "p-1", "p-2", "p-1", "p-2"} {
		h.deliver(t, ev, "ann", store.External, "Ping", nil)
	}
	p := h.participant(t, id)
	require.Equal(t, 2.0, p.Vars["n"])
	require.Equal(t, store.Waiting, p.Status)
}

// TestSameCallEvents shows the rule of arrival: an event recorded earlier
// in the same call does not wake a wait reached later, unless the wait
// includes events from the entrance.
func TestSameCallEvents(t *testing.T) {
	h := waitHarness(t, flow.Config{})
	setPlan := &kinds.UpdateProfile{Set: []*kinds.Assignment{{Attribute: "plan", Value: "premium"}}}
	h.publish(t, flow.New("change", "Change").
		Add("set", setPlan, flow.Next{"next": "wait"}).
		Add("wait", &kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "plan"}}, WaitFor: days(1)}, nil))
	planChanged := waitEvent(store.People, store.AttributeChanged, days(1), segment.Prop("attribute", segment.Is, "plan"))
	planChanged.IncludeFromEntrance = true
	h.publish(t, flow.New("event", "Event").
		Add("set", setPlan, flow.Next{"next": "wait"}).
		Add("wait", planChanged, nil))

	a := h.enter(t, "change", "ann", nil)
	require.Equal(t, store.Waiting, h.participant(t, a).Status, "its own change came before it arrived")
	b := h.enter(t, "event", "bob", nil)
	require.Equal(t, "set:next wait:occurred wait!", path(h.participant(t, b)))
	h.advanceTo(t, t0.AddDate(0, 0, 2))
	require.Equal(t, "set:next wait:notChanged wait!", path(h.participant(t, a)))
}

func TestWaitForChangeSources(t *testing.T) {
	h := waitHarness(t, flow.Config{})
	h.publish(t, flow.New("upgrade", "Upgrade").
		Add("wait", &kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "plan", Op: segment.Is, Value: "premium"}}, WaitFor: days(7)},
			flow.Next{"changed": "yes", "notChanged": "no"}).
		Add("yes", tag("upgraded"), nil).Add("no", tag("stayed"), nil))
	h.publish(t, flow.New("sales", "Sales call").
		Add("set", &kinds.UpdateProfile{Set: []*kinds.Assignment{{Attribute: "plan", Value: "premium"}}}, nil))
	ann := h.enter(t, "upgrade", "ann", nil)
	bob := h.enter(t, "upgrade", "bob", nil)
	cid := h.enter(t, "upgrade", "cid", nil)
	setPlan := func(who, plan string) {
		_, err := h.eng.UpdatePerson(h.ctx, store.PersonRef{ExternalID: who}, func(p *store.Person) error { p.Set("plan", plan); return nil })
		require.NoError(t, err)
	}
	h.advanceTo(t, t0.AddDate(0, 0, 1))
	setPlan("ann", "basic") // a change, but not to premium
	require.Equal(t, store.Waiting, h.participant(t, ann).Status)
	setPlan("ann", "premium") // the host's change
	h.enter(t, "sales", "bob", nil)
	// another flow's Update Person Profile
	h.advanceTo(t, t0.AddDate(0, 0, 10))
	require.Equal(t, "wait:changed yes:next yes!", path(h.participant(t, ann)))
	require.Equal(t, "wait:changed yes:next yes!", path(h.participant(t, bob)))
	p := h.participant(t, cid)
	require.Equal(t, "wait:notChanged no:next no!", path(p))
	require.Equal(t, t0.AddDate(0, 0, 7), stepAt(t, p, "wait", "notChanged"))
	require.Contains(t, h.participant(t, ann).Journal[1].Reason, `plan changed from "basic" to "premium"`)
}

// TestTrialExpiry is the reference's example: "TrialExpiryDateTime is in 4
// hours", with the trial extended while the participant waits.
func TestTrialExpiry(t *testing.T) {
	h := waitHarness(t, flow.Config{})
	h.publish(t, flow.New("trial", "Trial").In("Europe/Zagreb").
		Add("wait", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsIn, Period: segment.Period{Amount: 4, Unit: segment.Hours}},
			flow.Next{"reached": "remind", "missed": "too-late"}).
		Add("remind", tag("trial-reminder"), nil).
		Add("too-late", tag("trial-missed"), nil))
	zagreb, _ := time.LoadLocation("Europe/Zagreb")
	setExpiry := func(who string, at any) {
		_, err := h.eng.UpdatePerson(h.ctx, store.PersonRef{ExternalID: who}, func(p *store.Person) error { p.Set("trialExpiry", at); return nil })
		require.NoError(t, err)
	}
	expiry := time.Date(2026, 3, 12, 14, 0, 0, 0, zagreb)
	setExpiry("ann", expiry)
	setExpiry("bob", t0.Add(2*time.Hour)) // expires in 2 hours: 4 hours before has passed
	ann := h.enter(t, "trial", "ann", nil)
	bob := h.enter(t, "trial", "bob", nil)
	cid := h.enter(t, "trial", "cid", nil) // no trial at all
	require.Equal(t, "wait:missed too-late:next too-late!", path(h.participant(t, bob)))
	require.Equal(t, "wait:missed too-late:next too-late!", path(h.participant(t, cid)))
	require.Contains(t, h.participant(t, cid).Journal[0].Reason, "trialExpiry is empty")

	// Extended by a week, across the switch to summer time (March 29).
	h.advanceTo(t, t0.AddDate(0, 0, 5))
	setExpiry("ann", expiry.AddDate(0, 0, 21))
	h.advanceTo(t, time.Date(2026, 4, 2, 9, 59, 0, 0, zagreb))
	require.Equal(t, store.Waiting, h.participant(t, ann).Status)
	h.advanceTo(t, time.Date(2026, 4, 3, 0, 0, 0, 0, zagreb))
	p := h.participant(t, ann)
	require.Equal(t, "wait:reached remind:next remind!", path(p))
	require.Equal(t, time.Date(2026, 4, 2, 10, 0, 0, 0, zagreb), stepAt(t, p, "wait", "reached").In(zagreb))
	require.Contains(t, p.Journal[1].Reason, "trialExpiry changed: trialExpiry is in 4 hours (2026-04-02T14:00:00+02:00): waiting until Thu 2026-04-02 10:00 CEST")
}

// TestBirthdayEveryYear greets a person born on February 29 every year: on
// February 28 in common years. The yearly loop needs an inactivity limit
// above 366 days, as WaitForDate documents; the default cuts it in a leap
// year.
func TestBirthdayEveryYear(t *testing.T) {
	birthday := func() *flow.Flow {
		return flow.New("birthday", "Birthday").In("America/New_York").Var("greetings", store.Number, 0).
			Add("wait", &kinds.WaitForDate{Attribute: store.AttrBirthDate, When: kinds.DateIsToday, At: kinds.At(9, 0), EveryYear: true, PersonTimeZone: true},
				flow.Next{"reached": "greet"}).
			Add("greet", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "greetings", Formula: "greetings + 1"}}}, flow.Next{"next": "wait"})
	}
	born := func(h *harness) {
		_, err := h.eng.UpdatePerson(h.ctx, store.PersonRef{ExternalID: "leo"}, func(p *store.Person) error {
			p.BirthDate = time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)
			p.TimeZone = "Europe/Zagreb"
			return nil
		})
		require.NoError(t, err)
	}
	zagreb, _ := time.LoadLocation("Europe/Zagreb")

	h := waitHarness(t, flow.Config{InactivityLimit: 367 * 24 * time.Hour})
	h.publish(t, birthday())
	born(h)
	id := h.enter(t, "birthday", "leo", nil)
	h.advanceTo(t, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	p := h.participant(t, id)
	require.Equal(t, store.Waiting, p.Status, p.Reason)
	require.Equal(t, 4.0, p.Vars["greetings"])
	var greeted []string
	for _, s := range p.Journal {
		if s.Element == "wait" && s.Branch == "reached" {
			greeted = append(greeted, s.At.In(zagreb).Format("2006-01-02 15:04"))
		}
	}
	require.Equal(t, []string{"2027-02-28 09:00", "2028-02-29 09:00", "2029-02-28 09:00", "2030-02-28 09:00"}, greeted)
	require.Equal(t, "2031-02-28 09:00", p.Wait.Until.In(zagreb).Format("2006-01-02 15:04"))

	// With the default limit of 365 days, the 366 days from 2027-02-28 to
	// 2028-02-29 are too long.
	h = waitHarness(t, flow.Config{})
	h.publish(t, birthday())
	born(h)
	id = h.enter(t, "birthday", "leo", nil)
	h.advanceTo(t, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	p = h.participant(t, id)
	require.Equal(t, store.Completed, p.Status)
	require.Equal(t, 1.0, p.Vars["greetings"])
	require.Equal(t, "no element activated for a year: left the flow", p.Reason)
}

func TestWaitsJSON(t *testing.T) {
	doc := `{
	  "id": "abandoned-cart", "name": "Abandoned cart", "timezone": "Europe/Zagreb",
	  "variables": {"cartId": {"type": "text"}, "total": {"type": "number"}},
	  "trigger": {"category": "external", "name": "CartAbandoned"},
	  "elements": [
	    {"id": "wait-order", "type": "waitForEvent",
	     "event": {"category": "external", "name": "OrderCompleted",
	               "where": [{"property": "cartId", "op": "is", "value": "{{entry.properties.cartId}}"}]},
	     "set": [{"variable": "total", "property": "total"}],
	     "waitFor": {"amount": 4, "unit": "hours"},
	     "next": {"occurred": "done", "timeout": "profile"}},
	    {"id": "profile", "type": "waitForChange", "attributes": [{"attribute": "plan", "op": "isNotEmpty"},
	       {"attribute": "dueDate", "op": "willBeWithin", "value": {"amount": 7, "unit": "days"}}],
	     "waitFor": {"amount": 1, "unit": "days"}, "next": {"changed": "date", "notChanged": "date"}},
	    {"id": "date", "type": "waitForDate", "attribute": "dueDate", "when": "isTomorrow", "at": "09:30",
	     "next": {"reached": "done", "missed": "done"}},
	    {"id": "done", "type": "exit"}
	  ]
	}`
	f, err := flow.Parse([]byte(doc))
	require.NoError(t, err)
	require.NoError(t, f.Validate(waitsSchema))
	again, err := f.Clone()
	require.NoError(t, err)
	require.Equal(t, f.Node("date").Element, again.Node("date").Element)
	require.Equal(t, kinds.At(9, 30), again.Node("date").Element.(*kinds.WaitForDate).At)
	require.Equal(t, segment.PeriodOf(7, segment.Days), again.Node("profile").Element.(*kinds.WaitForChange).Attributes[1].Value)

	for _, tc := range []struct{ from, to, want string }{
		{`"name": "OrderCompleted"`, `"name": ""`, `element "wait-order": event.name: event name is missing`},
		{`"value": "{{entry.properties.cartId}}"`, `"value": "{{cart}}"`, `element "wait-order": event.where[0]: property "cartId": unknown variable "cart"`},
		{`{"variable": "total"`, `{"variable": "sum"`, `element "wait-order": set[0].variable: variable "sum" is not declared in the flow`},
		{`"attribute": "plan"`, `"attribute": "tier"`, `element "profile": attributes[0].attribute: unknown person attribute "tier"`},
		{`"op": "isNotEmpty"}`, `"op": "isNotEmpty", "when": 1}`, `element "profile": when: json: unknown field "when"`},
		{`"value": {"amount": 7, "unit": "days"}`, `"value": {"amount": 7, "unit": "days", "x": 1}`, `element "profile": attributes[1]: attribute dueDate: operator "willBeWithin" needs a period value`},
		{`"when": "isTomorrow"`, `"when": "tomorrow"`, `element "date": when: "tomorrow" is not one of isIn, was, isToday, isTomorrow, wasYesterday`},
		{`"next": {"reached": "done", "missed": "done"}`, `"next": {"reached": "done", "late": "done"}`, `element "date": next.late: waitForDate has no branch "late"`},
	} {
		bad := strings.Replace(doc, tc.from, tc.to, 1)
		require.NotEqual(t, doc, bad, tc.from)
		f, err := flow.Parse([]byte(bad))
		if err == nil {
			err = f.Validate(waitsSchema)
		}
		var ve *flow.ValidationError
		require.ErrorAs(t, err, &ve)
		require.ErrorContains(t, err, tc.want)
	}
}

// Events for people waiting for them, delivered twice each from several
// goroutines while others read the flow's statistics: every participant
// wakes exactly once, and no event creates a second person.
func TestConcurrentDeliveriesWakeEachOnce(t *testing.T) {
	h := newHarness(t, flow.Config{})
	h.publish(t, flow.New("cart", "Cart").Var("cartId", store.Text, nil).
		Add("wait", &kinds.WaitForEvent{
			Event:   segment.EventSpec{Category: store.External, Name: "OrderCompleted", Where: []segment.PropertyCondition{segment.Prop("cartId", segment.Is, "{{cartId}}")}},
			WaitFor: segment.Period{Amount: 4, Unit: segment.Hours},
		}, flow.Next{"occurred": "bought"}).
		Add("bought", tag("bought"), nil))
	const people = 300
	ids := make([]uuid.UUID, people)
	for i := range people {
		var err error
		ids[i], err = h.eng.Enter(h.ctx, "cart", store.PersonRef{ExternalID: fmt.Sprint("p", i)}, map[string]any{"cartId": fmt.Sprint("cart-", i)})
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := range 2 * people {
				i := (n + g*people/4) % people
				ev := &store.Event{ID: fmt.Sprint("order-", i), Person: store.PersonRef{ExternalID: fmt.Sprint("p", i)},
					Category: store.External, Name: "OrderCompleted", Properties: map[string]any{"cartId": fmt.Sprint("cart-", i)}}
				if err := h.eng.Deliver(h.ctx, ev); err != nil {
					t.Error(err)
					return
				}
				if n%50 == 0 {
					if _, err := h.eng.Stats(h.ctx, "cart"); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	st, err := h.eng.Stats(h.ctx, "cart")
	require.NoError(t, err)
	require.EqualValues(t, people, st["wait"].Left["occurred"])
	require.EqualValues(t, people, st["bought"].Entered)
	for i, id := range ids {
		p := h.participant(t, id)
		require.Equal(t, store.Completed, p.Status)
		person, err := h.eng.Person(h.ctx, store.PersonRef{ExternalID: fmt.Sprint("p", i)})
		require.NoError(t, err)
		require.Equal(t, p.PersonID, person.ID, "the event found the participant's person")
		require.Equal(t, []string{"bought"}, person.Tags)
		evs, err := h.eng.Events(h.ctx, store.PersonRef{ID: person.ID}, store.EventQuery{Name: "OrderCompleted"})
		require.NoError(t, err)
		require.Len(t, evs, 1, "a redelivered event is kept once")
	}
}
