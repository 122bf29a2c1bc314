package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/flowkit/flowkit/console"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

const vipFlow = `{
  "id": "vip", "name": "VIP welcome",
  "trigger": {"category": "external", "name": "VipSignup"},
  "elements": [
    {"id": "wait-call", "type": "waitForEvent",
     "event": {"category": "external", "name": "CallBooked"},
     "waitFor": {"amount": 2, "unit": "days"},
     "next": {"occurred": "done", "timeout": "done"}},
    {"id": "done", "type": "exit", "reason": "welcomed"}
  ]
}`

// twoFlows is the cart fixture with a second flow, vip, that shopper-1
// has entered; its handler is built with opts.
func twoFlows(t *testing.T, opts console.Options) *fixture {
	t.Helper()
	fx := newFixture(t, opts)
	ctx := context.Background()
	f, err := flow.Parse([]byte(vipFlow))
	require.NoError(t, err)
	_, err = fx.eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, fx.eng.Activate(ctx, "vip"))
	require.NoError(t, fx.eng.Deliver(ctx, &store.Event{
		ID: "vip-1", Person: store.PersonRef{ExternalID: "shopper-1"}, Category: store.External, Name: "VipSignup",
	}))
	return fx
}

// cartReader may use the console and read the cart flow and people; it
// may not read vip, nor take any lifecycle action.
var cartReader = console.Options{Authorize: func(_ *http.Request, a console.Access) bool {
	return (a.Action == console.Read || a.Action == console.ReadPeople) && (a.FlowID == "" || a.FlowID == "cart")
}}

type flowsPage struct {
	Flows []struct {
		ID  string
		Can []string
	}
	Can []string
}

func (p flowsPage) ids() []string {
	var out []string
	for _, f := range p.Flows {
		out = append(out, f.ID)
	}
	return out
}

func TestFlowListShowsOnlyAllowedFlows(t *testing.T) {
	fx := twoFlows(t, cartReader)
	var list flowsPage
	fx.get(t, "/api/flows", &list)
	require.Equal(t, []string{"cart"}, list.ids(), "vip is not the user's to read")
	fx.fails(t, "GET", "/api/flows/vip", 403, `forbidden: not authorized to read flow "vip"`)
	fx.fails(t, "GET", "/api/flows/vip/participants", 403, "forbidden")

	all := &fixture{h: console.Handler(fx.eng, allowAll)}
	all.get(t, "/api/flows", &list)
	require.ElementsMatch(t, []string{"cart", "vip"}, list.ids(), "a user allowed everything sees both")
}

func TestParticipantOfRefusedFlowIsNotFound(t *testing.T) {
	fx := twoFlows(t, cartReader)
	ctx := context.Background()
	vip, err := fx.eng.Participants(ctx, store.ParticipantQuery{FlowID: "vip"})
	require.NoError(t, err)
	require.Len(t, vip, 1)
	cart, err := fx.eng.Participants(ctx, store.ParticipantQuery{FlowID: "cart", Limit: 1})
	require.NoError(t, err)

	fx.fails(t, "GET", "/api/participants/"+vip[0].ID.String(), 404, "not found")
	code, body := fx.do(t, "GET", "/api/participants/"+vip[0].ID.String())
	require.Equal(t, 404, code)
	require.NotContains(t, string(body), "wait-call", "no journal of vip")
	require.NotContains(t, string(body), "vip")

	var p participantJSON
	fx.get(t, "/api/participants/"+cart[0].ID.String(), &p)
	require.Equal(t, "cart", p.FlowID)
	require.NotEmpty(t, p.Journal)
}

func TestPersonShowsOnlyAllowedFlows(t *testing.T) {
	fx := twoFlows(t, cartReader)
	var page struct {
		Person         struct{ ExternalID string }
		Participations []participantJSON
	}
	fx.get(t, "/api/person?externalId=shopper-1", &page)
	require.Equal(t, "shopper-1", page.Person.ExternalID)
	var flows []string
	for _, p := range page.Participations {
		flows = append(flows, p.FlowID)
	}
	require.Equal(t, []string{"cart", "cart"}, flows, "both cart versions, no vip")

	all := &fixture{h: console.Handler(fx.eng, allowAll)}
	all.get(t, "/api/person?externalId=shopper-1", &page)
	require.Len(t, page.Participations, 3, "a user allowed everything sees vip too")
}

