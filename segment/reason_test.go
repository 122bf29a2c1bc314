package segment_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

func TestMatchReason(t *testing.T) {
	zagreb := zone(t, "Europe/Zagreb")
	p := &store.Person{
		City: "Zagreb", Phones: []string{"385911234567"}, Tags: []string{"vip"},
		Attributes:    map[string]any{"age": 27.0, "renewal": date(2025, 3, 12), "trialEnd": now.Add(time.Hour)},
		LastContacted: map[string]time.Time{"email": now.Add(-time.Hour)},
	}
	h := &history{events: []*store.Event{event(store.External, "PageViewed", now.Add(-time.Hour), nil)}}
	tests := []struct {
		cond segment.Condition
		ok   bool
		why  string
	}{
		{segment.Attr("city", segment.Is, "zagreb"), true, `city "Zagreb" is "zagreb"`},
		{segment.Attr("nickname", segment.IsEmpty, nil), true, `nickname (empty) isEmpty`},
		{segment.Attr("renewal", segment.WillBeIn, segment.PeriodOf(2, segment.Days)), true, `renewal 2025-03-12 willBeIn 2 days`},
		{segment.Attr("trialEnd", segment.After, "2025-03-10T12:00:00Z"), true, `trialEnd 2025-03-10T14:00:00+01:00 after 2025-03-10T13:00:00+01:00`},
		{segment.Tag("vip", segment.HasNot), false, `tag "vip" hasNot is false`},
		{segment.Contact(segment.ContactPhone, segment.StartsWith, "+385"), true, `phone "385911234567" startsWith "385"`},
		{segment.Contact(segment.ContactEmail, segment.IsNotEmpty, nil), false, `email (empty) isNotEmpty is false`},
		{segment.LastContacted("email", segment.WasToday, nil), true, `lastContacted email 2025-03-10T12:00:00+01:00 wasToday`},
		{segment.Any(segment.Attr("age", segment.GreaterThan, 30), segment.Tag("new", segment.Has)), false,
			`age 27 greaterThan 30 is false and tag "new" has is false`},
		{segment.Not(segment.Attr("age", segment.GreaterThan, 30)), true, `age 27 greaterThan 30 is false`},
		{segment.All(segment.Tag("vip", segment.Has), segment.Event(store.External, "PageViewed", segment.DidNotHappen).InLast(1, segment.Days)), false,
			`event external/PageViewed didNotHappen within 1 day is false`},
		{segment.EventCount("", "", segment.AtMost, 5).FromEntry(), true, `event */* count 1 atMost 5 since entry`},
		{segment.EventCount(store.External, "PageViewed", segment.AtLeast, 2), false, `event external/PageViewed count 1 atLeast 2 is false`},
		{segment.EventCount(store.External, "PageViewed", segment.AtLeast, 1), true, `event external/PageViewed count 1+ atLeast 1`},
		{segment.EventCount(store.External, "PageViewed", segment.AtMost, 0), false, `event external/PageViewed count 1+ atMost 0 is false`},
		{segment.All(), true, `no conditions`},
	}
	for _, tc := range tests {
		s := compile(t, tc.cond, segment.Options{Schema: schema, Location: zagreb})
		ok, why, err := s.MatchReason(&segment.Subject{Person: p, Now: now, EnteredAt: now.Add(-time.Hour), Events: h.Events})
		require.NoError(t, err)
		require.Equal(t, tc.ok, ok, why)
		require.Equal(t, tc.why, why)
	}
}

func TestConcurrentMatch(t *testing.T) {
	s := compile(t, segment.All(
		segment.Attr("renewal", segment.WasToday, nil).InPersonTimeZone(),
		segment.Attr("age", segment.LessOrEqual, "{{max}}"),
	))
	done := make(chan bool)
	for i := range 8 {
		go func() {
			p := person(map[string]any{"renewal": date(2025, 3, 10), "age": float64(i)})
			p.TimeZone = []string{"Europe/Zagreb", "America/New_York", "Asia/Tokyo", "Nowhere"}[i%4]
			ok := true
			for range 200 {
				m, err := s.Match(&segment.Subject{Person: p, Now: now, Vars: map[string]any{"max": 10}})
				ok = ok && err == nil && m
			}
			done <- ok
		}()
	}
	for range 8 {
		require.True(t, <-done)
	}
}
