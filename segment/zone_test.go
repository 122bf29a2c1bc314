package segment_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// At 2025-03-10T23:30Z it is already March 11 in Zagreb (00:30 CET) and still
// March 10 in New York (19:30 EDT).
func TestMidnightInTwoZones(t *testing.T) {
	zagreb, newYork := zone(t, "Europe/Zagreb"), zone(t, "America/New_York")
	at := time.Date(2025, 3, 10, 23, 30, 0, 0, time.UTC)
	p := person(map[string]any{
		"renewal":  date(2025, 3, 11),
		"trialEnd": time.Date(2025, 3, 11, 3, 0, 0, 0, time.UTC), // 04:00 Zagreb, 23:00 March 10 New York
	})
	tests := []struct {
		cond    segment.Condition
		zagreb  bool
		newYork bool
	}{
		{segment.Attr("renewal", segment.WasToday, nil), true, false},
		{segment.Attr("renewal", segment.WillBeIn, segment.PeriodOf(1, segment.Days)), false, true},
		{segment.Attr("renewal", segment.WillBeWithin, segment.PeriodOf(0, segment.Days)), true, false},
		{segment.Attr("renewal", segment.WasWithin, segment.PeriodOf(0, segment.Days)), true, false},
		{segment.Attr("renewal", segment.WillBeMoreThan, segment.PeriodOf(0, segment.Days)), false, true},
		{segment.Attr("trialEnd", segment.WasToday, nil), true, true},
		{segment.Attr("trialEnd", segment.WillBeIn, segment.PeriodOf(0, segment.Days)), true, true},
		{segment.Attr("trialEnd", segment.Is, "2025-03-11"), true, false},
		{segment.Attr("trialEnd", segment.Before, "2025-03-11"), false, true},
		{segment.Attr("renewal", segment.Is, "2025-03-11T02:00:00+01:00"), true, false}, // 01:00Z: March 11 in Zagreb, March 10 in New York
	}
	for _, tc := range tests {
		t.Run(string(tc.cond.Attribute)+" "+string(tc.cond.Op), func(t *testing.T) {
			s := compile(t, tc.cond, segment.Options{Schema: schema, Location: zagreb})
			require.Equal(t, tc.zagreb, match(t, s, &segment.Subject{Person: p, Now: at}), "Zagreb (Options.Location)")
			require.Equal(t, tc.newYork, match(t, s, &segment.Subject{Person: p, Now: at, Location: newYork}), "New York (Subject.Location)")

			// The person's zone where the condition says so.
			pc := p.Clone()
			pc.TimeZone = "America/New_York"
			s = compile(t, tc.cond.InPersonTimeZone(), segment.Options{Schema: schema, Location: zagreb})
			require.Equal(t, tc.newYork, match(t, s, &segment.Subject{Person: pc, Now: at}), "person in New York")
			for _, bad := range []string{"", "Mars/Olympus_Mons", "Local", "../../etc/passwd"} {
				pc.TimeZone = bad
				require.Equal(t, tc.zagreb, match(t, s, &segment.Subject{Person: pc, Now: at}), "person zone %q falls back to the flow's", bad)
			}
		})
	}
}