func TestPersonEventsLeaveOutRefusedFlows(t *testing.T) {
	fx := twoFlows(t, cartReader)
	var events struct {
		Events []struct {
			ID, Category, Name string
			Properties         map[string]any
		}
	}
	fx.get(t, "/api/person/events?externalId=shopper-1&limit=500", &events)
	var names []string
	for _, e := range events.Events {
		require.NotEqual(t, "vip", e.Properties["flowId"], "event %s/%s of vip", e.Category, e.Name)
		names = append(names, e.Category+"/"+e.Name)
	}
	require.Contains(t, names, "product/enteredFlow", "events of cart stay")
	require.Contains(t, names, "external/VipSignup", "the person's own events stay")

	// Everything allowed: the same person's history shows vip too.
	all := &fixture{h: console.Handler(fx.eng, allowAll)}
	all.get(t, "/api/person/events?externalId=shopper-1&limit=500", &events)
	require.True(t, slices.ContainsFunc(events.Events, func(e struct {
		ID, Category, Name string
		Properties         map[string]any
	}) bool {
		return e.Properties["flowId"] == "vip"
	}), "vip's events are there to leave out")
}

func TestPeopleNeedReadPeople(t *testing.T) {
	flowsOnly := console.Options{Authorize: func(_ *http.Request, a console.Access) bool { return a.Action == console.Read }}
	fx := twoFlows(t, flowsOnly)
	fx.fails(t, "GET", "/api/person?externalId=shopper-1", 403, "forbidden: not authorized to readPeople")
	fx.fails(t, "GET", "/api/person/events?externalId=shopper-1", 403, "forbidden: not authorized to readPeople")
	var list flowsPage
	fx.get(t, "/api/flows", &list)
	require.Empty(t, list.Can, "no person search for this user")
	require.Len(t, list.Flows, 2)

	readers := &fixture{h: console.Handler(fx.eng, readAll)}
	readers.get(t, "/api/flows", &list)
	require.Equal(t, []string{"readPeople"}, list.Can, "AllowUnauthenticated reads people too")
}

func TestFlowsSayWhatTheUserCan(t *testing.T) {
	operator := console.Options{Authorize: func(_ *http.Request, a console.Access) bool {
		return a.Action == console.Read || a.FlowID == "cart" && (a.Action == console.Pause || a.Action == console.Resume)
	}}
	fx := twoFlows(t, operator)
	var list flowsPage
	fx.get(t, "/api/flows", &list)
	can := map[string][]string{}
	for _, f := range list.Flows {
		can[f.ID] = f.Can
	}
	require.Equal(t, map[string][]string{"cart": {"pause", "resume"}, "vip": {}}, can)
	var one struct{ Can []string }
	fx.get(t, "/api/flows/cart", &one)
	require.Equal(t, []string{"pause", "resume"}, one.Can)
	fx.fails(t, "POST", "/api/flows/cart/cancel", 403, `not authorized to cancel flow "cart"`)
	fx.fails(t, "POST", "/api/flows/vip/pause", 403, "forbidden")

	all := &fixture{h: console.Handler(fx.eng, allowAll)}
	all.get(t, "/api/flows/vip", &one)
	require.Equal(t, []string{"activate", "pause", "resume", "finish", "cancel", "operate", "migrate"}, one.Can)
	readers := &fixture{h: console.Handler(fx.eng, readAll)}
	readers.get(t, "/api/flows/vip", &one)
	require.Empty(t, one.Can)
	require.NotNil(t, one.Can, "an empty list, not null")
}

