// Abandoned-cart runs flowkit's main example: shoppers who leave a cart
// get a reminder unless they order that cart within 4 hours, and the flow
// follows them for a day after the reminder.
//
// It runs on the memory store with a fake clock, so a day and a half of
// shopping takes milliseconds, and prints a timeline: what the shop (the
// host) told the engine, what the flow did and why, and the emails it sent.
// Three shoppers: Ana buys her cart within the hour; Ben orders a different
// cart first (which does not count), gets the reminder and comes back the
// next morning; Cid never does.
//
//	go run ./examples/abandoned-cart
package main

import (
	"cmp"
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
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// cartFlow is the flow, in its JSON form. A CartAbandoned event enters the
// shopper; the waits look for the OrderCompleted of that same cart,
// compared with the entry event's cartId, and save the order's total.
const cartFlow = `{
  "id": "abandoned-cart", "name": "Abandoned cart", "timezone": "Europe/Zagreb",
  "variables": {"total": {"type": "number"}},
  "trigger": {"category": "external", "name": "CartAbandoned"},
  "reentry": true,
  "elements": [
    {"id": "wait-order", "type": "waitForEvent",
     "event": {"category": "external", "name": "OrderCompleted",
               "where": [{"property": "cartId", "op": "is", "value": "{{entry.properties.cartId}}"}]},
     "set": [{"variable": "total", "property": "total"}],
     "waitFor": {"amount": 4, "unit": "hours"},
     "next": {"occurred": "bought", "timeout": "remind"}},
    {"id": "remind", "type": "sendMessage", "channel": "email",
     "subject": "{{person.firstName}}, your cart is waiting",
     "body": "You left {{entry.properties.items}} item(s) worth {{entry.properties.total}} EUR in cart {{entry.properties.cartId}}.",
     "next": {"sent": "wait-again", "blocked": "lost"}},
    {"id": "wait-again", "type": "waitForEvent",
     "event": {"category": "external", "name": "OrderCompleted",
               "where": [{"property": "cartId", "op": "is", "value": "{{entry.properties.cartId}}"}]},
     "set": [{"variable": "total", "property": "total"}],
     "waitFor": {"amount": 1, "unit": "days"},
     "next": {"occurred": "won-back", "timeout": "lost"}},
    {"id": "bought", "type": "exit", "reason": "bought without a reminder"},
    {"id": "won-back", "type": "exit", "reason": "came back after the reminder"},
    {"id": "lost", "type": "exit", "reason": "never came back"}
  ]
}`

// entry is one line of the timeline.
type entry struct {
	at   time.Time
	rank int // at the same time: the shop's action first, then the flow
	seq  int
	who  string
	text string
}

type timeline struct{ entries []entry }

func (t *timeline) add(at time.Time, rank int, who, text string) {
	t.entries = append(t.entries, entry{at: at, rank: rank, seq: len(t.entries), who: who, text: text})
}

// outbox is the host's Sender. It "sends" an email by keeping it under the
// step's idempotency key (participant id and step number), which the
// timeline uses to show it after the step that sent it.
type outbox struct {
	sent map[string]*element.Message
}

func (o *outbox) Send(_ context.Context, m *element.Message) (string, error) {
	o.sent[m.IdempotencyKey] = m
	return fmt.Sprintf("email-%d", len(o.sent)), nil
}

// shopper is one person of the example.
type shopper struct {
	name, email string
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "abandoned-cart:", err)
		os.Exit(1)
	}
}

