package kinds

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
)

// CounterNotified is the per-element counter Notify adds one to for each
// internal recipient messaged: the element's engagements, in
// flow.ElementStats.Other.
const CounterNotified = "notified"

// Notify (Notify Internal Recipients) sends an SMS or an email to people
// inside the business, such as a store manager, then goes on by "next".
// It is not about the person in the flow: their Do Not Contact list,
// frequency cap and quiet hours do not apply, and no MessageSent event is
// recorded for them.
//
// Each of Recipients is a phone number (digits, optionally after a "+",
// 6 to 15 of them) for SMS or an email address for email, typed in and
// checked at Publish, or a single placeholder such as "{{storeManager}}"
// whose value must be exactly one such address: a variable of another type
// than text is refused at Publish, and a value that is not one address
// fails the step at run time (before anything is sent). Subject (email)
// and Body hold placeholders.
//
// A recipient placeholder whose value is empty (the variable was never
// set, or set to "") has no address: that recipient is left out and the
// journal says so; when no recipient has an address the step goes on by
// "blocked" instead of failing the participant. The person's Do Not
// Contact list does not apply: the recipients are the business's own
// people, named by the flow, not the person's contact information.
//
// Every recipient gets its own message, with the step's idempotency key
// and its index ("<key>:0", "<key>:1", ...). A Sender error fails the step;
// recipients messaged before it count, and a retried step messages them
// again under the same keys. With Speed, the element's steps across all
// its participants are spaced out as Send Message's are, one step (all its
// recipients) to a slot.
type Notify struct {
	Channel    string   `json:"channel"`
	Recipients []string `json:"recipients"`
	From       string   `json:"from,omitempty"`
	Subject    string   `json:"subject,omitempty"`
	Body       string   `json:"body"`
	Speed      *Speed   `json:"speed,omitempty"`

	to                  []*element.Template
	from, subject, body *element.Template
	pacer               Pacer // the engine's, see Options.Bind
}

// bind implements binder.
func (n *Notify) bind(o *Options) { n.pacer = o.Pacer }

// Kind implements element.Element.
func (*Notify) Kind() string { return "notify" }

// External implements element.External: it sends through the Sender.
func (*Notify) External() bool { return true }

// Sends implements element.Sends.
func (*Notify) Sends() bool { return true }

// Branches implements element.Element.
func (*Notify) Branches() []string { return []string{element.BranchNext, BranchBlocked} }

// Validate implements element.Element.
func (n *Notify) Validate(c *element.Compiler) error {
	if n.Channel != ChannelSMS && n.Channel != ChannelEmail {
		return element.Errorf("channel", "channel %q is not sms or email", n.Channel)
	}
	if len(n.Recipients) == 0 {
		return element.Errorf("recipients", "no recipients")
	}
	if strings.TrimSpace(n.Body) == "" {
		return element.Errorf("body", "message body is empty")
	}
	if n.Subject != "" && n.Channel != ChannelEmail {
		return element.Errorf("subject", "only email has a subject")
	}
	n.to = make([]*element.Template, len(n.Recipients))
	for i, rcpt := range n.Recipients {
		field := fmt.Sprintf("recipients[%d]", i)
		rcpt = strings.TrimSpace(rcpt)
		if !strings.Contains(rcpt, "{{") {
			if err := checkAddress(n.Channel, rcpt); err != nil {
				return element.Errorf(field, "%v", err)
			}
		}
		t, err := c.Template(field, rcpt)
		if err != nil {
			return err
		}
		if t.Constant() {
			n.to[i] = t
			continue
		}
		p := t.Single()
		if p == nil {
			return element.Errorf(field, "a recipient is an address or one placeholder holding one, not %q", rcpt)
		}
		if p.Type != "" && p.Type != store.Text {
			return element.Errorf(field, "%s gives %s; a recipient variable holds exactly one %s as text", rcpt, p.Type, addressKind(n.Channel))
		}
		n.to[i] = t
	}
	var err error
	for _, f := range []struct {
		name string
		text string
		dst  **element.Template
	}{{"from", n.From, &n.from}, {"subject", n.Subject, &n.subject}, {"body", n.Body, &n.body}} {
		*f.dst = nil
		if f.text == "" {
			continue
		}
		if *f.dst, err = c.Template(f.name, f.text); err != nil {
			return err
		}
	}
	if n.Speed != nil {
		if err := n.Speed.validate("speed"); err != nil {
			return err
		}
	}
	return nil
}