// rebound sends a request as a page of another site that has pointed its
// own name at the console's address sends it: Host and Origin are that
// site's, and to the browser it is same-origin.
func rebound(h http.Handler, method, target, host string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.Host = host
	r.Header.Set("Origin", "http://"+host)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestRebindingPageCannotPauseFlows(t *testing.T) {
	fx := newFixture(t, allowAll)
	rec := rebound(fx.h, "POST", "/api/flows/cart/pause", "rebind.attacker.example:8080")
	require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
	var f flowJSON
	fx.get(t, "/api/flows/cart", &f)
	require.Equal(t, "active", f.Status, "the flow was not paused")
}

func TestHostCheckStopsDNSRebinding(t *testing.T) {
	fx := newFixture(t, allowAll)
	const evil = "rebind.attacker.example:8080"
	for _, target := range []string{"/", "/assets/app.js", "/api/flows", "/api/person?externalId=shopper-1"} {
		rec := rebound(fx.h, "GET", target, evil)
		require.Equal(t, http.StatusForbidden, rec.Code, "GET %s", target)
		require.Contains(t, rec.Body.String(), `does not answer to Host \"rebind.attacker.example:8080\"`)
		require.Contains(t, rec.Body.String(), "AllowedHosts")
		require.NotContains(t, rec.Body.String(), "shopper")
	}
	for _, host := range []string{"localhost", "localhost:8080", "LocalHost:1", "localhost.:80", "127.0.0.1", "127.0.0.1:9000", "[::1]", "[::1]:8080"} {
		rec := rebound(fx.h, "GET", "/api/flows", host)
		require.Equal(t, 200, rec.Code, "Host %s: %s", host, rec.Body)
	}
	for _, host := range []string{"", "127.0.0.2", "localhost.attacker.example", "evil.localhost", "[::1", "::1", "localhost:80:80", "0.0.0.0:8080"} {
		rec := rebound(fx.h, "GET", "/api/flows", host)
		require.Equal(t, 403, rec.Code, "Host %q", host)
	}
}

func TestAllowedHosts(t *testing.T) {
	s := memory.New()
	eng, err := flow.NewEngine(flow.Config{Store: s})
	require.NoError(t, err)
	handler := func(hosts ...string) http.Handler {
		return console.Handler(eng, console.Options{AllowUnauthenticated: true, AllowedHosts: hosts})
	}
	cases := []struct {
		hosts     []string
		ok, notOK []string
	}{
		{[]string{"console.example.com"}, []string{"console.example.com", "Console.Example.com:8443"}, []string{"localhost", "x.console.example.com", "example.com"}},
		{[]string{"console.example.com:8443"}, []string{"console.example.com:8443"}, []string{"console.example.com", "console.example.com:443"}},
		{[]string{".example.com"}, []string{"example.com", "a.b.example.com:1"}, []string{"badexample.com", "example.com.attacker.example"}},
		{[]string{"10.0.0.7", "[fd00::1]"}, []string{"10.0.0.7:80", "[fd00::1]:8080", "[FD00::1]"}, []string{"10.0.0.8", "localhost"}},
		{[]string{"*"}, []string{"anything.example", "localhost", "1.2.3.4:5"}, nil},
	}
	for _, c := range cases {
		h := handler(c.hosts...)
		for _, host := range c.ok {
			require.Equal(t, 200, rebound(h, "GET", "/api/flows", host).Code, "%v allows %s", c.hosts, host)
		}
		for _, host := range c.notOK {
			require.Equal(t, 403, rebound(h, "GET", "/api/flows", host).Code, "%v refuses %s", c.hosts, host)
		}
	}
	for _, bad := range []string{"http://example.com", "example.com/console", "", ".", "*.example.com", "example.com:http"} {
		require.PanicsWithError(t, `console: Options.AllowedHosts entry "`+bad+`" is not a host, host:port, .domain or "*"`, func() { handler(bad) }, bad)
	}
}

func TestSignIn(t *testing.T) {
	var asked int
	opts := console.Options{
		SignedIn:  func(r *http.Request) bool { return r.Header.Get("X-User") != "" },
		LoginURL:  "/login?next=/console/",
		Authorize: func(*http.Request, console.Access) bool { asked++; return true },
	}
	fx := newFixture(t, opts)
	for _, target := range []string{"/api/flows", "/api/flows/cart", "/api/person?externalId=shopper-1", "/assets/app.js"} {
		code, body := fx.do(t, "GET", target)
		require.Equal(t, http.StatusUnauthorized, code, target)
		var e struct{ Error, LoginURL string }
		require.NoError(t, json.Unmarshal(body, &e))
		require.Equal(t, "sign in first", e.Error)
		require.Equal(t, "/login?next=/console/", e.LoginURL)
	}
	code, _ := fx.do(t, "POST", "/api/flows/cart/pause")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Zero(t, asked, "Authorize is not asked for a signed-out user")

	rec := httptest.NewRecorder()
	fx.h.ServeHTTP(rec, newRequest("GET", "/"))
	require.Equal(t, http.StatusSeeOther, rec.Code, "the page sends the browser to sign in")
	require.Equal(t, "/login?next=/console/", rec.Header().Get("Location"))

	r := newRequest("GET", "/api/flows")
	r.Header.Set("X-User", "ana")
	rec = httptest.NewRecorder()
	fx.h.ServeHTTP(rec, r)
	require.Equal(t, 200, rec.Code)
	require.Positive(t, asked)

	noLink := &fixture{h: console.Handler(fx.eng, console.Options{SignedIn: opts.SignedIn, Authorize: opts.Authorize})}
	noLink.fails(t, "GET", "/", 401, "sign in first")
	code, body := noLink.do(t, "GET", "/api/flows")
	require.Equal(t, 401, code)
	require.NotContains(t, string(body), "loginUrl")
}