// A calendar day across a daylight saving switch is 23 or 25 hours long:
// "1 day" counts wall-clock days, "24 hours" counts hours.
func TestDaylightSavingSwitch(t *testing.T) {
	zagreb, newYork := zone(t, "Europe/Zagreb"), zone(t, "America/New_York")
	tests := []struct {
		name string
		loc  *time.Location
		now  time.Time
		at   time.Time // trialEnd
		cond segment.Condition
		want bool
	}{
		// Zagreb springs forward on 2025-03-30 (02:00 CET -> 03:00 CEST).
		{"spring 1 day is 23h", zagreb, time.Date(2025, 3, 29, 12, 0, 0, 0, zagreb), time.Date(2025, 3, 30, 12, 15, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WillBeWithin, segment.PeriodOf(1, segment.Days)), false},
		{"spring 24 hours", zagreb, time.Date(2025, 3, 29, 12, 0, 0, 0, zagreb), time.Date(2025, 3, 30, 12, 15, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WillBeWithin, segment.PeriodOf(24, segment.Hours)), true},
		{"spring 1 day until noon", zagreb, time.Date(2025, 3, 29, 12, 0, 0, 0, zagreb), time.Date(2025, 3, 30, 12, 0, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WillBeWithin, segment.PeriodOf(1, segment.Days)), true},
		{"spring wasToday on the short day", zagreb, time.Date(2025, 3, 30, 23, 30, 0, 0, zagreb), time.Date(2025, 3, 30, 0, 30, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WasToday, nil), true},
		{"spring wasToday in UTC differs", time.UTC, time.Date(2025, 3, 30, 23, 30, 0, 0, zagreb), time.Date(2025, 3, 30, 0, 30, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WasToday, nil), false},
		{"spring willBeIn 1 day last minute", zagreb, time.Date(2025, 3, 29, 23, 30, 0, 0, zagreb), time.Date(2025, 3, 30, 23, 59, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WillBeIn, segment.PeriodOf(1, segment.Days)), true},
		{"spring willBeIn 1 day next midnight", zagreb, time.Date(2025, 3, 29, 23, 30, 0, 0, zagreb), time.Date(2025, 3, 31, 0, 0, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WillBeIn, segment.PeriodOf(1, segment.Days)), false},
		{"spring wall time in the gap", zagreb, time.Date(2025, 3, 29, 2, 30, 0, 0, zagreb), time.Date(2025, 3, 30, 4, 0, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WillBeWithin, segment.PeriodOf(1, segment.Days)), false},
		// Zagreb falls back on 2025-10-26 (03:00 CEST -> 02:00 CET).
		{"fall 1 day is 25h", zagreb, time.Date(2025, 10, 25, 12, 0, 0, 0, zagreb), time.Date(2025, 10, 26, 11, 30, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WillBeWithin, segment.PeriodOf(1, segment.Days)), true},
		{"fall 24 hours", zagreb, time.Date(2025, 10, 25, 12, 0, 0, 0, zagreb), time.Date(2025, 10, 26, 11, 30, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WillBeWithin, segment.PeriodOf(24, segment.Hours)), false},
		{"fall wasWithin 1 day", zagreb, time.Date(2025, 10, 26, 12, 0, 0, 0, zagreb), time.Date(2025, 10, 25, 12, 0, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WasWithin, segment.PeriodOf(1, segment.Days)), true},
		{"fall wasMoreThan 24 hours", zagreb, time.Date(2025, 10, 26, 12, 0, 0, 0, zagreb), time.Date(2025, 10, 25, 12, 0, 0, 0, zagreb),
			segment.Attr("trialEnd", segment.WasMoreThan, segment.PeriodOf(24, segment.Hours)), true},
		// New York springs forward on 2025-03-09 (02:00 EST -> 03:00 EDT).
		{"New York spring 1 day", newYork, time.Date(2025, 3, 8, 12, 0, 0, 0, newYork), time.Date(2025, 3, 9, 12, 30, 0, 0, newYork),
			segment.Attr("trialEnd", segment.WillBeWithin, segment.PeriodOf(1, segment.Days)), false},
		{"New York spring wasMoreThan 1 day", newYork, time.Date(2025, 3, 9, 12, 0, 0, 0, newYork), time.Date(2025, 3, 8, 11, 30, 0, 0, newYork),
			segment.Attr("trialEnd", segment.WasMoreThan, segment.PeriodOf(1, segment.Days)), true},
		{"New York spring date willBeIn", newYork, time.Date(2025, 3, 8, 23, 59, 0, 0, newYork), time.Date(2025, 3, 9, 23, 0, 0, 0, newYork),
			segment.Attr("trialEnd", segment.WillBeIn, segment.PeriodOf(1, segment.Days)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := compile(t, tc.cond, segment.Options{Schema: schema, Location: tc.loc})
			p := person(map[string]any{"trialEnd": tc.at})
			require.Equal(t, tc.want, match(t, s, &segment.Subject{Person: p, Now: tc.now}))
		})
	}
}

