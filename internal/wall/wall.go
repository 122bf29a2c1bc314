// Package wall turns wall-clock readings into instants with the
// daylight-saving rules that every part of flowkit follows, and reads
// time zones and weekday names.
package wall

import (
	"strings"
	"sync"
	"time"
)

// Local returns the instant a wall clock in loc reads the given day and
// time: time.Date with fixed rules where time.Date leaves them
// unspecified. A time in a daylight-saving gap moves forward by the gap
// (02:30 on a spring-forward day reads 03:30); a time that occurs twice
// takes the first.
func Local(y int, m time.Month, d, hour, minute int, loc *time.Location) time.Time {
	guess := time.Date(y, m, d, hour, minute, 0, 0, loc)
	if start, end := guess.ZoneBounds(); (start.IsZero() || guess.Sub(start) >= 12*time.Hour) &&
		(end.IsZero() || end.Sub(guess) >= 12*time.Hour) {
		return guess // no switch near: the wall time is there once
	}
	_, offBefore := guess.Add(-12 * time.Hour).Zone()
	_, offAfter := guess.Add(12 * time.Hour).Zone()
	wall := time.Date(y, m, d, hour, minute, 0, 0, time.UTC)
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

var locations sync.Map // name -> *time.Location

// LoadLocation is time.LoadLocation with a cache, since steps look time
// zones up often.
func LoadLocation(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
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
