package kinds_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

func loadZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// wall is an unambiguous wall-clock reading in a zone.
func tzWall(zone string, y int, m time.Month, d, h, mi int) time.Time {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	return time.Date(y, m, d, h, mi, 0, 0, loc)
}

func tzUTC(y int, m time.Month, d, h, mi int) time.Time {
	return time.Date(y, m, d, h, mi, 0, 0, time.UTC)
}

func forDays(n int) segment.Period    { return segment.Period{Amount: n, Unit: segment.Days} }
func forHours(n int) segment.Period   { return segment.Period{Amount: n, Unit: segment.Hours} }
func forMinutes(n int) segment.Period { return segment.Period{Amount: n, Unit: segment.Minutes} }
func forSeconds(n int) segment.Period { return segment.Period{Amount: n, Unit: segment.Seconds} }
func forWeeks(n int) segment.Period   { return segment.Period{Amount: n, Unit: segment.Weeks} }

const (
	zoneZagreb  = "Europe/Zagreb"
	zoneNewYork = "America/New_York"
	zoneTokyo   = "Asia/Tokyo"
)

type pauseCase struct {
	name   string
	pause  kinds.Pause
	zone   string // the flow's time zone; "" for none (UTC)
	person string // the person's time zone attribute
	now    time.Time
	want   time.Time     // when the pause ends; zero when it goes on at once
	took   time.Duration // when set, the wait must last exactly this long
}

// runPause validates a copy of the case's pause and runs it for a person.
func runPause(t *testing.T, tc pauseCase) element.Outcome {
	t.Helper()
	p := tc.pause
	var loc *time.Location
	if tc.zone != "" {
		loc = loadZone(t, tc.zone)
	}
	require.NoError(t, p.Validate(&element.Compiler{FlowID: "f", ElementID: "pause", Location: loc}))
	r := &element.Run{Now: tc.now, Location: loc, FlowID: "f", ElementID: "pause", Person: &store.Person{TimeZone: tc.person}}
	out, err := p.Run(context.Background(), r)
	require.NoError(t, err)
	require.NotEmpty(t, out.Reason)
	return out
}

func checkPause(t *testing.T, tc pauseCase) {
	t.Helper()
	out := runPause(t, tc)
	if tc.want.IsZero() {
		require.Nil(t, out.Wait, "want no wait, got until %v", out.Wait)
		require.Equal(t, element.BranchNext, out.Branch)
		require.Contains(t, out.Reason, "already over")
		return
	}
	require.NotNil(t, out.Wait, "want a wait until %v, went on: %s", tc.want, out.Reason)
	require.Empty(t, out.Branch)
	require.True(t, tc.want.Equal(out.Wait.Until), "want until %v (%v UTC), got %v (%v UTC)", tc.want, tc.want.UTC(), out.Wait.Until, out.Wait.Until.UTC())
	require.Empty(t, out.Wait.Events)
	if tc.took != 0 {
		require.Equal(t, tc.took, out.Wait.Until.Sub(tc.now))
	}
}

