// Command onboarding runs a customer onboarding flow for three people in
// three time zones over 30 simulated days, on the memory store and a fake
// clock, and prints what happened to each of them, read from their
// participants' journals.
//
// The flow tags each new sign-up, remembers their plan, waits until 09:00
// the morning after in the person's own time zone, moves them through
// onboarding stages with profile and tag updates, scores them with
// formulas, and graduates them on the following Monday.
//
//	go run ./examples/onboarding
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
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

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "onboarding:", err)
		os.Exit(1)
	}
}

// schema declares the custom person attributes the flow writes.
var schema = store.Schema{
	"plan":            store.Text,
	"onboardingStage": store.Text,
	"points":          store.Number,
	"onboardedAt":     store.DateTime,
}

// onboarding builds the flow. Sign-ups enter it by a "signedUp" event.
func onboarding() *flow.Flow {
	morning := func(days int) *kinds.Pause {
		return &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: days, Unit: segment.Days}, At: kinds.At(9, 0), PersonTimeZone: true}
	}
	f := flow.New("onboarding", "Onboarding").In("Europe/London").
		Var("plan", store.Text, "free").
		Var("welcomePoints", store.Number, 0.0).
		Var("activationScore", store.Number, 0.0).
		Add("tag-signup", &kinds.AddTag{Tag: "new-signup"}, flow.Next{"next": "remember-plan"}).
		Add("remember-plan", &kinds.UpdateVariable{Set: []*kinds.Assignment{
			{Variable: "plan", Formula: `entry.properties.plan ?? "free"`},
			{Variable: "welcomePoints", Formula: `(entry.properties.plan ?? "free") == "pro" ? 500 : 100`},
		}}, flow.Next{"next": "welcome-profile"}).
		Add("welcome-profile", &kinds.UpdateProfile{Set: []*kinds.Assignment{
			{Attribute: "plan", Value: "{{plan}}"},
			{Attribute: "onboardingStage", Value: "welcome"},
			{Attribute: "points", Formula: "welcomePoints"},
		}}, flow.Next{"next": "next-morning"}).
		Add("next-morning", morning(1), flow.Next{"next": "day-one"}).
		Add("day-one", &kinds.UpdateProfile{Set: []*kinds.Assignment{
			{Attribute: "onboardingStage", Value: "day-1"},
		}}, flow.Next{"next": "untag-signup"}).
		Add("untag-signup", &kinds.RemoveTag{Tag: "new-signup"}, flow.Next{"next": "tag-onboarding"}).
		Add("tag-onboarding", &kinds.AddTag{Tag: "onboarding-{{plan}}"}, flow.Next{"next": "a-week-later"}).
		Add("a-week-later", morning(7), flow.Next{"next": "score"}).
		Add("score", &kinds.UpdateVariable{Set: []*kinds.Assignment{
			{Variable: "activationScore", Formula: `person.points / 100 + (plan == "pro" ? 10 : 0)`},
		}}, flow.Next{"next": "week-one"}).
		Add("week-one", &kinds.UpdateProfile{Set: []*kinds.Assignment{
			{Attribute: "onboardingStage", Value: "week-1"},
			{Attribute: "points", Formula: "person.points + activationScore * 10"},
		}}, flow.Next{"next": "monday"}).
		Add("monday", &kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday", At: kinds.At(10, 0), PersonTimeZone: true}, flow.Next{"next": "graduate"}).
		Add("graduate", &kinds.UpdateProfile{Set: []*kinds.Assignment{
			{Attribute: "onboardingStage", Value: "onboarded"},
			{Attribute: "onboardedAt", Formula: "now"},
		}}, flow.Next{"next": "untag-onboarding"}).
		Add("untag-onboarding", &kinds.RemoveTag{Tag: "onboarding-{{plan}}"}, flow.Next{"next": "tag-onboarded"}).
		Add("tag-onboarded", &kinds.AddTag{Tag: "onboarded"}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{Reason: "onboarding complete"}, nil)
	f.Trigger = &flow.Trigger{Category: store.External, Name: "signedUp"}
	return f
}

// signup is one person signing up at a local time in their time zone.
type signup struct {
	id, first, last, zone string
	plan                  string // "" when the sign-up form had none
	at                    [5]int // year, month, day, hour, minute, local
}

