package storecheck

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
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// bulkEngine returns an engine with the schema the entry scenarios use,
// skipping stores declared without people lists or audience runs.
func bulkEngine(t *testing.T, b Backend, s store.Store, clk clock.Clock, page int) *flow.Engine {
	t.Helper()
	b.Features.Need(t, s, storetest.Features{PeopleLister: storetest.Has, AudienceRuns: storetest.Has})
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, AudiencePage: page,
		Schema: store.Schema{"plan": store.Text, "renewal": store.Date, "orders": store.Number}})
	require.NoError(t, err)
	return eng
}

func setPerson(t *testing.T, eng *flow.Engine, id string, fn func(p *store.Person)) {
	t.Helper()
	_, err := eng.UpdatePerson(t.Context(), store.PersonRef{ExternalID: id}, func(p *store.Person) error { fn(p); return nil })
	require.NoError(t, err)
}

// participationsOf returns the person's participations in a flow.
func participationsOf(t *testing.T, eng *flow.Engine, id, flowID string) []*store.Participant {
	t.Helper()
	ps, err := eng.Participations(t.Context(), store.PersonRef{ExternalID: id})
	require.NoError(t, err)
	var out []*store.Participant
	for _, p := range ps {
		if p.FlowID == flowID {
			out = append(out, p)
		}
	}
	return out
}

// gold is a flow that everyone on the gold plan enters at activation:
// they wait a day, then leave.
func gold(id string, e *flow.Entry) *flow.Flow {
	f := flow.New(id, "Gold").In("Europe/Zagreb").
		Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 1, Unit: segment.Days}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryAPI}, e}
	return f
}

var goldSegment = segment.Attr("plan", segment.Is, "gold")

// Everyone matching the segment enters at activation, page by page, to
// their first wait; a person already in the flow is refused by the
// re-entry rule and leaves nothing behind; the run's progress says so.
func testEngineAudienceEntry(t *testing.T, b Backend) {
	s := b.New(t)
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := bulkEngine(t, b, s, clk, 7)
	const n = 30
	for i := range n {
		setPerson(t, eng, fmt.Sprint("p", i), func(p *store.Person) {
			if i%3 != 0 {
				p.Set("plan", "gold")
			} else {
				p.Set("plan", "free")
			}
		})
	}
	_, err := eng.Publish(ctx, gold("gold", &flow.Entry{Type: flow.EntryAudience, Segment: &goldSegment}))
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "gold"))
	// p1 enters by the API before the run reaches them.
	_, err = eng.Enter(ctx, "gold", store.PersonRef{ExternalID: "p1"}, nil)
	require.NoError(t, err)

	_, err = flowtest.Advance(ctx, eng, clk, time.Minute)
	require.NoError(t, err)
	for i := range n {
		ps := participationsOf(t, eng, fmt.Sprint("p", i), "gold")
		if i%3 == 0 {
			require.Empty(t, ps, "p%d does not match", i)
			continue
		}
		require.Len(t, ps, 1, "p%d enters once", i)
		require.Equal(t, store.Waiting, ps[0].Status)
		require.Equal(t, "wait", ps[0].Element)
		if i == 1 {
			require.Equal(t, "the API", ps[0].EnteredBy)
		} else {
			require.Equal(t, "audience", ps[0].EnteredBy)
		}
	}
	runs, err := eng.AudienceRuns(ctx, "gold")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	r := runs[0]
	require.True(t, r.Done)
	require.EqualValues(t, n, r.Scanned)
	require.EqualValues(t, n, r.Total)
	require.EqualValues(t, 20, r.Entered, "participants created, p1's among them")
	st, err := eng.Stats(ctx, "gold")
	require.NoError(t, err)
	require.EqualValues(t, 20, st["wait"].Entered, "p1's refused second entry is not counted")
	require.EqualValues(t, 20, st["wait"].Waiting)
	all, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "gold"})
	require.NoError(t, err)
	require.Len(t, all, 20, "no refused participant is left behind")

	_, err = flowtest.Advance(ctx, eng, clk, 48*time.Hour)
	require.NoError(t, err)
	st, err = eng.Stats(ctx, "gold")
	require.NoError(t, err)
	require.EqualValues(t, 20, st["done"].Entered, "they went on from their wait")
	runs, err = eng.AudienceRuns(ctx, "gold")
	require.NoError(t, err)
	require.Len(t, runs, 1, "an entry without a schedule runs once")
}

// A scheduled audience enters again at each occurrence in the flow's
// zone; the re-entry rule lets in those whose participation ended.
func testEngineScheduledAudience(t *testing.T, b Backend) {
	s := b.New(t)
	ctx := t.Context()
	loc, err := time.LoadLocation("Europe/Zagreb")
	require.NoError(t, err)
	clk := clock.NewFake(time.Date(2026, 3, 26, 12, 0, 0, 0, loc)) // DST begins on the 29th
	eng := bulkEngine(t, b, s, clk, 100)
	for i := range 3 {
		setPerson(t, eng, fmt.Sprint("d", i), func(p *store.Person) { p.Set("plan", "gold") })
	}
	f := flow.New("daily", "Daily").In("Europe/Zagreb").Add("done", &kinds.Exit{}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &goldSegment,
		Schedule: &flow.Recurrence{Every: "day", At: kinds.At(9, 0)}}}
	activate(t, eng, f)
	_, err = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 3, 31, 12, 0, 0, 0, loc))
	require.NoError(t, err)
	for i := range 3 {
		ps := participationsOf(t, eng, fmt.Sprint("d", i), "daily")
		require.Len(t, ps, 6, "activation, then the 27th to the 31st")
		for _, p := range ps[1:] {
			local := p.EnteredAt.In(loc)
			require.Equal(t, 9, local.Hour(), "entered %s", local)
			require.Zero(t, local.Minute())
			require.Equal(t, store.Completed, p.Status)
			require.Equal(t, "audience, every day at 09:00", p.EnteredBy)
		}
	}
	runs, err := eng.AudienceRuns(ctx, "daily")
	require.NoError(t, err)
	require.Len(t, runs, 6)
}