func TestPauseFor(t *testing.T) {
	mon := tzWall(zoneZagreb, 2026, 1, 5, 10, 0) // a Monday
	for _, tc := range []pauseCase{
		{name: "30 seconds", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forSeconds(30)}, zone: zoneZagreb, now: mon, want: mon.Add(30 * time.Second)},
		{name: "1 second", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forSeconds(1)}, zone: zoneZagreb, now: mon, want: mon.Add(time.Second)},
		{name: "15 minutes", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forMinutes(15)}, zone: zoneZagreb, now: mon, want: tzWall(zoneZagreb, 2026, 1, 5, 10, 15)},
		{name: "5 hours", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forHours(5)}, zone: zoneZagreb, now: mon, want: tzWall(zoneZagreb, 2026, 1, 5, 15, 0)},
		{name: "3 days", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(3)}, zone: zoneZagreb, now: mon, want: tzWall(zoneZagreb, 2026, 1, 8, 10, 0)},
		{name: "2 weeks", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forWeeks(2)}, zone: zoneZagreb, now: mon, want: tzWall(zoneZagreb, 2026, 1, 19, 10, 0)},
		{name: "days keep seconds", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneZagreb, now: mon.Add(42*time.Second + 7), want: tzWall(zoneZagreb, 2026, 1, 6, 10, 0).Add(42*time.Second + 7)},
		{name: "3 days until 13:00, later that day", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(3), At: kinds.At(13, 0)}, zone: zoneZagreb, now: mon, want: tzWall(zoneZagreb, 2026, 1, 8, 13, 0)},
		{name: "1 day until 09:00, the morning after", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), At: kinds.At(9, 0)}, zone: zoneZagreb, now: mon, want: tzWall(zoneZagreb, 2026, 1, 7, 9, 0)},
		{name: "1 day until the arrival time", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), At: kinds.At(10, 0)}, zone: zoneZagreb, now: mon, want: tzWall(zoneZagreb, 2026, 1, 6, 10, 0)},
		{name: "2 hours until 00:00", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forHours(2), At: kinds.At(0, 0)}, zone: zoneZagreb, now: mon, want: tzWall(zoneZagreb, 2026, 1, 6, 0, 0)},
		{name: "no flow zone is UTC", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), At: kinds.At(9, 0)}, now: tzUTC(2026, 1, 5, 10, 0), want: tzUTC(2026, 1, 7, 9, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) { checkPause(t, tc) })
	}
}