func addressKind(channel string) string {
	if channel == ChannelSMS {
		return "phone number"
	}
	return "email address"
}

// checkAddress checks that s is one phone number (SMS) or one email
// address (email). Errors do not quote s, which may be personal data.
func checkAddress(channel, s string) error {
	if channel == ChannelSMS {
		digits := strings.TrimPrefix(s, "+")
		if len(digits) < 6 || len(digits) > 15 {
			return errors.New("not one phone number: a phone number has 6 to 15 digits")
		}
		for _, ch := range digits {
			if ch < '0' || ch > '9' {
				return errors.New("not one phone number: a phone number holds only digits after an optional \"+\"")
			}
		}
		return nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return errors.New("not one email address")
	}
	return nil
}

// Run implements element.Element.
func (n *Notify) Run(ctx context.Context, r *element.Run) (element.Outcome, error) {
	return n.attempt(ctx, r)
}

// Resume implements element.Resumer: the participant's sending slot came.
func (n *Notify) Resume(ctx context.Context, r *element.Run, w element.Wake) (element.Outcome, error) {
	if !w.Timer {
		return element.Hold(*r.Wait, ""), nil
	}
	return n.attempt(ctx, r)
}

func (n *Notify) attempt(ctx context.Context, r *element.Run) (element.Outcome, error) {
	// Resolve every recipient first: a bad one must fail the step before
	// anyone is messaged.
	to := make([]string, 0, len(n.to))
	var skipped []string
	for i, t := range n.to {
		v, err := t.Value(r)
		if err != nil {
			return element.Outcome{}, fmt.Errorf("recipients[%d]: %w", i, err)
		}
		if s, ok := v.(string); v == nil || ok && strings.TrimSpace(s) == "" {
			skipped = append(skipped, fmt.Sprintf("recipients[%d] (%s) has no %s", i, t.Source, addressKind(n.Channel)))
			continue
		}
		s, ok := v.(string)
		if !ok {
			if f, isNum := v.(float64); isNum && n.Channel == ChannelSMS {
				s, ok = strconv.FormatFloat(f, 'f', -1, 64), true
			}
		}
		if !ok {
			return element.Outcome{}, fmt.Errorf("recipients[%d]: %s gives %s, not exactly one %s", i, t.Source, kindOf(v), addressKind(n.Channel))
		}
		s = strings.TrimSpace(s)
		if err := checkAddress(n.Channel, s); err != nil {
			return element.Outcome{}, fmt.Errorf("recipients[%d]: %s: %w", i, t.Source, err)
		}
		to = append(to, s)
	}
	note := ""
	if len(skipped) > 0 {
		note = "; left out: " + strings.Join(skipped, ", ")
	}
	if len(to) == 0 {
		return element.Next(BranchBlocked, "notified nobody: no recipient has an address"+note), nil
	}
	hold, err := paceStep(ctx, r, n.pacer, n.Speed, nil, time.Time{}, slotOf(r.Wait), "notification")
	if err != nil || hold != nil {
		return deref(hold), err
	}
	if r.Ports.Sender == nil {
		return element.Outcome{}, errors.New("the engine has no Sender")
	}
	m := element.Message{Channel: n.Channel, FlowID: r.FlowID, ElementID: r.ElementID}
	for _, f := range []struct {
		name string
		t    *element.Template
		dst  *string
	}{{"from", n.from, &m.From}, {"subject", n.subject, &m.Subject}, {"body", n.body, &m.Body}} {
		if f.t == nil {
			continue
		}
		if *f.dst, err = f.t.Render(r, element.Plain); err != nil {
			return element.Outcome{}, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	key := r.IdempotencyKey()
	for i, addr := range to {
		msg := m
		msg.To = addr
		msg.IdempotencyKey = key + ":" + strconv.Itoa(i)
		r.Calling()
		if _, err := r.Ports.Sender.Send(ctx, &msg); err != nil {
			return element.Outcome{}, fmt.Errorf("notify recipients[%d] by %s: %w", i, n.Channel, err)
		}
		r.Count(CounterNotified, 1)
	}
	return element.Next(element.BranchNext, fmt.Sprintf("notified %d internal recipient(s) by %s%s", len(to), n.Channel, note)), nil
}

func kindOf(v any) string {
	if v == nil {
		return "nothing"
	}
	if t, ok := values.TypeOf(v); ok {
		return "a " + string(t) + " value"
	}
	return fmt.Sprintf("a %T", v)
}
