package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flowkit/flowkit/internal/address"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// maxPhoneProblems bounds the problems a PhoneMigration lists; it counts
// them all.
const maxPhoneProblems = 100

// PhoneMigration is what NormalizePhones did.
type PhoneMigration struct {
	// Scanned counts the people looked at.
	Scanned int64 `json:"scanned"`
	// Changed counts the people whose phone numbers (and Do Not Contact
	// phone numbers) were rewritten in E.164 form, with their lookup keys.
	Changed int64 `json:"changed"`
	// Invalid counts the people left as they were because a phone number
	// of theirs is not one (see Config.PhoneRegion); Conflicts those left
	// as they were because a number's E.164 form is another person's key
	// (the same person stored twice, which a host merges by hand).
	Invalid   int64 `json:"invalid"`
	Conflicts int64 `json:"conflicts"`
	// Problems lists the first 100 people left as they were, and why.
	Problems []PhoneProblem `json:"problems,omitempty"`
}

// PhoneProblem is a person NormalizePhones left as they were.
type PhoneProblem struct {
	PersonID uuid.UUID `json:"personId"`
	// Field is the number at fault, such as "phones[1]".
	Field string `json:"field"`
	// Err says why; it wraps store.ErrConflict for a conflict.
	Err error `json:"-"`
}

// NormalizePhones rewrites the phone numbers stored before the engine
// kept them in E.164 form ("091 123 4567", "385911234567") into that form
// ("+385911234567"), reading national numbers in Config.PhoneRegion, and
// with them the people's lookup keys, so that every spelling of a number
// finds one person. It pages through every person (the store must list
// people, store.PeopleLister), each rewritten in their own transaction
// with no People events (the numbers are the same), and returns what it
// did. A person with a number that is not one, or whose number's E.164
// form is already another person's key, is left as they were and
// reported. It is idempotent: run it again, for instance after an
// interruption, and it changes only what is left. Events and ticks may go
// on meanwhile.
func (e *Engine) NormalizePhones(ctx context.Context) (*PhoneMigration, error) {
	lister, ok := e.store.(store.PeopleLister)
	if !ok {
		return nil, fmt.Errorf("flow: normalize phones: the store (%T) does not list people (store.PeopleLister)", e.store)
	}
	out := &PhoneMigration{}
	problem := func(id uuid.UUID, field string, err error) {
		if len(out.Problems) < maxPhoneProblems {
			out.Problems = append(out.Problems, PhoneProblem{PersonID: id, Field: field, Err: err})
		}
	}
	after := uuid.Nil
	for {
		people, err := lister.People(ctx, &store.PeopleQuery{After: after, Limit: e.cfg.AudiencePage})
		if err != nil {
			return out, fmt.Errorf("flow: normalize phones: %w", err)
		}
		for _, listed := range people {
			out.Scanned++
			if field, err := e.normalPhones(listed.Clone()); err != nil {
				out.Invalid++
				problem(listed.ID, field, err)
				continue
			} else if field == "" {
				continue // nothing to change, as listed
			}
			changed, field, err := e.rewritePhones(ctx, listed.ID)
			switch {
			case errors.Is(err, store.ErrConflict):
				out.Conflicts++
				problem(listed.ID, "phones", err)
			case errors.Is(err, errBadPhone):
				out.Invalid++
				problem(listed.ID, field, err)
			case err != nil:
				return out, fmt.Errorf("flow: normalize phones: person %s: %w", listed.ID, err)
			case changed:
				out.Changed++
			}
		}
		if len(people) < e.cfg.AudiencePage {
			return out, nil
		}
		after = people[len(people)-1].ID
	}
}

var errBadPhone = errors.New("not a phone number")

// rewritePhones rewrites one person's numbers in their transaction.
func (e *Engine) rewritePhones(ctx context.Context, id uuid.UUID) (changed bool, field string, err error) {
	err = e.store.Update(ctx, id, func(tx store.Tx) error {
		p, err := tx.Person()
		if errors.Is(err, store.ErrNotFound) {
			return nil // erased meanwhile
		}
		if err != nil {
			return err
		}
		p = p.Clone()
		f, err := e.normalPhones(p)
		if err != nil {
			field = f
			return fmt.Errorf("%w: %w", errBadPhone, err)
		}
		if f == "" {
			return nil
		}
		changed = true
		return tx.PutPerson(p)
	})
	return changed, field, err
}

// normalPhones puts p's phone numbers and Do Not Contact phone numbers in
// E.164 form. It returns the first field it changed ("" for none), or the
// field of a number that is not one and why.
func (e *Engine) normalPhones(p *store.Person) (string, error) {
	first := ""
	norm := func(list []string, name string, emails bool) ([]string, error) {
		var out []string
		for i, a := range list {
			if emails && strings.Contains(a, "@") {
				out = append(out, a)
				continue
			}
			field := fmt.Sprintf("%s[%d]", name, i)
			n, err := address.E164(a, e.cfg.PhoneRegion)
			if err != nil {
				return nil, &InputError{Field: field, Err: err}
			}
			if n != a && first == "" {
				first = field
			}
			if !slices.Contains(out, n) {
				out = append(out, n)
			} else if first == "" {
				first = field
			}
		}
		return out, nil
	}
	phones, err := norm(p.Phones, "phones", false)
	if err != nil {
		return err.(*InputError).Field, err
	}
	dnc, err := norm(p.DoNotContact, "doNotContact", true)
	if err != nil {
		return err.(*InputError).Field, err
	}
	p.Phones, p.DoNotContact = phones, dnc
	return first, nil
}