func TestPauseUntil(t *testing.T) {
	mon10 := tzWall(zoneZagreb, 2026, 1, 5, 10, 0) // Monday 10:00
	for _, tc := range []pauseCase{
		{name: "time of day later today", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(13, 0)}, zone: zoneZagreb, now: mon10, want: tzWall(zoneZagreb, 2026, 1, 5, 13, 0)},
		{name: "time of day passed: tomorrow", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(9, 30)}, zone: zoneZagreb, now: mon10, want: tzWall(zoneZagreb, 2026, 1, 6, 9, 30)},
		{name: "time of day reached: at once", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(10, 0)}, zone: zoneZagreb, now: mon10},
		{name: "midnight", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(0, 0)}, zone: zoneZagreb, now: mon10, want: tzWall(zoneZagreb, 2026, 1, 6, 0, 0)},
		{name: "weekday later this week", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Friday"}, zone: zoneZagreb, now: mon10, want: tzWall(zoneZagreb, 2026, 1, 9, 0, 0)},
		{name: "weekday next week", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Sunday"}, zone: zoneZagreb, now: mon10, want: tzWall(zoneZagreb, 2026, 1, 11, 0, 0)},
		{name: "weekday today: at once", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "monday"}, zone: zoneZagreb, now: mon10},
		{name: "weekday in any case", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "TUESDAY"}, zone: zoneZagreb, now: mon10, want: tzWall(zoneZagreb, 2026, 1, 6, 0, 0)},
		{name: "weekday and time later today", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday", At: kinds.At(13, 0)}, zone: zoneZagreb, now: mon10, want: tzWall(zoneZagreb, 2026, 1, 5, 13, 0)},
		{name: "weekday and time reached: at once", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday", At: kinds.At(10, 0)}, zone: zoneZagreb, now: mon10},
		{name: "weekday and time passed today: next week", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday", At: kinds.At(9, 0)}, zone: zoneZagreb, now: mon10, want: tzWall(zoneZagreb, 2026, 1, 12, 9, 0)},
		{name: "weekday and time later this week", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Wednesday", At: kinds.At(8, 30)}, zone: zoneZagreb, now: mon10, want: tzWall(zoneZagreb, 2026, 1, 7, 8, 30)},
		{name: "weekday and time tomorrow morning", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday", At: kinds.At(9, 0)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 1, 4, 23, 0), want: tzWall(zoneZagreb, 2026, 1, 5, 9, 0)},
		// Monday 20:00 UTC is already Tuesday in Tokyo.
		{name: "weekday is read in the flow zone", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday"}, zone: zoneTokyo, now: tzUTC(2026, 1, 5, 20, 0), want: tzWall(zoneTokyo, 2026, 1, 12, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) { checkPause(t, tc) })
	}
}

func TestPauseDate(t *testing.T) {
	now := tzWall(zoneZagreb, 2026, 1, 5, 10, 0)
	for _, tc := range []pauseCase{
		{name: "30 November 13:00", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2026-11-30T13:00"}, zone: zoneZagreb, now: now, want: tzWall(zoneZagreb, 2026, 11, 30, 13, 0)},
		{name: "summer time", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2026-07-01T13:00"}, zone: zoneZagreb, now: now, want: tzUTC(2026, 7, 1, 11, 0)},
		{name: "in a minute", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2026-01-05T10:01"}, zone: zoneZagreb, now: now, want: now.Add(time.Minute)},
		{name: "now: at once", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2026-01-05T10:00"}, zone: zoneZagreb, now: now},
		{name: "past: at once", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2025-12-31T23:59"}, zone: zoneZagreb, now: now},
		{name: "next year", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2027-06-15T08:00"}, zone: zoneNewYork, now: now, want: tzWall(zoneNewYork, 2027, 6, 15, 8, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) { checkPause(t, tc) })
	}
}

func TestPauseTimeZones(t *testing.T) {
	now := tzUTC(2026, 1, 5, 15, 0) // 16:00 in Zagreb, 10:00 in New York, 00:00 Tuesday in Tokyo
	morning := kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), At: kinds.At(9, 0), PersonTimeZone: true}
	for _, tc := range []pauseCase{
		{name: "person's zone", pause: morning, zone: zoneZagreb, person: zoneNewYork, now: now, want: tzWall(zoneNewYork, 2026, 1, 7, 9, 0)},
		{name: "person's zone ahead of the flow", pause: morning, zone: zoneZagreb, person: zoneTokyo, now: now, want: tzWall(zoneTokyo, 2026, 1, 7, 9, 0)},
		{name: "person without a zone: flow's", pause: morning, zone: zoneZagreb, now: now, want: tzWall(zoneZagreb, 2026, 1, 7, 9, 0)},
		{name: "person with an invalid zone: flow's", pause: morning, zone: zoneZagreb, person: "Mars/Olympus_Mons", now: now, want: tzWall(zoneZagreb, 2026, 1, 7, 9, 0)},
		{name: "no flow zone and no person zone: UTC", pause: morning, person: "nowhere", now: now, want: tzUTC(2026, 1, 7, 9, 0)},
		{name: "person's zone not asked for: flow's", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), At: kinds.At(9, 0)}, zone: zoneZagreb, person: zoneNewYork, now: now, want: tzWall(zoneZagreb, 2026, 1, 7, 9, 0)},
		{name: "until a time in the person's zone", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(13, 0), PersonTimeZone: true}, zone: zoneZagreb, person: zoneNewYork, now: now, want: tzWall(zoneNewYork, 2026, 1, 5, 13, 0)},
		{name: "until a weekday in the person's zone", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Tuesday", PersonTimeZone: true}, zone: zoneNewYork, person: zoneTokyo, now: now},
		{name: "until a weekday in the flow's zone", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Tuesday"}, zone: zoneNewYork, person: zoneTokyo, now: now, want: tzWall(zoneNewYork, 2026, 1, 6, 0, 0)},
		{name: "exact date in the person's zone", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2026-11-30T13:00", PersonTimeZone: true}, zone: zoneZagreb, person: zoneTokyo, now: now, want: tzUTC(2026, 11, 30, 4, 0)},
		{name: "hours ignore zones", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forHours(3), PersonTimeZone: true}, zone: zoneZagreb, person: zoneTokyo, now: now, want: now.Add(3 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) { checkPause(t, tc) })
	}
}

// TestPauseDaylightSaving covers the switch days of two zones on each side
// of the Atlantic: a day keeps the wall clock (23 or 25 hours), a wall time
// in the spring-forward gap moves forward by the gap, and a wall time that
// occurs twice in autumn takes the first.
func TestPauseDaylightSaving(t *testing.T) {
	for _, tc := range []pauseCase{
		// Europe/Zagreb, Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST.
		{name: "zoneZagreb spring: 1 day lasts 23h", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 3, 28, 12, 0), want: tzWall(zoneZagreb, 2026, 3, 29, 12, 0), took: 23 * time.Hour},
		{name: "zoneZagreb spring: 24 hours are 24h", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forHours(24)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 3, 28, 12, 0), want: tzWall(zoneZagreb, 2026, 3, 29, 13, 0)},
		{name: "zoneZagreb spring: 1 day into the gap", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 3, 28, 2, 30), want: tzUTC(2026, 3, 29, 1, 30), took: 24 * time.Hour},
		{name: "zoneZagreb spring: 1 week keeps the wall clock", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forWeeks(1)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 3, 25, 9, 0), want: tzWall(zoneZagreb, 2026, 4, 1, 9, 0), took: 7*24*time.Hour - time.Hour},
		{name: "zoneZagreb spring: until 02:30 moves to 03:30", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(2, 30)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 3, 29, 1, 0), want: tzUTC(2026, 3, 29, 1, 30)},
		{name: "zoneZagreb spring: until 03:00, the end of the gap", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(3, 0)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 3, 29, 1, 0), want: tzUTC(2026, 3, 29, 1, 0)},
		{name: "zoneZagreb spring: Sunday 02:30", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Sunday", At: kinds.At(2, 30)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 3, 27, 12, 0), want: tzUTC(2026, 3, 29, 1, 30)},
		{name: "zoneZagreb spring: 1 day until 02:30", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), At: kinds.At(2, 30)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 3, 28, 1, 0), want: tzUTC(2026, 3, 29, 1, 30)},
		{name: "zoneZagreb spring: date in the gap", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2026-03-29T02:30"}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 3, 1, 0, 0), want: tzUTC(2026, 3, 29, 1, 30)},
		// Europe/Zagreb, Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET.
		{name: "zoneZagreb autumn: 1 day lasts 25h", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 10, 24, 12, 0), want: tzWall(zoneZagreb, 2026, 10, 25, 12, 0), took: 25 * time.Hour},
		{name: "zoneZagreb autumn: 1 day onto a repeated time takes the first", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 10, 24, 2, 30), want: tzUTC(2026, 10, 25, 0, 30), took: 24 * time.Hour},
		{name: "zoneZagreb autumn: until 02:30 takes the first", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(2, 30)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 10, 25, 1, 0), want: tzUTC(2026, 10, 25, 0, 30)},
		{name: "zoneZagreb autumn: date on a repeated time takes the first", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2026-10-25T02:30"}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 10, 1, 0, 0), want: tzUTC(2026, 10, 25, 0, 30)},
		{name: "zoneZagreb autumn: 3 hours are 3h", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forHours(3)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 10, 25, 1, 0), want: tzWall(zoneZagreb, 2026, 10, 25, 3, 0)},
		// America/New_York, Sunday 2026-03-08: 02:00 EST becomes 03:00 EDT.
		{name: "new york spring: 1 day lasts 23h", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 3, 7, 12, 0), want: tzWall(zoneNewYork, 2026, 3, 8, 12, 0), took: 23 * time.Hour},
		{name: "new york spring: 1 day into the gap", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 3, 7, 2, 30), want: tzUTC(2026, 3, 8, 7, 30), took: 24 * time.Hour},
		{name: "new york spring: until 02:30 moves to 03:30", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(2, 30)}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 3, 8, 1, 0), want: tzUTC(2026, 3, 8, 7, 30)},
		{name: "new york spring: Sunday 02:15", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Sunday", At: kinds.At(2, 15)}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 3, 6, 12, 0), want: tzUTC(2026, 3, 8, 7, 15)},
		{name: "new york spring: date in the gap", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2026-03-08T02:30"}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 3, 1, 0, 0), want: tzUTC(2026, 3, 8, 7, 30)},
		{name: "new york spring: 1 day until 09:00 in the person's zone", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), At: kinds.At(9, 0), PersonTimeZone: true}, zone: zoneZagreb, person: zoneNewYork, now: tzWall(zoneNewYork, 2026, 3, 7, 8, 0), want: tzWall(zoneNewYork, 2026, 3, 8, 9, 0), took: 24 * time.Hour},
		// America/New_York, Sunday 2026-11-01: 02:00 EDT becomes 01:00 EST.
		{name: "new york autumn: 1 day lasts 25h", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 10, 31, 12, 0), want: tzWall(zoneNewYork, 2026, 11, 1, 12, 0), took: 25 * time.Hour},
		{name: "new york autumn: 1 day onto a repeated time takes the first", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 10, 31, 1, 30), want: tzUTC(2026, 11, 1, 5, 30), took: 24 * time.Hour},
		{name: "new york autumn: until 01:30 takes the first", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(1, 30)}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 11, 1, 0, 0), want: tzUTC(2026, 11, 1, 5, 30)},
		{name: "new york autumn: date on a repeated time takes the first", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2026-11-01T01:30"}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 10, 1, 0, 0), want: tzUTC(2026, 11, 1, 5, 30)},
		{name: "new york autumn: 2 hours are 2h", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forHours(2)}, zone: zoneNewYork, now: tzUTC(2026, 11, 1, 4, 30), want: tzUTC(2026, 11, 1, 6, 30)},
	} {
		t.Run(tc.name, func(t *testing.T) { checkPause(t, tc) })
	}
}

