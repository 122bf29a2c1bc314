// Command custom-kind runs a flow built around a custom element kind, a
// Birthday Greeting (greeting.go), registered beside the built-in kinds.
// Three people enter on 17 May; the greeting texts those whose birthday
// it is in their own time zone, through a Sender that prints the
// messages. main_test.go tests the kind alone with element/elementtest,
// as the built-in kinds are tested, and runs the program.
//
//	go run ./examples/custom-kind
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "custom-kind:", err)
		os.Exit(1)
	}
}

// flowJSON uses the custom kind by its name, as the built-in ones are.
const flowJSON = `{
  "id": "birthdays",
  "name": "Birthday greetings",
  "timezone": "UTC",
  "entries": [{"type": "api"}],
  "elements": [
    {"id": "greet", "type": "birthdayGreeting", "body": "Happy birthday, {{person.firstName}}!",
     "next": {"sent": "done", "notToday": "done"}},
    {"id": "done", "type": "exit"}
  ]
}`

// people enter the flow at 20:00 UTC on 17 May: 22:00 in Zagreb, and
// already the 18th in Tokyo.
var people = []struct {
	name, phone, zone string
	born              time.Time
}{
	{"Ana", "385911111111", "Europe/Zagreb", time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)},
	{"Bo", "385922222222", "Europe/Zagreb", time.Date(1985, 11, 2, 0, 0, 0, 0, time.UTC)},
	{"Kenji", "81903333333", "Asia/Tokyo", time.Date(1979, 5, 18, 0, 0, 0, 0, time.UTC)},
}

func run(ctx context.Context, out io.Writer) error {
	reg := kinds.Registry()
	if err := reg.Register("birthdayGreeting", func() element.Element { return &Greeting{} }); err != nil {
		return err
	}
	eng, err := flow.NewEngine(flow.Config{
		Store:    memory.New(),
		Clock:    clock.NewFake(time.Date(2026, 5, 17, 20, 0, 0, 0, time.UTC)),
		Elements: reg,
		Schema:   store.Schema{"greetedIn": store.Number},
		Ports:    flow.Ports{Sender: printSender{out}},
	})
	if err != nil {
		return err
	}
	f, err := flow.ParseWith([]byte(flowJSON), reg)
	if err != nil {
		return err
	}
	if _, err := eng.Publish(ctx, f); err != nil {
		return err
	}
	if err := eng.Activate(ctx, f.ID); err != nil {
		return err
	}
	for _, p := range people {
		who := store.PersonRef{Phone: p.phone}
		if _, err := eng.UpdatePerson(ctx, who, func(q *store.Person) error {
			q.FirstName, q.TimeZone, q.BirthDate = p.name, p.zone, p.born
			return nil
		}); err != nil {
			return err
		}
		id, err := eng.Enter(ctx, f.ID, who, nil)
		if err != nil {
			return err
		}
		part, err := eng.Participant(ctx, id)
		if err != nil {
			return err
		}
		person, err := eng.Person(ctx, who)
		if err != nil {
			return err
		}
		var steps []string
		for _, s := range part.Journal {
			if s.Branch != "" {
				steps = append(steps, s.Element+" -> "+s.Branch+" ("+s.Reason+")")
			}
		}
		fmt.Fprintf(out, "%s: %s; %s; greetedIn = %v\n", p.name, strings.Join(steps, ", "), part.Status, person.Attributes["greetedIn"])
	}
	return nil
}

// printSender is the host's Sender: it prints each message.
type printSender struct{ out io.Writer }

func (s printSender) Send(_ context.Context, m *element.Message) (string, error) {
	fmt.Fprintf(s.out, "  sms to %s: %s\n", m.To, m.Body)
	return "sms-" + m.To, nil
}
