package segment

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
)

// Subject is what a segment is evaluated against: a person at a moment, in
// a flow.
type Subject struct {
	// Person is the person. Required by Segment.Match.
	Person *store.Person
	// Now is the evaluation time, from the engine's clock.
	Now time.Time
	// Location is the flow's time zone. Defaults to Options.Location.
	Location *time.Location
	// EnteredAt is when the person entered the flow; required by event
	// conditions with SinceEntry.
	EnteredAt time.Time
	// Vars holds the flow's variables for "{{name}}" placeholders.
	Vars map[string]any
	// Entry is the event that brought the person into the flow, for
	// "{{entry.prop}}" placeholders; nil when there is none.
	Entry *store.Event
	// Events returns the person's events a query selects (see
	// store.Tx.Events); required by event conditions. It may honour
	// q.Limit, which is set when fewer events suffice.
	Events func(q *store.EventQuery) ([]*store.Event, error)
}

// Match reports whether the subject is in the segment. An error (a
// *ConditionError naming the condition) means the segment could not be
// evaluated: an attribute holding a value of the wrong Go type, a failing
// computed attribute or event history, or a Subject lacking what a condition
// needs. Evaluation stops at the first error.
//
// Match does not allocate for attribute, tag and contact conditions.
func (s *Segment) Match(sub *Subject) (bool, error) {
	var c evalCtx
	if err := c.start(s, sub); err != nil {
		return false, err
	}
	return c.eval(s.root)
}

// MatchReason is Match that also says why, in words, for a journal: for a
// match, the conditions that made it (such as `age 27 lessOrEqual 30 and
// event external/PageViewed count 2 happened within 7 days`); for no match,
// the condition that failed, marked "is false". It allocates.
func (s *Segment) MatchReason(sub *Subject) (bool, string, error) {
	var c evalCtx
	if err := c.start(s, sub); err != nil {
		return false, "", err
	}
	c.explain = true
	return c.explainNode(s.root)
}

// Match reports whether an event matches every property condition. s
// supplies the time, time zones, variables, person and entry event for
// placeholders and date operators; nil means none of them (and now is the
// zero time). A nil Where matches every event; a nil event matches none.
func (w *Where) Match(e *store.Event, s *Subject) (bool, error) {
	if w == nil {
		return true, nil
	}
	if e == nil {
		return false, nil
	}
	if s == nil {
		s = &noSubject
	}
	var c evalCtx
	c.init(s, w.loc)
	return c.where(w, e)
}

var noSubject Subject

// evalCtx is the state of one evaluation; it lives on the stack.
type evalCtx struct {
	s         *Subject
	now       time.Time // in the flow's zone
	flowLoc   *time.Location
	personLoc *time.Location

	explain bool
	// What the last leaf saw, for reasons.
	got    val
	arg    val
	argOK  bool
	count  int
	capped bool // the count stopped at what the operator needed
	addr   string
	addrs  int
}

func (c *evalCtx) start(s *Segment, sub *Subject) error {
	switch {
	case s == nil || s.root == nil:
		return errors.New("segment: not compiled")
	case sub == nil:
		return errors.New("segment: no subject")
	case sub.Person == nil:
		return errors.New("segment: subject has no person")
	}
	c.init(sub, s.loc)
	return nil
}

func (c *evalCtx) init(s *Subject, loc *time.Location) {
	c.s = s
	c.flowLoc = loc
	if s.Location != nil {
		c.flowLoc = s.Location
	}
	if c.flowLoc == nil {
		c.flowLoc = time.UTC
	}
	c.now = s.Now.In(c.flowLoc)
}

// zone returns the time zone of a condition.
func (c *evalCtx) zone(person bool) *time.Location {
	if !person {
		return c.flowLoc
	}
	if c.personLoc == nil {
		c.personLoc = c.flowLoc
		if p := c.s.Person; p != nil {
			if loc := loadZone(p.TimeZone); loc != nil {
				c.personLoc = loc
			}
		}
	}
	return c.personLoc
}

