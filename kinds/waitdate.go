package kinds

import (
	"context"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// The WaitForDate options: when, relative to the date in the attribute, the
// participant goes on.
const (
	// DateIsIn goes on Period before the date: "TrialExpiry is in 4 hours".
	DateIsIn = "isIn"
	// DateWas goes on Period after the date: "TrialExpiry was 1 day ago".
	DateWas = "was"
	// DateIsToday goes on on the date's calendar day, at At (default
	// midnight): "DueDate is today".
	DateIsToday = "isToday"
	// DateIsTomorrow goes on the calendar day before the date, at At.
	DateIsTomorrow = "isTomorrow"
	// DateWasYesterday goes on the calendar day after the date, at At.
	DateWasYesterday = "wasYesterday"
)

// changeEvents are the events the waits for a profile change and for a
// date wake on; shared by every such wait, never changed.
var changeEvents = []string{store.AttributeChanged}

// The WaitForDate branches.
const (
	// BranchReached is taken at the moment the date sets.
	BranchReached = "reached"
	// BranchMissed is taken at once when there is no moment to wait for:
	// the attribute is empty, or the moment has passed.
	BranchMissed = "missed"
)

// WaitForDate holds a participant until a moment set by a date or datetime
// attribute of the person, then goes on by "reached"; when there is no such
// moment to wait for it goes on by "missed" at once.
//
// The moment is, for the options of When:
//
//	isIn N         N before the date (N minutes, hours, days or weeks)
//	was N          N after the date
//	isToday        on the date's calendar day, at At
//	isTomorrow     on the calendar day before the date, at At
//	wasYesterday   on the calendar day after the date, at At
//
// Calendar days, days and weeks count in the flow's time zone, or the
// person's when PersonTimeZone is set and the person has a valid one; they
// keep the wall clock across daylight-saving switches (a day is 23 or 25
// hours then), and a wall time in a gap moves forward by the gap (02:30
// on a spring-forward day reads 03:30). A date attribute stands for its calendar day at At (default
// 00:00) in that zone; a datetime attribute is an instant, whose calendar
// day is read in that zone. At is midnight when unset; it applies to the
// day options and to date attributes, not to isIn and was on a datetime.
//
// Arriving after the moment: isToday, isTomorrow and wasYesterday go on at
// once while the participant arrives on that calendar day (at or after At);
// otherwise, and for isIn and was, a moment already passed takes "missed",
// as does an empty attribute. A moment further away than the flow's
// schedule end or the engine's inactivity limit is cut by them like any
// wait: the participant leaves the flow.
//
// EveryYear ignores the year of the date and waits for the next yearly
// occurrence strictly after arrival: arriving on a birthday after its time
// waits for the next birthday, so a flow that acts and loops back to the
// wait acts once a year. February 29 falls on February 28 in years that are
// not leap years. An every-year wait takes "missed" only for an empty
// attribute. The engine's default inactivity limit is one calendar year,
// which every yearly loop fits in except a February 29 date, whose next
// occurrence after a February 28 is 366 days and a calendar year plus a
// day away: hosts with such loops set InactivityLimit to 367 days.
//
// With BusinessDays, a moment that falls on a day off moves forward to the
// same time on the next business day ("RenewalDate is tomorrow at 09:00,
// on business days" on a Sunday waits until Monday 09:00); the day options
// then go on at once on arrival during that business day.
//
// When the attribute (or, with PersonTimeZone, the person's time zone)
// changes while the participant waits, from the host's UpdatePerson or an
// Update Person Profile element in any flow, the wait is computed again from
// the new value, with the rules of arrival at the time of the change.
type WaitForDate struct {
	// Attribute names a date or datetime attribute, standard (birthDate)
	// or custom.
	Attribute string `json:"attribute"`
	// When is one of isIn, was, isToday, isTomorrow, wasYesterday.
	When string `json:"when"`
	// Period is the N of isIn and was.
	Period segment.Period `json:"period,omitzero"`
	// At is the time of day of the day options and of date attributes.
	At TimeOfDay `json:"at,omitzero"`
	// EveryYear ignores the year and recurs.
	EveryYear bool `json:"everyYear,omitempty"`
	// PersonTimeZone counts days in the person's time zone.
	PersonTimeZone bool `json:"personTimeZone,omitempty"`
	// BusinessDays moves a moment on a day off to the next business day.
	BusinessDays *BusinessDays `json:"businessDays,omitempty"`

	typ store.Type
}

// Kind implements element.Element.
func (*WaitForDate) Kind() string { return "waitForDate" }

// Branches implements element.Element.
func (*WaitForDate) Branches() []string { return []string{BranchReached, BranchMissed} }

// Validate implements element.Element.
func (w *WaitForDate) Validate(c *element.Compiler) error {
	if w.Attribute == "" {
		return element.Errorf("attribute", "attribute is missing")
	}
	t, ok := c.Schema.TypeOf(w.Attribute)
	if !ok {
		return element.Errorf("attribute", "unknown person attribute %q", w.Attribute)
	}
	if t != store.Date && t != store.DateTime {
		return element.Errorf("attribute", "attribute %q is %s, not a date or datetime", w.Attribute, t)
	}
	w.typ = t
	switch w.When {
	case DateIsIn, DateWas:
		if err := element.CheckPeriod(w.Period, "period"); err != nil {
			return err
		}
		if !w.At.IsZero() && t == store.DateTime {
			return element.Errorf("at", "a time of day applies to %s on a date attribute, not on datetime %q", w.When, w.Attribute)
		}
	case DateIsToday, DateIsTomorrow, DateWasYesterday:
		if !w.Period.IsZero() {
			return element.Errorf("period", "%s takes no period", w.When)
		}
	case "":
		return element.Errorf("when", "when is missing: one of isIn, was, isToday, isTomorrow, wasYesterday")
	default:
		return element.Errorf("when", "%q is not one of isIn, was, isToday, isTomorrow, wasYesterday", w.When)
	}
	if w.BusinessDays != nil {
		if err := w.BusinessDays.validate("businessDays"); err != nil {
			return err
		}
	}
	return nil
}

// Run implements element.Element.
func (w *WaitForDate) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	return w.schedule(r, "")
}

