package element

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Unit is a unit of a Period.
type Unit string

// The period units. Days and weeks are calendar days in a time zone: a day
// across a daylight-saving switch lasts 23 or 25 hours and keeps the wall
// clock.
const (
	Seconds Unit = "seconds"
	Minutes Unit = "minutes"
	Hours   Unit = "hours"
	Days    Unit = "days"
	Weeks   Unit = "weeks"
)

// Period is an amount of time units, such as 3 days.
type Period struct {
	Amount int  `json:"amount"`
	Unit   Unit `json:"unit"`
}

// IsZero reports whether the period is unset.
func (p Period) IsZero() bool { return p == Period{} }

// Validate checks the unit and that the amount is positive.
func (p Period) Validate(field string) error {
	switch p.Unit {
	case Seconds, Minutes, Hours, Days, Weeks:
	default:
		return Errorf(field+".unit", "unit %q is not one of seconds, minutes, hours, days, weeks", p.Unit)
	}
	if p.Amount <= 0 {
		return Errorf(field+".amount", "amount must be positive, got %d", p.Amount)
	}
	if p.Amount > 1_000_000_000/secondsIn(p.Unit) {
		return Errorf(field+".amount", "amount %d %s is too long", p.Amount, p.Unit)
	}
	return nil
}

func secondsIn(u Unit) int {
	switch u {
	case Minutes:
		return 60
	case Hours:
		return 3600
	case Days:
		return 86400
	case Weeks:
		return 7 * 86400
	}
	return 1
}

// After returns t plus the period, counting days and weeks in loc with the
// daylight-saving rules of TimeOfDay.On (time.AddDate leaves gaps and repeated
// wall times unspecified, and in practice differs by zone).
func (p Period) After(t time.Time, loc *time.Location) time.Time {
	days := 0
	switch p.Unit {
	case Days:
		days = p.Amount
	case Weeks:
		days = 7 * p.Amount
	default:
		return t.Add(time.Duration(p.Amount) * time.Duration(secondsIn(p.Unit)) * time.Second)
	}
	l := t.In(loc)
	y, m, d := l.Date()
	sub := time.Duration(l.Second())*time.Second + time.Duration(l.Nanosecond())
	return localTime(y, m, d+days, l.Hour(), l.Minute(), loc).Add(sub)
}

// Before returns t minus the period, counting days and weeks in loc.
func (p Period) Before(t time.Time, loc *time.Location) time.Time {
	return Period{Amount: -p.Amount, Unit: p.Unit}.After(t, loc)
}

// String returns the period in words, such as "3 days".
func (p Period) String() string {
	u := strings.TrimSuffix(string(p.Unit), "s")
	if p.Amount != 1 {
		u += "s"
	}
	return fmt.Sprintf("%d %s", p.Amount, u)
}

// TimeOfDay is a time of day, written "HH:MM" in JSON.
type TimeOfDay struct {
	Hour, Minute int
	set          bool
}

// At returns a TimeOfDay reading hour:minute.
func At(hour, minute int) TimeOfDay { return TimeOfDay{Hour: hour, Minute: minute, set: true} }

// IsZero reports whether the time of day is unset.
func (c TimeOfDay) IsZero() bool { return !c.set }

// String returns the time of day as "HH:MM".
func (c TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

// MarshalJSON implements json.Marshaler.
func (c TimeOfDay) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (c *TimeOfDay) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time of day must be a string \"HH:MM\"")
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return fmt.Errorf("time of day %q is not HH:MM", s)
	}
	*c = At(t.Hour(), t.Minute())
	return nil
}

// On returns the instant of this time of day on t's calendar day in loc. A
// time in a daylight-saving gap moves forward by the gap (02:30 on a
// spring-forward day reads 03:30); a time that occurs twice takes the first.
func (c TimeOfDay) On(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return localTime(y, m, d, c.Hour, c.Minute, loc)
}

// LocalTime returns the instant a wall clock in loc reads the given day and
// time, with the daylight-saving rules documented on TimeOfDay.On.
func LocalTime(y int, m time.Month, d, hour, minute int, loc *time.Location) time.Time {
	return localTime(y, m, d, hour, minute, loc)
}

// localTime is time.Date with the gap and overlap rules documented on On;
// time.Date itself leaves them unspecified.
func localTime(y int, m time.Month, d, hour, minute int, loc *time.Location) time.Time {
	wall := time.Date(y, m, d, hour, minute, 0, 0, time.UTC)
	guess := time.Date(y, m, d, hour, minute, 0, 0, loc)
	_, offBefore := guess.Add(-12 * time.Hour).Zone()
	_, offAfter := guess.Add(12 * time.Hour).Zone()
	a := wall.Add(-time.Duration(offBefore) * time.Second)
	b := wall.Add(-time.Duration(offAfter) * time.Second)
	if b.Before(a) {
		a, b = b, a
	}
	reads := func(t time.Time) bool {
		lt := t.In(loc)
		return lt.Hour() == hour && lt.Minute() == minute && lt.Day() == wall.Day()
	}
	switch {
	case reads(a):
		return a.In(loc)
	case reads(b):
		return b.In(loc)
	}
	// In a gap: with the offset in force before it, the wall time lands
	// after the gap, moved forward by its length.
	return wall.Add(-time.Duration(offBefore) * time.Second).In(loc)
}

// NextAt returns the first instant at or after t whose wall clock in loc
// reads c.
func (c TimeOfDay) NextAt(t time.Time, loc *time.Location) time.Time {
	at := c.On(t, loc)
	if at.Before(t) {
		y, m, d := t.In(loc).Date()
		at = localTime(y, m, d+1, c.Hour, c.Minute, loc)
	}
	return at
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// ParseWeekday reads a weekday name in English, in any case.
func ParseWeekday(s string) (time.Weekday, bool) {
	d, ok := weekdays[strings.ToLower(s)]
	return d, ok
}
