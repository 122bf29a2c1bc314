package flow_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

func entriesHarness(t *testing.T, start time.Time) *harness {
	t.Helper()
	h := newHarness(t, flow.Config{Schema: store.Schema{"plan": store.Text, "renewal": store.Date}})
	h.clk.Set(start)
	return h
}

func (h *harness) participations(t *testing.T, id, flowID string) []*store.Participant {
	t.Helper()
	ps, err := h.eng.Participations(h.ctx, store.PersonRef{ExternalID: id})
	require.NoError(t, err)
	var out []*store.Participant
	for _, p := range ps {
		if p.FlowID == flowID {
			out = append(out, p)
		}
	}
	return out
}

// A birthday flow over two simulated years: at 09:00 on each birthday,
// in the flow's zone or, for a person who has one, in theirs; a person
// born on February 29 enters on February 28 in 2027 and on February 29
// in 2028, the rules of Wait for a Date.
func TestBirthdayFlowOverTwoYears(t *testing.T) {
	zagreb, _ := time.LoadLocation("Europe/Zagreb")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	h := entriesHarness(t, time.Date(2027, 1, 1, 0, 0, 0, 0, zagreb))
	born := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	people := map[string]func(p *store.Person){
		"ana":  func(p *store.Person) { p.BirthDate = born(1990, time.May, 10) },
		"leap": func(p *store.Person) { p.BirthDate = born(2000, time.February, 29) },
		"kenji": func(p *store.Person) {
			p.BirthDate, p.TimeZone = born(1985, time.July, 1), "Asia/Tokyo"
		},
		// The last day of the year, across the year's end.
		"eve":    func(p *store.Person) { p.BirthDate = born(1970, time.December, 31) },
		"nobody": func(p *store.Person) { p.FirstName = "No birthday" },
	}
	for id, fn := range people {
		_, err := h.eng.UpdatePerson(h.ctx, store.PersonRef{ExternalID: id}, func(p *store.Person) error { fn(p); return nil })
		require.NoError(t, err)
	}
	f := flow.New("birthday", "Birthday").In("Europe/Zagreb").
		Add("greet", tag("greeted"), flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryDate, Date: &flow.DateEntry{
		Attribute: store.AttrBirthDate, At: kinds.At(9, 0), EveryYear: true, PersonTimeZone: true}}}
	h.publish(t, f)
	_, err := flowtest.AdvanceTo(h.ctx, h.eng, h.clk, time.Date(2029, 1, 1, 0, 0, 0, 0, zagreb))
	require.NoError(t, err)

	want := map[string][]time.Time{
		"ana":   {time.Date(2027, 5, 10, 9, 0, 0, 0, zagreb), time.Date(2028, 5, 10, 9, 0, 0, 0, zagreb)},
		"leap":  {time.Date(2027, 2, 28, 9, 0, 0, 0, zagreb), time.Date(2028, 2, 29, 9, 0, 0, 0, zagreb)},
		"kenji": {time.Date(2027, 7, 1, 9, 0, 0, 0, tokyo), time.Date(2028, 7, 1, 9, 0, 0, 0, tokyo)},
		"eve":   {time.Date(2027, 12, 31, 9, 0, 0, 0, zagreb), time.Date(2028, 12, 31, 9, 0, 0, 0, zagreb)},
	}
	for id, times := range want {
		ps := h.participations(t, id, "birthday")
		require.Len(t, ps, len(times), id)
		for i, p := range ps {
			require.True(t, times[i].Equal(p.EnteredAt), "%s entered %s, want %s", id, p.EnteredAt, times[i])
			require.Equal(t, store.Completed, p.Status)
			require.Equal(t, "date birthDate", p.EnteredBy)
		}
	}
	require.Empty(t, h.participations(t, "nobody", "birthday"))
	st, err := h.eng.Stats(h.ctx, "birthday")
	require.NoError(t, err)
	require.EqualValues(t, 8, st["greet"].Entered)
	runs, err := h.eng.AudienceRuns(h.ctx, "birthday")
	require.NoError(t, err)
	require.Equal(t, 1+365+366, len(runs), "the activation run, then one each midnight from January 2, 2027 to January 1, 2029")
	for _, r := range runs {
		require.True(t, r.Done)
	}
}