// Resume implements element.Resumer.
func (w *WaitForDate) Resume(_ context.Context, r *element.Run, wk element.Wake) (element.Outcome, error) {
	if wk.Timer {
		// Reached, unless the date changed without an event (an element
		// editing the person directly): then wait for the new date.
		if r.Wait != nil && !r.Wait.Until.IsZero() {
			v, loc, err := w.value(r)
			if err != nil {
				return element.Outcome{}, err
			}
			due := r.Wait.Until
			if !v.IsZero() {
				if m, _ := w.moment(v, due.Add(-time.Nanosecond), loc); m.Equal(due) {
					return element.Next(BranchReached, w.describe()+": reached"), nil
				}
			}
		}
		return w.schedule(r, "date changed: ")
	}
	ev := wk.Event
	if ev == nil || ev.Category != store.People || ev.Name != store.AttributeChanged {
		return element.Hold(*r.Wait, ""), nil
	}
	attr, _ := ev.Properties["attribute"].(string)
	if attr != w.Attribute && (!w.PersonTimeZone || attr != store.AttrTimeZone) {
		return element.Hold(*r.Wait, ""), nil
	}
	return w.schedule(r, attr+" changed: ")
}

// value returns the attribute's value (zero when empty) and the time zone.
func (w *WaitForDate) value(r *element.Run) (time.Time, *time.Location, error) {
	loc := r.TimeZone(w.PersonTimeZone)
	if r.Person == nil {
		return time.Time{}, loc, nil
	}
	raw, ok := r.Person.Get(w.Attribute)
	if !ok {
		return time.Time{}, loc, nil
	}
	typ := w.typ
	if typ == "" {
		typ = store.DateTime
	}
	cv, err := values.Convert(typ, raw)
	if err != nil {
		return time.Time{}, loc, fmt.Errorf("attribute %q: %w", w.Attribute, err)
	}
	t, _ := cv.(time.Time)
	return t, loc, nil
}

// schedule waits for the moment the attribute sets now, or goes on at once.
func (w *WaitForDate) schedule(r *element.Run, prefix string) (element.Outcome, error) {
	v, loc, err := w.value(r)
	if err != nil {
		return element.Outcome{}, err
	}
	if v.IsZero() {
		return element.Next(BranchMissed, prefix+fmt.Sprintf("%s is empty: no date to wait for (%s)", w.Attribute, w.describe())), nil
	}
	shown := element.FormatValue(v)
	if w.typ != store.Date {
		shown = v.In(loc).Format(time.RFC3339)
	}
	what := fmt.Sprintf("%s (%s)", w.describe(), shown)
	moment, atOnce := w.moment(v, r.Now, loc)
	switch {
	case atOnce:
		return element.Next(BranchReached, prefix+what+": reached on arrival"), nil
	case moment.IsZero():
		return element.Next(BranchMissed, prefix+what+": the moment has passed"), nil
	}
	return element.Hold(element.Wait{Until: moment, Events: changeEvents},
		prefix+what+": waiting until "+moment.In(loc).Format("Mon 2006-01-02 15:04 MST")), nil
}

