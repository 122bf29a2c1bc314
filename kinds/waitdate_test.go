package kinds_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

var dateSchema = store.Schema{"trialExpiry": store.DateTime, "dueDate": store.Date, "plan": store.Text}

// zones are the two time zones every Wait for a Date case runs in; their
// daylight-saving switches fall on different days.
var zones = []struct {
	name      string
	springDay int    // the March day clocks go forward, 02:00 -> 03:00
	fall      [2]int // the month and day clocks go back
}{
	{"Europe/Zagreb", 29, [2]int{10, 25}},
	{"America/New_York", 8, [2]int{11, 1}},
}

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func validated(t testing.TB, el element.Element, loc *time.Location, vars map[string]store.Type) element.Element {
	t.Helper()
	require.NoError(t, el.Validate(&element.Compiler{FlowID: "f", ElementID: "e", Schema: dateSchema, Location: loc, Variables: vars}))
	return el
}

func personWith(attr string, v any) *store.Person {
	p := &store.Person{}
	if v != nil {
		p.Set(attr, v)
	}
	return p
}

func TestWaitForDateValidate(t *testing.T) {
	cases := []struct {
		el    *kinds.WaitForDate
		field string
		msg   string
	}{
		{&kinds.WaitForDate{When: kinds.DateIsToday}, "attribute", "attribute is missing"},
		{&kinds.WaitForDate{Attribute: "nope", When: kinds.DateIsToday}, "attribute", `unknown person attribute "nope"`},
		{&kinds.WaitForDate{Attribute: "plan", When: kinds.DateIsToday}, "attribute", `attribute "plan" is text, not a date or datetime`},
		{&kinds.WaitForDate{Attribute: "dueDate"}, "when", "when is missing"},
		{&kinds.WaitForDate{Attribute: "dueDate", When: "isSoon"}, "when", `"isSoon" is not one of`},
		{&kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsIn}, "period.unit", `unit "" is not one of`},
		{&kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateWas, Period: segment.Period{Amount: -1, Unit: segment.Days}}, "period.amount", "amount must be positive"},
		{&kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsToday, Period: segment.Period{Amount: 1, Unit: segment.Days}}, "period", "isToday takes no period"},
		{&kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsIn, Period: segment.Period{Amount: 4, Unit: segment.Hours}, At: kinds.At(9, 0)}, "at", "a time of day applies to isIn on a date attribute"},
	}
	for _, tc := range cases {
		err := tc.el.Validate(&element.Compiler{Schema: dateSchema, Location: time.UTC})
		var fe *element.FieldError
		require.ErrorAs(t, err, &fe, "%+v", tc.el)
		require.Equal(t, tc.field, fe.Field)
		require.ErrorContains(t, err, tc.msg)
	}
	// Standard birthDate is a date attribute.
	require.NoError(t, (&kinds.WaitForDate{Attribute: store.AttrBirthDate, When: kinds.DateIsToday, EveryYear: true}).Validate(&element.Compiler{Location: time.UTC}))
}