func (c *evalCtx) eval(n *node) (bool, error) {
	switch n.kind {
	case nAll:
		for _, k := range n.kids {
			if ok, err := c.eval(k); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case nAny:
		for _, k := range n.kids {
			if ok, err := c.eval(k); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case nNot:
		ok, err := c.eval(n.kids[0])
		return !ok && err == nil, err
	}
	ok, err := c.leaf(n)
	if err != nil {
		return false, &ConditionError{Path: n.path, Err: err}
	}
	return ok, nil
}

func (c *evalCtx) leaf(n *node) (bool, error) {
	switch n.kind {
	case nAttr:
		a, err := n.get(c.s.Person, c.now)
		if err != nil {
			return false, err
		}
		return c.run(&n.test, a)
	case nTag:
		return c.s.Person.HasTag(n.tag) != n.neg, nil
	case nContact:
		return c.contact(n)
	case nEvent:
		return c.event(n.ev)
	}
	return false, fmt.Errorf("unknown condition kind %d", n.kind)
}

// run applies a test to a value: the rules for empty values, then the
// operator.
func (c *evalCtx) run(t *test, a val) (bool, error) {
	if c.explain {
		c.got = a
	}
	switch t.op {
	case IsEmpty:
		return a.k == kNone, nil
	case IsNotEmpty:
		return a.k != kNone, nil
	case WasToday, WillBeIn, WillBeWithin, WillBeMoreThan, WasWithin, WasMoreThan:
		if a.k != kDate && a.k != kDateTime {
			return false, nil
		}
		return c.temporal(t, a, val{}), nil
	}
	b, ok, err := c.resolve(t)
	if c.explain {
		c.arg, c.argOK = b, ok
	}
	if err != nil || !ok {
		return false, err
	}
	if a.k == kNone || a.k == kBad {
		return t.op == IsNot, nil
	}
	return c.apply(t, a, b), nil
}

// resolve returns a test's operand; ok is false when a placeholder's value
// is missing or cannot be converted.
func (c *evalCtx) resolve(t *test) (val, bool, error) {
	ph := t.arg.ph
	if ph == nil {
		return t.arg.v, true, nil
	}
	want := operandKind(t.want)
	var v val
	switch ph.scope {
	case scopePerson:
		if c.s.Person == nil {
			return val{}, false, nil
		}
		a, err := ph.get(c.s.Person, c.now)
		if err != nil {
			return val{}, false, err
		}
		v = convertVal(a, want)
	case scopeEntry:
		if c.s.Entry == nil {
			return val{}, false, nil
		}
		raw, _ := c.s.Entry.Property(ph.name)
		if raw == nil {
			return val{}, false, nil
		}
		toVal(&v, want, raw, compared)
	default:
		raw := c.s.Vars[ph.name]
		if raw == nil {
			return val{}, false, nil
		}
		if ph.date && want == kDateTime {
			want = kDate
		}
		toVal(&v, want, raw, compared)
	}
	switch v.k {
	case kBad, kList, kObject:
		return val{}, false, nil
	case kNone:
		if want != kText {
			return val{}, false, nil
		}
		v.k = kText
	}
	return v, true, nil
}

// convertVal converts an attribute's value to the kind of an operand.
func convertVal(v val, want kind) val {
	switch {
	case v.k == kNone || v.k == want || want == kAny:
		return v
	case want == kText:
		switch v.k {
		case kNumber:
			return val{k: kText, s: formatNumber(v.f)}
		case kBool:
			return val{k: kText, s: strconv.FormatBool(v.b)}
		case kDate:
			return val{k: kText, s: v.t.Format(time.DateOnly)}
		case kDateTime: // as values.Value.Set writes a time as text
			return val{k: kText, s: v.t.Format(time.RFC3339)}
		}
	case want == kDateTime && v.k == kDate:
		return v
	}
	return val{k: kBad}
}

// apply applies an operator that takes an operand to a present value.
func (c *evalCtx) apply(t *test, a, b val) bool {
	switch a.k {
	case kText:
		if b.k != kText {
			return t.op == IsNot
		}
		return textOp(t.op, a.s, b.s)
	case kNumber:
		if b.k != kNumber {
			return t.op == IsNot
		}
		switch t.op {
		case Is:
			return a.f == b.f
		case IsNot:
			return a.f != b.f
		case LessThan:
			return a.f < b.f
		case LessOrEqual:
			return a.f <= b.f
		case GreaterThan:
			return a.f > b.f
		case GreaterOrEqual:
			return a.f >= b.f
		}
	case kBool:
		if b.k != kBool {
			return t.op == IsNot
		}
		return (a.b == b.b) == (t.op == Is)
	case kDate, kDateTime:
		if b.k != kDate && b.k != kDateTime {
			return t.op == IsNot
		}
		return c.temporal(t, a, b)
	case kList:
		if t.op == Contains {
			l, _ := a.a.([]any)
			var x val
			for _, e := range l {
				if toVal(&x, b.k, e, compared) && same(x, b) {
					return true
				}
			}
		}
	}
	return false
}

// same reports whether two scalar values of one kind are equal.
func same(a, b val) bool {
	if a.k != b.k {
		return false
	}
	switch a.k {
	case kText:
		return equalFold(a.s, b.s)
	case kNumber:
		return a.f == b.f
	case kBool:
		return a.b == b.b
	case kDate:
		return a.day == b.day
	case kDateTime:
		return a.t.Equal(b.t)
	}
	return false
}

func textOp(op Op, s, x string) bool {
	switch op {
	case Is:
		return equalFold(s, x)
	case IsNot:
		return !equalFold(s, x)
	case Contains:
		return containsFold(s, x)
	case StartsWith:
		return hasPrefixFold(s, x)
	case EndsWith:
		return hasSuffixFold(s, x)
	}
	return false
}

// day returns the calendar day of a date or date-time value in loc.
func day(v val, loc *time.Location) int64 {
	if v.k == kDate {
		return v.day
	}
	return dayIn(v.t, loc)
}

// temporal applies a date operator. Two date-times compare as instants; a
// date with anything compares by calendar day in the condition's zone.
func (c *evalCtx) temporal(t *test, a, b val) bool {
	loc := c.zone(t.personTZ)
	switch t.op {
	case Is, IsNot, Before, Until, Since, After:
		var cmp int
		if a.k == kDateTime && b.k == kDateTime {
			cmp = a.t.Compare(b.t)
		} else {
			da, db := day(a, loc), day(b, loc)
			switch {
			case da < db:
				cmp = -1
			case da > db:
				cmp = 1
			}
		}
		switch t.op {
		case Is:
			return cmp == 0
		case IsNot:
			return cmp != 0
		case Before:
			return cmp < 0
		case Until:
			return cmp <= 0
		case Since:
			return cmp >= 0
		case After:
			return cmp > 0
		}
		return false
	case WasToday:
		y, m, d := c.now.In(loc).Date()
		return day(a, loc) == civil(y, m, d)
	}
	n, u := t.period.Amount, t.period.Unit
	if a.k == kDate && !u.calendar() {
		// A date measured in clock units starts at its midnight.
		y, m, d := a.t.Date()
		a = val{k: kDateTime, t: time.Date(y, m, d, 0, 0, 0, 0, loc)}
	}
	if a.k == kDate || t.op == WillBeIn && u.calendar() {
		y, m, d := c.now.In(loc).Date()
		today, v := civil(y, m, d), day(a, loc)
		switch t.op {
		case WillBeIn:
			return v == shiftDay(y, m, d, n, u)
		case WillBeWithin:
			return today <= v && v <= shiftDay(y, m, d, n, u)
		case WillBeMoreThan:
			return v > shiftDay(y, m, d, n, u)
		case WasWithin:
			return shiftDay(y, m, d, -n, u) <= v && v <= today
		case WasMoreThan:
			return v < shiftDay(y, m, d, -n, u)
		}
		return false
	}
	now, at := c.now, a.t
	switch t.op {
	case WillBeIn:
		d, _ := u.duration()
		lo := now.Add(time.Duration(n) * d)
		return !at.Before(lo) && at.Before(lo.Add(d))
	case WillBeWithin:
		return !at.Before(now) && !at.After(shift(now, n, u, loc))
	case WillBeMoreThan:
		return at.After(shift(now, n, u, loc))
	case WasWithin:
		return !at.Before(shift(now, -n, u, loc)) && !at.After(now)
	case WasMoreThan:
		return at.Before(shift(now, -n, u, loc))
	}
	return false
}

// contact applies a text test to the person's addresses of one kind: it
// holds when any address passes, except isNot, which holds when none is the
// operand. Phone numbers are compared without a leading "+".
func (c *evalCtx) contact(n *node) (bool, error) {
	p, t := c.s.Person, &n.test
	if c.explain {
		c.addrs, c.addr = addresses(p, n.contact), ""
	}
	switch t.op {
	case IsEmpty:
		return addresses(p, n.contact) == 0, nil
	case IsNotEmpty:
		return addresses(p, n.contact) > 0, nil
	}
	b, ok, err := c.resolve(t)
	if c.explain {
		c.arg, c.argOK = b, ok
	}
	if err != nil || !ok {
		return false, err
	}
	x := b.s
	if t.phone {
		x = strings.TrimPrefix(x, "+")
	}
	op := t.op
	if op == IsNot {
		op = Is
	}
	found := false
	for i := range addressSlots(p, n.contact) {
		s := address(p, n.contact, i)
		if t.phone {
			s = strings.TrimPrefix(s, "+")
		}
		if s != "" && textOp(op, s, x) {
			found = true
			if c.explain {
				c.addr = s
			}
			break
		}
	}
	return found != (t.op == IsNot), nil
}

func addressSlots(p *store.Person, kind string) int {
	switch kind {
	case ContactEmail:
		return len(p.Emails)
	case ContactPhone:
		return len(p.Phones)
	case ContactPush:
		return len(p.Push)
	}
	return 0
}

func address(p *store.Person, kind string, i int) string {
	switch kind {
	case ContactEmail:
		return p.Emails[i]
	case ContactPhone:
		return p.Phones[i]
	case ContactPush:
		return p.Push[i].App
	}
	return ""
}

// addresses counts a person's addresses of a kind: non-empty emails and
// phone numbers, and push registrations.
func addresses(p *store.Person, kind string) int {
	if kind == ContactPush {
		return len(p.Push)
	}
	n := 0
	for i := range addressSlots(p, kind) {
		if address(p, kind, i) != "" {
			n++
		}
	}
	return n
}

// event counts the events an event condition selects.
func (c *evalCtx) event(ec *eventCond) (bool, error) {
	if c.s.Events == nil {
		return false, errors.New("event condition needs the subject's event history (Subject.Events)")
	}
	var need int
	switch ec.op {
	case Happened, DidNotHappen:
		need = 1
	case AtLeast:
		need = ec.count
	case AtMost:
		need = ec.count + 1
	}
	if need == 0 { // atLeast 0
		if c.explain {
			c.count = -1
		}
		return true, nil
	}
	q := &store.EventQuery{Name: ec.name, Category: ec.category}
	if ec.within != nil {
		q.Since = shift(c.now, -ec.within.Amount, ec.within.Unit, c.zone(ec.personTZ))
	}
	if ec.sinceEntry {
		if c.s.EnteredAt.IsZero() {
			return false, errors.New("sinceEntry needs the subject's entry time (Subject.EnteredAt)")
		}
		if c.s.EnteredAt.After(q.Since) {
			q.Since = c.s.EnteredAt
		}
	}
	if ec.where == nil {
		q.Limit = need
	}
	evs, err := c.history(q)
	if err != nil {
		return false, err
	}
	count := 0
	for _, e := range evs {
		if e == nil || !q.Matches(e) {
			continue
		}
		if ec.where != nil {
			ok, err := c.where(ec.where, e)
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
		}
		if count++; count >= need {
			break
		}
	}
	if c.explain {
		c.count, c.capped = count, count >= need
	}
	switch ec.op {
	case Happened:
		return count >= 1, nil
	case DidNotHappen:
		return count == 0, nil
	case AtLeast:
		return count >= ec.count, nil
	}
	return count <= ec.count, nil
}

func (c *evalCtx) history(q *store.EventQuery) (evs []*store.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			evs, err = nil, fmt.Errorf("event history: panic: %v", r)
		}
	}()
	evs, err = c.s.Events(q)
	if err != nil {
		return nil, fmt.Errorf("event history: %w", err)
	}
	return evs, nil
}