// Recurring audience entries over a simulated month: every day at 09:00
// in Europe/Zagreb across the switch to summer time (March 29, 2026),
// every Monday, and on the first of the month.
func TestRecurringAudienceOverAMonth(t *testing.T) {
	zagreb, _ := time.LoadLocation("Europe/Zagreb")
	start := time.Date(2026, 3, 15, 12, 0, 0, 0, zagreb) // a Sunday
	h := entriesHarness(t, start)
	for i := range 2 {
		_, err := h.eng.UpdatePerson(h.ctx, store.PersonRef{ExternalID: fmt.Sprint("m", i)}, func(p *store.Person) error {
			p.Set("plan", "gold")
			return nil
		})
		require.NoError(t, err)
	}
	gold := segment.Attr("plan", segment.Is, "gold")
	for _, r := range []struct {
		id    string
		every *flow.Recurrence
	}{
		{"daily", &flow.Recurrence{Every: "day", At: kinds.At(9, 0)}},
		{"weekly", &flow.Recurrence{Every: "week", Weekday: "Monday", At: kinds.At(8, 30)}},
		{"monthly", &flow.Recurrence{Every: "month", Day: 1, At: kinds.At(7, 0)}},
	} {
		f := flow.New(r.id, r.id).In("Europe/Zagreb").Add("done", &kinds.Exit{}, nil)
		f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &gold, Schedule: r.every}}
		h.publish(t, f)
	}
	end := time.Date(2026, 4, 15, 0, 0, 0, 0, zagreb)
	_, err := flowtest.AdvanceTo(h.ctx, h.eng, h.clk, end)
	require.NoError(t, err)

	for i := range 2 {
		id := fmt.Sprint("m", i)
		check := func(flowID string, n int, ok func(local time.Time) bool) {
			t.Helper()
			ps := h.participations(t, id, flowID)
			require.Len(t, ps, n+1, "%s: the activation entry and %d scheduled", flowID, n)
			require.True(t, start.Equal(ps[0].EnteredAt), "the activation entry")
			for _, p := range ps[1:] {
				require.True(t, ok(p.EnteredAt.In(zagreb)), "%s entered %s", flowID, p.EnteredAt.In(zagreb))
			}
		}
		// March 16 to April 14: 30 days.
		check("daily", 30, func(l time.Time) bool { return l.Hour() == 9 && l.Minute() == 0 })
		// Mondays March 16, 23, 30, April 6, 13.
		check("weekly", 5, func(l time.Time) bool { return l.Weekday() == time.Monday && l.Hour() == 8 && l.Minute() == 30 })
		check("monthly", 1, func(l time.Time) bool { return l.Day() == 1 && l.Month() == time.April && l.Hour() == 7 })
		daily := h.participations(t, id, "daily")
		// Across the switch the entries stay at 09:00 local: 23 hours apart.
		require.Equal(t, 23*time.Hour, daily[14].EnteredAt.Sub(daily[13].EnteredAt), "%s and %s", daily[13].EnteredAt.In(zagreb), daily[14].EnteredAt.In(zagreb))
	}
}