// TestWaitForDateOptions runs every option in two time zones, with the
// expected moments written as wall clocks of the zone.
func TestWaitForDateOptions(t *testing.T) {
	for _, z := range zones {
		t.Run(z.name, func(t *testing.T) {
			loc := mustLoc(t, z.name)
			at := func(y int, m time.Month, d, h, mi int) time.Time { return time.Date(y, m, d, h, mi, 0, 0, loc) }
			day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
			sd := z.springDay
			cases := []struct {
				name  string
				el    *kinds.WaitForDate
				value any
				now   time.Time
				// branch is "" to wait until wall.
				branch string
				wall   time.Time
			}{
				{"isIn 4 hours", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsIn, Period: segment.Period{Amount: 4, Unit: segment.Hours}},
					at(2026, 6, 10, 14, 0), at(2026, 6, 9, 9, 0), "", at(2026, 6, 10, 10, 0)},
				{"isIn 4 hours exactly now", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsIn, Period: segment.Period{Amount: 4, Unit: segment.Hours}},
					at(2026, 6, 10, 14, 0), at(2026, 6, 10, 10, 0), kinds.BranchReached, time.Time{}},
				{"isIn 4 hours passed", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsIn, Period: segment.Period{Amount: 4, Unit: segment.Hours}},
					at(2026, 6, 10, 14, 0), at(2026, 6, 10, 11, 0), kinds.BranchMissed, time.Time{}},
				{"isIn 1 day across spring DST keeps the wall clock", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsIn, Period: segment.Period{Amount: 1, Unit: segment.Days}},
					at(2026, 3, sd, 12, 0), at(2026, 3, 1, 9, 0), "", at(2026, 3, sd-1, 12, 0)},
				{"isIn 24 hours across spring DST is exact", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsIn, Period: segment.Period{Amount: 24, Unit: segment.Hours}},
					at(2026, 3, sd, 12, 0), at(2026, 3, 1, 9, 0), "", at(2026, 3, sd-1, 11, 0)},
				{"isIn 2 days on a date at 09:00", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsIn, Period: segment.Period{Amount: 2, Unit: segment.Days}, At: kinds.At(9, 0)},
					day(2026, 3, sd+1), at(2026, 3, 1, 9, 0), "", at(2026, 3, sd-1, 9, 0)},
				{"was 1 day ago on a date", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateWas, Period: segment.Period{Amount: 1, Unit: segment.Days}},
					day(2026, 6, 10), at(2026, 6, 1, 9, 0), "", at(2026, 6, 11, 0, 0)},
				{"was 3 hours ago on a datetime", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateWas, Period: segment.Period{Amount: 3, Unit: segment.Hours}},
					at(2026, 6, 10, 23, 30), at(2026, 6, 1, 9, 0), "", at(2026, 6, 11, 2, 30)},
				{"was 1 week ago across fall DST", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateWas, Period: segment.Period{Amount: 1, Unit: segment.Weeks}},
					at(2026, time.Month(z.fall[0]), z.fall[1]-3, 8, 0), at(2026, 6, 1, 9, 0), "", at(2026, time.Month(z.fall[0]), z.fall[1]+4, 8, 0)},
				{"isToday on a date", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsToday},
					day(2026, 6, 10), at(2026, 6, 1, 9, 0), "", at(2026, 6, 10, 0, 0)},
				{"isToday at 09:30 on a datetime", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsToday, At: kinds.At(9, 30)},
					at(2026, 6, 10, 23, 59), at(2026, 6, 1, 9, 0), "", at(2026, 6, 10, 9, 30)},
				{"isToday arriving later that day goes on", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsToday, At: kinds.At(9, 0)},
					day(2026, 6, 10), at(2026, 6, 10, 17, 0), kinds.BranchReached, time.Time{}},
				{"isToday arriving the day after is missed", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsToday, At: kinds.At(9, 0)},
					day(2026, 6, 10), at(2026, 6, 11, 0, 0), kinds.BranchMissed, time.Time{}},
				{"isToday at 02:30 on the spring DST day moves past the gap", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsToday, At: kinds.At(2, 30)},
					day(2026, 3, sd), at(2026, 3, 1, 9, 0), "", at(2026, 3, sd, 3, 30)},
				{"isTomorrow", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsTomorrow, At: kinds.At(18, 0)},
					day(2026, 7, 1), at(2026, 6, 1, 9, 0), "", at(2026, 6, 30, 18, 0)},
				{"isTomorrow on a datetime reads its day in the zone", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsTomorrow},
					at(2026, 7, 1, 0, 30), at(2026, 6, 1, 9, 0), "", at(2026, 6, 30, 0, 0)},
				{"wasYesterday", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateWasYesterday, At: kinds.At(8, 15)},
					day(2026, 12, 31), at(2026, 6, 1, 9, 0), "", at(2027, 1, 1, 8, 15)},
				{"wasYesterday across the spring DST switch", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateWasYesterday, At: kinds.At(12, 0)},
					day(2026, 3, sd-1), at(2026, 3, 1, 9, 0), "", at(2026, 3, sd, 12, 0)},
				{"empty attribute is missed", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsToday},
					nil, at(2026, 6, 1, 9, 0), kinds.BranchMissed, time.Time{}},
				{"every year: this year's birthday ahead", &kinds.WaitForDate{Attribute: store.AttrBirthDate, When: kinds.DateIsToday, At: kinds.At(9, 0), EveryYear: true},
					day(1990, 8, 15), at(2026, 6, 1, 9, 0), "", at(2026, 8, 15, 9, 0)},
				{"every year: birthday passed waits for next year", &kinds.WaitForDate{Attribute: store.AttrBirthDate, When: kinds.DateIsToday, At: kinds.At(9, 0), EveryYear: true},
					day(1990, 3, 15), at(2026, 6, 1, 9, 0), "", at(2027, 3, 15, 9, 0)},
				{"every year: on the day after its time waits a year", &kinds.WaitForDate{Attribute: store.AttrBirthDate, When: kinds.DateIsToday, At: kinds.At(9, 0), EveryYear: true},
					day(1990, 6, 1), at(2026, 6, 1, 9, 0), "", at(2027, 6, 1, 9, 0)},
				{"every year: Feb 29 falls on Feb 28 in 2026", &kinds.WaitForDate{Attribute: store.AttrBirthDate, When: kinds.DateIsToday, At: kinds.At(9, 0), EveryYear: true},
					day(2000, 2, 29), at(2026, 1, 10, 9, 0), "", at(2026, 2, 28, 9, 0)},
				{"every year: Feb 29 in a leap year", &kinds.WaitForDate{Attribute: store.AttrBirthDate, When: kinds.DateIsToday, At: kinds.At(9, 0), EveryYear: true},
					day(2000, 2, 29), at(2027, 12, 1, 9, 0), "", at(2028, 2, 29, 9, 0)},
				{"every year: Feb 29 wasYesterday is Mar 1 in 2027", &kinds.WaitForDate{Attribute: store.AttrBirthDate, When: kinds.DateWasYesterday, EveryYear: true},
					day(2000, 2, 29), at(2026, 12, 1, 9, 0), "", at(2027, 3, 1, 0, 0)},
				{"every year: isIn 7 days of a January date falls in December", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsIn, Period: segment.Period{Amount: 7, Unit: segment.Days}, EveryYear: true},
					day(2020, 1, 3), at(2026, 12, 1, 9, 0), "", at(2026, 12, 27, 0, 0)},
				{"every year on a datetime keeps its wall clock", &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateWas, Period: segment.Period{Amount: 2, Unit: segment.Hours}, EveryYear: true},
					at(2020, 11, 20, 16, 45), at(2026, 6, 1, 9, 0), "", at(2026, 11, 20, 18, 45)},
				{"every year: a passed moment is never missed", &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateWas, Period: segment.Period{Amount: 1, Unit: segment.Days}, EveryYear: true},
					day(2025, 5, 31), at(2026, 6, 1, 9, 0), "", at(2027, 6, 1, 0, 0)},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					el := validated(t, tc.el, loc, nil)
					r := &element.Run{Now: tc.now, Location: loc, Person: personWith(tc.el.Attribute, tc.value)}
					out, err := el.Run(context.Background(), r)
					require.NoError(t, err)
					if tc.branch != "" {
						require.Nil(t, out.Wait, out.Reason)
						require.Equal(t, tc.branch, out.Branch, out.Reason)
						return
					}
					require.NotNil(t, out.Wait, "%s: %s", out.Branch, out.Reason)
					require.Equal(t, tc.wall.Format(time.RFC3339), out.Wait.Until.In(loc).Format(time.RFC3339), out.Reason)
					require.Equal(t, []string{store.AttributeChanged}, out.Wait.Events)
				})
			}
		})
	}
}