// moment returns when a participant arriving at now waits until, for the
// date value v in the time zone loc: a moment after now, or atOnce to go
// on at once, or the zero time when the moment has passed.
func (w *WaitForDate) moment(v, now time.Time, loc *time.Location) (moment time.Time, atOnce bool) {
	if w.EveryYear {
		_, m, d := w.day(v, loc)
		y0 := now.In(loc).Year()
		// An occurrence of one year may fall in the year before or after
		// (a date in January, 2 weeks before).
		for y := y0 - 1; y <= y0+2; y++ {
			if at := w.at(v, anniversary(y, m, d), loc); at.After(now) {
				return at, false
			}
		}
		return time.Time{}, false
	}
	at := w.at(v, func() (int, time.Month, int) { return w.day(v, loc) }, loc)
	switch {
	case at.After(now):
		return at, false
	case at.Equal(now):
		return time.Time{}, true
	case w.dayOption():
		// Still on the day: go on.
		y, m, d := at.In(loc).Date()
		if now.Before(wall.Local(y, m, d+1, 0, 0, loc)) {
			return time.Time{}, true
		}
	}
	return time.Time{}, false
}

func (w *WaitForDate) dayOption() bool {
	return w.When == DateIsToday || w.When == DateIsTomorrow || w.When == DateWasYesterday
}

// day returns the calendar day of v: a date's own, a datetime's in loc.
func (w *WaitForDate) day(v time.Time, loc *time.Location) (int, time.Month, int) {
	if w.typ == store.Date {
		return v.Date()
	}
	return v.In(loc).Date()
}

// anniversary returns the day of month m, d in year y, February 29 falling
// on February 28 in other years.
func anniversary(y int, m time.Month, d int) func() (int, time.Month, int) {
	return func() (int, time.Month, int) {
		if m == time.February && d == 29 && !leap(y) {
			d = 28
		}
		return y, m, d
	}
}

func leap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// at returns the moment of the option for the date on the calendar day
// that day gives (the date itself, or an anniversary of it).
func (w *WaitForDate) at(v time.Time, day func() (int, time.Month, int), loc *time.Location) time.Time {
	t := w.exact(v, day, loc)
	if w.BusinessDays != nil {
		// No business day at all leaves no moment: the wait is missed.
		return w.BusinessDays.next(t, loc)
	}
	return t
}

// exact returns the moment of the option for the date on the calendar day
// that day gives, business days aside.
func (w *WaitForDate) exact(v time.Time, day func() (int, time.Month, int), loc *time.Location) time.Time {
	y, m, d := day()
	clk := w.At
	if clk.IsZero() {
		clk = At(0, 0)
	}
	switch w.When {
	case DateIsToday:
		return wall.Local(y, m, d, clk.Hour, clk.Minute, loc)
	case DateIsTomorrow:
		return wall.Local(y, m, d-1, clk.Hour, clk.Minute, loc)
	case DateWasYesterday:
		return wall.Local(y, m, d+1, clk.Hour, clk.Minute, loc)
	}
	var date time.Time
	switch {
	case w.typ == store.Date:
		date = wall.Local(y, m, d, clk.Hour, clk.Minute, loc)
	case !w.EveryYear:
		date = v
	default:
		// The datetime's wall clock on the anniversary.
		lv := v.In(loc)
		date = wall.Local(y, m, d, lv.Hour(), lv.Minute(), loc).
			Add(time.Duration(lv.Second())*time.Second + time.Duration(lv.Nanosecond()))
	}
	if w.When == DateIsIn {
		return w.Period.Before(date, loc)
	}
	return w.Period.After(date, loc)
}

func (w *WaitForDate) describe() string {
	var s string
	switch w.When {
	case DateIsIn:
		s = fmt.Sprintf("%s is in %s", w.Attribute, w.Period)
	case DateWas:
		s = fmt.Sprintf("%s was %s ago", w.Attribute, w.Period)
	case DateIsToday:
		s = w.Attribute + " is today"
	case DateIsTomorrow:
		s = w.Attribute + " is tomorrow"
	case DateWasYesterday:
		s = w.Attribute + " was yesterday"
	default:
		s = w.Attribute + " " + w.When
	}
	if !w.At.IsZero() {
		s += " at " + w.At.String()
	}
	if w.EveryYear {
		s += ", every year"
	}
	if w.BusinessDays != nil {
		s += ", on " + w.BusinessDays.String()
	}
	return s
}
