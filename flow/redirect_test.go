package flow_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// A Call API redirected to another host by its endpoint: the engine's
// client does not send the setting's token there, and the journal says
// where the call went, with no setting's value in it.
func TestCallAPIRedirectJournal(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var keys []string                           // the X-Api-Key the other host received
	ln, err := net.Listen("tcp", "127.0.0.2:0") // another host
	require.NoError(t, err)
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("X-Api-Key"))
		mu.Unlock()
	}))
	other.Listener.Close()
	other.Listener = ln
	other.Start()
	defer other.Close()
	const token = "tok-4b1e-secret"
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The endpoint repeats the token in the place it sends the call.
		http.Redirect(w, r, other.URL+"/in/"+token+"/points", http.StatusFound)
	}))
	defer first.Close()

	host := &settings{m: map[string]string{"API_TOKEN": token, "API_BASE": first.URL + "/" + token}}
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	st := memory.New()
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clk, Ports: flow.Ports{Settings: host.lookup}})
	require.NoError(t, err)
	f, err := flow.Parse([]byte(`{"id": "redir", "elements": [
	  {"id": "literal", "type": "callApi", "url": "` + first.URL + `/members/{{person.externalId}}",
	   "headers": {"X-Api-Key": "{{env.API_TOKEN}}"}, "next": {"2xx": "based"}},
	  {"id": "based", "type": "callApi", "url": "{{env.API_BASE}}/points",
	   "headers": {"X-Api-Key": "{{env.API_TOKEN}}"}, "next": {"2xx": "done"}},
	  {"id": "done", "type": "exit"}]}`))
	require.NoError(t, err)
	integPublish(t, eng, f)
	id, err := eng.Enter(ctx, "redir", store.PersonRef{ExternalID: "ann"}, nil)
	require.NoError(t, err)

	p := integParticipant(t, eng, id)
	require.Equal(t, store.Completed, p.Status, p.Reason)
	mu.Lock()
	require.Equal(t, []string{"", ""}, keys, "the token never reaches the other host")
	mu.Unlock()
	require.Equal(t, "GET "+first.URL+"/members/ann: redirected to "+other.URL+"/in/{{env.API_TOKEN}}/points"+
		" (another origin: the element's headers not sent): 200", integStep(t, p, "literal").Reason)
	// A URL that starts with a setting shows its hops by origin alone: its
	// path may hold a secret that the hop repeats elsewhere.
	require.Equal(t, "GET {{env.API_BASE}}/points: redirected to "+other.URL+
		" (another origin: the element's headers not sent): 200", integStep(t, p, "based").Reason)
	record, err := json.Marshal(p)
	require.NoError(t, err)
	require.NotContains(t, string(record), token)
}
