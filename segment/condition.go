package segment

import (
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/store"
)

// Op is an operator name, as written in a condition's "op" field.
type Op string

// Operators on values (see the package documentation for which types each
// applies to and its exact meaning).
const (
	Is             Op = "is"
	IsNot          Op = "isNot"
	Contains       Op = "contains"
	StartsWith     Op = "startsWith"
	EndsWith       Op = "endsWith"
	IsEmpty        Op = "isEmpty"
	IsNotEmpty     Op = "isNotEmpty"
	LessThan       Op = "lessThan"
	LessOrEqual    Op = "lessOrEqual"
	GreaterThan    Op = "greaterThan"
	GreaterOrEqual Op = "greaterOrEqual"
	Before         Op = "before"
	Until          Op = "until"
	Since          Op = "since"
	After          Op = "after"
	WillBeIn       Op = "willBeIn"
	WillBeWithin   Op = "willBeWithin"
	WillBeMoreThan Op = "willBeMoreThan"
	WasWithin      Op = "wasWithin"
	WasMoreThan    Op = "wasMoreThan"
	WasToday       Op = "wasToday"
)

// Operators on tags.
const (
	Has    Op = "has"
	HasNot Op = "hasNot"
)

// Operators on events.
const (
	Happened     Op = "happened"
	DidNotHappen Op = "didNotHappen"
	AtLeast      Op = "atLeast"
	AtMost       Op = "atMost"
)

// Unit is the unit of a Period.
type Unit string

// The units of a Period. Seconds, minutes and hours are exact durations;
// days, weeks, months and years are calendar units counted in a time zone.
const (
	Seconds Unit = "seconds"
	Minutes Unit = "minutes"
	Hours   Unit = "hours"
	Days    Unit = "days"
	Weeks   Unit = "weeks"
	Months  Unit = "months"
	Years   Unit = "years"
)

// Period is an amount of time units, such as 7 days. Its JSON form is
// {"amount":7,"unit":"days"}. It is the value of the relative date operators
// (willBeIn, wasWithin, ...) and the window of an event condition, and the
// length of elements' waits and of flows' cool-downs and goals, which
// take seconds to weeks only (element.CheckPeriod).
type Period struct {
	Amount int  `json:"amount"` // 0 or more
	Unit   Unit `json:"unit"`   // seconds, minutes, ..., years
}

// IsZero reports whether the period is unset.
func (p Period) IsZero() bool { return p == Period{} }

// After returns t plus the period: an exact duration for seconds, minutes
// and hours; for calendar units the same wall-clock time that many days,
// weeks, months or years away in loc, the day clamped to the month's last.
// A wall time in a daylight-saving gap moves forward by the gap; one that
// occurs twice takes the first.
func (p Period) After(t time.Time, loc *time.Location) time.Time {
	return shift(t, p.Amount, p.Unit, loc)
}

// Before returns t minus the period, counted as After counts.
func (p Period) Before(t time.Time, loc *time.Location) time.Time {
	return shift(t, -p.Amount, p.Unit, loc)
}

// PeriodOf returns the Period of n units.
func PeriodOf(n int, u Unit) Period { return Period{Amount: n, Unit: u} }

// String returns the period in words, such as "7 days" or "1 day".
func (p Period) String() string {
	u := string(p.Unit)
	if p.Amount == 1 {
		u = strings.TrimSuffix(u, "s")
	}
	return strconv.Itoa(p.Amount) + " " + u
}

// The contact kinds of a contact condition.
const (
	ContactEmail = "email" // the person's email addresses
	ContactPhone = "phone" // the person's phone numbers (MSISDNs)
	ContactPush  = "push"  // the apps of the person's push registrations
)