func TestWaitForDatePersonTimeZone(t *testing.T) {
	flowLoc := mustLoc(t, "Europe/Zagreb")
	el := validated(t, &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsToday, At: kinds.At(9, 0), PersonTimeZone: true}, flowLoc, nil)
	p := personWith("dueDate", time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC))
	p.TimeZone = "Asia/Tokyo"
	r := &element.Run{Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Location: flowLoc, Person: p}
	out, err := el.Run(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), out.Wait.Until.UTC(), "09:00 in Tokyo")

	// The person moves to New York while waiting: the wait follows.
	r.Wait = out.Wait
	p.TimeZone = "America/New_York"
	out, err = el.(element.Resumer).Resume(context.Background(), r, element.Wake{Event: &store.Event{
		Category: store.People, Name: store.AttributeChanged, Properties: map[string]any{"attribute": store.AttrTimeZone, "new": "America/New_York"}}})
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC), out.Wait.Until.UTC(), "09:00 in New York")
	require.Contains(t, out.Reason, "timeZone changed: ")

	// A person with an invalid zone falls back to the flow's.
	p.TimeZone = "Mars/Olympus"
	out, err = el.Run(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 6, 10, 7, 0, 0, 0, time.UTC), out.Wait.Until.UTC(), "09:00 in Zagreb")
}

