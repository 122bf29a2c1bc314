package kinds

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/store"
)

// DoNotContactScope selects the addresses a Do Not Contact element
// changes: all the person's phone numbers (MSISDN), email addresses, or
// both. At least one is set.
type DoNotContactScope struct {
	MSISDN bool `json:"msisdn,omitempty"`
	Email  bool `json:"email,omitempty"`
}

func (s DoNotContactScope) validate() error {
	if !s.MSISDN && !s.Email {
		return element.Errorf("msisdn", "select msisdn, email or both")
	}
	return nil
}

// String returns the scope in words.
func (s DoNotContactScope) String() string {
	switch {
	case s.MSISDN && s.Email:
		return "phone numbers and email addresses"
	case s.MSISDN:
		return "phone numbers"
	}
	return "email addresses"
}

// addresses lists the person's addresses in scope.
func (s DoNotContactScope) addresses(p *store.Person) []string {
	var out []string
	if s.MSISDN {
		out = append(out, p.Phones...)
	}
	if s.Email {
		out = append(out, p.Emails...)
	}
	return out
}

// AddToDoNotContact puts all the person's phone numbers, email addresses
// or both on their Do Not Contact list (store.Person.DoNotContact), then
// goes on by "next". A person on the list is not messaged by Send Message
// on any channel. Each address added records a People
// store.AddedToDoNotContact event with its "address".
type AddToDoNotContact struct {
	DoNotContactScope
}

// Kind implements element.Element.
func (*AddToDoNotContact) Kind() string { return "addToDoNotContact" }

// Branches implements element.Element.
func (*AddToDoNotContact) Branches() []string { return []string{element.BranchNext} }

// Validate implements element.Element.
func (a *AddToDoNotContact) Validate(*element.Compiler) error { return a.validate() }

// Run implements element.Element.
func (a *AddToDoNotContact) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	added := 0
	for _, addr := range a.addresses(r.Person) {
		if r.Person.Blocked(addr) {
			continue
		}
		p := r.Edit()
		p.DoNotContact = append(p.DoNotContact, addr)
		r.Emit(store.People, store.AddedToDoNotContact, map[string]any{"address": addr})
		added++
	}
	return element.Next(element.BranchNext, fmt.Sprintf("added %d of the person's %s to Do Not Contact", added, a.DoNotContactScope)), nil
}

// RemoveFromDoNotContact takes all the person's phone numbers, email
// addresses or both off their Do Not Contact list, then goes on by "next".
// Entries of that kind the list holds for addresses the person no longer
// has go too (phone numbers are the entries without an "@"), so that a
// person who opted in again is messaged again. Each address removed records
// a People store.RemovedFromDoNotContact event with its "address".
type RemoveFromDoNotContact struct {
	DoNotContactScope
}

// Kind implements element.Element.
func (*RemoveFromDoNotContact) Kind() string { return "removeFromDoNotContact" }

// Branches implements element.Element.
func (*RemoveFromDoNotContact) Branches() []string { return []string{element.BranchNext} }

// Validate implements element.Element.
func (a *RemoveFromDoNotContact) Validate(*element.Compiler) error { return a.validate() }

// Run implements element.Element.
func (a *RemoveFromDoNotContact) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	var removed []string
	for _, addr := range r.Person.DoNotContact {
		isEmail := strings.Contains(addr, "@")
		if ((isEmail && a.Email) || (!isEmail && a.MSISDN)) && !slices.Contains(removed, addr) {
			removed = append(removed, addr)
		}
	}
	if len(removed) > 0 {
		p := r.Edit()
		p.DoNotContact = slices.DeleteFunc(p.DoNotContact, func(s string) bool { return slices.Contains(removed, s) })
		for _, addr := range removed {
			r.Emit(store.People, store.RemovedFromDoNotContact, map[string]any{"address": addr})
		}
	}
	return element.Next(element.BranchNext, fmt.Sprintf("removed %d %s from Do Not Contact", len(removed), a.DoNotContactScope)), nil
}
