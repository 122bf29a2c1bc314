// Referral runs a refer-a-friend program: a customer writes to the shop
// with a friend's email address, the shop asks the friend whether they
// want to hear from it, and only a friend who replies YES gets the offer.
//
// Two flows work together. "refer-a-friend" enters whoever sends an
// inbound message (a MessageReceived event) holding an "@"; a formula
// picks the address out of the text and Add to Flow enters that friend
// into "referred-friend", which declares the Existing Flow entry point.
// The friend is another person: found when the shop knows them, in any
// spelling of the address, and created when it does not. The friend's
// flow sends one question first and waits three days for a YES.
//
// It runs on the memory store with a fake clock, so four days take
// milliseconds, and prints a timeline: the messages people sent the shop,
// what each flow did and why, and the emails the shop sent. Ana refers
// Bob, whom the shop does not know; Bob asks who is writing, then says
// yes and gets the offer. Ben refers Cid, a customer known as
// cid@example.com, writing "Cid@Example.com"; Cid never answers and hears
// nothing more. Dan's message has an "@" but no address in it.
//
//	go run ./examples/referral
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
	"unicode"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// referFlow enters the sender of an inbound message that holds an "@",
// reads the first word of the message that looks like an email address
// into friendEmail, and adds that friend to the friend's flow. Add to
// Flow takes "failed" when the message held no address (an empty
// contact) or the friend cannot enter (already in the friend's flow).
const referFlow = `{
  "id": "refer-a-friend", "name": "Refer a friend", "timezone": "Europe/Zagreb",
  "entries": [{"type": "event", "event": {"category": "external", "name": "MessageReceived",
               "where": [{"property": "text", "op": "contains", "value": "@"}]}}],
  "reentry": true,
  "variables": {"friendEmail": {"type": "text"}},
  "elements": [
    {"id": "find-address", "type": "updateVariable",
     "set": [{"variable": "friendEmail",
              "formula": "trim(first(filter(split(entry.properties.text, ' '), # matches '^[^@]+@[^@]+[.][A-Za-z]{2,}')) ?? '', '.,;:!?()<>')"}],
     "next": {"next": "add-friend"}},
    {"id": "add-friend", "type": "addToFlow", "flow": "referred-friend",
     "participant": {"email": "{{friendEmail}}"},
     "variables": {"referrer": "{{person.firstName}}"},
     "next": {"next": "thank", "failed": "no-address"}},
    {"id": "thank", "type": "sendMessage", "channel": "email",
     "subject": "Thanks for the referral, {{person.firstName}}",
     "body": "We asked {{friendEmail}} whether they want to hear from us. If they do, they get 15% off their first order.",
     "next": {"sent": "referred", "blocked": "referred"}},
    {"id": "no-address", "type": "sendMessage", "channel": "email",
     "subject": "We could not find your friend's address",
     "body": "Hi {{person.firstName}}, write us your friend's email address and we will ask them whether they want to hear from us.",
     "next": {"sent": "not-referred", "blocked": "not-referred"}},
    {"id": "referred", "type": "exit", "reason": "friend added"},
    {"id": "not-referred", "type": "exit", "reason": "no friend to add"}
  ]
}`

// friendFlow asks the friend first and sends the offer only after a YES.
// The shop's inbox gives each inbound message a keyword (its first word,
// in capitals), as SMS and email gateways do.
const friendFlow = `{
  "id": "referred-friend", "name": "Referred friend", "timezone": "Europe/Zagreb",
  "entries": [{"type": "existingFlow"}],
  "variables": {"referrer": {"type": "text"}},
  "elements": [
    {"id": "ask", "type": "sendMessage", "channel": "email",
     "subject": "{{referrer}} thinks you would like Spokes",
     "body": "{{referrer}} gave us your address. Did you want to hear from us? Reply YES and we will send you 15% off your first order; otherwise we will not write again.",
     "next": {"sent": "wait-yes", "blocked": "not-asked"}},
    {"id": "wait-yes", "type": "waitForEvent",
     "event": {"category": "external", "name": "MessageReceived",
               "where": [{"property": "keyword", "op": "is", "value": "YES"}]},
     "waitFor": {"amount": 3, "unit": "days"},
     "next": {"occurred": "offer", "timeout": "no-answer"}},
    {"id": "offer", "type": "sendMessage", "channel": "email",
     "subject": "Your 15% off at Spokes",
     "body": "Welcome! Use code FRIEND15 for 15% off your first order. {{referrer}} gets a thank-you too.",
     "next": {"sent": "confirmed", "blocked": "confirmed"}},
    {"id": "confirmed", "type": "exit", "reason": "confirmed and got the offer"},
    {"id": "no-answer", "type": "exit", "reason": "never confirmed: nothing more sent"},
    {"id": "not-asked", "type": "exit", "reason": "on the do-not-contact list"}
  ]
}`

// entry is one line of the timeline.
type entry struct {
	at   time.Time
	rank int // at the same time: a person's message first, then the flows
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

// keyword is what the shop's inbox reads as a message's keyword: its
// first word, without punctuation, in capitals.
func keyword(text string) string {
	word, _, _ := strings.Cut(strings.TrimSpace(text), " ")
	return strings.ToUpper(strings.TrimFunc(word, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }))
}

// customer is a person the shop knows before the example starts.
type customer struct {
	name, email string
}