func TestPauseCalendarEdges(t *testing.T) {
	for _, tc := range []pauseCase{
		// 2028 is a leap year; 2027 is not.
		{name: "1 day from Feb 28 2028 is Feb 29", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2028, 2, 28, 10, 0), want: tzWall(zoneZagreb, 2028, 2, 29, 10, 0)},
		{name: "1 day from Feb 29 2028 is Mar 1", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2028, 2, 29, 10, 0), want: tzWall(zoneZagreb, 2028, 3, 1, 10, 0)},
		{name: "1 day from Feb 28 2027 is Mar 1", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2027, 2, 28, 10, 0), want: tzWall(zoneZagreb, 2027, 3, 1, 10, 0)},
		{name: "1 week across Feb 29", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forWeeks(1)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2028, 2, 25, 10, 0), want: tzWall(zoneZagreb, 2028, 3, 3, 10, 0)},
		{name: "exact date Feb 29 2028", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2028-02-29T10:00"}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2028, 1, 1, 0, 0), want: tzWall(zoneZagreb, 2028, 2, 29, 10, 0)},
		{name: "Tuesday 10:00 from Monday Feb 28 2028", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Tuesday", At: kinds.At(10, 0)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2028, 2, 28, 12, 0), want: tzWall(zoneZagreb, 2028, 2, 29, 10, 0)},
		// Year end: 2026-12-31 is a Thursday.
		{name: "Dec 31 23:30 + 1 hour", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forHours(1)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 12, 31, 23, 30), want: tzWall(zoneZagreb, 2027, 1, 1, 0, 30)},
		{name: "Dec 31 + 1 day", pause: kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1)}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 12, 31, 12, 0), want: tzWall(zoneNewYork, 2027, 1, 1, 12, 0)},
		{name: "until Monday across New Year", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday"}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 12, 31, 23, 30), want: tzWall(zoneZagreb, 2027, 1, 4, 0, 0)},
		{name: "until Monday 09:00 across New Year", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday", At: kinds.At(9, 0)}, zone: zoneNewYork, now: tzWall(zoneNewYork, 2026, 12, 29, 10, 0), want: tzWall(zoneNewYork, 2027, 1, 4, 9, 0)},
		{name: "until 09:00 on New Year's Day", pause: kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(9, 0)}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 12, 31, 22, 0), want: tzWall(zoneZagreb, 2027, 1, 1, 9, 0)},
		{name: "New Year's midnight", pause: kinds.Pause{Mode: kinds.PauseDate, Date: "2027-01-01T00:00"}, zone: zoneZagreb, now: tzWall(zoneZagreb, 2026, 12, 31, 23, 59), want: tzWall(zoneZagreb, 2027, 1, 1, 0, 0), took: time.Minute},
		{name: "New Year in the person's zone, still December in the flow's", pause: kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Friday", PersonTimeZone: true}, zone: zoneNewYork, person: zoneTokyo, now: tzUTC(2026, 12, 31, 16, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) { checkPause(t, tc) })
	}
}