// where reports whether e passes every property condition of w.
func (c *evalCtx) where(w *Where, e *store.Event) (bool, error) {
	for _, pc := range w.conds {
		ok, err := c.prop(pc, e)
		if err != nil {
			return false, &ConditionError{Path: pc.path, Err: err}
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func (c *evalCtx) prop(pc *propCond, e *store.Event) (bool, error) {
	raw, _ := e.Property(pc.name)
	want := pc.test.want
	if want == kAny && pc.test.op != IsEmpty && pc.test.op != IsNotEmpty {
		// Untyped: compare as whatever the operand is.
		b, ok, err := c.resolve(&pc.test)
		if err != nil || !ok {
			return false, err
		}
		want = b.k
		if want == kDate {
			want = kDateTime
		}
	}
	var a val
	toVal(&a, want, raw, compared)
	return c.run(&pc.test, a)
}

// Mismatch says, in words, why an event Match refuses fails for a reason
// its author may not see: the first condition the event fails has its
// property present with a value that condition cannot compare, such as
// "total": "99.5" (text) against greaterThan 50. It returns "" when the
// event matches, or fails its first failing condition for any other
// reason (a missing property, a value compared and found different). s is
// as for Match.
func (w *Where) Mismatch(e *store.Event, s *Subject) string {
	if w == nil || e == nil {
		return ""
	}
	if s == nil {
		s = &noSubject
	}
	var c evalCtx
	c.init(s, w.loc)
	for _, pc := range w.conds {
		ok, err := c.prop(pc, e)
		if err != nil {
			return ""
		}
		if ok {
			continue
		}
		raw, _ := e.Property(pc.name)
		if raw == nil || pc.test.op == IsEmpty || pc.test.op == IsNotEmpty {
			return ""
		}
		want := pc.test.want
		if want == kAny {
			b, ok, err := c.resolve(&pc.test)
			if err != nil || !ok {
				return ""
			}
			if want = b.k; want == kDate {
				want = kDateTime
			}
		}
		var a val
		if toVal(&a, want, raw, compared) {
			return ""
		}
		got, _ := values.TypeOf(raw)
		if got == "" {
			got = "value"
		}
		return fmt.Sprintf("property %q is %s %s, not %s: %s cannot compare it", pc.name, got, quoteRaw(raw), articleOf(want.String()), pc.desc)
	}
	return ""
}

// articleOf returns "a" or "an" for a word.
func articleOf(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}

// quoteRaw writes a property value for a reason, briefly.
func quoteRaw(v any) string {
	const max = 40
	var s string
	switch x := v.(type) {
	case string:
		if len(x) > max {
			x = x[:max] + "…"
		}
		return strconv.Quote(x)
	case float64:
		s = formatNumber(x)
	case bool:
		s = strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(v)
		s = string(b)
	}
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