var signups = []signup{
	{id: "ana", first: "Ana", last: "Horvat", zone: "Europe/Zagreb", plan: "pro", at: [5]int{2026, 3, 2, 18, 40}},
	// Ben's first morning is the day the US moves its clocks forward.
	{id: "ben", first: "Ben", last: "Carter", zone: "America/New_York", plan: "starter", at: [5]int{2026, 3, 6, 23, 15}},
	// Chen signs up late in the month: at the end she is still onboarding.
	{id: "chen", first: "Chen", last: "Wei", zone: "Asia/Tokyo", at: [5]int{2026, 3, 26, 7, 5}},
}

var (
	start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	end   = start.AddDate(0, 0, 30)
)

func run(w io.Writer) error {
	ctx := context.Background()
	clk := clock.NewFake(start)
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Schema: schema})
	if err != nil {
		return err
	}
	if _, err := eng.Publish(ctx, onboarding()); err != nil {
		return err
	}
	if err := eng.Activate(ctx, "onboarding"); err != nil {
		return err
	}

	fired := 0
	for _, s := range signups {
		loc, err := time.LoadLocation(s.zone)
		if err != nil {
			return err
		}
		at := time.Date(s.at[0], time.Month(s.at[1]), s.at[2], s.at[3], s.at[4], 0, 0, loc)
		n, err := flowtest.AdvanceTo(ctx, eng, clk, at)
		if err != nil {
			return err
		}
		fired += n
		who := store.PersonRef{ExternalID: s.id}
		// The host's sign-up form creates the profile, then reports the
		// sign-up; the event enters the person into the flow.
		_, err = eng.UpdatePerson(ctx, who, func(p *store.Person) error {
			p.FirstName, p.LastName, p.TimeZone = s.first, s.last, s.zone
			p.Emails = []string{s.id + "@example.com"}
			return nil
		})
		if err != nil {
			return err
		}
		props := map[string]any{}
		if s.plan != "" {
			props["plan"] = s.plan
		}
		err = eng.Deliver(ctx, &store.Event{ID: "signup-" + s.id, Person: who, Category: store.External, Name: "signedUp", Properties: props})
		if err != nil {
			return err
		}
	}
	n, err := flowtest.AdvanceTo(ctx, eng, clk, end)
	if err != nil {
		return err
	}
	fired += n

	fmt.Fprintf(w, "Onboarding, %s to %s: %d timers fired\n", start.Format("2 Jan"), end.Format("2 Jan 2006"), fired)
	parts, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "onboarding"})
	if err != nil {
		return err
	}
	for _, s := range signups {
		p, err := eng.Person(ctx, store.PersonRef{ExternalID: s.id})
		if err != nil {
			return err
		}
		i := slices.IndexFunc(parts, func(x *store.Participant) bool { return x.PersonID == p.ID })
		if i < 0 {
			return fmt.Errorf("%s never entered the flow", s.id)
		}
		printTimeline(w, p, parts[i])
	}
	return nil
}

// printTimeline writes one participant's journal in the person's time
// zone, then where the person stands.
func printTimeline(w io.Writer, p *store.Person, part *store.Participant) {
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	fmt.Fprintf(w, "\n%s %s (%s)\n", p.FirstName, p.LastName, p.TimeZone)
	for _, s := range part.Journal {
		branch := "waits"
		switch {
		case s.Branch != "":
			branch = "-> " + s.Branch
		case s.Seq == part.Seq && part.Status.Done():
			branch = "leaves"
		}
		fmt.Fprintf(w, "  %s  %-16s %-7s  %s\n", s.At.In(loc).Format("Mon 02 Jan 15:04 MST"), s.Element, branch, s.Reason)
	}
	now := string(part.Status)
	if part.Wait != nil {
		now += fmt.Sprintf(" at %s until %s", part.Element, part.Wait.Until.In(loc).Format("Mon 02 Jan 15:04 MST"))
	}
	stage, _ := p.Get("onboardingStage")
	points, _ := p.Get("points")
	fmt.Fprintf(w, "  now: %s; stage %v, %s points, tags [%s]\n", now, stage, element.FormatValue(points), strings.Join(p.Tags, " "))
}
