package kinds

import (
	"fmt"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/wall"
)

// MaxHolidays bounds BusinessDays.Holidays.
const MaxHolidays = 1000

// BusinessDays are the days a business works: some weekdays, less
// holidays. A Pause or Wait for a Date with BusinessDays moves a moment
// that falls on another day forward to the same time of day on the next
// business day, in the same time zone (the person's when the element
// says so), so "until 09:00" on business days is "the next business day
// at 09:00".
type BusinessDays struct {
	// Weekdays are the working weekdays by English name ("monday").
	// Defaults to Monday to Friday.
	Weekdays []string `json:"weekdays,omitempty"`
	// Holidays are days off: "2026-12-24" for one date, "12-25" for the
	// same day every year. At most MaxHolidays.
	Holidays []string `json:"holidays,omitempty"`

	days   [7]bool
	dates  map[string]bool // "2006-01-02"
	yearly map[string]bool // "01-02"
}

// validate checks and compiles the business days; field names them in
// errors.
func (b *BusinessDays) validate(field string) error {
	b.days = [7]bool{}
	if len(b.Weekdays) == 0 {
		for d := time.Monday; d <= time.Friday; d++ {
			b.days[d] = true
		}
	}
	for i, name := range b.Weekdays {
		d, ok := wall.ParseWeekday(name)
		if !ok {
			return element.Errorf(fmt.Sprintf("%s.weekdays[%d]", field, i), "%q is not a weekday", name)
		}
		b.days[d] = true
	}
	if len(b.Holidays) > MaxHolidays {
		return element.Errorf(field+".holidays", "%d holidays are more than %d", len(b.Holidays), MaxHolidays)
	}
	b.dates, b.yearly = map[string]bool{}, map[string]bool{}
	for i, h := range b.Holidays {
		f := fmt.Sprintf("%s.holidays[%d]", field, i)
		if _, err := time.Parse("2006-01-02", h); err == nil {
			b.dates[h] = true
			continue
		}
		// A yearly holiday: any year, February 29 included.
		if _, err := time.Parse("2006-01-02", "2024-"+h); err != nil || len(h) != 5 {
			return element.Errorf(f, "%q is not a date like 2026-12-24 or a yearly day like 12-25", h)
		}
		b.yearly[h] = true
	}
	return nil
}

// works reports whether a calendar day is a business day.
func (b *BusinessDays) works(y int, m time.Month, d int) bool {
	day := time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
	if !b.days[day.Weekday()] {
		return false
	}
	ymd := day.Format("2006-01-02")
	return !b.dates[ymd] && !b.yearly[ymd[5:]]
}

// next returns t when its calendar day in loc is a business day, else the
// same wall time on the next business day; the zero time when there is
// none within the search (every day a holiday).
func (b *BusinessDays) next(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	y, m, d := lt.Date()
	// Each holiday takes at most one working day: a business day comes
	// within a week more than the holidays can take.
	for i := 0; i <= 7*(2+len(b.Holidays)); i++ {
		if !b.works(y, m, d+i) {
			continue
		}
		if i == 0 {
			return t
		}
		return wall.Local(y, m, d+i, lt.Hour(), lt.Minute(), loc).
			Add(time.Duration(lt.Second())*time.Second + time.Duration(lt.Nanosecond()))
	}
	return time.Time{}
}

// String describes the business days, such as "business days
// (monday-friday, 2 holidays)".
func (b *BusinessDays) String() string {
	var days []string
	for d := range 7 {
		if wd := time.Weekday((d + 1) % 7); b.days[wd] {
			days = append(days, strings.ToLower(wd.String()))
		}
	}
	s := strings.Join(days, ", ")
	if s == "monday, tuesday, wednesday, thursday, friday" {
		s = "monday-friday"
	}
	if n := len(b.Holidays); n > 0 {
		s += fmt.Sprintf(", %d holidays", n)
	}
	return "business days (" + s + ")"
}
