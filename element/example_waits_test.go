package element_test

import (
	"context"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
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
		Add("wait", &element.WaitForDate{Attribute: "trialExpiry", When: element.DateIsIn, Period: element.Period{Amount: 4, Unit: element.Hours}},
			flow.Next{"reached": "remind", "missed": "late"}).
		Add("remind", &element.AddTag{Tag: "trial-reminder"}, nil).
		Add("late", &element.AddTag{Tag: "trial-missed"}, nil)
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
	// Mar 31 10:00 remind  -        branch "next" leads nowhere: left the flow
}
