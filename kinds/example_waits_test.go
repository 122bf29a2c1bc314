package kinds_test

import (
	"context"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// printJournal prints a participant's steps in a time zone.
func printJournal(p *store.Participant, loc *time.Location) {
	for _, s := range p.Journal {
		branch := s.Branch
		if branch == "" {
			branch = "-"
		}
		fmt.Printf("%s %-7s %-8s %s\n", s.At.In(loc).Format("Jan 02 15:04"), s.Element, branch, s.Reason)
	}
}

// A trial-expiry reminder: "trialExpiry is in 4 hours". The trial is
// extended while the participant waits, and the wait follows it.
func ExampleWaitForDate() {
	ctx := context.Background()
	zagreb, _ := time.LoadLocation("Europe/Zagreb")
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, zagreb))
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Schema: store.Schema{"trialExpiry": store.DateTime}})
	f := flow.New("trial", "Trial ends").In("Europe/Zagreb").
		Add("wait", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsIn, Period: segment.Period{Amount: 4, Unit: segment.Hours}},
			flow.Next{"reached": "remind", "missed": "late"}).
		Add("remind", &kinds.AddTag{Tag: "trial-reminder"}, nil).
		Add("late", &kinds.AddTag{Tag: "trial-missed"}, nil)
	if _, err := eng.Publish(ctx, f); err != nil {
		fmt.Println(err)
		return
	}
	_ = eng.Activate(ctx, "trial")
	ann := store.PersonRef{ExternalID: "ann"}
	setExpiry := func(t time.Time) {
		_, _ = eng.UpdatePerson(ctx, ann, func(p *store.Person) error { p.Set("trialExpiry", t); return nil })
	}
	setExpiry(time.Date(2026, 3, 10, 14, 0, 0, 0, zagreb))
	id, _ := eng.Enter(ctx, "trial", ann, nil)

	_, _ = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 3, 5, 12, 0, 0, 0, zagreb))
	setExpiry(time.Date(2026, 3, 31, 14, 0, 0, 0, zagreb)) // extended, past the switch to summer time
	_, _ = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 4, 30, 0, 0, 0, 0, zagreb))

	p, _ := eng.Participant(ctx, id)
	printJournal(p, zagreb)
	// Output:
	// Mar 02 09:00 wait    -        trialExpiry is in 4 hours (2026-03-10T14:00:00+01:00): waiting until Tue 2026-03-10 10:00 CET
	// Mar 05 12:00 wait    -        trialExpiry changed: trialExpiry is in 4 hours (2026-03-31T14:00:00+02:00): waiting until Tue 2026-03-31 10:00 CEST
	// Mar 31 10:00 wait    reached  trialExpiry is in 4 hours: reached
	// Mar 31 10:00 remind  next     tagged "trial-reminder"
	// Mar 31 10:00 remind  -        left the flow after remind (no element after branch "next")
}

// printer is a Sender that prints each message.
type printer struct{}

func (printer) Send(_ context.Context, m *element.Message) (string, error) {
	fmt.Printf("to %s: %s\n", m.To, m.Body)
	return "sms-1", nil
}

// The appointment example: the booking's time and specialist are saved
// into flow variables and used in the confirmation.
func ExampleWaitForEvent() {
	ctx := context.Background()
	zagreb, _ := time.LoadLocation("Europe/Zagreb")
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, zagreb))
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Ports: flow.Ports{Sender: printer{}}})
	f := flow.New("booking", "Booking").In("Europe/Zagreb").
		Var("appointmentTime", store.DateTime, nil).Var("specialist", store.Text, nil).
		Add("wait-booking", &kinds.WaitForEvent{
			Event: segment.EventSpec{Category: store.External, Name: "AppointmentBooked"},
			Set: []*kinds.EventVariable{
				{Variable: "appointmentTime", Property: "time"},
				{Variable: "specialist", Property: "specialist"},
			},
			WaitFor: segment.Period{Amount: 7, Unit: segment.Days},
		}, flow.Next{"occurred": "confirm"}).
		Add("confirm", &kinds.SendMessage{Channel: "sms",
			Body: `{{specialist}} expects you on {{appointmentTime.In(timezone("Europe/Zagreb")).Format("Monday 2 January at 15:04")}}.`}, nil)
	if _, err := eng.Publish(ctx, f); err != nil {
		fmt.Println(err)
		return
	}
	_ = eng.Activate(ctx, "booking")
	ann := store.PersonRef{Phone: "385911234567"}
	id, _ := eng.Enter(ctx, "booking", ann, nil)

	_, _ = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 3, 3, 18, 0, 0, 0, zagreb))
	err := eng.Deliver(ctx, &store.Event{ID: "booking-1", Person: ann, Category: store.External, Name: "AppointmentBooked",
		Properties: map[string]any{"time": "2026-03-10T13:30:00Z", "specialist": "Dr. Horvat"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := eng.Participant(ctx, id)
	fmt.Println(p.Status, p.Journal[1].Branch)
	// Output:
	// to +385911234567: Dr. Horvat expects you on Tuesday 10 March at 14:30.
	// completed occurred
}

// A condition that compares with a variable the flow does not declare is
// refused at Publish, naming the element and the field.
func ExampleWaitForEvent_invalid() {
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New()})
	f := flow.New("cart", "Cart").Var("cartId", store.Text, nil).
		Add("wait-order", &kinds.WaitForEvent{
			Event: segment.EventSpec{Category: store.External, Name: "OrderCompleted",
				Where: []segment.PropertyCondition{segment.Prop("cartId", segment.Is, "{{basketId}}")}},
			WaitFor: segment.Period{Amount: 4, Unit: segment.Hours},
		}, nil)
	_, err := eng.Publish(context.Background(), f)
	fmt.Println(err)
	// Output:
	// element "wait-order": event.where[0]: property "cartId": unknown variable "basketId"
}

// Waiting a week for an upgrade to premium: the host's profile update
// wakes the participant.
func ExampleWaitForChange() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Schema: store.Schema{"plan": store.Text}})
	f := flow.New("upgrade", "Upgrade").
		Add("wait", &kinds.WaitForChange{
			Attributes: []*kinds.AttributeChange{{Attribute: "plan", Op: segment.Is, Value: "premium"}},
			WaitFor:    segment.Period{Amount: 7, Unit: segment.Days},
		}, flow.Next{"changed": "thanks", "notChanged": "offer"}).
		Add("thanks", &kinds.AddTag{Tag: "upgraded"}, nil).
		Add("offer", &kinds.AddTag{Tag: "send-offer"}, nil)
	if _, err := eng.Publish(ctx, f); err != nil {
		fmt.Println(err)
		return
	}
	_ = eng.Activate(ctx, "upgrade")
	bob := store.PersonRef{ExternalID: "bob"}
	id, _ := eng.Enter(ctx, "upgrade", bob, nil)
	setPlan := func(plan string) {
		_, _ = eng.UpdatePerson(ctx, bob, func(p *store.Person) error { p.Set("plan", plan); return nil })
	}
	_, _ = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC))
	setPlan("basic") // a change, not the one it waits for
	_, _ = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 3, 5, 16, 30, 0, 0, time.UTC))
	setPlan("premium")

	p, _ := eng.Participant(ctx, id)
	printJournal(p, time.UTC)
	// Output:
	// Mar 02 09:00 wait    -        waiting up to 7 days for a change of plan is "premium"
	// Mar 05 16:30 wait    changed  plan changed from "basic" to "premium" (plan is "premium")
	// Mar 05 16:30 thanks  next     tagged "upgraded"
	// Mar 05 16:30 thanks  -        left the flow after thanks (no element after branch "next")
}