// Condition is one node of an audience condition: a group (All, Any or Not)
// or a leaf (Attribute, Tag, Contact, LastContacted or Event). Exactly one of
// those fields is set; the others qualify it. Conditions are plain data, built
// with the helpers below or decoded from JSON (see Parse), and checked by
// Compile.
//
// The JSON form uses the json names of the fields, for example
//
//	{"all": [
//	  {"attribute": "age", "op": "lessOrEqual", "value": 30},
//	  {"event": {"category": "external", "name": "PageViewed"}, "op": "happened",
//	   "within": {"amount": 7, "unit": "days"}}
//	]}
type Condition struct {
	// All matches when every condition in it matches (an empty All matches
	// everyone).
	All []Condition `json:"all,omitempty"`
	// Any matches when at least one condition in it matches (an empty Any
	// matches nobody).
	Any []Condition `json:"any,omitempty"`
	// Not matches when its condition does not.
	Not *Condition `json:"not,omitempty"`

	// Attribute names a standard, custom or computed attribute.
	Attribute string `json:"attribute,omitempty"`
	// Tag names a tag; Op is Has or HasNot.
	Tag string `json:"tag,omitempty"`
	// Contact is ContactEmail, ContactPhone or ContactPush: the person's
	// addresses of that kind, compared as text.
	Contact string `json:"contact,omitempty"`
	// LastContacted names a channel ("email", "sms", ...): when a message
	// was last sent to the person on it, a datetime.
	LastContacted string `json:"lastContacted,omitempty"`
	// Event selects events of the person's history; Op is Happened,
	// DidNotHappen, AtLeast or AtMost.
	Event *EventSpec `json:"event,omitempty"`

	// Op is the operator.
	Op Op `json:"op,omitempty"`
	// Value is the operand: a literal of the attribute's type (converted
	// with values.Value.Set, see the package documentation), a Period for the relative date operators, or a
	// placeholder string "{{name}}", "{{person.attr}}" or "{{entry.properties.prop}}"
	// resolved at evaluation. Operators that take no operand (isEmpty,
	// isNotEmpty, wasToday, has, ...) take no Value.
	Value any `json:"value,omitempty"`
	// Count is the N of AtLeast and AtMost event conditions.
	Count int `json:"count,omitempty"`
	// Within limits an event condition to events of the last period.
	Within *Period `json:"within,omitempty"`
	// SinceEntry limits an event condition to events since the subject
	// entered the flow (Subject.EnteredAt).
	SinceEntry bool `json:"sinceEntry,omitempty"`
	// PersonTimeZone makes calendar computations use the person's time zone
	// attribute instead of the flow's, falling back to the flow's when the
	// person's is empty or not a valid IANA name.
	PersonTimeZone bool `json:"personTimeZone,omitempty"`
}

// EventSpec selects events: by category and name (either may be empty for
// any) and by property conditions, all of which must match.
type EventSpec struct {
	Category store.Category      `json:"category,omitempty"` // "" for any
	Name     string              `json:"name,omitempty"`     // "" for any
	Where    []PropertyCondition `json:"where,omitempty"`    // all must match
}

// PropertyCondition is a condition on one property of an event. Property
// names a key of the event's Properties; when no key has that exact name, a
// dotted name ("cart.total") walks into nested objects. Event properties have
// no declared types: Type gives one explicitly, or else it is inferred from
// the operator and the literal Value (see the package documentation).
type PropertyCondition struct {
	// Property names the property.
	Property string `json:"property"`
	// Op is the operator.
	Op Op `json:"op"`
	// Value is the operand, as in Condition.Value.
	Value any `json:"value,omitempty"`
	// Type is the type the property is compared as; "" to infer it.
	Type store.Type `json:"type,omitempty"`
	// PersonTimeZone has the meaning of Condition.PersonTimeZone.
	PersonTimeZone bool `json:"personTimeZone,omitempty"`
}

// All returns a condition that matches when every one of cs matches.
func All(cs ...Condition) Condition {
	if cs == nil {
		cs = []Condition{}
	}
	return Condition{All: cs}
}

// Any returns a condition that matches when at least one of cs matches.
func Any(cs ...Condition) Condition {
	if cs == nil {
		cs = []Condition{}
	}
	return Condition{Any: cs}
}

// Not returns a condition that matches when c does not.
func Not(c Condition) Condition { return Condition{Not: &c} }

// Attr returns an attribute condition; value is nil for operators that take
// none.
func Attr(name string, op Op, value any) Condition {
	return Condition{Attribute: name, Op: op, Value: value}
}

// Tag returns a tag condition; op is Has or HasNot.
func Tag(tag string, op Op) Condition { return Condition{Tag: tag, Op: op} }

// Contact returns a contact condition on ContactEmail, ContactPhone or
// ContactPush.
func Contact(kind string, op Op, value any) Condition {
	return Condition{Contact: kind, Op: op, Value: value}
}

// LastContacted returns a condition on when the person was last contacted on
// a channel.
func LastContacted(channel string, op Op, value any) Condition {
	return Condition{LastContacted: channel, Op: op, Value: value}
}

// Event returns an event condition with op Happened or DidNotHappen. Use
// EventCount for AtLeast and AtMost, and InLast or FromEntry to bound it.
func Event(category store.Category, name string, op Op, where ...PropertyCondition) Condition {
	return Condition{Event: &EventSpec{Category: category, Name: name, Where: where}, Op: op}
}

// EventCount returns an event condition with op AtLeast or AtMost n.
func EventCount(category store.Category, name string, op Op, n int, where ...PropertyCondition) Condition {
	return Condition{Event: &EventSpec{Category: category, Name: name, Where: where}, Op: op, Count: n}
}

// Prop returns a property condition for an event's Where.
func Prop(property string, op Op, value any) PropertyCondition {
	return PropertyCondition{Property: property, Op: op, Value: value}
}

// InLast returns c limited to events of the last n units.
func (c Condition) InLast(n int, u Unit) Condition {
	c.Within = &Period{Amount: n, Unit: u}
	return c
}

// FromEntry returns c limited to events since the subject entered the flow.
func (c Condition) FromEntry() Condition {
	c.SinceEntry = true
	return c
}

// InPersonTimeZone returns c with calendar computations in the person's time
// zone.
func (c Condition) InPersonTimeZone() Condition {
	c.PersonTimeZone = true
	return c
}
