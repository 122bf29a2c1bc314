package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowkit/flowkit/element"
)

// The branches of a Birthday Greeting.
const (
	branchSent     = "sent"
	branchNotToday = "notToday"
)

// Greeting is a custom element kind, "birthdayGreeting": on the person's
// birthday, in their own time zone, it texts them Body through the
// host's Sender and goes on by "sent"; on any other day it goes on by
// "notToday". It counts its greetings ("greeted") and notes the year in
// the person's "greetedIn" attribute.
type Greeting struct {
	// Body is the message, a template such as "Happy birthday,
	// {{person.firstName}}!".
	Body string `json:"body"`

	body *element.Template
}

// Kind implements element.Element.
func (*Greeting) Kind() string { return "birthdayGreeting" }

// Branches implements element.Element.
func (*Greeting) Branches() []string { return []string{branchSent, branchNotToday} }

// External implements element.External: it calls the host's Sender, so
// the engine holds no transaction meanwhile.
func (*Greeting) External() bool { return true }

// Sends implements element.Sends: the engine observes its calls as sends.
func (*Greeting) Sends() bool { return true }

// Validate implements element.Element: it compiles the body once, when
// the flow is published.
func (g *Greeting) Validate(c *element.Compiler) error {
	if g.Body == "" {
		return element.Errorf("body", "body is required")
	}
	var err error
	g.body, err = c.Template("body", g.Body)
	return err
}

// Run implements element.Element.
func (g *Greeting) Run(ctx context.Context, r *element.Run) (element.Outcome, error) {
	now := r.Now.In(r.TimeZone(true))
	born := r.Person.BirthDate
	if born.IsZero() || born.Month() != now.Month() || born.Day() != now.Day() {
		return element.Next(branchNotToday, "not the person's birthday"), nil
	}
	if r.Ports.Sender == nil {
		return element.Outcome{}, errors.New("the engine has no Sender")
	}
	if len(r.Person.Phones) == 0 {
		return element.Outcome{}, errors.New("the person has no phone")
	}
	text, err := g.body.Render(r, element.Plain)
	if err != nil {
		return element.Outcome{}, fmt.Errorf("body: %w", err)
	}
	r.Calling() // the call outside begins
	id, err := r.Ports.Sender.Send(ctx, &element.Message{
		Channel: "sms", To: r.Person.Phones[0], Body: text, PersonID: r.Person.ID,
		FlowID: r.FlowID, ElementID: r.ElementID, IdempotencyKey: r.IdempotencyKey(),
	})
	if err != nil {
		return element.Outcome{}, fmt.Errorf("send: %w", err)
	}
	r.SetAttribute("greetedIn", float64(now.Year()))
	r.Count("greeted", 1)
	return element.Next(branchSent, "greeted as message "+id), nil
}
