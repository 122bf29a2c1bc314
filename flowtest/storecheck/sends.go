package storecheck

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// sendTests are the engine scenarios of sending elements: blocked sends,
// sending speeds and frequency caps.
var sendTests = []struct {
	name string
	run  func(*testing.T, Backend)
}{
	{"SendBlocked", testSendBlocked},
	{"SendSpeed", testSendSpeed},
	{"SendCalendarCaps", testSendCalendarCaps},
}

// journalReason returns the reason of the participant's step at an
// element that went on by branch, "" when there is none.
func journalReason(p *store.Participant, elementID, branch string) string {
	for _, s := range p.Journal {
		if s.Element == elementID && s.Branch == branch {
			return s.Reason
		}
	}
	return ""
}

// A person without the channel's address, or on the Do Not Contact list,
// goes on by "blocked" with the reason in the journal; a Notify whose
// recipient variable is empty too. Nobody fails.
func testSendBlocked(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	sender := flowtest.NewSender(clk)
	eng := newEngine(t, b.New(t), clk, flow.Config{Ports: flow.Ports{Sender: sender}})
	f := flow.New("mail", "Mail").Var("manager", store.Text, nil).
		Add("mail", &kinds.SendMessage{Channel: "email", Subject: "Hi", Body: "Hello"}, flow.Next{"sent": "notify", "blocked": "notify"}).
		Add("notify", &kinds.Notify{Channel: "email", Recipients: []string{"{{manager}}"}, Body: "A customer came"}, flow.Next{"next": "done", "blocked": "done"}).
		Add("done", &kinds.Exit{}, nil)
	activate(t, eng, f)
	setPerson(t, eng, "has-mail", func(p *store.Person) { p.Emails = []string{"ana@example.com"} })
	setPerson(t, eng, "no-mail", func(p *store.Person) { p.Phones = []string{"+385911111111"} })
	setPerson(t, eng, "opted-out", func(p *store.Person) {
		p.Emails = []string{"ivo@example.com"}
		p.DoNotContact = []string{"ivo@example.com"}
	})
	ids := map[string]any{}
	for _, who := range []string{"has-mail", "no-mail", "opted-out"} {
		vars := map[string]any{}
		if who == "has-mail" {
			vars["manager"] = "boss@example.com"
		}
		id, err := eng.Enter(ctx, "mail", store.PersonRef{ExternalID: who}, vars)
		require.NoError(t, err)
		ids[who] = id
	}
	_, err := flowtest.AdvanceTo(ctx, eng, clk, engineStart.Add(time.Minute))
	require.NoError(t, err)

	ps := map[string]*store.Participant{}
	for who := range ids {
		p := participationsOf(t, eng, who, "mail")
		require.Len(t, p, 1)
		require.Equal(t, store.Completed, p[0].Status, "%s: %s", who, p[0].Reason)
		ps[who] = p[0]
	}
	require.Equal(t, []string{"mail:sent", "notify", "done"}, flowtest.Path(ps["has-mail"]))
	require.Equal(t, []string{"mail:blocked", "notify:blocked", "done"}, flowtest.Path(ps["no-mail"]))
	require.Equal(t, "not sent on email: the person has no email address", journalReason(ps["no-mail"], "mail", kinds.BranchBlocked))
	require.Equal(t, "notified nobody: no recipient has an address; left out: recipients[0] ({{manager}}) has no email address", journalReason(ps["no-mail"], "notify", kinds.BranchBlocked))
	require.Equal(t, "not sent on email: the person is on the Do Not Contact list", journalReason(ps["opted-out"], "mail", kinds.BranchBlocked))
	var to []string
	for _, m := range sender.Sent() {
		to = append(to, m.To)
	}
	require.ElementsMatch(t, []string{"ana@example.com", "boss@example.com"}, to)
	st := stats(t, eng, "mail")
	require.EqualValues(t, 2, st["mail"].Left[kinds.BranchBlocked])
}