func main() {
	if err := run(context.Background(), os.Stdout, memory.New()); err != nil {
		fmt.Fprintln(os.Stderr, "referral:", err)
		os.Exit(1)
	}
}

// run plays the example on st and writes its timeline to w.
func run(ctx context.Context, w io.Writer, st store.Store) error {
	zagreb, err := time.LoadLocation("Europe/Zagreb")
	if err != nil {
		return err
	}
	day := func(d, hour, minute int) time.Time { return time.Date(2026, 4, 6+d, hour, minute, 0, 0, zagreb) }
	clk := clock.NewFake(day(0, 9, 0))
	out := &outbox{sent: map[string]*element.Message{}}
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clk, Ports: flow.Ports{Sender: out}})
	if err != nil {
		return err
	}
	// The friend's flow first: Publish checks that Add to Flow's target
	// declares the Existing Flow entry point.
	for _, doc := range []string{friendFlow, referFlow} {
		f, err := flow.Parse([]byte(doc))
		if err != nil {
			return err
		}
		if _, err := eng.Publish(ctx, f); err != nil {
			return err
		}
		if err := eng.Activate(ctx, f.ID); err != nil {
			return err
		}
	}

	customers := []customer{{"Ana", "ana@example.com"}, {"Ben", "ben@example.com"}, {"Cid", "cid@example.com"}, {"Dan", "dan@example.com"}}
	names := map[string]string{} // person id -> name, for the timeline
	for _, c := range customers {
		p, err := eng.UpdatePerson(ctx, store.PersonRef{Email: c.email}, func(p *store.Person) error {
			p.FirstName = c.name
			return nil
		})
		if err != nil {
			return err
		}
		names[p.ID.String()] = c.name
	}
	// The messages people write to the shop, in time order. Bob is not a
	// customer: his messages come from his address.
	messages := []struct {
		at   time.Time
		from string
		text string
	}{
		{day(0, 10, 0), "ana@example.com", "Hi! My friend bob.novak@example.net is looking for a new bike, tell him about you."},
		{day(0, 11, 30), "ben@example.com", "Cid@Example.com would love your spring sale."},
		{day(0, 12, 0), "dan@example.com", "Tell my brother, he is @dan_jr everywhere."},
		{day(0, 16, 45), "bob.novak@example.net", "Who is this?"},
		{day(1, 8, 20), "bob.novak@example.net", "Yes, please!"},
	}
	for i, m := range messages {
		if _, err := flowtest.AdvanceTo(ctx, eng, clk, m.at); err != nil {
			return err
		}
		err := eng.Deliver(ctx, &store.Event{
			ID: fmt.Sprintf("inbox-%d", i), Person: store.PersonRef{Email: m.from},
			Category: store.External, Name: "MessageReceived",
			Properties: map[string]any{"channel": "email", "text": m.text, "keyword": keyword(m.text)},
		})
		if err != nil {
			return err
		}
	}
	if _, err := flowtest.AdvanceTo(ctx, eng, clk, day(4, 0, 0)); err != nil {
		return err
	}

	// Everyone the shop knows by the end: the customers, and the friends
	// the referrals created.
	bob, err := eng.Person(ctx, store.PersonRef{Email: "bob.novak@example.net"})
	if err != nil {
		return fmt.Errorf("bob was not created: %w", err)
	}
	if _, known := names[bob.ID.String()]; !known {
		names[bob.ID.String()] = "Bob"
	}
	nameOf := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return "?" + id
	}

	tl := &timeline{}
	for _, m := range messages {
		p, err := eng.Person(ctx, store.PersonRef{Email: m.from})
		if err != nil {
			return err
		}
		tl.add(m.at, 0, nameOf(p.ID.String()), fmt.Sprintf("writes: %q", m.text))
	}
	outcome := map[string][]string{}
	for _, flowID := range []string{"refer-a-friend", "referred-friend"} {
		parts, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: flowID})
		if err != nil {
			return err
		}
		for _, p := range parts {
			who := nameOf(p.PersonID.String())
			outcome[who] = append(outcome[who], fmt.Sprintf("%s: %s: %s", flowID, p.Status, p.Reason))
			for _, s := range p.Journal {
				text := flowID + ": " + s.Element
				if s.Branch != "" {
					text += " -> " + s.Branch
				}
				tl.add(s.At, 1, who, text+": "+s.Reason)
				if m := out.sent[fmt.Sprintf("%s:%d", p.ID, s.Seq)]; m != nil {
					tl.add(s.At, 1, who, fmt.Sprintf("  email to %s: %q", m.To, m.Subject))
					tl.add(s.At, 1, who, fmt.Sprintf("  %q", m.Body))
				}
			}
		}
	}

	slices.SortStableFunc(tl.entries, func(a, b entry) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.rank, b.rank), cmp.Compare(a.seq, b.seq))
	})
	fmt.Fprintln(w, "Refer a friend, times in Europe/Zagreb")
	for _, e := range tl.entries {
		fmt.Fprintf(w, "%s  %-3s  %s\n", e.at.In(zagreb).Format("Mon 15:04"), e.who, e.text)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Outcome")
	for _, who := range []string{"Ana", "Ben", "Cid", "Dan", "Bob"} {
		for _, line := range outcome[who] {
			fmt.Fprintf(w, "%-3s  %s\n", who, line)
		}
	}
	return nil
}