func TestPauseRunAndResume(t *testing.T) {
	ctx := context.Background()
	p := &kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), At: kinds.At(9, 0)}
	require.Equal(t, "pause", p.Kind())
	require.Equal(t, []string{element.BranchNext}, p.Branches())
	loc := loadZone(t, zoneZagreb)
	require.NoError(t, p.Validate(&element.Compiler{Location: loc}))
	r := &element.Run{Now: tzWall(zoneZagreb, 2026, 1, 5, 10, 0), Location: loc, Person: &store.Person{}}
	out, err := p.Run(ctx, r)
	require.NoError(t, err)
	require.Equal(t, "pause 1 day, until 09:00: until Wed 2026-01-07 09:00 CET", out.Reason)

	// An event that arrives meanwhile does not end the pause.
	r.Wait = out.Wait
	again, err := p.Resume(ctx, r, element.Wake{Event: &store.Event{Name: "clicked"}})
	require.NoError(t, err)
	require.NotNil(t, again.Wait)
	require.Equal(t, out.Wait.Until, again.Wait.Until)
	require.Empty(t, again.Branch)

	// The timer does.
	r.Now = out.Wait.Until
	done, err := p.Resume(ctx, r, element.Wake{Timer: true})
	require.NoError(t, err)
	require.Nil(t, done.Wait)
	require.Equal(t, element.BranchNext, done.Branch)
	require.Equal(t, "pause over: 1 day, until 09:00", done.Reason)
}