// Send Message's sending speed spaces the sends of all its participants
// on the engine's budgets, which the store keeps.
func testSendSpeed(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	sender := flowtest.NewSender(clk)
	eng := newEngine(t, b.New(t), clk, flow.Config{Ports: flow.Ports{Sender: sender}})
	f := flow.New("promo", "Promo").
		Add("sms", &kinds.SendMessage{Channel: "sms", Body: "Sale!", Speed: &kinds.Speed{Count: 2, Per: kinds.PerMinute}}, flow.Next{"sent": "done"}).
		Add("done", &kinds.Exit{}, nil)
	activate(t, eng, f)
	const people = 6
	for i := range people {
		_, err := eng.Enter(ctx, "promo", store.PersonRef{Phone: "+38591000000" + string(rune('0'+i))}, nil)
		require.NoError(t, err)
	}
	_, err := flowtest.AdvanceTo(ctx, eng, clk, engineStart.Add(10*time.Minute))
	require.NoError(t, err)
	sent := sender.Sent()
	require.Len(t, sent, people)
	var at []time.Time
	for _, m := range sent {
		at = append(at, m.At)
	}
	require.Equal(t, 2, flowtest.MostWithin(at, time.Minute), "never more than 2 in any minute")
	require.True(t, at[len(at)-1].Sub(engineStart) >= 150*time.Second, "the sixth waits for its slot: %s", at[len(at)-1].Sub(engineStart))
}

// Frequency caps per channel and per calendar day in the person's zone:
// one SMS a day in New York, and the day turns at New York's midnight.
func testSendCalendarCaps(t *testing.T, b Backend) {
	ctx := t.Context()
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	start := time.Date(2026, 3, 2, 20, 0, 0, 0, ny) // a Monday evening
	clk := clock.NewFake(start)
	sender := flowtest.NewSender(clk)
	eng := newEngine(t, b.New(t), clk, flow.Config{Ports: flow.Ports{Sender: sender},
		ElementOptions: kinds.Options{SendMessage: kinds.SendMessageOptions{FrequencyCaps: []kinds.FrequencyCap{
			{Messages: 1, Per: kinds.CalendarDay, Channel: "sms"},
		}}}})
	f := flow.New("nudge", "Nudge").In("UTC").
		Add("sms", &kinds.SendMessage{Channel: "sms", Body: "Nudge"}, flow.Next{"sent": "mail", "capped": "mail"}).
		Add("mail", &kinds.SendMessage{Channel: "email", Body: "Nudge"}, flow.Next{"sent": "done", "capped": "done"}).
		Add("done", &kinds.Exit{}, nil)
	activate(t, eng, f)
	setPerson(t, eng, "ny", func(p *store.Person) {
		p.TimeZone = "America/New_York"
		p.Phones, p.Emails = []string{"+12025550100"}, []string{"ny@example.com"}
	})
	enter := func(at time.Time) *store.Participant {
		t.Helper()
		_, err := flowtest.AdvanceTo(ctx, eng, clk, at)
		require.NoError(t, err)
		id, err := eng.Enter(ctx, "nudge", store.PersonRef{ExternalID: "ny"}, nil)
		require.NoError(t, err)
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status)
		return p
	}
	first := enter(start)                                    // Monday 20:00
	second := enter(time.Date(2026, 3, 2, 23, 30, 0, 0, ny)) // Monday 23:30, 04:30 UTC on Tuesday
	third := enter(time.Date(2026, 3, 3, 0, 30, 0, 0, ny))   // Tuesday 00:30 in New York
	require.Equal(t, []string{"sms:sent", "mail:sent", "done"}, flowtest.Path(first))
	require.Equal(t, []string{"sms:capped", "mail:sent", "done"}, flowtest.Path(second), "the email is not capped")
	require.Contains(t, journalReason(second, "sms", kinds.BranchCapped), "1 per calendar day on sms")
	require.Equal(t, []string{"sms:sent", "mail:sent", "done"}, flowtest.Path(third), "a new day in New York")
	require.Len(t, sender.To("+12025550100"), 2)
	require.Len(t, sender.To("ny@example.com"), 3)
}