// Months and years clamp to the month's last day; leap days are days.
func TestCalendarEdges(t *testing.T) {
	tests := []struct {
		name    string
		now     time.Time
		renewal time.Time
		cond    segment.Condition
		want    bool
	}{
		{"Jan 31 plus a month", date(2025, 1, 31), date(2025, 2, 28), segment.Attr("renewal", segment.WillBeIn, segment.PeriodOf(1, segment.Months)), true},
		{"Jan 31 plus a month, leap year", date(2024, 1, 31), date(2024, 2, 29), segment.Attr("renewal", segment.WillBeIn, segment.PeriodOf(1, segment.Months)), true},
		{"Feb 29 plus a year", date(2024, 2, 29), date(2025, 2, 28), segment.Attr("renewal", segment.WillBeIn, segment.PeriodOf(1, segment.Years)), true},
		{"Feb 29 minus a year", date(2024, 2, 29), date(2023, 2, 28), segment.Attr("renewal", segment.WasWithin, segment.PeriodOf(1, segment.Years)), true},
		{"Feb 29 minus a year, one day more", date(2024, 2, 29), date(2023, 2, 27), segment.Attr("renewal", segment.WasMoreThan, segment.PeriodOf(1, segment.Years)), true},
		{"leap day counts", date(2024, 2, 28), date(2024, 3, 1), segment.Attr("renewal", segment.WillBeIn, segment.PeriodOf(2, segment.Days)), true},
		{"year end", date(2025, 12, 31), date(2026, 1, 1), segment.Attr("renewal", segment.WillBeIn, segment.PeriodOf(1, segment.Days)), true},
		{"year end in weeks", date(2025, 12, 29), date(2026, 1, 5), segment.Attr("renewal", segment.WillBeIn, segment.PeriodOf(1, segment.Weeks)), true},
		{"months back over a year end", date(2025, 1, 15), date(2024, 11, 15), segment.Attr("renewal", segment.WasWithin, segment.PeriodOf(2, segment.Months)), true},
		{"months back over a year end, too far", date(2025, 1, 15), date(2024, 11, 14), segment.Attr("renewal", segment.WasWithin, segment.PeriodOf(2, segment.Months)), false},
		{"datetime Jan 31 plus a month", time.Date(2025, 1, 31, 10, 0, 0, 0, time.UTC), time.Time{}, segment.Attr("trialEnd", segment.WillBeWithin, segment.PeriodOf(1, segment.Months)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := person(map[string]any{"renewal": tc.renewal, "trialEnd": time.Date(2025, 2, 28, 10, 0, 0, 0, time.UTC)})
			require.Equal(t, tc.want, match(t, compile(t, tc.cond), &segment.Subject{Person: p, Now: tc.now.Add(12 * time.Hour)}))
		})
	}
}

// A datetime property holding a date-only value, measured in hours, starts at
// the date's midnight.
func TestDateOnlyProperty(t *testing.T) {
	w, err := segment.CompileWhere([]segment.PropertyCondition{
		segment.Prop("dueAt", segment.WillBeWithin, segment.PeriodOf(36, segment.Hours)),
	}, segment.Options{})
	require.NoError(t, err)
	sub := &segment.Subject{Now: now}
	ok, err := w.Match(&store.Event{Properties: map[string]any{"dueAt": "2025-03-11"}}, sub)
	require.NoError(t, err)
	require.True(t, ok, "midnight of March 11 is 12 hours ahead")
	ok, err = w.Match(&store.Event{Properties: map[string]any{"dueAt": "2025-03-12"}}, sub)
	require.NoError(t, err)
	require.True(t, ok, "midnight of March 12 is exactly 36 hours ahead")
	ok, err = w.Match(&store.Event{Properties: map[string]any{"dueAt": "2025-03-13"}}, sub)
	require.NoError(t, err)
	require.False(t, ok, "midnight of March 13 is 60 hours ahead")
}
