package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/console"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const cartFlow = `{
  "id": "cart", "name": "Abandoned cart",
  "trigger": {"category": "external", "name": "CartAbandoned"},
  "elements": [
    {"id": "wait-order", "type": "waitForEvent",
     "event": {"category": "external", "name": "OrderCompleted"},
     "waitFor": {"amount": 4, "unit": "hours"},
     "next": {"occurred": "bought", "timeout": "remind"}},
    {"id": "remind", "type": "addTag", "tag": "reminded", "next": {"next": "lost"}},
    {"id": "bought", "type": "exit", "reason": "bought without a reminder"},
    {"id": "lost", "type": "exit", "reason": "never came back"}
  ]
}`

// fixture is an engine with the cart flow: v1 has 10 shoppers (3 bought,
// 7 reminded and lost), v2 has 4 waiting at wait-order.
type fixture struct {
	eng *flow.Engine
	clk *clock.Fake
	h   http.Handler
}

func newFixture(t testing.TB, opts console.Options) *fixture {
	t.Helper()
	return newFixtureOn(t, memory.New(), opts)
}

// storeMaker returns a new, empty store for a test.
type storeMaker func(testing.TB) store.Store

// TestAPI runs the endpoint tests on the memory store and, when
// FLOWKIT_TEST_POSTGRES names a database, on PostgreSQL.
func TestAPI(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T, storeMaker)
	}{
		{"Flows", testFlows}, {"DocumentAndStats", testDocumentAndStats}, {"Participants", testParticipants},
		{"Participant", testParticipant}, {"Person", testPerson}, {"PersonEventsPaging", testPersonEventsPaging},
		{"Lifecycle", testLifecycle}, {"Experiments", testExperiments},
	}
	stores := []struct {
		name string
		mk   storeMaker
	}{{"memory", func(testing.TB) store.Store { return memory.New() }}, {"postgres", postgresStore}}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, st.mk) })
			}
		})
	}
}

func newFixtureOn(t testing.TB, s store.Store, opts console.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(t0)
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk})
	require.NoError(t, err)
	f, err := flow.Parse([]byte(cartFlow))
	require.NoError(t, err)
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "cart"))
	shop := func(i int, name string) {
		t.Helper()
		require.NoError(t, eng.Deliver(ctx, &store.Event{
			ID: fmt.Sprintf("%s-%d-%s", name, i, clk.Now().Format(time.RFC3339)), Person: store.PersonRef{ExternalID: fmt.Sprint("shopper-", i)},
			Category: store.External, Name: name,
		}))
	}
	for i := range 10 {
		_, err := eng.UpdatePerson(ctx, store.PersonRef{ExternalID: fmt.Sprint("shopper-", i)}, func(p *store.Person) error {
			p.FirstName = fmt.Sprint("Shopper ", i)
			p.Emails = []string{fmt.Sprintf("s%d@example.com", i)}
			p.Phones = []string{fmt.Sprintf("38591000%04d", i)}
			return nil
		})
		require.NoError(t, err)
		shop(i, "CartAbandoned")
	}
	clk.Advance(time.Hour)
	for i := range 3 {
		shop(i, "OrderCompleted")
	}
	_, err = flowtest.Advance(ctx, eng, clk, 5*time.Hour)
	require.NoError(t, err)

	f.Name = "Abandoned cart, second try"
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
	for i := range 4 {
		shop(i, "CartAbandoned")
	}
	return &fixture{eng: eng, clk: clk, h: console.Handler(eng, opts)}
}

var readAll = console.Options{AllowUnauthenticated: true}

// allowAll lets every request through, lifecycle actions included.
var allowAll = console.Options{Authorize: func(*http.Request, console.Access) bool { return true }}

// newRequest is a request for target as a browser on the console's
// machine sends it, with Host localhost.
func newRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, "http://localhost"+target, nil)
}

// do sends a request and returns the status and body.
func (fx *fixture) do(t *testing.T, method, target string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	fx.h.ServeHTTP(rec, newRequest(method, target))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, body
}

// get decodes a 200 answer into out.
func (fx *fixture) get(t *testing.T, target string, out any) {
	t.Helper()
	code, body := fx.do(t, http.MethodGet, target)
	require.Equal(t, http.StatusOK, code, "GET %s: %s", target, body)
	require.NoError(t, json.Unmarshal(body, out), "GET %s", target)
}

// fails checks that a request fails with code and an error message that
// contains want.
func (fx *fixture) fails(t *testing.T, method, target string, code int, want string) {
	t.Helper()
	got, body := fx.do(t, method, target)
	require.Equal(t, code, got, "%s %s: %s", method, target, body)
	var e struct{ Error string }
	require.NoError(t, json.Unmarshal(body, &e), "%s %s: %s", method, target, body)
	require.Contains(t, e.Error, want, "%s %s", method, target)
}

type flowJSON struct {
	ID, Name, Status string
	Latest           int
	Versions         []struct {
		Version     int
		PublishedAt time.Time
	}
}

func testFlows(t *testing.T, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), readAll)
	var list struct{ Flows []flowJSON }
	fx.get(t, "/api/flows", &list)
	require.Len(t, list.Flows, 1)
	got := list.Flows[0]
	require.Equal(t, "cart", got.ID)
	require.Equal(t, "Abandoned cart, second try", got.Name, "the latest version's name")
	require.Equal(t, "active", got.Status)
	require.Equal(t, 2, got.Latest)
	require.Len(t, got.Versions, 2)
	require.Equal(t, 1, got.Versions[0].Version)
	require.True(t, got.Versions[0].PublishedAt.Equal(t0))
	require.True(t, got.Versions[1].PublishedAt.Equal(t0.Add(6*time.Hour)))

	var one flowJSON
	fx.get(t, "/api/flows/cart", &one)
	require.Equal(t, got, one)

	fx.fails(t, "GET", "/api/flows/nope", 404, `flow "nope"`)
	fx.fails(t, "GET", "/api/flows?page=2", 400, `parameter "page": unknown parameter`)
	fx.fails(t, "GET", "/api/nothing", 404, "no such endpoint")
}

type elementJSON struct {
	ID, Type                 string
	Entered, Waiting, Errors int64
	Left                     map[string]int64
}

func testDocumentAndStats(t *testing.T, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), readAll)
	var doc struct {
		FlowID   string
		Version  int
		Document struct {
			ID, Name string
			Elements []struct {
				ID, Type string
				Next     map[string]string
			}
		}
	}
	fx.get(t, "/api/flows/cart/versions/1", &doc)
	require.Equal(t, "cart", doc.FlowID)
	require.Equal(t, 1, doc.Version)
	require.Equal(t, "Abandoned cart", doc.Document.Name)
	require.Len(t, doc.Document.Elements, 4)
	require.Equal(t, map[string]string{"occurred": "bought", "timeout": "remind"}, doc.Document.Elements[0].Next)

	var v1 struct {
		FlowID   string
		Version  int
		Elements []elementJSON
	}
	fx.get(t, "/api/flows/cart/versions/1/stats", &v1)
	require.Equal(t, []elementJSON{
		{ID: "wait-order", Type: "waitForEvent", Entered: 10, Left: map[string]int64{"occurred": 3, "timeout": 7}},
		{ID: "remind", Type: "addTag", Entered: 7, Left: map[string]int64{"next": 7}},
		{ID: "bought", Type: "exit", Entered: 3, Left: map[string]int64{}},
		{ID: "lost", Type: "exit", Entered: 7, Left: map[string]int64{}},
	}, v1.Elements, "every element in document order")

	var v2 struct{ Elements []elementJSON }
	fx.get(t, "/api/flows/cart/versions/2/stats", &v2)
	require.Equal(t, []elementJSON{
		{ID: "wait-order", Type: "waitForEvent", Entered: 4, Waiting: 4, Left: map[string]int64{"occurred": 0, "timeout": 0}},
		{ID: "remind", Type: "addTag", Left: map[string]int64{"next": 0}},
		{ID: "bought", Type: "exit", Left: map[string]int64{}},
		{ID: "lost", Type: "exit", Left: map[string]int64{}},
	}, v2.Elements, "zero rows for what v2 has not done yet")

	for _, suffix := range []string{"", "/stats"} {
		fx.fails(t, "GET", "/api/flows/cart/versions/x"+suffix, 400, `parameter "version": must be a version number from 1 up, got "x"`)
		fx.fails(t, "GET", "/api/flows/cart/versions/0"+suffix, 400, `parameter "version"`)
		fx.fails(t, "GET", "/api/flows/cart/versions/-1"+suffix, 400, `parameter "version"`)
		fx.fails(t, "GET", "/api/flows/cart/versions/3"+suffix, 404, `flow "cart" version 3`)
		fx.fails(t, "GET", "/api/flows/nope/versions/1"+suffix, 404, "not found")
	}
}

type participantJSON struct {
	ID, PersonID, FlowID, Status, Element, Reason string
	FlowVersion                                   int
	Journal                                       []struct {
		Element, Branch, Reason string
		At                      time.Time
	}
	Wait *struct {
		Until  time.Time
		Events []string
	}
}

type participantsPage struct {
	Participants []participantJSON
	Next         string
}

// collect pages through a participants query, asserting each page's
// size and order, and returns every participant.
func (fx *fixture) collect(t *testing.T, query string, limit int) []participantJSON {
	t.Helper()
	var all []participantJSON
	after := ""
	for range 100 {
		target := fmt.Sprintf("/api/flows/cart/participants?limit=%d", limit)
		if query != "" {
			target += "&" + query
		}
		if after != "" {
			target += "&after=" + after
		}
		var page participantsPage
		fx.get(t, target, &page)
		require.LessOrEqual(t, len(page.Participants), limit)
		for _, p := range page.Participants {
			require.Empty(t, p.Journal, "lists leave journals out")
		}
		all = append(all, page.Participants...)
		if page.Next == "" {
			return all
		}
		require.Len(t, page.Participants, limit, "only the last page is short")
		require.Equal(t, page.Participants[len(page.Participants)-1].ID, page.Next)
		after = page.Next
	}
	t.Fatal("paging did not end")
	return nil
}

func testParticipants(t *testing.T, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), readAll)
	var first participantsPage
	fx.get(t, "/api/flows/cart/participants", &first)
	require.Len(t, first.Participants, 14, "a default page holds them all")
	require.Empty(t, first.Next)
	ids := func(ps []participantJSON) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.ID
		}
		return out
	}
	all := ids(first.Participants)
	require.True(t, slices.IsSorted(all), "in id order")

	require.Equal(t, all, ids(fx.collect(t, "", 3)), "paging by 3 gives everyone once")
	require.Equal(t, all, ids(fx.collect(t, "", 14)), "an exact last page ends the paging")

	waiting := fx.collect(t, "status=waiting", 2)
	require.Len(t, waiting, 4)
	for _, p := range waiting {
		require.Equal(t, "waiting", p.Status)
		require.Equal(t, 2, p.FlowVersion)
		require.Equal(t, "wait-order", p.Element)
		require.NotNil(t, p.Wait)
		require.Equal(t, []string{"OrderCompleted"}, p.Wait.Events)
	}
	lost := fx.collect(t, "element=lost", 5)
	require.Len(t, lost, 7)
	for _, p := range lost {
		require.Equal(t, "completed", p.Status)
		require.Equal(t, "never came back", p.Reason)
	}
	require.Len(t, fx.collect(t, "element=bought&status=completed,waiting", 50), 3)
	require.Empty(t, fx.collect(t, "element=bought&status=waiting", 50))
	require.Empty(t, fx.collect(t, "element=nowhere", 50))

	bad := []struct{ query, want string }{
		{"status=done", `parameter "status": unknown status "done"`},
		{"limit=0", `parameter "limit": must be a whole number from 1 to 500, got "0"`},
		{"limit=501", `parameter "limit"`},
		{"limit=ten", `parameter "limit"`},
		{"after=xyz", `parameter "after": must be a UUID, got "xyz"`},
		{"elemnt=lost", `parameter "elemnt": unknown parameter (known: status, element, version, reason, sort, after, before, limit)`},
		{"limit=1&limit=2", `parameter "limit": given 2 times`},
		{"limit=%zz", `parameter "query"`},
	}
	for _, b := range bad {
		fx.fails(t, "GET", "/api/flows/cart/participants?"+b.query, 400, b.want)
	}
	fx.fails(t, "GET", "/api/flows/nope/participants", 404, `flow "nope"`)
}

func testParticipant(t *testing.T, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), readAll)
	var lost participantsPage
	fx.get(t, "/api/flows/cart/participants?element=lost&limit=1", &lost)
	var p participantJSON
	fx.get(t, "/api/participants/"+lost.Participants[0].ID, &p)
	require.Equal(t, "completed", p.Status)
	var steps []string
	for _, s := range p.Journal {
		steps = append(steps, s.Element+" "+s.Branch)
	}
	require.Equal(t, []string{"wait-order ", "wait-order timeout", "remind next", "lost "}, steps)
	require.Equal(t, "waiting up to 4 hours for external/OrderCompleted", p.Journal[0].Reason, "reasons in words")
	require.Equal(t, "no external/OrderCompleted within 4 hours", p.Journal[1].Reason)
	require.Equal(t, "never came back", p.Journal[3].Reason)

	fx.fails(t, "GET", "/api/participants/not-a-uuid", 400, `parameter "id": must be a UUID`)
	fx.fails(t, "GET", "/api/participants/0190c9d2-3f4b-7000-8000-000000000000", 404, "not found")
}

func testPerson(t *testing.T, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), readAll)
	type personPage struct {
		Person struct {
			ID, ExternalID, FirstName string
			Emails, Phones, Tags      []string
		}
		Participations []participantJSON
	}
	for _, q := range []string{"externalId=shopper-5", "email=s5@example.com", "phone=385910000005"} {
		var got personPage
		fx.get(t, "/api/person?"+q, &got)
		require.Equal(t, "shopper-5", got.Person.ExternalID, q)
		require.Equal(t, "Shopper 5", got.Person.FirstName)
		require.Equal(t, []string{"reminded"}, got.Person.Tags)
		require.Len(t, got.Participations, 1)
		require.Len(t, got.Participations[0].Journal, 4, "participations come with journals")

		var byID personPage
		fx.get(t, "/api/person?id="+got.Person.ID, &byID)
		require.Equal(t, got, byID)
	}
	var ana personPage
	fx.get(t, "/api/person?externalId=shopper-0", &ana)
	require.Len(t, ana.Participations, 2, "one in each version")
	require.Equal(t, []int{1, 2}, []int{ana.Participations[0].FlowVersion, ana.Participations[1].FlowVersion})
	require.Equal(t, "bought", ana.Participations[0].Element)
	require.Equal(t, "waiting", ana.Participations[1].Status)

	fx.fails(t, "GET", "/api/person", 400, `parameter "id/externalId/phone/email": give exactly one of them`)
	fx.fails(t, "GET", "/api/person?email=a@b.c&phone=1", 400, "got 2")
	fx.fails(t, "GET", "/api/person?email=", 400, `parameter "email": must not be empty`)
	fx.fails(t, "GET", "/api/person?id=12", 400, `parameter "id": must be a UUID`)
	fx.fails(t, "GET", "/api/person?name=ana", 400, `parameter "name": unknown parameter`)
	fx.fails(t, "GET", "/api/person?email=nobody@example.com", 404, "not found")
	fx.fails(t, "GET", "/api/person?id=0190c9d2-3f4b-7000-8000-000000000000", 404, "not found")
}

func testPersonEventsPaging(t *testing.T, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), readAll)
	ctx := context.Background()
	ref := store.PersonRef{ExternalID: "shopper-9"}
	// shopper-9 has CartAbandoned and the engine's entered/exited events;
	// add five that share one time, and two later.
	tie := fx.clk.Now().Add(time.Minute)
	for i := range 5 {
		require.NoError(t, fx.eng.Deliver(ctx, &store.Event{ID: fmt.Sprint("tie-", i), Person: ref, Category: store.External, Name: "Viewed", Time: tie}))
	}
	for i := range 2 {
		require.NoError(t, fx.eng.Deliver(ctx, &store.Event{ID: fmt.Sprint("late-", i), Person: ref, Category: store.External, Name: "Viewed", Time: tie.Add(time.Duration(i+1) * time.Second)}))
	}
	want, err := fx.eng.Events(ctx, ref, store.EventQuery{})
	require.NoError(t, err)
	require.Greater(t, len(want), 8)

	type page struct {
		Events []struct {
			ID   string
			Time time.Time
		}
		Next string
	}
	for _, limit := range []int{1, 2, 3, 4, 100} {
		var got []string
		before := ""
		for range 20 {
			target := fmt.Sprintf("/api/person/events?externalId=shopper-9&limit=%d", limit)
			if before != "" {
				target += "&before=" + url.QueryEscape(before)
			}
			var p page
			fx.get(t, target, &p)
			require.LessOrEqual(t, len(p.Events), limit, "limit %d holds when events share a time", limit)
			for i, e := range p.Events {
				got = append(got, e.ID)
				if i > 0 {
					require.False(t, e.Time.After(p.Events[i-1].Time), "newest first")
				}
			}
			if p.Next == "" {
				break
			}
			before = p.Next
		}
		var wantIDs []string
		for _, e := range want {
			wantIDs = append(wantIDs, e.ID)
		}
		require.ElementsMatch(t, wantIDs, got, "limit %d: every event once, ties included", limit)
	}

	// More events of one time than the largest page: each page holds
	// its limit, and the pages hold every event once.
	for i := range 600 {
		require.NoError(t, fx.eng.Deliver(ctx, &store.Event{ID: fmt.Sprint("crowd-", i), Person: ref, Category: store.External, Name: "Crowd", Time: tie.Add(time.Hour)}))
	}
	var p struct{ Events []struct{ ID string } }
	fx.get(t, "/api/person/events?externalId=shopper-9&limit=1", &p)
	require.Len(t, p.Events, 1)
	seen := map[string]bool{}
	before := ""
	for range 3 {
		target := "/api/person/events?externalId=shopper-9&limit=500"
		if before != "" {
			target += "&before=" + url.QueryEscape(before)
		}
		var page struct {
			Events []struct{ ID string }
			Next   string
		}
		fx.get(t, target, &page)
		require.LessOrEqual(t, len(page.Events), 500)
		for _, e := range page.Events {
			require.False(t, seen[e.ID], "event %s twice", e.ID)
			seen[e.ID] = true
		}
		if before = page.Next; before == "" {
			break
		}
	}
	require.Len(t, seen, len(want)+600)

	fx.fails(t, "GET", "/api/person/events?externalId=shopper-9&before=yesterday", 400, `parameter "before"`)
	fx.fails(t, "GET", "/api/person/events?externalId=shopper-9&limit=-3", 400, `parameter "limit"`)
	fx.fails(t, "GET", "/api/person/events?limit=3", 400, "give exactly one of them")
	fx.fails(t, "GET", "/api/person/events?externalId=nobody", 404, "not found")
}

func testLifecycle(t *testing.T, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), allowAll)
	status := func() string {
		var f flowJSON
		fx.get(t, "/api/flows/cart", &f)
		return f.Status
	}
	post := func(action, want string) {
		t.Helper()
		code, body := fx.do(t, http.MethodPost, "/api/flows/cart/"+action)
		require.Equal(t, 200, code, "%s: %s", action, body)
		require.JSONEq(t, `{"flowId":"cart","status":"`+want+`"}`, string(body))
		require.Equal(t, want, status())
	}
	post("pause", "paused")
	fx.fails(t, "POST", "/api/flows/cart/pause", 409, "flow status does not allow this")
	post("resume", "active")
	fx.fails(t, "POST", "/api/flows/cart/activate", 409, "does not allow")
	fx.fails(t, "POST", "/api/flows/cart/explode", 404, "no such endpoint: POST /api/flows/cart/explode")
	fx.fails(t, "POST", "/api/flows/nope/pause", 404, `flow "nope"`)
	fx.fails(t, "POST", "/api/flows/cart/pause?now=1", 400, `parameter "now"`)
	require.Equal(t, "active", status(), "refused actions change nothing")
	fx.fails(t, "GET", "/api/flows/cart/pause", 404, "no such endpoint")

	post("finish", "finished")
	post("cancel", "canceled")
	var waiting participantsPage
	fx.get(t, "/api/flows/cart/participants?status=waiting", &waiting)
	require.Empty(t, waiting.Participants, "cancel took everyone out")

	_, err := fx.eng.Publish(context.Background(), flow.New("draft", "Draft").Add("hold", &kinds.Exit{}, nil))
	require.NoError(t, err)
	code, body := fx.do(t, http.MethodPost, "/api/flows/draft/activate")
	require.Equal(t, 200, code, "%s", body)
	require.JSONEq(t, `{"flowId":"draft","status":"active"}`, string(body))
}

func TestAuthorization(t *testing.T) {
	reads := []string{"/", "/assets/app.js", "/api/flows", "/api/flows/cart", "/api/flows/cart/versions/1/stats",
		"/api/flows/cart/participants", "/api/person?externalId=shopper-1", "/api/person/events?externalId=shopper-1"}
	actions := []string{"activate", "pause", "resume", "finish", "cancel"}

	t.Run("no hook refuses everything", func(t *testing.T) {
		fx := newFixture(t, console.Options{})
		for _, target := range reads {
			fx.fails(t, "GET", target, 403, "no Options.Authorize")
		}
		for _, a := range actions {
			fx.fails(t, "POST", "/api/flows/cart/"+a, 403, "forbidden")
		}
	})
	t.Run("AllowUnauthenticated opens reading only", func(t *testing.T) {
		fx := newFixture(t, readAll)
		for _, target := range reads {
			code, body := fx.do(t, "GET", target)
			require.Equal(t, 200, code, "%s: %s", target, body)
		}
		for _, a := range actions {
			fx.fails(t, "POST", "/api/flows/cart/"+a, 403, a+" needs the consent of Options.Authorize")
		}
		var f flowJSON
		fx.get(t, "/api/flows/cart", &f)
		require.Equal(t, "active", f.Status, "no action ran")
	})
	t.Run("the hook decides, seeing the action and the flow", func(t *testing.T) {
		var seen []console.Access
		readOnly := console.Options{
			AllowUnauthenticated: true, // ignored: the hook decides
			Authorize: func(r *http.Request, a console.Access) bool {
				seen = append(seen, a)
				return r.Header.Get("X-User") == "support" && (a.Action == console.Read || a.Action == console.Pause)
			},
		}
		fx := newFixture(t, readOnly)
		fx.fails(t, "GET", "/api/flows", 403, "forbidden: not authorized to read")
		fx.fails(t, "GET", "/", 403, "forbidden")

		req := func(method, target string) int {
			r := newRequest(method, target)
			r.Header.Set("X-User", "support")
			rec := httptest.NewRecorder()
			fx.h.ServeHTTP(rec, r)
			return rec.Code
		}
		seen = nil
		require.Equal(t, 200, req("GET", "/api/flows/cart/participants"))
		require.Equal(t, 403, req("POST", "/api/flows/cart/cancel"))
		require.Equal(t, 200, req("POST", "/api/flows/cart/pause"))
		require.Equal(t, []console.Access{
			// A list asks whether its rows may say who each participant is.
			{Action: console.Read, FlowID: "cart"}, {Action: console.ReadPeople},
			{Action: console.Cancel, FlowID: "cart"}, {Action: console.Pause, FlowID: "cart"},
		}, seen)
		fx.fails(t, "GET", "/api/flows/cart/participants", 403, "forbidden") // no X-User
	})
	t.Run("cross-origin POSTs are refused even when allowed", func(t *testing.T) {
		fx := newFixture(t, allowAll)
		r := newRequest("POST", "/api/flows/cart/cancel")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, r)
		require.Equal(t, 403, rec.Code)
		// A browser that sends no Sec-Fetch-Site is judged by its Origin.
		r = newRequest("POST", "/api/flows/cart/cancel")
		r.Header.Set("Origin", "https://shop.attacker.example")
		rec = httptest.NewRecorder()
		fx.h.ServeHTTP(rec, r)
		require.Equal(t, 403, rec.Code)
		var f flowJSON
		fx.get(t, "/api/flows/cart", &f)
		require.Equal(t, "active", f.Status)
	})
}

func TestPage(t *testing.T) {
	fx := newFixture(t, readAll)
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", fx.h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(b)
	}
	res, page := get("/console/")
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Type"), "text/html")
	require.Contains(t, res.Header.Get("Content-Security-Policy"), "default-src 'self'", "nothing loads from elsewhere")
	require.Contains(t, page, `<script src="assets/app.js"`, "relative: works under any prefix")
	for _, asset := range []struct{ path, ctype string }{{"assets/app.js", "javascript"}, {"assets/style.css", "text/css"}} {
		res, body := get("/console/" + asset.path)
		require.Equal(t, 200, res.StatusCode, asset.path)
		require.Contains(t, res.Header.Get("Content-Type"), asset.ctype)
		require.NotEmpty(t, body)
	}
	res, _ = get("/console/assets/nope.js")
	require.Equal(t, 404, res.StatusCode)
	res, body := get("/console/api/flows")
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, body, `"id":"cart"`)
}

// TestPageFetchesNothingElsewhere reads every embedded file for an
// address outside the console (the SVG namespace name is not fetched).
func TestPageFetchesNothingElsewhere(t *testing.T) {
	files := console.Files()
	var n int
	require.NoError(t, fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(files, path)
		require.NoError(t, err)
		text := strings.ReplaceAll(string(b), `"http://www.w3.org/2000/svg"`, "")
		for _, scheme := range []string{"http://", "https://", "//cdn", "@import"} {
			require.NotContains(t, text, scheme, path)
		}
		return nil
	}))
	require.Equal(t, 7, n, "index.html, app.js, style.css, and the vendored dagre with its licence and note")
}
