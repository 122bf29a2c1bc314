package flowtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

const kitFlow = `{"id": "trial", "timezone": "UTC",
  "variables": {"points": {"type": "number"}},
  "elements": [
    {"id": "split", "type": "splitAudience", "variants": [{"name": "a", "percent": 50}, {"name": "b", "percent": 50}],
     "next": {"a": "lookup", "b": "pause"}},
    {"id": "lookup", "type": "callApi", "url": "https://crm.example.com/members/{{person.externalId}}", "timeout": "50ms",
     "responseBody": [{"path": "$.points", "variable": "points"}],
     "next": {"2xx": "hello", "4xx": "sorry", "error": "sorry"}},
    {"id": "pause", "type": "pause", "mode": "for", "period": {"amount": 2, "unit": "days"}, "next": {"next": "hello"}},
    {"id": "hello", "type": "sendMessage", "channel": "email", "subject": "Hi", "body": "You have {{points}} points", "next": {"sent": "done"}},
    {"id": "sorry", "type": "exit", "reason": "no member"},
    {"id": "done", "type": "exit"}
  ]}`

func kitEngine(t *testing.T, variants map[string]string) (*flow.Engine, *clock.Fake, *flowtest.Sender, *flowtest.HTTP) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	sender, api := flowtest.NewSender(clk), flowtest.NewHTTP(clk)
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Ports: flow.Ports{Sender: sender, HTTP: api, Variants: flowtest.ForceVariants(variants)}})
	require.NoError(t, err)
	f, err := flow.Parse([]byte(kitFlow))
	require.NoError(t, err)
	_, err = eng.Publish(t.Context(), f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(t.Context(), "trial"))
	return eng, clk, sender, api
}

func enter(t *testing.T, eng *flow.Engine, who string) store.PersonRef {
	t.Helper()
	ref := store.PersonRef{ExternalID: who}
	_, err := eng.UpdatePerson(t.Context(), ref, func(p *store.Person) error { p.Emails = []string{who + "@example.com"}; return nil })
	require.NoError(t, err)
	return ref
}

// The kit end to end: forced variants, scripted API answers by route,
// sends with their times, and each participant's path.
func TestKit(t *testing.T) {
	ctx := context.Background()
	eng, clk, sender, api := kitEngine(t, map[string]string{"ann": "a", "bob": "b", "cid": "a", "dan": "a"})
	api.Handle("GET /members/ann", flowtest.Response{Body: `{"points": 120}`})
	api.Handle("GET /members/cid", flowtest.Response{Status: 404})
	api.Handle("GET /members/dan", flowtest.Response{Delay: time.Second}) // longer than the element's 50ms timeout

	ids := map[string]uuid.UUID{}
	for _, who := range []string{"ann", "bob", "cid", "dan"} {
		id, err := eng.Enter(ctx, "trial", enter(t, eng, who), nil)
		require.NoError(t, err)
		ids[who] = id
	}
	_, err := flowtest.Advance(ctx, eng, clk, 3*24*time.Hour)
	require.NoError(t, err)

	flowtest.RequirePath(t, eng, ids["ann"], "split:a", "lookup:2xx", "hello:sent", "done")
	flowtest.RequirePath(t, eng, ids["bob"], "split:b", "pause", "hello:sent", "done")
	flowtest.RequirePath(t, eng, ids["cid"], "split:a", "lookup:4xx", "sorry")
	flowtest.RequirePath(t, eng, ids["dan"], "split:a", "lookup:error", "sorry")

	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	sent := sender.Sent()
	require.Len(t, sent, 2)
	require.Equal(t, "ann@example.com", sent[0].To)
	require.Equal(t, "You have 120 points", sent[0].Body)
	require.Equal(t, start, sent[0].At)
	require.Equal(t, "m1", sent[0].ID)
	bobs := sender.To("bob@example.com")
	require.Len(t, bobs, 1)
	require.Equal(t, start.Add(48*time.Hour), bobs[0].At, "after the two-day pause, by the engine's clock")
	require.Equal(t, "You have  points", bobs[0].Body)

	var routes []string
	for _, r := range api.Requests() {
		routes = append(routes, r.Method+" "+r.URL+" by "+r.Route)
		require.Equal(t, start, r.At)
		require.NotEmpty(t, r.Header.Get("Idempotency-Key"))
	}
	require.Equal(t, []string{
		"GET https://crm.example.com/members/ann by GET /members/ann",
		"GET https://crm.example.com/members/cid by GET /members/cid",
		"GET https://crm.example.com/members/dan by GET /members/dan",
	}, routes)
	dan, err := eng.Participant(ctx, ids["dan"])
	require.NoError(t, err)
	require.Contains(t, dan.Journal[1].Reason, "timed out after 50ms")
}

