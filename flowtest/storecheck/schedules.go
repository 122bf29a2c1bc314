package storecheck

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// scheduleTests are the engine scenarios of local-time schedules.
var scheduleTests = []struct {
	name string
	run  func(*testing.T, Backend)
}{
	{"AudienceInPeoplesZones", testAudienceInPeoplesZones},
	{"NextBusinessDayInPersonsZone", testNextBusinessDay},
}

// A weekly audience flow activated on a Sunday, with runAtActivation
// false and its schedule in each person's zone: nobody enters at
// activation, and on Monday each person enters at 09:00 by their own
// clock (the flow's for a person without a zone).
func testAudienceInPeoplesZones(t *testing.T, b Backend) {
	s := b.New(t)
	ctx := t.Context()
	zg, err := time.LoadLocation("Europe/Zagreb")
	require.NoError(t, err)
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, zg)) // a Sunday
	eng := bulkEngine(t, b, s, clk, 2)
	zones := map[string]string{"tokyo": "Asia/Tokyo", "zagreb": "Europe/Zagreb", "new-york": "America/New_York", "none": ""}
	for id, zone := range zones {
		setPerson(t, eng, id, func(p *store.Person) {
			p.Set("plan", "gold")
			p.TimeZone = zone
		})
	}
	setPerson(t, eng, "silver", func(p *store.Person) { p.Set("plan", "silver") })
	off := false
	f := flow.New("weekly", "Weekly").In("Europe/Zagreb").Add("done", &kinds.Exit{}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &goldSegment, RunAtActivation: &off,
		Schedule: &flow.Recurrence{Every: "week", Weekday: "monday", At: kinds.At(9, 0), PersonTimeZone: true}}}
	activate(t, eng, f)

	_, err = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 3, 1, 19, 30, 0, 0, zg)) // before Monday comes anywhere
	require.NoError(t, err)
	for id := range zones {
		require.Empty(t, participationsOf(t, eng, id, "weekly"), "%s entered before the first scheduled time", id)
	}
	_, err = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 3, 3, 12, 0, 0, 0, zg))
	require.NoError(t, err)
	for id, zone := range zones {
		loc := zg
		if l, err := time.LoadLocation(zone); err == nil && zone != "" {
			loc = l
		}
		ps := participationsOf(t, eng, id, "weekly")
		require.Len(t, ps, 1, id)
		want := time.Date(2026, 3, 2, 9, 0, 0, 0, loc)
		require.True(t, want.Equal(ps[0].EnteredAt), "%s entered %s, want %s", id, ps[0].EnteredAt.In(loc), want)
		require.Equal(t, "audience, every monday at 09:00 in each person's time zone", ps[0].EnteredBy)
		require.Equal(t, store.Completed, ps[0].Status)
	}
	require.Empty(t, participationsOf(t, eng, "silver", "weekly"))
	runs, err := eng.AudienceRuns(ctx, "weekly")
	require.NoError(t, err)
	require.Len(t, runs, 2, "the activation run and Monday's")
	require.True(t, runs[0].Done)
	require.Zero(t, runs[0].Scanned, "the activation run looks at nobody")
	require.Zero(t, runs[0].Entered)
	require.EqualValues(t, len(zones), runs[1].Entered)
	require.True(t, time.Date(2026, 3, 2, 9, 0, 0, 0, time.FixedZone("", 14*3600)).Equal(runs[1].StartedAt),
		"Monday's run starts when Monday 09:00 comes first, got %s", runs[1].StartedAt.UTC())
}

// "The next business day at 09:00 in the person's zone" in one Pause:
// entered on a Friday evening in New York, on a Zagreb flow, the message
// goes on Monday at 09:00 in New York; with Monday a holiday, on Tuesday;
// a Wait for a Date on a Saturday birthday goes on on Monday too.
func testNextBusinessDay(t *testing.T, b Backend) {
	ctx := t.Context()
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	clk := clock.NewFake(time.Date(2026, 3, 6, 18, 0, 0, 0, ny)) // Friday evening
	sender := flowtest.NewSender(clk)
	eng := newEngine(t, b.New(t), clk, flow.Config{Ports: flow.Ports{Sender: sender}})
	for _, holidays := range [][]string{nil, {"2026-03-09"}} {
		id := fmt.Sprintf("f%d", len(holidays))
		f := flow.New(id, "Follow up").In("Europe/Zagreb").
			Add("wait", &kinds.Pause{Mode: kinds.PauseUntil, At: kinds.At(9, 0), PersonTimeZone: true,
				BusinessDays: &kinds.BusinessDays{Holidays: holidays}}, flow.Next{"next": "mail"}).
			Add("mail", &kinds.SendMessage{Channel: "email", Body: "Following up"}, flow.Next{"sent": "done"}).
			Add("done", &kinds.Exit{}, nil)
		activate(t, eng, f)
	}
	// A birthday on a Saturday, greeted on the next business day.
	bday := flow.New("bday", "Birthday").In("Europe/Zagreb").
		Add("wait", &kinds.WaitForDate{Attribute: store.AttrBirthDate, When: kinds.DateIsToday, At: kinds.At(9, 0), EveryYear: true,
			PersonTimeZone: true, BusinessDays: &kinds.BusinessDays{}}, flow.Next{"reached": "mail", "missed": "done"}).
		Add("mail", &kinds.SendMessage{Channel: "email", Body: "Happy birthday"}, flow.Next{"sent": "done"}).
		Add("done", &kinds.Exit{}, nil)
	activate(t, eng, bday)
	setPerson(t, eng, "ny", func(p *store.Person) {
		p.TimeZone = "America/New_York"
		p.Emails = []string{"ny@example.com"}
		p.BirthDate = time.Date(1990, 3, 7, 0, 0, 0, 0, time.UTC) // a Saturday in 2026
	})
	for _, id := range []string{"f0", "f1", "bday"} {
		_, err := eng.Enter(ctx, id, store.PersonRef{ExternalID: "ny"}, nil)
		require.NoError(t, err)
	}
	_, err = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 3, 12, 0, 0, 0, 0, ny))
	require.NoError(t, err)
	sent := sender.Sent()
	require.Len(t, sent, 3)
	byFlow := map[string]time.Time{}
	for _, m := range sent {
		byFlow[m.FlowID] = m.At
	}
	require.True(t, time.Date(2026, 3, 9, 9, 0, 0, 0, ny).Equal(byFlow["f0"]), "Monday 09:00 in New York, got %s", byFlow["f0"].In(ny))
	require.True(t, time.Date(2026, 3, 10, 9, 0, 0, 0, ny).Equal(byFlow["f1"]), "Tuesday after the holiday, got %s", byFlow["f1"].In(ny))
	require.True(t, time.Date(2026, 3, 9, 9, 0, 0, 0, ny).Equal(byFlow["bday"]), "the birthday greeting on Monday 09:00 in New York, got %s", byFlow["bday"].In(ny))
}
