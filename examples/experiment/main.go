// Experiment runs an A/B/control test of two welcome emails to a winner
// on flowkit's memory store: new sign-ups are split among a control
// group that gets no email (held out, its conversions still counted),
// email A and email B; a purchase within seven days of sign-up is the
// goal, counted whether or not the person is still in the flow. Once
// every variant has had 600 participants the experiment ends: flowkit
// compares each email with the control (a two-proportion z test at 95%)
// and sends every later sign-up down the winner.
//
// It runs with a fake clock, so a week of sign-ups takes a second or
// two, and prints the figures before and after the decision, the
// decision itself, and what later sign-ups got.
//
//	go run ./examples/experiment
package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// welcomeFlow is the flow: the split holds the experiment, each email is
// a Send Message, and the control's branch goes to the same wait as the
// others so that everyone is followed alike.
const welcomeFlow = `{
  "id": "welcome", "name": "Welcome test",
  "trigger": {"category": "external", "name": "SignedUp"},
  "elements": [
    {"id": "split", "type": "splitAudience",
     "variants": [
       {"name": "control", "percent": 34, "control": true},
       {"name": "short", "percent": 33},
       {"name": "story", "percent": 33}],
     "experiment": {"goal": "purchase", "samplePerVariant": 600},
     "next": {"control": "email-short", "short": "email-short", "story": "email-story"}},
    {"id": "email-short", "type": "sendMessage", "channel": "email", "subject": "Welcome", "body": "10% off your first order", "next": {"sent": "done"}},
    {"id": "email-story", "type": "sendMessage", "channel": "email", "subject": "Our story", "body": "How we started, and 10% off", "next": {"sent": "done"}},
    {"id": "done", "type": "exit"}
  ],
  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}}]
}`

// buyRate is how often each variant's people buy in this simulation:
// the story email works best.
var buyRate = map[string]float64{"control": 0.04, "short": 0.06, "story": 0.12}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	sender := flowtest.NewSender(clk)
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Ports: flow.Ports{Sender: sender}})
	if err != nil {
		return err
	}
	f, err := flow.Parse([]byte(welcomeFlow))
	if err != nil {
		return err
	}
	if _, err := eng.Publish(ctx, f); err != nil {
		return err
	}
	if err := eng.Activate(ctx, "welcome"); err != nil {
		return err
	}
	seen := map[string]int{}
	signUp := func(i int) (string, error) {
		who := fmt.Sprintf("user-%d", i)
		ref := store.PersonRef{ExternalID: who}
		if _, err := eng.UpdatePerson(ctx, ref, func(p *store.Person) error {
			p.Emails = []string{who + "@example.com"}
			return nil
		}); err != nil {
			return "", err
		}
		if err := eng.Deliver(ctx, &store.Event{ID: "signup-" + who, Person: ref, Category: store.External, Name: "SignedUp"}); err != nil {
			return "", err
		}
		parts, err := eng.Participations(ctx, ref)
		if err != nil || len(parts) == 0 {
			return "", fmt.Errorf("%s did not enter: %v", who, err)
		}
		v := parts[0].Journal[0].Branch
		// The k-th participant of a variant buys when its rate times k+1
		// reaches a whole number: each variant buys at exactly its rate.
		k := seen[v]
		seen[v]++
		if math.Floor(float64(k+1)*buyRate[v]) > math.Floor(float64(k)*buyRate[v]) {
			if err := eng.Deliver(ctx, &store.Event{ID: "buy-" + who, Person: ref, Category: store.External, Name: "Purchased"}); err != nil {
				return "", err
			}
		}
		return v, nil
	}

	// A week of sign-ups, a minute apart, until the experiment ends.
	i := 0
	for ; ; i++ {
		if _, err := signUp(i); err != nil {
			return err
		}
		clk.Advance(time.Minute)
		if i%50 == 0 {
			if _, err := flowtest.Advance(ctx, eng, clk, 0); err != nil {
				return err
			}
			ex, err := eng.Experiments(ctx, "welcome")
			if err != nil {
				return err
			}
			if ex[0].Winner != "" {
				break
			}
		}
	}
	ex, err := eng.Experiments(ctx, "welcome")
	if err != nil {
		return err
	}
	x := ex[0]
	fmt.Fprintf(w, "%d sign-ups, %d emails sent\n\n", i+1, len(sender.Sent()))
	fmt.Fprintf(w, "Decision at %s: %s wins\n%s\n\n", x.DecidedAt.Format(time.RFC3339), x.Winner, x.Reason)
	fmt.Fprintln(w, "Figures at the decision")
	printFigures(w, x.Decided)

	// Twenty more sign-ups: every one takes the winner.
	later := map[string]int{}
	for j := range 20 {
		v, err := signUp(i + 1 + j)
		if err != nil {
			return err
		}
		later[v]++
	}
	fmt.Fprintf(w, "\nLater sign-ups: %d of 20 took %s\n", later[x.Winner], x.Winner)
	// The control group got nothing, though it went the same way.
	parts, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "welcome"})
	if err != nil {
		return err
	}
	held, toHeld := 0, 0
	for _, p := range parts {
		if p.Holdout == "" {
			continue
		}
		held++
		person, err := eng.Person(ctx, store.PersonRef{ID: p.PersonID})
		if err != nil {
			return err
		}
		toHeld += len(sender.To(person.Emails[0]))
	}
	fmt.Fprintf(w, "Control group: %d people, %d emails\n", held, toHeld)
	return nil
}

func printFigures(w io.Writer, vs []flow.VariantResult) {
	for _, v := range vs {
		name := v.Name
		if v.Control {
			name += " (control)"
		}
		line := fmt.Sprintf("  %-17s %4d people, %3d bought: %5.2f%% [%5.2f%%, %5.2f%%]", name, v.Participants, v.Conversions, v.Rate*100, v.Low*100, v.High*100)
		if !v.Control {
			sig := "not significant"
			if v.Significant {
				sig = "significant"
			}
			line += fmt.Sprintf(", lift %+.0f%%, p = %.4f, %s", v.Lift*100, v.PValue, sig)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}
