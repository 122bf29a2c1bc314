// Package wall turns wall-clock readings into instants with the
// daylight-saving rules that every part of flowkit follows.
package wall

import "time"

// Local returns the instant a wall clock in loc reads the given day and
// time: time.Date with fixed rules where time.Date leaves them
// unspecified. A time in a daylight-saving gap moves forward by the gap
// (02:30 on a spring-forward day reads 03:30); a time that occurs twice
// takes the first.
func Local(y int, m time.Month, d, hour, minute int, loc *time.Location) time.Time {
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