func TestWaitForDateResume(t *testing.T) {
	loc := mustLoc(t, "Europe/Zagreb")
	el := validated(t, &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsIn, Period: segment.Period{Amount: 4, Unit: segment.Hours}}, loc, nil)
	res := el.(element.Resumer)
	ctx := context.Background()
	expiry := time.Date(2026, 6, 10, 14, 0, 0, 0, loc)
	p := personWith("trialExpiry", expiry)
	r := &element.Run{Now: time.Date(2026, 6, 1, 9, 0, 0, 0, loc), Location: loc, Person: p}
	out, err := el.Run(ctx, r)
	require.NoError(t, err)
	r.Wait = out.Wait
	changed := func(attr string, v any) element.Wake {
		return element.Wake{Event: &store.Event{Category: store.People, Name: store.AttributeChanged, Properties: map[string]any{"attribute": attr, "new": v}}}
	}

	// Another attribute changing leaves the wait as it is.
	out, err = res.Resume(ctx, r, changed("plan", "pro"))
	require.NoError(t, err)
	require.Equal(t, *r.Wait, *out.Wait)
	require.Empty(t, out.Reason)

	// The trial is extended: the wait moves.
	p.Set("trialExpiry", expiry.AddDate(0, 0, 7))
	out, err = res.Resume(ctx, r, changed("trialExpiry", expiry.AddDate(0, 0, 7)))
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 6, 17, 10, 0, 0, 0, loc), out.Wait.Until.In(loc))
	require.Contains(t, out.Reason, "trialExpiry changed: trialExpiry is in 4 hours")
	r.Wait = out.Wait

	// The timer fires with the date unchanged: next.
	r.Now = out.Wait.Until
	out, err = res.Resume(ctx, r, element.Wake{Timer: true})
	require.NoError(t, err)
	require.Equal(t, kinds.BranchReached, out.Branch)

	// The date changed without an event (an element editing the person
	// directly): the timer reschedules instead of going on.
	p.Set("trialExpiry", expiry.AddDate(0, 1, 0))
	out, err = res.Resume(ctx, r, element.Wake{Timer: true})
	require.NoError(t, err)
	require.NotNil(t, out.Wait, out.Reason)
	require.Equal(t, time.Date(2026, 7, 10, 10, 0, 0, 0, loc), out.Wait.Until.In(loc))
	r.Wait = out.Wait

	// Emptied while waiting: missed. Moved into the past: missed.
	p.Set("trialExpiry", nil)
	out, err = res.Resume(ctx, r, changed("trialExpiry", nil))
	require.NoError(t, err)
	require.Equal(t, kinds.BranchMissed, out.Branch)
	require.Contains(t, out.Reason, "trialExpiry is empty")
	p.Set("trialExpiry", r.Now.Add(time.Hour))
	out, err = res.Resume(ctx, r, changed("trialExpiry", r.Now.Add(time.Hour)))
	require.NoError(t, err)
	require.Equal(t, kinds.BranchMissed, out.Branch)
	require.Contains(t, out.Reason, "the moment has passed")
}

func TestWaitForDateBadValue(t *testing.T) {
	el := validated(t, &kinds.WaitForDate{Attribute: "trialExpiry", When: kinds.DateIsToday}, time.UTC, nil)
	p := &store.Person{Attributes: map[string]any{"trialExpiry": "next tuesday"}}
	_, err := el.Run(context.Background(), &element.Run{Now: time.Now(), Location: time.UTC, Person: p})
	require.EqualError(t, err, `attribute "trialExpiry": text value next tuesday (string) is not a datetime`)
}
