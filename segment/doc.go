// Package segment evaluates audience conditions: who is in a Segment
// Audience branch, and which events a Wait for an Event accepts. A condition
// is compiled once (Compile, CompileWhere), at publish time, and evaluated
// many times (Segment.Match, Where.Match); compiled values are immutable and
// safe for concurrent use.
//
// # Conditions
//
// A Condition is a tree of groups and leaves. Its JSON form (Parse,
// json.Marshal) and its Go form (All, Any, Not, Attr, Tag, Contact,
// LastContacted, Event, EventCount) are the same data:
//
//	{"all": [...]}                 every condition matches (an empty all: everyone)
//	{"any": [...]}                 at least one matches (an empty any: no one)
//	{"not": {...}}                 the condition does not match
//	{"attribute": "age", "op": "lessOrEqual", "value": 30}
//	{"tag": "vip", "op": "has"}    or "hasNot"; tags compare exactly
//	{"contact": "phone", "op": "startsWith", "value": "+385"}
//	{"lastContacted": "email", "op": "wasWithin", "value": {"amount": 7, "unit": "days"}}
//	{"event": {"category": "external", "name": "PageViewed",
//	           "where": [{"property": "url", "op": "contains", "value": "/pricing"}]},
//	 "op": "atLeast", "count": 2, "within": {"amount": 7, "unit": "days"}}
//
// Attribute names a standard attribute (a store.Attr name), a custom
// one declared in Options.Schema, or a computed one registered in
// Options.Computed (an expr-lang formula over the person, or a Go func, with
// a declared type). Contact is "email", "phone" or "push" (the app names of
// the push registrations); it compares as text and holds when any of the
// person's addresses does, except isNot, which holds when none is the
// operand. Phone numbers are MSISDNs: a leading "+" is ignored on both sides.
// LastContacted names a channel; its value is the datetime of the person's
// LastContacted entry.
//
// # Operators by type
//
//	text      is, isNot, contains, startsWith, endsWith, isEmpty, isNotEmpty
//	number    is, isNot, lessThan, lessOrEqual, greaterThan, greaterOrEqual, isEmpty, isNotEmpty
//	bool      is, isNot, isEmpty, isNotEmpty
//	date      is, isNot, before, until, since, after, isEmpty, isNotEmpty,
//	datetime  willBeIn, willBeWithin, willBeMoreThan, wasWithin, wasMoreThan, wasToday
//	list      contains (an element is the operand), isEmpty, isNotEmpty
//	object    isEmpty, isNotEmpty
//
// Text comparisons are case-insensitive under Unicode simple case folding
// (the equivalence of strings.EqualFold: "Zagreb" is "ZAGREB", "ǅ" is "ǆ");
// there is no other normalization, and spaces count. contains with "" holds
// for any non-empty text.
//
// Numbers compare as float64; is means exactly equal.
//
// Dates are calendar days; datetimes are instants. Two datetimes compare as
// instants. A date compared with a datetime (either side) compares the
// datetime's calendar day in the condition's time zone. before is <, until
// is <= (inclusive), since is >= (inclusive), after is >.
//
// # Empty values
//
// An attribute is empty when it is absent, nil, an empty string, a zero
// time, or an empty list or object. On an empty attribute isEmpty is true,
// isNotEmpty false, isNot true, and every other operator false. A
// placeholder whose value is missing, or cannot be converted to the type
// compared, makes its condition false whatever the operator (isNot
// included).
//
// # Relative date operators
//
// Their value is a Period: {"amount": N, "unit": U}, U one of seconds,
// minutes, hours (exact durations; not for date attributes), days, weeks,
// months, years (calendar units). N is 0 or more, at most a century. Months
// and years keep the day of the month, clamped to the month's last day
// (January 31 plus one month is February 28 or 29; February 29 plus one year
// is February 28). Let today be the calendar day of now in the condition's
// time zone, and today+N the calendar day N units after it.
//
// For a date value d:
//
//	willBeIn N        d = today+N
//	willBeWithin N    today <= d <= today+N
//	willBeMoreThan N  d > today+N
//	wasWithin N       today-N <= d <= today
//	wasMoreThan N     d < today-N
//	wasToday          d = today
//
// For a datetime value t, with now+N the same wall-clock time N calendar
// units later in the zone (or now plus the exact duration, for clock units):
//
//	willBeIn N        calendar units: the calendar day of t is today+N;
//	                  clock units: now+N <= t < now+N+1 unit
//	willBeWithin N    now <= t <= now+N
//	willBeMoreThan N  t > now+N
//	wasWithin N       now-N <= t <= now
//	wasMoreThan N     t < now-N
//	wasToday          the calendar day of t is today (earlier or later)
//
// So willBeWithin and willBeMoreThan split the future, and wasWithin and
// wasMoreThan the past, with no gap. A date-only value of a datetime event
// property measured in clock units is taken as its midnight in the zone. Across a daylight saving switch a
// calendar day is 23 or 25 hours long: "1 day" after 12:00 is 12:00 the next
// day.
//
// # Time zones
//
// Calendar computations use the flow's time zone (Subject.Location, else
// Options.Location, else UTC), or the person's TimeZone attribute where the
// condition sets "personTimeZone": true, falling back to the flow's when the
// person's is empty or not a valid IANA name.
//
// # Values and placeholders
//
// A literal value is converted to the attribute's type at compile time,
// and property values, variables and list elements at evaluation, by the
// rules flowkit keeps values by (numbers from any Go integer or float
// kind, a number or bool is accepted as text, "30" is not a number, a
// time reads as RFC 3339 text, dates and datetimes from RFC 3339 text),
// except that an empty text, list or object and a zero time are the empty
// value, and a "2006-01-02" date given for a datetime stays a date,
// compared by calendar day; a date or datetime literal is an
// RFC 3339 string or a "2006-01-02" date. A value that is exactly "{{name}}" is a placeholder
// resolved at evaluation: "{{person.attr}}" reads an attribute of the
// person, "{{entry.properties.prop}}" (as in templates; "{{entry.prop}}"
// for short) a property of the event that brought the person into the flow
// (Subject.Entry), and any other name a flow variable
// (Subject.Vars). When Options.Variables is set, a variable must be declared
// there; declared and attribute types must fit the compared type.
//
// # Events
//
// An event condition selects the person's events by category, name (either
// may be empty for any) and property conditions ("where", all of which must
// hold), within the last period ("within", same units and calendar rules as
// above: events at or after now-N) and/or since the subject entered the flow
// ("sinceEntry": at or after Subject.EnteredAt; with both, the later bound
// counts). Events stamped after now count: hosts' clocks differ. Operators:
// happened (at least one), didNotHappen (none), atLeast count, atMost count.
//
// A property condition (PropertyCondition, also compiled alone by
// CompileWhere for Wait for an Event) has the operators above over an
// event's Properties. Properties have no declared types: "type" sets one;
// otherwise the operator decides (lessThan and the like: number; contains,
// startsWith, endsWith: text; date operators: datetime), then the literal
// value (string: text, number, bool), then a placeholder's declared type;
// an is/isNot against an untyped placeholder compares as whatever the
// placeholder's value is. A property value that cannot be converted to the
// compared type is present but equal to nothing: isNot and isNotEmpty hold,
// every other operator does not. A "datetime" property may also hold a
// "2006-01-02" date, which compares by calendar day.
//
// # Errors
//
// Parse and Compile report problems as *ConditionError with the path of the
// condition, such as `all[1]: attribute "age": operator "contains" does not
// apply to number`. Match reports evaluation failures (a stored attribute of
// the wrong Go type, a failing computed attribute or event history, a
// Subject lacking what a condition needs) the same way. No input panics.
package segment