func TestPauseReasons(t *testing.T) {
	now := tzWall(zoneZagreb, 2026, 1, 5, 10, 0)
	for _, tc := range []struct {
		pause kinds.Pause
		want  string
	}{
		{kinds.Pause{Mode: kinds.PauseFor, Period: forHours(2)}, "pause 2 hours: until Mon 2026-01-05 12:00 CET"},
		{kinds.Pause{Mode: kinds.PauseUntil, Weekday: "friday", At: kinds.At(13, 5)}, "pause Friday 13:05: until Fri 2026-01-09 13:05 CET"},
		{kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday"}, "pause already over: Monday"},
		{kinds.Pause{Mode: kinds.PauseDate, Date: "2026-11-30T13:00"}, "pause 2026-11-30T13:00: until Mon 2026-11-30 13:00 CET"},
	} {
		out := runPause(t, pauseCase{pause: tc.pause, zone: zoneZagreb, now: now})
		require.Equal(t, tc.want, out.Reason)
	}
}

func TestPauseValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pause kinds.Pause
		field string
		msg   string
	}{
		{"no mode", kinds.Pause{}, "mode", "is not one of for, until, date"},
		{"unknown mode", kinds.Pause{Mode: "sometimes", Period: forDays(1)}, "mode", `mode "sometimes"`},
		{"for without a period", kinds.Pause{Mode: kinds.PauseFor}, "period.unit", "unit"},
		{"for with an unknown unit", kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 2, Unit: "fortnights"}}, "period.unit", `"fortnights"`},
		{"for with a zero amount", kinds.Pause{Mode: kinds.PauseFor, Period: forDays(0)}, "period.amount", "must be positive"},
		{"for with a negative amount", kinds.Pause{Mode: kinds.PauseFor, Period: forMinutes(-5)}, "period.amount", "must be positive"},
		{"for too long", kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1_000_000)}, "period.amount", "too long"},
		{"for with a weekday", kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), Weekday: "Monday"}, "mode", "period and an optional time of day"},
		{"for with a date", kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), Date: "2026-11-30T13:00"}, "mode", "period"},
		{"for until an impossible time", kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), At: kinds.At(24, 0)}, "at", "between 00:00 and 23:59"},
		{"until nothing", kinds.Pause{Mode: kinds.PauseUntil}, "weekday", "needs a weekday, a time of day, or both"},
		{"until a bad weekday", kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Funday"}, "weekday", `"Funday" is not a weekday`},
		{"until an abbreviated weekday", kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Mon", At: kinds.At(9, 0)}, "weekday", "not a weekday"},
		{"until an impossible time", kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(9, 60)}, "at", "09:60"},
		{"until with a period", kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday", Period: forDays(1)}, "mode", "weekday and/or a time of day only"},
		{"until with a date", kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(9, 0), Date: "2026-11-30T13:00"}, "mode", "weekday and/or a time of day only"},
		{"date missing", kinds.Pause{Mode: kinds.PauseDate}, "date", "is not a local date and time"},
		{"date without a time", kinds.Pause{Mode: kinds.PauseDate, Date: "2026-11-30"}, "date", `"2026-11-30"`},
		{"date with a zone", kinds.Pause{Mode: kinds.PauseDate, Date: "2026-11-30T13:00:00Z"}, "date", "local date and time"},
		{"date with month 13", kinds.Pause{Mode: kinds.PauseDate, Date: "2026-13-01T10:00"}, "date", "local date and time"},
		{"date Feb 29 in 2027", kinds.Pause{Mode: kinds.PauseDate, Date: "2027-02-29T10:00"}, "date", `"2027-02-29T10:00"`},
		{"date at 25:00", kinds.Pause{Mode: kinds.PauseDate, Date: "2026-11-30T25:00"}, "date", "local date and time"},
		{"date with a time of day", kinds.Pause{Mode: kinds.PauseDate, Date: "2026-11-30T13:00", At: kinds.At(9, 0)}, "mode", "date only"},
		{"date with a weekday", kinds.Pause{Mode: kinds.PauseDate, Date: "2026-11-30T13:00", Weekday: "Monday"}, "mode", "date only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.pause
			err := p.Validate(&element.Compiler{})
			var fe *element.FieldError
			require.True(t, errors.As(err, &fe), "want a *FieldError, got %v", err)
			require.Equal(t, tc.field, fe.Field)
			require.ErrorContains(t, err, tc.msg)
		})
	}
	leap := kinds.Pause{Mode: kinds.PauseDate, Date: "2028-02-29T10:00"}
	require.NoError(t, leap.Validate(&element.Compiler{}))
}

