package kinds

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/address"
	"github.com/flowkit/flowkit/store"
)

// AddToFlow enters a person into another flow (its Existing Flow entry
// point), passing variables, then goes on by "next"; when the other flow
// cannot be entered (draft, paused, finished, canceled, outside its
// schedule, or refusing the variables) it goes on by "failed", the "in all
// other cases" branch.
//
// By default the participant's own person enters, and takes part in both
// flows. With Participant set, another person enters instead, named by a
// phone number or email address (usually from a variable: {"email":
// "{{friendEmail}}"}); a person not yet known is created with that
// contact, unless the engine refuses unknown people (which goes on by
// "failed"). The contact finds the person in any spelling (see
// store.Person.Keys): "Bob@Example.com" is the
// person known as "bob@example.com"; a person created by it keeps the
// spelling given, trimmed of spaces. A phone that is not a phone number
// goes on by "failed". Another person enters after this step commits,
// exactly once per step even when the step is retried.
type AddToFlow struct {
	Flow        string            `json:"flow"`
	Variables   map[string]string `json:"variables,omitempty"`
	Participant *Contact          `json:"participant,omitempty"`

	vars  map[string]*element.Template
	phone *element.Template
	email *element.Template
}

// Contact names a person by phone number or email address, each a
// template.
type Contact struct {
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// Kind implements element.Element.
func (*AddToFlow) Kind() string { return "addToFlow" }

// External implements element.External: entering another person is a step of its
// own, in that person's transaction, made after this one's intent commits
// and made once however often the step is tried.
func (a *AddToFlow) External() bool { return a.Participant != nil }

// EntersFlow implements element.EntersFlow.
func (a *AddToFlow) EntersFlow() (flowID, field string) { return a.Flow, "flow" }

// Branches implements element.Element.
func (*AddToFlow) Branches() []string { return []string{element.BranchNext, BranchFailed} }

// Validate implements element.Element.
func (a *AddToFlow) Validate(c *element.Compiler) error {
	if strings.TrimSpace(a.Flow) == "" {
		return element.Errorf("flow", "flow to add to is missing")
	}
	a.vars = make(map[string]*element.Template, len(a.Variables))
	for name, v := range a.Variables {
		t, err := c.Template("variables."+name, v)
		if err != nil {
			return err
		}
		a.vars[name] = t
	}
	if p := a.Participant; p != nil {
		if (p.Phone == "") == (p.Email == "") {
			return element.Errorf("participant", "give exactly one of phone, email")
		}
		var err error
		if p.Phone != "" {
			a.phone, err = c.Template("participant.phone", p.Phone)
		} else {
			a.email, err = c.Template("participant.email", p.Email)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Run implements element.Element.
func (a *AddToFlow) Run(ctx context.Context, r *element.Run) (element.Outcome, error) {
	if r.Ports.Flows == nil {
		return element.Outcome{}, fmt.Errorf("no flow entry service")
	}
	vars := make(map[string]any, len(a.vars))
	names := make([]string, 0, len(a.vars))
	for name, t := range a.vars {
		v, err := t.Value(r)
		if err != nil {
			return element.Outcome{}, fmt.Errorf("variable %q: %w", name, err)
		}
		vars[name] = v
		names = append(names, name)
	}
	sort.Strings(names)
	var who store.PersonRef
	whom := "this person"
	switch {
	case a.phone != nil:
		s, err := a.phone.Render(r, element.Plain)
		if err != nil {
			return element.Outcome{}, err
		}
		who.Phone = strings.TrimSpace(s)
		whom = "phone " + who.Phone
		if who.Phone != "" && address.Phone(who.Phone) == "" {
			return element.Next(BranchFailed, fmt.Sprintf("not added to flow %q: the participant's phone %q is not a phone number", a.Flow, who.Phone)), nil
		}
	case a.email != nil:
		s, err := a.email.Render(r, element.Plain)
		if err != nil {
			return element.Outcome{}, err
		}
		who.Email = strings.TrimSpace(s)
		whom = "email " + who.Email
	}
	if a.Participant != nil && who.IsZero() {
		return element.Next(BranchFailed, fmt.Sprintf("not added to flow %q: the participant's contact is empty", a.Flow)), nil
	}
	if err := r.Ports.Flows.Enter(ctx, a.Flow, who, vars, r.IdempotencyKey()); err != nil {
		return element.Next(BranchFailed, fmt.Sprintf("not added %s to flow %q: %v", whom, a.Flow, err)), nil
	}
	reason := fmt.Sprintf("added %s to flow %q", whom, a.Flow)
	if len(names) > 0 {
		reason += " with " + strings.Join(names, ", ")
	}
	return element.Next(element.BranchNext, reason), nil
}
