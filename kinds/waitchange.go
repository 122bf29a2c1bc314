package kinds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// The WaitForChange branches.
const (
	BranchChanged    = "changed"
	BranchNotChanged = "notChanged"
)

// WaitForChange holds a participant until an attribute of the person's
// profile changes, then goes on by "changed"; when WaitFor passes first it
// goes on by "notChanged".
//
// Attributes lists the attributes to watch; a change of any of them counts
// when it meets that attribute's condition, if it has one. A condition
// tests the new value with the segment operators of the attribute's type
// ({"attribute": "plan", "op": "is", "value": "premium"}; "isEmpty" waits
// for the attribute to be emptied); without one any change counts.
//
// Attribute "phone" or "email" (unless the schema declares a custom
// attribute of that name) watches the person's phone numbers or email
// addresses: a number or address added or removed is a change. Its
// condition tests the address added, as the profile spells it, and
// reads empty for one removed: "isNotEmpty" waits for an addition,
// "isEmpty" for a removal, {"op": "endsWith", "value": "@example.com"}
// for a work address.
//
// Changes are the People events: store.AttributeChanged, and
// store.PhoneAdded, PhoneRemoved, EmailAdded and EmailRemoved for
// contacts, from the host's Engine.UpdatePerson and from elements of any
// flow the person is in, this one included. Only changes after the
// participant reached the element count. WaitFor is the waiting period; zero waits
// indefinitely, bounded by the flow's schedule end and the engine's
// inactivity limit.
type WaitForChange struct {
	Attributes []*AttributeChange `json:"attributes"`
	WaitFor    segment.Period     `json:"waitFor,omitzero"`

	holding string   // the journal reason of the wait, made once unless shown
	events  []string // the event names that wake the wait
	shown   bool     // some condition value is a placeholder, shown resolved
}

// AttributeChange names an attribute to watch and, optionally, a condition
// its new value must meet: an operator and its value, as in a segment
// attribute condition (placeholders included).
type AttributeChange struct {
	Attribute string     `json:"attribute"`
	Op        segment.Op `json:"op,omitempty"`
	Value     any        `json:"value,omitempty"`
	// PersonTimeZone makes date operators count days in the person's time
	// zone.
	PersonTimeZone bool `json:"personTimeZone,omitempty"`

	where   *segment.Where
	contact bool             // a phone or email watch
	shown   *element.Program // the value's placeholder, for reasons
}