func TestClockJSON(t *testing.T) {
	b, err := json.Marshal(kinds.At(9, 5))
	require.NoError(t, err)
	require.JSONEq(t, `"09:05"`, string(b))

	var c kinds.TimeOfDay
	require.NoError(t, json.Unmarshal([]byte(`"23:59"`), &c))
	require.Equal(t, kinds.At(23, 59), c)
	require.False(t, c.IsZero())
	require.True(t, kinds.TimeOfDay{}.IsZero())
	require.False(t, kinds.At(0, 0).IsZero(), "midnight is a time of day, not an unset one")

	for _, bad := range []string{`"9am"`, `"24:00"`, `"12:60"`, `930`, `""`} {
		require.Error(t, json.Unmarshal([]byte(bad), &c), bad)
	}

	var p kinds.Pause
	require.NoError(t, json.Unmarshal([]byte(`{"mode":"for","period":{"amount":1,"unit":"days"},"at":"09:00","personTimeZone":true}`), &p))
	require.Equal(t, kinds.Pause{Mode: kinds.PauseFor, Period: forDays(1), At: kinds.At(9, 0), PersonTimeZone: true}, p)
	b, err = json.Marshal(&p)
	require.NoError(t, err)
	require.JSONEq(t, `{"mode":"for","period":{"amount":1,"unit":"days"},"at":"09:00","personTimeZone":true}`, string(b))
	b, err = json.Marshal(&kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday"})
	require.NoError(t, err)
	require.JSONEq(t, `{"mode":"until","weekday":"Monday"}`, string(b))
}

func TestPeriod(t *testing.T) {
	require.Equal(t, "1 day", forDays(1).String())
	require.Equal(t, "3 days", forDays(3).String())
	require.Equal(t, "1 second", forSeconds(1).String())
	require.Equal(t, "90 minutes", forMinutes(90).String())
	require.Equal(t, "2 weeks", forWeeks(2).String())
	require.True(t, segment.Period{}.IsZero())

	loc := loadZone(t, zoneZagreb)
	// Before undoes After, across a switch too.
	at := tzWall(zoneZagreb, 2026, 3, 30, 12, 0)
	require.True(t, tzWall(zoneZagreb, 2026, 3, 28, 12, 0).Equal(forDays(2).Before(at, loc)))
	require.Equal(t, 47*time.Hour, at.Sub(forDays(2).Before(at, loc)))
	require.True(t, at.Add(-90*time.Minute).Equal(forMinutes(90).Before(at, loc)))
}

func TestLocalTime(t *testing.T) {
	zg, ny := loadZone(t, zoneZagreb), loadZone(t, zoneNewYork)
	for _, tc := range []struct {
		name string
		got  time.Time
		want time.Time
	}{
		{"ordinary", wall.Local(2026, 6, 1, 9, 0, zg), tzUTC(2026, 6, 1, 7, 0)},
		{"normalises day overflow", wall.Local(2026, 12, 32, 9, 0, zg), tzWall(zoneZagreb, 2027, 1, 1, 9, 0)},
		{"zoneZagreb gap start", wall.Local(2026, 3, 29, 2, 0, zg), tzUTC(2026, 3, 29, 1, 0)},
		{"zoneZagreb gap", wall.Local(2026, 3, 29, 2, 59, zg), tzUTC(2026, 3, 29, 1, 59)},
		{"zoneZagreb just before the gap", wall.Local(2026, 3, 29, 1, 59, zg), tzUTC(2026, 3, 29, 0, 59)},
		{"zoneZagreb repeated", wall.Local(2026, 10, 25, 2, 0, zg), tzUTC(2026, 10, 25, 0, 0)},
		{"zoneZagreb after the repeat", wall.Local(2026, 10, 25, 3, 0, zg), tzUTC(2026, 10, 25, 2, 0)},
		{"new york gap", wall.Local(2026, 3, 8, 2, 0, ny), tzUTC(2026, 3, 8, 7, 0)},
		{"new york repeated", wall.Local(2026, 11, 1, 1, 0, ny), tzUTC(2026, 11, 1, 5, 0)},
		{"new york after the repeat", wall.Local(2026, 11, 1, 2, 0, ny), tzUTC(2026, 11, 1, 7, 0)},
		{"clock on a gap day", kinds.On(kinds.At(2, 30), tzUTC(2026, 3, 29, 12, 0), zg), tzUTC(2026, 3, 29, 1, 30)},
		{"next at, later today", kinds.NextAt(kinds.At(13, 0), tzWall(zoneZagreb, 2026, 1, 5, 10, 0), zg), tzWall(zoneZagreb, 2026, 1, 5, 13, 0)},
		{"next at, now", kinds.NextAt(kinds.At(10, 0), tzWall(zoneZagreb, 2026, 1, 5, 10, 0), zg), tzWall(zoneZagreb, 2026, 1, 5, 10, 0)},
		{"next at, tomorrow", kinds.NextAt(kinds.At(9, 0), tzWall(zoneZagreb, 2026, 1, 5, 10, 0), zg), tzWall(zoneZagreb, 2026, 1, 6, 9, 0)},
		{"next at, into a gap", kinds.NextAt(kinds.At(2, 30), tzWall(zoneNewYork, 2026, 3, 7, 3, 0), ny), tzUTC(2026, 3, 8, 7, 30)},
	} {
		require.True(t, tc.want.Equal(tc.got), "%s: want %v, got %v", tc.name, tc.want.UTC(), tc.got.UTC())
	}
	for _, s := range []string{"Monday", "monday", "SUNDAY", "Saturday"} {
		_, ok := wall.ParseWeekday(s)
		require.True(t, ok, s)
	}
	d, ok := wall.ParseWeekday("wednesday")
	require.True(t, ok)
	require.Equal(t, time.Wednesday, d)
	_, ok = wall.ParseWeekday("Mon")
	require.False(t, ok)
}
