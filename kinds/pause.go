package kinds

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/segment"
)

// The Pause modes.
const (
	// PauseFor waits a period, then optionally until a time of day:
	// "3 days, until 13:00".
	PauseFor = "for"
	// PauseUntil waits until a weekday and/or a time of day:
	// "Monday 13:00".
	PauseUntil = "until"
	// PauseDate waits until an exact local date and time:
	// "30 November 13:00".
	PauseDate = "date"
)

// Pause holds a participant for a time, then goes on by "next".
//
// PauseFor waits Period from arrival (days count in the time zone and keep
// the wall clock across daylight-saving switches); with At set it then waits
// on until the next At: "3 days, until 13:00". PauseUntil waits until the
// next Weekday and/or At; a milestone already reached on arrival goes on at
// once: "Monday" arriving on a Monday, "13:00" or "Monday 13:00" arriving
// at 13:00 (on a Monday). Arriving later than At waits for the next one:
// "13:00" at 14:00 waits for 13:00 the next day, "Monday 13:00" on a Monday
// at 14:00 for the next Monday. PauseDate waits until Date,
// a local "2006-01-02T15:04" (a date in the past goes on at once). Wall
// times in a daylight-saving gap move forward by the gap; those that occur
// twice take the first. Times are in the flow's time zone, or the person's
// when PersonTimeZone is set and the person has a valid one.
//
// With BusinessDays, a moment that falls on a day off moves forward to the
// same time on the next business day: mode "until" with At 09:00 and
// business days Monday to Friday is "the next business day at 09:00"
// (arriving on Friday at 10:00, or on Saturday, waits until Monday 09:00;
// arriving on a Tuesday at 08:00 waits until 09:00 that day). A moment
// already reached on arrival goes on at once only on a business day.
type Pause struct {
	Mode           string         `json:"mode"`
	Period         segment.Period `json:"period,omitzero"`
	Weekday        string         `json:"weekday,omitempty"`
	At             TimeOfDay      `json:"at,omitzero"`
	Date           string         `json:"date,omitempty"`
	PersonTimeZone bool           `json:"personTimeZone,omitempty"`
	BusinessDays   *BusinessDays  `json:"businessDays,omitempty"`

	weekday time.Weekday
	date    time.Time // wall reading, in UTC
	desc    string    // the pause in words, for the journal
	over    string
}

// Kind implements element.Element.
func (*Pause) Kind() string { return "pause" }

// Branches implements element.Element.
func (*Pause) Branches() []string { return []string{element.BranchNext} }

// Validate implements element.Element.
func (p *Pause) Validate(c *element.Compiler) error {
	if err := p.validate(); err != nil {
		return err
	}
	if p.BusinessDays != nil {
		if err := p.BusinessDays.validate("businessDays"); err != nil {
			return err
		}
	}
	p.desc = p.describe()
	if p.BusinessDays != nil {
		p.desc += " on " + p.BusinessDays.String()
	}
	p.over = "pause over: " + p.desc
	return nil
}

func (p *Pause) validate() error {
	if !p.At.IsZero() && (p.At.Hour < 0 || p.At.Hour > 23 || p.At.Minute < 0 || p.At.Minute > 59) {
		return element.Errorf("at", "time of day %s is not between 00:00 and 23:59", p.At)
	}
	switch p.Mode {
	case PauseFor:
		if err := element.CheckPeriod(p.Period, "period"); err != nil {
			return err
		}
		if p.Weekday != "" || p.Date != "" {
			return element.Errorf("mode", "mode %q takes a period and an optional time of day only", p.Mode)
		}
	case PauseUntil:
		if p.Weekday == "" && p.At.IsZero() {
			return element.Errorf("weekday", "mode %q needs a weekday, a time of day, or both", p.Mode)
		}
		if p.Weekday != "" {
			d, ok := wall.ParseWeekday(p.Weekday)
			if !ok {
				return element.Errorf("weekday", "%q is not a weekday", p.Weekday)
			}
			p.weekday = d
		}
		if !p.Period.IsZero() || p.Date != "" {
			return element.Errorf("mode", "mode %q takes a weekday and/or a time of day only", p.Mode)
		}
	case PauseDate:
		t, err := time.Parse("2006-01-02T15:04", p.Date)
		if err != nil {
			return element.Errorf("date", "%q is not a local date and time like 2026-11-30T13:00", p.Date)
		}
		p.date = t
		if !p.Period.IsZero() || p.Weekday != "" || !p.At.IsZero() {
			return element.Errorf("mode", "mode %q takes a date only", p.Mode)
		}
	default:
		return element.Errorf("mode", "mode %q is not one of for, until, date", p.Mode)
	}
	return nil
}

// Run implements element.Element.
func (p *Pause) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	loc := r.TimeZone(p.PersonTimeZone)
	until := p.target(r.Now, loc)
	if p.BusinessDays != nil {
		if until = p.BusinessDays.next(until, loc); until.IsZero() {
			return element.Outcome{}, fmt.Errorf("pause %s: no business day to wait for", p.desc)
		}
	}
	if !until.After(r.Now) {
		return element.Next(element.BranchNext, "pause already over: "+p.desc), nil
	}
	var buf [96]byte // the reason, made in one allocation
	reason := append(append(append(buf[:0], "pause "...), p.desc...), ": until "...)
	reason = until.In(loc).AppendFormat(reason, "Mon 2006-01-02 15:04 MST")
	return element.Hold(element.Wait{Until: until}, string(reason)), nil
}

// Resume implements element.Resumer.
func (p *Pause) Resume(_ context.Context, r *element.Run, w element.Wake) (element.Outcome, error) {
	if !w.Timer {
		return element.Hold(*r.Wait, ""), nil
	}
	return element.Next(element.BranchNext, p.over), nil
}

func (p *Pause) target(now time.Time, loc *time.Location) time.Time {
	switch p.Mode {
	case PauseFor:
		t := p.Period.After(now, loc)
		if !p.At.IsZero() {
			t = p.At.nextAt(t, loc)
		}
		return t
	case PauseUntil:
		local := now.In(loc)
		if p.Weekday == "" {
			return p.At.nextAt(now, loc)
		}
		days := (int(p.weekday) - int(local.Weekday()) + 7) % 7
		y, m, d := local.Date()
		at := p.At
		if at.IsZero() {
			at = At(0, 0)
		}
		t := wall.Local(y, m, d+days, at.Hour, at.Minute, loc)
		if days == 0 && t.Before(now) && !p.At.IsZero() {
			t = wall.Local(y, m, d+7, at.Hour, at.Minute, loc)
		}
		return t
	default:
		return wall.Local(p.date.Year(), p.date.Month(), p.date.Day(), p.date.Hour(), p.date.Minute(), loc)
	}
}

func (p *Pause) describe() string {
	switch p.Mode {
	case PauseFor:
		if !p.At.IsZero() {
			return p.Period.String() + ", until " + p.At.String()
		}
		return p.Period.String()
	case PauseUntil:
		var parts []string
		if p.Weekday != "" {
			parts = append(parts, p.weekday.String())
		}
		if !p.At.IsZero() {
			parts = append(parts, p.At.String())
		}
		return strings.Join(parts, " ")
	}
	return p.Date
}