// Bad entries are refused at Publish, naming the field.
func TestBadEntries(t *testing.T) {
	h := entriesHarness(t, t0)
	unknown := segment.Attr("tier", segment.Is, "gold")
	gold := segment.Attr("plan", segment.Is, "gold")
	for _, tc := range []struct {
		name  string
		entry *flow.Entry
		want  string
	}{
		{"audience without a segment", &flow.Entry{Type: flow.EntryAudience}, `entries[0].segment: an audience entry needs a segment`},
		{"audience with a bad segment", &flow.Entry{Type: flow.EntryAudience, Segment: &unknown}, `entries[0].segment`},
		{"bad weekday", &flow.Entry{Type: flow.EntryAudience, Segment: &gold, Schedule: &flow.Recurrence{Every: "week", Weekday: "Caturday"}}, `entries[0].schedule.weekday`},
		{"bad day of month", &flow.Entry{Type: flow.EntryAudience, Segment: &gold, Schedule: &flow.Recurrence{Every: "month", Day: 32}}, `entries[0].schedule.day`},
		{"bad recurrence", &flow.Entry{Type: flow.EntryAudience, Segment: &gold, Schedule: &flow.Recurrence{Every: "fortnight"}}, `entries[0].schedule.every`},
		{"date on a text attribute", &flow.Entry{Type: flow.EntryDate, Date: &flow.DateEntry{Attribute: "plan"}}, `entries[0].date.attribute: attribute "plan" is text, not a date or datetime`},
		{"date on an unknown attribute", &flow.Entry{Type: flow.EntryDate, Date: &flow.DateEntry{Attribute: "anniversary"}}, `entries[0].date.attribute: attribute "anniversary" is not declared`},
		{"date without attribute", &flow.Entry{Type: flow.EntryDate}, `entries[0].date.attribute`},
		{"offset in hours", &flow.Entry{Type: flow.EntryDate, Date: &flow.DateEntry{Attribute: "renewal", Offset: segment.Period{Amount: 3, Unit: segment.Hours}}}, `entries[0].date.offset.unit`},
		{"offset too long", &flow.Entry{Type: flow.EntryDate, Date: &flow.DateEntry{Attribute: "renewal", Offset: segment.Period{Amount: -1000, Unit: segment.Weeks}}}, `entries[0].date.offset.amount`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := flow.New("bad", "Bad").Add("done", &kinds.Exit{}, nil)
			f.Entries = []*flow.Entry{tc.entry}
			_, err := h.eng.Publish(h.ctx, f)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// A store that cannot list people refuses audience entries at Publish.
func TestAudienceEntryNeedsALister(t *testing.T) {
	eng, err := flow.NewEngine(flow.Config{Store: plainStore{memory.New()}, Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	all := segment.All()
	f := flow.New("aud", "Aud").Add("done", &kinds.Exit{}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &all}}
	_, err = eng.Publish(t.Context(), f)
	require.ErrorContains(t, err, "entries[0].type: audience entries need a store that lists people")
}

// plainStore hides the memory store's optional capabilities.
type plainStore struct{ store.Store }

// A paused flow's run waits for Resume, and a participant whose first
// step comes due while paused enters after it; a canceled flow's run
// ends and its pending participants are removed.
func TestAudienceRunPausedAndCanceled(t *testing.T) {
	h := entriesHarness(t, t0)
	for i := range 5 {
		_, err := h.eng.UpdatePerson(h.ctx, store.PersonRef{ExternalID: fmt.Sprint("q", i)}, func(p *store.Person) error { return nil })
		require.NoError(t, err)
	}
	all := segment.All()
	f := flow.New("pz", "Paused").Add("wait", pauseFor(1, segment.Days), flow.Next{"next": "done"}).Add("done", &kinds.Exit{}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &all}}
	h.publish(t, f)
	require.NoError(t, h.eng.Pause(h.ctx, "pz"))
	_, err := flowtest.Advance(h.ctx, h.eng, h.clk, time.Hour)
	require.NoError(t, err)
	runs, err := h.eng.AudienceRuns(h.ctx, "pz")
	require.NoError(t, err)
	require.False(t, runs[0].Done, "a paused flow's run waits")
	require.NoError(t, h.eng.Resume(h.ctx, "pz"))
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, time.Minute)
	require.NoError(t, err)
	st, err := h.eng.Stats(h.ctx, "pz")
	require.NoError(t, err)
	require.EqualValues(t, 5, st["wait"].Entered)

	// A date entry's participant waits, pending, for its moment; canceling
	// the flow removes it: it never entered.
	_, err = h.eng.UpdatePerson(h.ctx, store.PersonRef{ExternalID: "q0"}, func(p *store.Person) error {
		p.Set("renewal", h.clk.Now())
		return nil
	})
	require.NoError(t, err)
	g := flow.New("cx", "Canceled").Add("done", &kinds.Exit{}, nil)
	g.Entries = []*flow.Entry{{Type: flow.EntryDate, Date: &flow.DateEntry{Attribute: "renewal", At: kinds.At(23, 0)}}}
	h.publish(t, g)
	_, err = h.eng.Tick(h.ctx)
	require.NoError(t, err)
	ps, err := h.eng.Participants(h.ctx, store.ParticipantQuery{FlowID: "cx"})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, store.Active, ps[0].Status, "pending until 23:00")
	require.Zero(t, ps[0].Seq)
	require.NoError(t, h.eng.Cancel(h.ctx, "cx"))
	ps, err = h.eng.Participants(h.ctx, store.ParticipantQuery{FlowID: "cx"})
	require.NoError(t, err)
	require.Empty(t, ps, "a pending participant is removed, not canceled")
	st, err = h.eng.Stats(h.ctx, "cx")
	require.NoError(t, err)
	require.Empty(t, st, "nothing entered, nothing left")
}
