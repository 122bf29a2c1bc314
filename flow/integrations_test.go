package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// integSender records messages with the engine clock's time.
type integSender struct {
	clk  clock.Clock
	mu   sync.Mutex
	sent []integSent
}

type integSent struct {
	At time.Time
	element.Message
}

func (s *integSender) Send(_ context.Context, m *element.Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, integSent{At: s.clk.Now(), Message: *m})
	return fmt.Sprintf("m%d", len(s.sent)), nil
}

func (s *integSender) all() []integSent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]integSent(nil), s.sent...)
}

// clockedDoer forwards requests to a real client and records the engine
// clock's time of each.
type clockedDoer struct {
	clk  clock.Clock
	next element.HTTPDoer
	mu   sync.Mutex
	at   []time.Time
	keys map[string]int
}

func (d *clockedDoer) Do(r *http.Request) (*http.Response, error) {
	d.mu.Lock()
	d.at = append(d.at, d.clk.Now())
	if d.keys == nil {
		d.keys = map[string]int{}
	}
	d.keys[r.Header.Get("Idempotency-Key")]++
	d.mu.Unlock()
	return d.next.Do(r)
}

func integEngine(t testing.TB, clk *clock.Fake, cfg flow.Config) *flow.Engine {
	t.Helper()
	cfg.Store = memory.New()
	cfg.Clock = clk
	eng, err := flow.NewEngine(cfg)
	require.NoError(t, err)
	return eng
}

func integPublish(t testing.TB, eng *flow.Engine, f *flow.Flow) {
	t.Helper()
	_, err := eng.Publish(context.Background(), f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(context.Background(), f.ID))
}

// stepAt returns the participant's first journal step at an element.
func integStep(t testing.TB, p *store.Participant, elementID string) store.Step {
	t.Helper()
	for _, s := range p.Journal {
		if s.Element == elementID {
			return s
		}
	}
	t.Fatalf("no journal step at %q in %+v", elementID, p.Journal)
	return store.Step{}
}

func integParticipant(t testing.TB, eng *flow.Engine, id uuid.UUID) *store.Participant {
	t.Helper()
	p, err := eng.Participant(context.Background(), id)
	require.NoError(t, err)
	return p
}