// UnmarshalJSON reads an attribute change strictly. Its value is read as
// segment conditions read theirs: {"amount": N, "unit": U} is a
// segment.Period, numbers are float64.
func (a *AttributeChange) UnmarshalJSON(data []byte) error {
	var raw struct {
		Attribute      string          `json:"attribute"`
		Op             segment.Op      `json:"op"`
		Value          json.RawMessage `json:"value"`
		PersonTimeZone bool            `json:"personTimeZone"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	*a = AttributeChange{Attribute: raw.Attribute, Op: raw.Op, PersonTimeZone: raw.PersonTimeZone}
	if len(raw.Value) > 0 && string(raw.Value) != "null" {
		doc, err := json.Marshal(map[string]json.RawMessage{"property": json.RawMessage(`"value"`), "value": raw.Value})
		if err != nil {
			return err
		}
		var pc segment.PropertyCondition
		if err := json.Unmarshal(doc, &pc); err != nil {
			return fmt.Errorf("attribute %q: value: %w", raw.Attribute, err)
		}
		a.Value = pc.Value
	}
	return nil
}

// Kind implements element.Element.
func (*WaitForChange) Kind() string { return "waitForChange" }

// Branches implements element.Element.
func (*WaitForChange) Branches() []string { return []string{BranchChanged, BranchNotChanged} }

// Validate implements element.Element.
func (w *WaitForChange) Validate(c *element.Compiler) error {
	if len(w.Attributes) == 0 {
		return element.Errorf("attributes", "no attributes to watch")
	}
	w.events = nil
	for i, a := range w.Attributes {
		field := fmt.Sprintf("attributes[%d]", i)
		if a == nil || a.Attribute == "" {
			return element.Errorf(field+".attribute", "attribute name is missing")
		}
		typ, ok := c.Schema.TypeOf(a.Attribute)
		_, custom := c.Schema[a.Attribute]
		a.contact = false
		switch {
		case !custom && a.Attribute == segment.ContactPhone:
			typ, a.contact = store.Text, true
			w.watch(store.PhoneAdded, store.PhoneRemoved)
		case !custom && a.Attribute == segment.ContactEmail:
			typ, a.contact = store.Text, true
			w.watch(store.EmailAdded, store.EmailRemoved)
		case !ok:
			return element.Errorf(field+".attribute", "unknown person attribute %q", a.Attribute)
		default:
			w.watch(store.AttributeChanged)
		}
		if a.Op == "" {
			if a.Value != nil || a.PersonTimeZone {
				return element.Errorf(field+".op", "a value needs an operator")
			}
			continue
		}
		cond := segment.PropertyCondition{Property: "new", Op: a.Op, Value: a.Value, Type: typ, PersonTimeZone: a.PersonTimeZone}
		where, err := segment.CompileWhere([]segment.PropertyCondition{cond}, c.SegmentOptions())
		if err != nil {
			var ce *segment.ConditionError
			if errors.As(err, &ce) {
				err = ce.Err
			}
			msg := strings.Replace(err.Error(), `property "new"`, "attribute "+a.Attribute, 1)
			return element.Errorf(field, "%s", msg)
		}
		a.where = where
		a.shown = shownValue(c, a.Value)
		w.shown = w.shown || a.shown != nil
	}
	w.holding = w.holdingReason(nil)
	if !w.WaitFor.IsZero() {
		return element.CheckPeriod(w.WaitFor, "waitFor")
	}
	return nil
}

// holdingReason is the journal reason of the wait, with r's values of
// placeholders (r nil: as written).
func (w *WaitForChange) holdingReason(r *element.Run) string {
	if w.WaitFor.IsZero() {
		return "waiting indefinitely for a change of " + w.describe(r)
	}
	return fmt.Sprintf("waiting up to %s for a change of %s", w.WaitFor, w.describe(r))
}

// Run implements element.Element.
func (w *WaitForChange) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	var until time.Time
	if !w.WaitFor.IsZero() {
		until = w.WaitFor.After(r.Now, r.TimeZone(false))
	}
	reason := w.holding
	if w.shown {
		reason = w.holdingReason(r)
	}
	return element.Hold(element.Wait{Until: until, Events: w.events}, reason), nil
}

// watch adds event names to those that wake the wait.
func (w *WaitForChange) watch(names ...string) {
	for _, n := range names {
		if !slices.Contains(w.events, n) {
			w.events = append(w.events, n)
		}
	}
}

// contactChanges maps the contact events to the watched name and whether
// the address was added.
var contactChanges = map[string]struct {
	attribute string
	added     bool
}{
	store.PhoneAdded:   {segment.ContactPhone, true},
	store.PhoneRemoved: {segment.ContactPhone, false},
	store.EmailAdded:   {segment.ContactEmail, true},
	store.EmailRemoved: {segment.ContactEmail, false},
}

// Resume implements element.Resumer.
func (w *WaitForChange) Resume(_ context.Context, r *element.Run, wk element.Wake) (element.Outcome, error) {
	if wk.Timer {
		return element.Next(BranchNotChanged, fmt.Sprintf("no change of %s within %s", w.describe(r), w.WaitFor)), nil
	}
	ev := wk.Event
	if ev == nil || ev.Category != store.People {
		return element.Hold(*r.Wait, ""), nil
	}
	var attr string
	contact, isContact := contactChanges[ev.Name]
	switch {
	case isContact:
		// The condition reads the address added as the new value.
		attr = contact.attribute
		var added any
		if contact.added {
			added = ev.Properties["address"]
		}
		ev = &store.Event{ID: ev.ID, PersonID: ev.PersonID, Category: ev.Category, Name: ev.Name, Time: ev.Time,
			Properties: map[string]any{"new": added}}
	case ev.Name == store.AttributeChanged:
		attr, _ = ev.Properties["attribute"].(string)
	default:
		return element.Hold(*r.Wait, ""), nil
	}
	for _, a := range w.Attributes {
		if a.Attribute != attr || a.contact != isContact {
			continue
		}
		if a.where != nil {
			sub := r.Subject()
			ok, err := a.where.Match(ev, sub)
			if err != nil {
				return element.Outcome{}, fmt.Errorf("attribute %q: %w", attr, err)
			}
			if !ok {
				continue
			}
		}
		reason := fmt.Sprintf("%s changed from %s to %s", attr, describeValue(ev.Properties["old"]), describeValue(ev.Properties["new"]))
		if isContact {
			verb := "removed"
			if contact.added {
				verb = "added"
			}
			reason = fmt.Sprintf("%s %s %s", attr, describeValue(wk.Event.Properties["address"]), verb)
		}
		if a.Op != "" {
			reason += " (" + a.describe(r) + ")"
		}
		return element.Next(BranchChanged, reason), nil
	}
	return element.Hold(*r.Wait, ""), nil
}

func describeValue(v any) string {
	if v == nil {
		return "empty"
	}
	return fmt.Sprintf("%q", element.FormatValue(v))
}

// describe writes the attributes watched in words, with r's values of
// placeholders (r nil: as written).
func (w *WaitForChange) describe(r *element.Run) string {
	names := make([]string, len(w.Attributes))
	for i, a := range w.Attributes {
		names[i] = a.Attribute
		if a.Op != "" {
			names[i] = a.describe(r)
		}
	}
	return strings.Join(names, " or ")
}

func (a *AttributeChange) describe(r *element.Run) string {
	return describeShown(a.Attribute, a.Op, a.Value, a.shown, r)
}
