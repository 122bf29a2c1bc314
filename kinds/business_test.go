package kinds_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/stretchr/testify/require"
)

// "The next business day at 09:00 in the person's zone": weekends,
// holidays (dated and yearly), the same day before 09:00, arriving at
// 09:00, and a daylight-saving switch on the way.
func TestPauseBusinessDays(t *testing.T) {
	bd := func() *kinds.BusinessDays {
		return &kinds.BusinessDays{Holidays: []string{"2026-12-24", "12-25"}}
	}
	next9 := func() kinds.Pause {
		return kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(9, 0), BusinessDays: bd()}
	}
	zg := func(y int, m time.Month, d, h, mi int) time.Time { return tzWall(zoneZagreb, y, m, d, h, mi) }
	ny := func(y int, m time.Month, d, h, mi int) time.Time { return tzWall(zoneNewYork, y, m, d, h, mi) }
	for _, tc := range []pauseCase{
		{name: "tuesday before 09:00 waits for that morning", pause: next9(), zone: zoneZagreb, now: zg(2026, 3, 3, 8, 0), want: zg(2026, 3, 3, 9, 0)},
		{name: "tuesday after 09:00 waits for wednesday", pause: next9(), zone: zoneZagreb, now: zg(2026, 3, 3, 10, 0), want: zg(2026, 3, 4, 9, 0)},
		{name: "friday after 09:00 waits for monday", pause: next9(), zone: zoneZagreb, now: zg(2026, 3, 6, 10, 0), want: zg(2026, 3, 9, 9, 0)},
		{name: "saturday at 09:00 waits for monday", pause: next9(), zone: zoneZagreb, now: zg(2026, 3, 7, 9, 0), want: zg(2026, 3, 9, 9, 0)},
		{name: "tuesday at 09:00 goes on", pause: next9(), zone: zoneZagreb, now: zg(2026, 3, 3, 9, 0)},
		{name: "holidays are skipped", pause: next9(), zone: zoneZagreb, now: zg(2026, 12, 23, 10, 0), want: zg(2026, 12, 28, 9, 0)},
		{name: "a yearly holiday in another year", pause: next9(), zone: zoneZagreb, now: zg(2027, 12, 24, 10, 0), want: zg(2027, 12, 27, 9, 0)},
		{name: "across the spring switch", pause: next9(), zone: zoneZagreb, now: zg(2026, 3, 27, 10, 0), want: zg(2026, 3, 30, 9, 0), took: 70 * time.Hour},
		{name: "in the person's zone", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(9, 0), BusinessDays: bd(), PersonTimeZone: true},
			zone: zoneZagreb, person: zoneNewYork, now: zg(2026, 3, 6, 23, 0), want: ny(2026, 3, 9, 9, 0)}, // friday 17:00 in New York
		{name: "a period ending on sunday moves to monday", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(2), BusinessDays: bd()},
			zone: zoneZagreb, now: zg(2026, 3, 6, 15, 30), want: zg(2026, 3, 9, 15, 30)},
		{name: "weekend shops", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(9, 0), BusinessDays: &kinds.BusinessDays{Weekdays: []string{"Saturday", "sunday"}}},
			zone: zoneZagreb, now: zg(2026, 3, 2, 10, 0), want: zg(2026, 3, 7, 9, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) { checkPause(t, tc) })
	}
	out := runPause(t, pauseCase{pause: next9(), zone: zoneZagreb, now: zg(2026, 3, 6, 10, 0)})
	require.Equal(t, "pause 09:00 on business days (monday-friday, 2 holidays): until Mon 2026-03-09 09:00 CET", out.Reason)
}

func TestBusinessDaysValidate(t *testing.T) {
	for _, tc := range []struct {
		bd    kinds.BusinessDays
		field string
	}{
		{kinds.BusinessDays{Weekdays: []string{"monday", "funday"}}, "businessDays.weekdays[1]"},
		{kinds.BusinessDays{Holidays: []string{"2026-13-01"}}, "businessDays.holidays[0]"},
		{kinds.BusinessDays{Holidays: []string{"12-25", "25.12."}}, "businessDays.holidays[1]"},
		{kinds.BusinessDays{Holidays: []string{"02-30"}}, "businessDays.holidays[0]"},
		{kinds.BusinessDays{Holidays: make([]string, kinds.MaxHolidays+1)}, "businessDays.holidays"},
	} {
		bd := tc.bd
		p := &kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(9, 0), BusinessDays: &bd}
		err := p.Validate(&element.Compiler{FlowID: "f", ElementID: "pause"})
		require.Error(t, err)
		var fe *element.FieldError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, tc.field, fe.Field, err.Error())
	}
}

// Wait for a Date moves a moment on a day off to the next business day,
// in the person's zone.
func TestWaitForDateBusinessDays(t *testing.T) {
	flowLoc := mustLoc(t, "Europe/Zagreb")
	el := validated(t, &kinds.WaitForDate{Attribute: "dueDate", When: kinds.DateIsTomorrow, At: kinds.At(9, 0), PersonTimeZone: true,
		BusinessDays: &kinds.BusinessDays{}}, flowLoc, nil)
	p := personWith("dueDate", time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)) // a Monday: tomorrow is Sunday
	p.TimeZone = zoneNewYork
	r := &element.Run{Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Location: flowLoc, Person: p}
	out, err := el.Run(context.Background(), r)
	require.NoError(t, err)
	require.NotNil(t, out.Wait, out.Reason)
	require.True(t, tzWall(zoneNewYork, 2026, 3, 9, 9, 0).Equal(out.Wait.Until), "monday 09:00 in New York, got %s", out.Wait.Until)
	require.Contains(t, out.Reason, "on business days (monday-friday)")
	// When the timer fires, the moment is reached.
	r.Now, r.Wait = out.Wait.Until, out.Wait
	out, err = el.(element.Resumer).Resume(context.Background(), r, element.Wake{Timer: true})
	require.NoError(t, err)
	require.Equal(t, kinds.BranchReached, out.Branch)
}