// A date entry enters each person at their moment: 3 days before a
// custom date; a change of the date during the day is taken into
// account, and the old moment enters no one.
func testEngineDateEntry(t *testing.T, b Backend) {
	s := b.New(t)
	ctx := t.Context()
	loc, err := time.LoadLocation("Europe/Zagreb")
	require.NoError(t, err)
	clk := clock.NewFake(time.Date(2026, 5, 1, 12, 0, 0, 0, loc))
	eng := bulkEngine(t, b, s, clk, 100)
	date := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	setPerson(t, eng, "r1", func(p *store.Person) { p.Set("renewal", date(2026, 5, 10)) })
	setPerson(t, eng, "r2", func(p *store.Person) { p.Set("renewal", date(2026, 5, 20)) })
	setPerson(t, eng, "r3", func(p *store.Person) {})
	setPerson(t, eng, "r4", func(p *store.Person) { p.Set("renewal", date(2026, 5, 2)) }) // 3 days before has passed
	f := flow.New("renew", "Renew").In("Europe/Zagreb").Add("done", &kinds.Exit{}, nil)
	f.Entries = []*flow.Entry{{Type: flow.EntryDate, Date: &flow.DateEntry{
		Attribute: "renewal", Offset: segment.Period{Amount: -3, Unit: segment.Days}, At: kinds.At(10, 0)}}}
	activate(t, eng, f)

	// On the day r2 would enter, before 10:00, r2's renewal moves a day
	// later, and r5 gets one that enters them today, which the day's run
	// at midnight did not see.
	_, err = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 5, 17, 8, 0, 0, 0, loc))
	require.NoError(t, err)
	setPerson(t, eng, "r2", func(p *store.Person) { p.Set("renewal", date(2026, 5, 21)) })
	setPerson(t, eng, "r5", func(p *store.Person) { p.Set("renewal", date(2026, 5, 20)) })
	_, err = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 6, 1, 0, 0, 0, 0, loc))
	require.NoError(t, err)

	for id, want := range map[string]time.Time{
		"r1": time.Date(2026, 5, 7, 10, 0, 0, 0, loc),
		"r2": time.Date(2026, 5, 18, 10, 0, 0, 0, loc),
		"r5": time.Date(2026, 5, 17, 10, 0, 0, 0, loc),
	} {
		ps := participationsOf(t, eng, id, "renew")
		require.Len(t, ps, 1, id)
		require.True(t, want.Equal(ps[0].EnteredAt), "%s entered %s, want %s", id, ps[0].EnteredAt.In(loc), want)
		require.Equal(t, "date renewal", ps[0].EnteredBy)
	}
	require.Empty(t, participationsOf(t, eng, "r3", "renew"), "no date, no entry")
	require.Empty(t, participationsOf(t, eng, "r4", "renew"), "the moment passed before activation")
	st, err := eng.Stats(ctx, "renew")
	require.NoError(t, err)
	require.EqualValues(t, 3, st["done"].Entered)
	all, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "renew"})
	require.NoError(t, err)
	require.Len(t, all, 3, "the moment r2's date left enters no one and leaves nothing")
}

// WhenMatching enters a person when a profile change or an event makes
// them start to match, not while they go on matching.
func testEngineWhenMatching(t *testing.T, b Backend) {
	s := b.New(t)
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := bulkEngine(t, b, s, clk, 100)
	f := flow.New("vip", "VIP").Add("done", &kinds.Exit{}, nil)
	buyer := segment.Any(goldSegment, segment.EventCount(store.External, "Bought", segment.AtLeast, 2))
	f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &buyer, WhenMatching: true}}
	activate(t, eng, f)
	_, err := flowtest.Advance(ctx, eng, clk, time.Minute)
	require.NoError(t, err)

	setPerson(t, eng, "w1", func(p *store.Person) { p.Set("plan", "gold") })
	require.Len(t, participationsOf(t, eng, "w1", "vip"), 1, "a profile change makes w1 match")
	setPerson(t, eng, "w1", func(p *store.Person) { p.Set("orders", 3) })
	require.Len(t, participationsOf(t, eng, "w1", "vip"), 1, "w1 goes on matching: no new entry")

	setPerson(t, eng, "w2", func(p *store.Person) { p.Set("plan", "free") })
	bought := func() {
		require.NoError(t, eng.Deliver(ctx, &store.Event{ID: uuid.NewString(), Person: store.PersonRef{ExternalID: "w2"}, Category: store.External, Name: "Bought"}))
	}
	bought()
	require.Empty(t, participationsOf(t, eng, "w2", "vip"))
	bought()
	require.Len(t, participationsOf(t, eng, "w2", "vip"), 1, "the second purchase makes w2 match")
	bought()
	require.Len(t, participationsOf(t, eng, "w2", "vip"), 1)
}