// Responses of a route are served in order, the last repeating; a request
// no route matches gets 404; an Err fails the request.
func TestHTTPScript(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	api := flowtest.NewHTTP(clk)
	boom := errors.New("connection reset")
	api.Handle("POST /points/{id}", flowtest.Response{Status: 503}, flowtest.Response{Status: 201, Body: `{"ok": true}`})
	api.Handle("GET /down", flowtest.Response{Err: boom})
	do := func(method, url string) (int, string, error) {
		req, err := http.NewRequest(method, url, strings.NewReader("x=1"))
		require.NoError(t, err)
		resp, err := api.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type") + " " + string(b), nil
	}
	for _, want := range []int{503, 201, 201} {
		code, _, err := do("POST", "https://api.example.com/points/7?x=1")
		require.NoError(t, err)
		require.Equal(t, want, code)
	}
	_, body, _ := do("POST", "https://api.example.com/points/7")
	require.Equal(t, `application/json {"ok": true}`, body)
	code, body, err := do("GET", "https://api.example.com/elsewhere")
	require.NoError(t, err)
	require.Equal(t, 404, code)
	require.Contains(t, body, "no route for GET /elsewhere")
	_, _, err = do("GET", "https://api.example.com/down")
	require.ErrorIs(t, err, boom)
	reqs := api.Requests()
	require.Len(t, reqs, 6)
	require.Equal(t, "x=1", reqs[0].Body)
	require.Equal(t, "POST /points/{id}", reqs[0].Route)
	require.Equal(t, "", reqs[4].Route)
}

// A forced variant the split lacks fails the step, naming it.
func TestForcedVariantUnknown(t *testing.T) {
	eng, _, _, _ := kitEngine(t, map[string]string{"eve": "c"})
	id, err := eng.Enter(t.Context(), "trial", enter(t, eng, "eve"), nil)
	require.NoError(t, err)
	p, err := eng.Participant(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, store.Failed, p.Status)
	require.Equal(t, `element "split" failed: the host chose variant "c", which the split does not have (it has a, b)`, p.Reason)
}

// Path writes each element once per visit, with the branch unless it is
// "next".
func TestPath(t *testing.T) {
	p := &store.Participant{Journal: []store.Step{
		{Element: "tag", Branch: "next"},
		{Element: "wait", Reason: "waiting"},
		{Element: "wait", Reason: "overdue"},
		{Element: "wait", Branch: "timeout"},
		{Element: "loop", Branch: "next"},
		{Element: "loop", Branch: "next"},
		{Element: "last", Branch: "next"},
		{Element: "last", Reason: "left the flow"},
	}}
	require.Equal(t, []string{"tag", "wait:timeout", "loop", "loop", "last"}, flowtest.Path(p))
}

func TestMostWithin(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(secs ...int) []time.Time {
		var out []time.Time
		for _, s := range secs {
			out = append(out, t0.Add(time.Duration(s)*time.Second))
		}
		return out
	}
	require.Zero(t, flowtest.MostWithin(nil, time.Minute))
	require.Equal(t, 2, flowtest.MostWithin(at(0, 60, 120), 61*time.Second))
	require.Equal(t, 1, flowtest.MostWithin(at(120, 0, 60), time.Minute), "windows are half open, and order does not matter")
	require.Equal(t, 3, flowtest.MostWithin(at(0, 1, 2, 100), time.Minute))
}