// The loyalty-points example of the reference: $.loyalty_points into a
// variable, used by a later message.
func TestLoyaltyPoints(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k-123" || r.URL.Path != "/members/ann-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"member": "ann-1", "loyalty_points": 1250, "tier": "gold"}`)
	}))
	defer srv.Close()
	clk := clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	sender := &integSender{clk: clk}
	eng := integEngine(t, clk, flow.Config{Ports: flow.Ports{Sender: sender}})
	doc := `{
	  "id": "loyalty", "timezone": "Europe/Zagreb",
	  "variables": {"points": {"type": "number"}, "tier": {"type": "text"}, "apiKey": {"type": "text", "default": "k-123"}},
	  "elements": [
	    {"id": "lookup", "type": "callApi", "url": "` + srv.URL + `/members/{{person.externalId}}",
	     "headers": {"Authorization": "Bearer {{apiKey}}"},
	     "responseBody": [{"path": "$.loyalty_points", "variable": "points"}, {"path": "$.tier", "variable": "tier"}],
	     "next": {"2xx": "tell", "4xx": "sorry", "5xx": "sorry", "other": "sorry", "error": "sorry"}},
	    {"id": "tell", "type": "sendMessage", "channel": "sms",
	     "body": "Hi {{person.firstName}}, you have {{points}} points ({{tier}}). {{points >= 1000 ? 'Enjoy free shipping!' : ''}}",
	     "next": {"sent": "done"}},
	    {"id": "sorry", "type": "exit", "reason": "no points"},
	    {"id": "done", "type": "exit"}
	  ]}`
	f, err := flow.Parse([]byte(doc))
	require.NoError(t, err)
	integPublish(t, eng, f)
	_, err = eng.UpdatePerson(ctx, store.PersonRef{ExternalID: "ann-1"}, func(p *store.Person) error {
		p.FirstName, p.Phones = "Ann", []string{"385911234567"}
		return nil
	})
	require.NoError(t, err)
	id, err := eng.Enter(ctx, "loyalty", store.PersonRef{ExternalID: "ann-1"}, nil)
	require.NoError(t, err)
	p := integParticipant(t, eng, id)
	require.Equal(t, store.Completed, p.Status, "%+v", p.Journal)
	require.Equal(t, 1250.0, p.Vars["points"])
	msgs := sender.all()
	require.Len(t, msgs, 1)
	require.Equal(t, "Hi Ann, you have 1250 points (gold). Enjoy free shipping!", msgs[0].Body)
	require.Equal(t, "+385911234567", msgs[0].To, "stored in E.164 form")
	require.Equal(t, "2xx", integStep(t, p, "lookup").Branch)

	// The sent event is in the person's history and LastContacted is set.
	evs, err := eng.Events(ctx, store.PersonRef{ExternalID: "ann-1"}, store.EventQuery{Name: store.MessageSent})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "m1", evs[0].Properties["messageId"])
	require.Equal(t, "sms", evs[0].Properties["channel"])
	require.Equal(t, id.String(), evs[0].Properties["participantId"])
	person, err := eng.Person(ctx, store.PersonRef{ExternalID: "ann-1"})
	require.NoError(t, err)
	require.True(t, clk.Now().Equal(person.LastContacted["sms"]))
}

// A Call API path that points to an array sets its variable to null and
// takes the "error" branch when the flow connects it, else "in case of any
// error" ("failed"): it never fails the participant. A non-2XX answer
// takes "failed" when its own exit is not connected, and a failed call
// with no "error" branch too.
func TestCallAPIErrorExits(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		case "/html":
			_, _ = io.WriteString(w, `<html>not JSON</html>`)
		default:
			_, _ = io.WriteString(w, `{"loyalty_points": [1, 2]}`)
		}
	}))
	defer srv.Close()
	clk := clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	eng := integEngine(t, clk, flow.Config{})
	for i, tc := range []struct {
		name, path string
		next       flow.Next
		status     store.Status
		branch     string // the call's exit
		reason     string // in the call's journal step, or the participant's
	}{
		{"array, error connected", "/points", flow.Next{"2xx": "done", "error": "oops", "failed": "oops"}, store.Completed, "error", "points to an array"},
		{"array, failed connected", "/points", flow.Next{"2xx": "done", "failed": "oops"}, store.Completed, "failed", "points to an array"},
		{"array, neither", "/points", flow.Next{"2xx": "done", "4xx": "oops"}, store.Completed, "failed", "response $.loyalty_points into points: the path points to an array"},
		{"404, failed connected", "/missing", flow.Next{"2xx": "done", "failed": "oops"}, store.Completed, "failed", "404, in case of any error"},
		{"404, 4xx connected too", "/missing", flow.Next{"2xx": "done", "4xx": "oops", "failed": "done"}, store.Completed, "4xx", ": 404"},
		{"not JSON, failed connected", "/html", flow.Next{"2xx": "done", "failed": "oops"}, store.Completed, "failed", "response body is not JSON"},
		{"not JSON, neither", "/html", flow.Next{"2xx": "done", "4xx": "oops"}, store.Failed, "", "response body is not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprint("f-", i)
			f := flow.New(id, "").Var("points", store.Number, 5).
				Add("call", &kinds.CallAPI{URL: srv.URL + tc.path, ResponseBody: []*kinds.JSONPathVariable{{Path: "$.loyalty_points", Variable: "points"}}}, tc.next).
				Add("done", &kinds.Exit{}, nil).Add("oops", &kinds.Exit{Reason: "api failed"}, nil)
			integPublish(t, eng, f)
			pid, err := eng.Enter(ctx, id, store.PersonRef{ExternalID: "bob"}, nil)
			require.NoError(t, err)
			p := integParticipant(t, eng, pid)
			require.Equal(t, tc.status, p.Status, "%+v", p.Journal)
			if tc.path != "/missing" {
				require.Nil(t, p.Vars["points"], "the variable is null after the failed read")
			}
			if tc.status == store.Failed {
				require.Contains(t, p.Reason, `element "call" failed`)
				require.Contains(t, p.Reason, tc.reason)
				return
			}
			step := integStep(t, p, "call")
			require.Equal(t, tc.branch, step.Branch)
			require.Contains(t, step.Reason, tc.reason)
			if tc.next[tc.branch] == "oops" {
				require.Equal(t, "api failed", p.Reason)
			}
		})
	}
}

// Delivery window and sending speed over simulated days: never outside the
// window, never over the rate, nobody lost.
func TestCallAPIWindowAndSpeedOverDays(t *testing.T) {
	ctx := context.Background()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	zg, _ := time.LoadLocation("Europe/Zagreb")
	// Friday before the spring DST switch, so one night is an hour short.
	clk := clock.NewFake(time.Date(2026, 3, 27, 6, 0, 0, 0, zg))
	doer := &clockedDoer{clk: clk, next: kinds.NewHTTPClient(kinds.HTTPClientOptions{})}
	eng := integEngine(t, clk, flow.Config{Ports: flow.Ports{HTTP: doer}})
	const perHour = 10
	f := flow.New("drip", "Drip").In("UTC").
		Add("call", &kinds.CallAPI{URL: srv.URL + "/hook/{{person.externalId}}", Method: "POST", Body: json.RawMessage(`{"who": "{{person.externalId}}"}`),
			Window: &kinds.TimeWindow{Start: kinds.At(9, 0), End: kinds.At(17, 0), TimeZone: "Europe/Zagreb"},
			Speed:  &kinds.Speed{Count: perHour, Per: kinds.PerHour}},
			flow.Next{"2xx": "done"}).
		Add("done", &kinds.Exit{}, nil)
	integPublish(t, eng, f)

	var ids []uuid.UUID
	enter := func(n int, prefix string) {
		for i := 0; i < n; i++ {
			id, err := eng.Enter(ctx, "drip", store.PersonRef{ExternalID: fmt.Sprintf("%s-%d", prefix, i)}, nil)
			require.NoError(t, err)
			ids = append(ids, id)
		}
	}
	enter(150, "early") // before the window opens
	_, err := flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 3, 27, 13, 0, 0, 0, zg))
	require.NoError(t, err)
	enter(40, "noon") // while it is open and booked
	_, err = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 3, 27, 16, 59, 0, 0, zg))
	require.NoError(t, err)
	enter(10, "late") // a minute before it closes
	_, err = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 4, 2, 0, 0, 0, 0, zg))
	require.NoError(t, err)

	// Nobody lost: every participant called once and went on.
	for _, id := range ids {
		p := integParticipant(t, eng, id)
		require.Equal(t, store.Completed, p.Status, "%+v", p.Journal)
	}
	require.EqualValues(t, len(ids), served.Load())
	require.Len(t, doer.keys, len(ids), "one request per participant")
	// Never outside the window.
	for _, at := range doer.at {
		local := at.In(zg)
		require.True(t, local.Hour() >= 9 && local.Hour() < 17, "called at %s", local)
	}
	// Never over the rate: no hour holds more than perHour calls.
	for i, a := range doer.at {
		n := 0
		for _, b := range doer.at[i:] {
			if b.Before(a.Add(time.Hour)) {
				n++
			}
		}
		require.LessOrEqual(t, n, perHour, "the hour from %s", a.In(zg))
	}
	// And the budget is used: 80 a day, so 200 take three days (Fri, Sat,
	// Sun), the last at the end of Sunday's window.
	last := doer.at[len(doer.at)-1].In(zg)
	require.Equal(t, time.Date(2026, 3, 29, 0, 0, 0, 0, zg).Day(), last.Day(), "last call %s", last)
	p := integParticipant(t, eng, ids[len(ids)-1])
	require.Contains(t, integStep(t, p, "call").Reason, "no slot left before the delivery window closes")
}

// A person added to Do Not Contact is not messaged on any channel; removed,
// they are messaged again; the events are in their history.
func TestDoNotContactAcrossChannels(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	sender := &integSender{clk: clk}
	eng := integEngine(t, clk, flow.Config{Ports: flow.Ports{Sender: sender}})
	promo := flow.New("promo", "Promo")
	promo.Reentry = &flow.Reentry{Rule: flow.ReenterConcurrent}
	promo.Add("sms", &kinds.SendMessage{Channel: "sms", Body: "sms"}, flow.Next{"sent": "email", "blocked": "email"}).
		Add("email", &kinds.SendMessage{Channel: "email", Subject: "s", Body: "email"}, flow.Next{"sent": "push", "blocked": "push"}).
		Add("push", &kinds.SendMessage{Channel: "push", Body: "push"}, flow.Next{"sent": "done", "blocked": "done"}).
		Add("done", &kinds.Exit{}, nil)
	integPublish(t, eng, promo)
	optOut := flow.New("optout", "").Add("dnc", &kinds.AddToDoNotContact{DoNotContactScope: kinds.DoNotContactScope{MSISDN: true, Email: true}}, nil)
	optOut.Reentry = &flow.Reentry{Rule: flow.ReenterConcurrent}
	integPublish(t, eng, optOut)
	optIn := flow.New("optin", "").Add("dnc", &kinds.RemoveFromDoNotContact{DoNotContactScope: kinds.DoNotContactScope{MSISDN: true, Email: true}}, nil)
	optIn.Reentry = &flow.Reentry{Rule: flow.ReenterConcurrent}
	integPublish(t, eng, optIn)
	ann := store.PersonRef{ExternalID: "ann"}
	_, err := eng.UpdatePerson(ctx, ann, func(p *store.Person) error {
		p.Phones, p.Emails = []string{"385911234567"}, []string{"ann@example.com", "ann@work.example.com"}
		p.Push = []store.PushRegistration{{App: "shop", Token: "tok"}}
		return nil
	})
	require.NoError(t, err)
	branches := func(id uuid.UUID) []string {
		var out []string
		for _, s := range integParticipant(t, eng, id).Journal {
			if s.Branch != "" {
				out = append(out, s.Element+":"+s.Branch)
			}
		}
		return out
	}

	id, err := eng.Enter(ctx, "promo", ann, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"sms:sent", "email:sent", "push:sent"}, branches(id))
	require.Len(t, sender.all(), 3)

	_, err = eng.Enter(ctx, "optout", ann, nil)
	require.NoError(t, err)
	person, err := eng.Person(ctx, ann)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"+385911234567", "ann@example.com", "ann@work.example.com"}, person.DoNotContact)
	added, err := eng.Events(ctx, ann, store.EventQuery{Category: store.People, Name: store.AddedToDoNotContact})
	require.NoError(t, err)
	require.Len(t, added, 3)

	clk.Advance(time.Hour)
	id, err = eng.Enter(ctx, "promo", ann, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"sms:blocked", "email:blocked", "push:blocked"}, branches(id), "push too: the person opted out")
	require.Len(t, sender.all(), 3, "nothing more was sent")
	require.Contains(t, integStep(t, integParticipant(t, eng, id), "sms").Reason, "Do Not Contact")

	_, err = eng.Enter(ctx, "optin", ann, nil)
	require.NoError(t, err)
	removed, err := eng.Events(ctx, ann, store.EventQuery{Category: store.People, Name: store.RemovedFromDoNotContact})
	require.NoError(t, err)
	require.Len(t, removed, 3)
	id, err = eng.Enter(ctx, "promo", ann, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"sms:sent", "email:sent", "push:sent"}, branches(id))
	require.Len(t, sender.all(), 6)
}

// The frequency cap counts messages across flows; quiet hours hold a send
// until they end in the person's time zone.
func TestFrequencyCapAndQuietHours(t *testing.T) {
	ctx := context.Background()
	zg, _ := time.LoadLocation("Europe/Zagreb")
	clk := clock.NewFake(time.Date(2026, 5, 4, 20, 0, 0, 0, zg))
	sender := &integSender{clk: clk}
	eng := integEngine(t, clk, flow.Config{ElementOptions: kinds.Options{SendMessage: kinds.SendMessageOptions{
		FrequencyCap: kinds.FrequencyCap{Messages: 2, Within: 24 * time.Hour},
		QuietHours:   kinds.QuietHours{Start: kinds.At(21, 0), End: kinds.At(8, 0)}}}, Ports: flow.Ports{Sender: sender}})
	for _, id := range []string{"a", "b", "c", "otp"} {
		f := flow.New(id, "").In("Europe/Zagreb").Add("send", &kinds.SendMessage{Channel: "sms", Body: id, IgnoreFrequencyCap: id == "otp", IgnoreQuietHours: id == "otp"},
			flow.Next{"sent": "", "capped": "", "blocked": ""})
		f.Reentry = &flow.Reentry{Rule: flow.ReenterConcurrent}
		integPublish(t, eng, f)
	}
	ann := store.PersonRef{Phone: "385911234567"}
	last := func(id uuid.UUID) store.Step {
		j := integParticipant(t, eng, id).Journal
		for i := len(j) - 1; i >= 0; i-- {
			if j[i].Branch != "" {
				return j[i]
			}
		}
		return j[len(j)-1] // waiting
	}
	a, err := eng.Enter(ctx, "a", ann, nil)
	require.NoError(t, err)
	b, err := eng.Enter(ctx, "b", ann, nil)
	require.NoError(t, err)
	c, err := eng.Enter(ctx, "c", ann, nil)
	require.NoError(t, err)
	require.Equal(t, "sent", integStep(t, integParticipant(t, eng, a), "send").Branch)
	require.Equal(t, "sent", integStep(t, integParticipant(t, eng, b), "send").Branch)
	require.Equal(t, "capped", integStep(t, integParticipant(t, eng, c), "send").Branch, "two within a day across flows")
	otp, err := eng.Enter(ctx, "otp", ann, nil)
	require.NoError(t, err)
	require.Equal(t, "sent", integStep(t, integParticipant(t, eng, otp), "send").Branch, "transactional messages ignore the cap")

	// At 22:00 Zagreb time quiet hours hold the send until 08:00.
	clk.Set(time.Date(2026, 5, 5, 22, 0, 0, 0, zg))
	a, err = eng.Enter(ctx, "a", ann, nil)
	require.NoError(t, err)
	p := integParticipant(t, eng, a)
	require.Equal(t, store.Waiting, p.Status)
	require.True(t, p.Wait.Until.Equal(time.Date(2026, 5, 6, 8, 0, 0, 0, zg)), "%s", p.Wait.Until)
	require.Contains(t, last(a).Reason, "quiet hours 21:00-08:00")
	_, err = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 5, 6, 12, 0, 0, 0, zg))
	require.NoError(t, err)
	require.Equal(t, "sent", last(a).Branch)
	msgs := sender.all()
	require.True(t, msgs[len(msgs)-1].At.Equal(time.Date(2026, 5, 6, 8, 0, 0, 0, zg)), "sent at %s", msgs[len(msgs)-1].At)

	// The person's time zone counts: 22:00 in Zagreb is 16:00 in New York.
	_, err = eng.UpdatePerson(ctx, ann, func(p *store.Person) error { p.TimeZone = "America/New_York"; return nil })
	require.NoError(t, err)
	clk.Set(time.Date(2026, 5, 8, 22, 0, 0, 0, zg))
	b, err = eng.Enter(ctx, "b", ann, nil)
	require.NoError(t, err)
	require.Equal(t, "sent", last(b).Branch)
}

func TestNotifyEngagementCounts(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	sender := &integSender{clk: clk}
	eng := integEngine(t, clk, flow.Config{Ports: flow.Ports{Sender: sender}})
	f := flow.New("returns", "").Var("manager", store.Text, nil).
		Add("notify", &kinds.Notify{Channel: "email", Recipients: []string{"returns@example.com", "{{manager}}"},
			Subject: "Return from {{person.externalId}}", Body: "Please call back."}, flow.Next{"next": "done", "error": "done"}).
		Add("done", &kinds.Exit{}, nil)
	integPublish(t, eng, f)
	for i, manager := range []string{"m1@example.com", "m2@example.com", "not an address"} {
		_, err := eng.Enter(ctx, "returns", store.PersonRef{ExternalID: fmt.Sprint("c", i)}, map[string]any{"manager": manager})
		require.NoError(t, err)
	}
	st, err := eng.Stats(ctx, "returns")
	require.NoError(t, err)
	require.Equal(t, int64(4), st["notify"].Other[kinds.CounterNotified], "two recipients for two participants; none for the bad one")
	require.Equal(t, int64(1), st["notify"].Errors)
	require.Equal(t, int64(2), st["notify"].Left["next"])
	require.Len(t, sender.all(), 4)
	for _, m := range sender.all() {
		require.Equal(t, uuid.Nil, m.PersonID)
	}
}

type integAgents struct{ got []*element.Conversation }

func (a *integAgents) Start(_ context.Context, c *element.Conversation) (string, error) {
	a.got = append(a.got, c)
	return "conv-9", nil
}

func TestStartConversationInFlow(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	agents := &integAgents{}
	eng := integEngine(t, clk, flow.Config{Ports: flow.Ports{Conversations: agents}})
	doc := `{"id": "verify", "variables": {"orderId": {"type": "text"}, "conv": {"type": "text"}},
	  "elements": [{"id": "talk", "type": "startConversation", "tag": "data-verification",
	    "variables": ["orderId"], "conversationIdVariable": "conv"}]}`
	f, err := flow.Parse([]byte(doc))
	require.NoError(t, err)
	integPublish(t, eng, f)
	id, err := eng.Enter(ctx, "verify", store.PersonRef{ExternalID: "ann"}, map[string]any{"orderId": "o-7"})
	require.NoError(t, err)
	p := integParticipant(t, eng, id)
	require.Equal(t, "conv-9", p.Vars["conv"])
	require.Len(t, agents.got, 1)
	require.Equal(t, "data-verification", agents.got[0].Tag)
	require.Equal(t, map[string]any{"orderId": "o-7"}, agents.got[0].Context["variables"])
	require.Equal(t, p.PersonID, agents.got[0].PersonID)
}

// crmKinds are the built-in kinds and a host's Exchange element,
// configured once and used by flows.
var crmKinds = func() *element.Registry {
	reg := kinds.Registry()
	err := kinds.RegisterCustom(reg, "crm.addToGroup", kinds.CustomKind{
		Branches: []string{"added", "exists"},
		Outputs:  map[string]store.Type{"memberId": store.Text},
		Validate: func(cfg json.RawMessage) error {
			var c struct{ Group string }
			if json.Unmarshal(cfg, &c) != nil || c.Group == "" {
				return errors.New("group is required")
			}
			return nil
		},
		Run: func(_ context.Context, call *kinds.CustomCall) (kinds.CustomResult, error) {
			var c struct{ Group string }
			_ = json.Unmarshal(call.Config, &c)
			switch c.Group {
			case "boom":
				panic("crm client bug")
			case "down":
				return kinds.CustomResult{}, errors.New("crm unavailable")
			}
			return kinds.CustomResult{Branch: "added", Outputs: map[string]any{"memberId": c.Group + "/" + call.Person.ExternalID}}, nil
		},
	})
	if err != nil {
		panic(err)
	}
	return reg
}()

func TestCustomElementInFlows(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	eng := integEngine(t, clk, flow.Config{Elements: crmKinds})
	parse := func(id, config, next string, withError bool) *flow.Flow {
		els := `{"id": "crm", "type": "crm.addToGroup", "config": ` + config + `, "outputs": {"memberId": "member"}, "next": ` + next + `},
		    {"id": "ok", "type": "exit", "reason": "in the group"}`
		if withError {
			els += `, {"id": "oops", "type": "exit", "reason": "crm failed"}`
		}
		f, err := flow.ParseWith([]byte(`{"id": "`+id+`", "variables": {"member": {"type": "text"}}, "elements": [`+els+`]}`), crmKinds)
		require.NoError(t, err)
		return f
	}
	integPublish(t, eng, parse("vip", `{"group": "vip-{{person.externalId}}"}`, `{"added": "ok", "exists": "ok", "error": "oops"}`, true))
	integPublish(t, eng, parse("boom", `{"group": "boom"}`, `{"added": "ok", "error": "oops"}`, true))
	integPublish(t, eng, parse("down", `{"group": "down"}`, `{"added": "ok"}`, false))
	ann := store.PersonRef{ExternalID: "ann"}

	id, err := eng.Enter(ctx, "vip", ann, nil)
	require.NoError(t, err)
	p := integParticipant(t, eng, id)
	require.Equal(t, "vip-ann/ann", p.Vars["member"])
	require.Equal(t, "in the group", p.Reason)

	// A panic takes the error branch, recorded in the journal.
	id, err = eng.Enter(ctx, "boom", ann, nil)
	require.NoError(t, err)
	p = integParticipant(t, eng, id)
	require.Equal(t, "crm failed", p.Reason)
	require.Equal(t, "error", integStep(t, p, "crm").Branch)
	require.Contains(t, integStep(t, p, "crm").Reason, `custom element "crm.addToGroup" panicked: crm client bug`)

	// An error without an error branch fails the participant.
	id, err = eng.Enter(ctx, "down", ann, nil)
	require.NoError(t, err)
	p = integParticipant(t, eng, id)
	require.Equal(t, store.Failed, p.Status)
	require.Contains(t, p.Reason, "crm unavailable")

	// Configs are checked at Publish by the kind's own validation.
	_, err = eng.Publish(ctx, parse("bad", `{}`, `{"added": "ok"}`, false))
	var ve *flow.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "crm", ve.ElementID)
	require.Equal(t, "config", ve.Field)
	require.ErrorContains(t, err, "group is required")
	_, err = eng.Publish(ctx, parse("bad", `{"group": "g"}`, `{"maybe": "ok"}`, false))
	require.ErrorContains(t, err, `has no branch "maybe"`)
}

func TestIntegrationConfig(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	for _, cfg := range []flow.Config{
		{ElementOptions: kinds.Options{SendMessage: kinds.SendMessageOptions{FrequencyCap: kinds.FrequencyCap{Messages: 3}}}},
		{ElementOptions: kinds.Options{SendMessage: kinds.SendMessageOptions{QuietHours: kinds.QuietHours{Start: kinds.At(22, 0)}}}},
		{ElementOptions: kinds.Options{CallAPI: kinds.CallAPIOptions{Timeout: -time.Second}}},
		{ElementOptions: kinds.Options{CallAPI: kinds.CallAPIOptions{MaxResponseBytes: -1}}},
	} {
		cfg.Store = memory.New()
		_, err := flow.NewEngine(cfg)
		require.Error(t, err, "%+v", cfg)
	}

	// The address guard reaches the engine's default client and the
	// element: a local server is refused, without a request.
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	eng := integEngine(t, clk, flow.Config{ElementOptions: kinds.Options{CallAPI: kinds.CallAPIOptions{BlockPrivateAddresses: true}}})
	f := flow.New("guarded", "").Add("call", &kinds.CallAPI{URL: srv.URL}, nil)
	integPublish(t, eng, f)
	id, err := eng.Enter(ctx, "guarded", store.PersonRef{ExternalID: "ann"}, nil)
	require.NoError(t, err)
	p := integParticipant(t, eng, id)
	require.Equal(t, store.Failed, p.Status)
	require.Contains(t, p.Reason, "loopback, private or link-local")
	require.Zero(t, hits.Load())
}

// Two engines in one process each run their own custom kind of one name:
// kinds belong to an engine's registry, not to the process.
func TestEnginesHaveTheirOwnKinds(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	kindsOf := func(who string, branch string) *element.Registry {
		reg := kinds.Registry()
		require.NoError(t, kinds.RegisterCustom(reg, "host.greet", kinds.CustomKind{
			Branches: []string{branch},
			Outputs:  map[string]store.Type{"by": store.Text},
			Run: func(context.Context, *kinds.CustomCall) (kinds.CustomResult, error) {
				return kinds.CustomResult{Branch: branch, Outputs: map[string]any{"by": who}, Reason: "greeted by " + who}, nil
			},
		}))
		return reg
	}
	doc := func(branch string) []byte {
		return []byte(`{"id": "greet", "variables": {"by": {"type": "text"}}, "elements": [
		  {"id": "g", "type": "host.greet", "outputs": {"by": "by"}, "next": {"` + branch + `": "done"}},
		  {"id": "done", "type": "exit"}]}`)
	}
	kindsA, kindsB := kindsOf("engine A", "a"), kindsOf("engine B", "b")
	storeA, storeB := memory.New(), memory.New()
	engA, err := flow.NewEngine(flow.Config{Store: storeA, Clock: clk, Elements: kindsA})
	require.NoError(t, err)
	engB, err := flow.NewEngine(flow.Config{Store: storeB, Clock: clk, Elements: kindsB})
	require.NoError(t, err)

	// Each registry reads its own kind: B's branch is no branch of A's kind.
	fa, err := flow.ParseWith(doc("a"), kindsA)
	require.NoError(t, err)
	fb, err := flow.ParseWith(doc("b"), kindsB)
	require.NoError(t, err)
	_, err = engA.Publish(ctx, mustParseWith(t, doc("b"), kindsA))
	require.ErrorContains(t, err, `"b"`)
	_, err = flow.Parse(doc("a"))
	require.ErrorIs(t, err, element.ErrUnknownKind, "Parse reads the built-in kinds only")

	integPublish(t, engA, fa)
	integPublish(t, engB, fb)
	for eng, want := range map[*flow.Engine]string{engA: "engine A", engB: "engine B"} {
		id, err := eng.Enter(ctx, "greet", store.PersonRef{ExternalID: "ann"}, nil)
		require.NoError(t, err)
		p := integParticipant(t, eng, id)
		require.Equal(t, store.Completed, p.Status, p.Reason)
		require.Equal(t, want, p.Vars["by"])
		require.Equal(t, "greeted by "+want, integStep(t, p, "g").Reason)
	}

	// Another engine over A's store reads A's stored version with A's kinds;
	// one with the built-ins only cannot read it, and says why.
	engA2, err := flow.NewEngine(flow.Config{Store: storeA, Clock: clk, Elements: kindsA})
	require.NoError(t, err)
	id, err := engA2.Enter(ctx, "greet", store.PersonRef{ExternalID: "bob"}, nil)
	require.NoError(t, err)
	require.Equal(t, "engine A", integParticipant(t, engA2, id).Vars["by"])
	plain, err := flow.NewEngine(flow.Config{Store: storeA, Clock: clk})
	require.NoError(t, err)
	_, err = plain.Enter(ctx, "greet", store.PersonRef{ExternalID: "cy"}, nil)
	require.ErrorIs(t, err, element.ErrUnknownKind)
}

func mustParseWith(t *testing.T, data []byte, kinds *element.Registry) *flow.Flow {
	t.Helper()
	f, err := flow.ParseWith(data, kinds)
	require.NoError(t, err)
	return f
}