// run plays the example and writes its timeline to w.
func run(ctx context.Context, w io.Writer) error {
	zagreb, err := time.LoadLocation("Europe/Zagreb")
	if err != nil {
		return err
	}
	monday := func(day, hour, minute int) time.Time { return time.Date(2026, 3, 2+day, hour, minute, 0, 0, zagreb) }
	clk := clock.NewFake(monday(0, 9, 0))
	tl := &timeline{}
	out := &outbox{sent: map[string]*element.Message{}}
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Ports: flow.Ports{Sender: out}})
	if err != nil {
		return err
	}
	f, err := flow.Parse([]byte(cartFlow))
	if err != nil {
		return err
	}
	if _, err := eng.Publish(ctx, f); err != nil {
		return err
	}
	if err := eng.Activate(ctx, f.ID); err != nil {
		return err
	}

	shoppers := []shopper{{"Ana", "ana@example.com"}, {"Ben", "ben@example.com"}, {"Cid", "cid@example.com"}}
	for _, s := range shoppers {
		_, err := eng.UpdatePerson(ctx, store.PersonRef{Email: s.email}, func(p *store.Person) error {
			p.FirstName = s.name
			return nil
		})
		if err != nil {
			return err
		}
	}
	// The shop's actions, in time order.
	actions := []struct {
		at      time.Time
		who     int
		name    string
		props   map[string]any
		message string
	}{
		{monday(0, 10, 0), 0, "CartAbandoned", map[string]any{"cartId": "c-100", "items": 2, "total": 59.9}, "leaves cart c-100"},
		{monday(0, 10, 15), 1, "CartAbandoned", map[string]any{"cartId": "c-200", "items": 1, "total": 120.0}, "leaves cart c-200"},
		{monday(0, 10, 30), 2, "CartAbandoned", map[string]any{"cartId": "c-300", "items": 3, "total": 35.5}, "leaves cart c-300"},
		{monday(0, 11, 30), 0, "OrderCompleted", map[string]any{"cartId": "c-100", "total": 59.9}, "orders cart c-100"},
		{monday(0, 12, 0), 1, "OrderCompleted", map[string]any{"cartId": "c-999", "total": 15.0}, "orders another cart, c-999"},
		{monday(1, 9, 10), 1, "OrderCompleted", map[string]any{"cartId": "c-200", "total": 120.0}, "orders cart c-200"},
	}
	for i, a := range actions {
		if _, err := flowtest.AdvanceTo(ctx, eng, clk, a.at); err != nil {
			return err
		}
		s := shoppers[a.who]
		tl.add(a.at, 0, s.name, "shop: "+a.message)
		err := eng.Deliver(ctx, &store.Event{
			ID: fmt.Sprintf("shop-%d", i), Person: store.PersonRef{Email: s.email},
			Category: store.External, Name: a.name, Properties: a.props,
		})
		if err != nil {
			return err
		}
	}
	if _, err := flowtest.AdvanceTo(ctx, eng, clk, monday(2, 0, 0)); err != nil {
		return err
	}

	// What the flow did for each shopper, from the participants' journals.
	parts, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: f.ID})
	if err != nil {
		return err
	}
	outcome := map[string]*store.Participant{}
	for _, p := range parts {
		person, err := eng.Person(ctx, store.PersonRef{ID: p.PersonID})
		if err != nil {
			return err
		}
		outcome[person.FirstName] = p
		for _, s := range p.Journal {
			text := "flow: " + s.Element
			if s.Branch != "" {
				text += " -> " + s.Branch
			}
			tl.add(s.At, 1, person.FirstName, text+": "+s.Reason)
			if m := out.sent[fmt.Sprintf("%s:%d", p.ID, s.Seq)]; m != nil {
				tl.add(s.At, 1, person.FirstName, fmt.Sprintf("  email to %s: %q", m.To, m.Subject))
				tl.add(s.At, 1, person.FirstName, fmt.Sprintf("  %q", m.Body))
			}
		}
	}

	slices.SortStableFunc(tl.entries, func(a, b entry) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.rank, b.rank), cmp.Compare(a.seq, b.seq))
	})
	fmt.Fprintln(w, "Abandoned cart, times in Europe/Zagreb")
	for _, e := range tl.entries {
		fmt.Fprintf(w, "%s  %-3s  %s\n", e.at.In(zagreb).Format("Mon 15:04"), e.who, e.text)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Outcome")
	for _, s := range shoppers {
		p := outcome[s.name]
		if p == nil {
			return fmt.Errorf("%s never entered the flow", s.name)
		}
		line := fmt.Sprintf("%-3s  %s: %s", s.name, p.Status, p.Reason)
		if total, ok := p.Vars["total"].(float64); ok {
			line += fmt.Sprintf(" (order total %.2f EUR)", total)
		}
		fmt.Fprintln(w, strings.TrimSpace(line))
	}
	return nil
}
