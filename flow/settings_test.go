package flow_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// settings is a host's settings, changed while the engine runs.
type settings struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *settings) lookup(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[name]
	return v, ok
}

func (s *settings) set(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[name] = value
}

// received is what an endpoint got.
type received struct {
	server, path, key, auth string
}

func recordingServer(t *testing.T, name string, mu *sync.Mutex, got *[]received) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*got = append(*got, received{name, r.URL.Path, r.URL.Query().Get("key"), r.Header.Get("Authorization")})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv
}

const settingsFlow = `{
  "id": "sync", "timezone": "UTC",
  "elements": [
    {"id": "first", "type": "callApi", "url": "{{env.API_BASE}}/points?key={{env.API_KEY}}",
     "headers": {"Authorization": "Bearer {{env.API_TOKEN}}"}, "next": {"2xx": "pause"}},
    {"id": "pause", "type": "pause", "mode": "for", "period": {"amount": 1, "unit": "days"}, "next": {"next": "second"}},
    {"id": "second", "type": "callApi", "url": "{{env.API_BASE}}/points?key={{env.API_KEY}}",
     "headers": {"Authorization": "Bearer {{env.API_TOKEN}}"}, "next": {"2xx": "done"}},
    {"id": "done", "type": "exit"}
  ]}`

// A setting changed between two steps of one participant applies to the
// second, and no setting's value is kept in the version, the journal or
// the reasons.
func TestSettingsResolvedPerStep(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var got []received
	a := recordingServer(t, "a", &mu, &got)
	b := recordingServer(t, "b", &mu, &got)
	host := &settings{m: map[string]string{"API_BASE": a.URL + "/v1", "API_KEY": "key-one-7f3a", "API_TOKEN": "token-one-91c2"}}

	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	st := memory.New()
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clk, Ports: flow.Ports{Settings: host.lookup}})
	require.NoError(t, err)
	f, err := flow.Parse([]byte(settingsFlow))
	require.NoError(t, err)
	integPublish(t, eng, f)

	id, err := eng.Enter(ctx, "sync", store.PersonRef{ExternalID: "p1"}, nil)
	require.NoError(t, err)
	host.set("API_BASE", b.URL+"/v2")
	host.set("API_KEY", "key-two-44d0")
	host.set("API_TOKEN", "token-two-0b7e")
	_, err = flowtest.Advance(ctx, eng, clk, 25*time.Hour)
	require.NoError(t, err)

	mu.Lock()
	require.Equal(t, []received{
		{"a", "/v1/points", "key-one-7f3a", "Bearer token-one-91c2"},
		{"b", "/v2/points", "key-two-44d0", "Bearer token-two-0b7e"},
	}, got)
	mu.Unlock()

	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Completed, p.Status)
	require.Equal(t, "GET {{env.API_BASE}}/points: 200", integStep(t, p, "first").Reason)
	require.Equal(t, "GET {{env.API_BASE}}/points: 200", integStep(t, p, "second").Reason)

	secrets := []string{a.URL, b.URL, strings.TrimPrefix(a.URL, "http://"), strings.TrimPrefix(b.URL, "http://"),
		"key-one-7f3a", "key-two-44d0", "token-one-91c2", "token-two-0b7e"}
	fv, err := st.FlowVersion(ctx, "sync", 1)
	require.NoError(t, err)
	stored, err := eng.FlowVersion(ctx, "sync", 1)
	require.NoError(t, err)
	storedJSON, err := json.Marshal(stored)
	require.NoError(t, err)
	record, err := json.Marshal(p)
	require.NoError(t, err)
	for _, s := range secrets {
		require.NotContains(t, string(fv.Document), s)
		require.NotContains(t, string(storedJSON), s)
		require.NotContains(t, string(record), s, "participant record")
	}
	require.Contains(t, string(fv.Document), "{{env.API_BASE}}/points?key={{env.API_KEY}}")
}

// A failing call whose target comes from a setting names the setting, not
// its value, in the participant's reason, journal and the observer's view.
func TestSettingsRedactedFromErrors(t *testing.T) {
	ctx := context.Background()
	dead := httptest.NewServer(http.NotFoundHandler())
	base := dead.URL
	dead.Close() // connections to it are refused
	host := &settings{m: map[string]string{"API_BASE": base, "API_KEY": "k-5e1d9", "API_TOKEN": "t-88aa3"}}
	var obs recordingObserver
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Observer: &obs, Ports: flow.Ports{Settings: host.lookup}})
	require.NoError(t, err)
	f, err := flow.Parse([]byte(settingsFlow))
	require.NoError(t, err)
	integPublish(t, eng, f)

	id, err := eng.Enter(ctx, "sync", store.PersonRef{ExternalID: "p1"}, nil)
	require.NoError(t, err)
	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Failed, p.Status)
	require.Contains(t, p.Reason, `element "first" failed: GET {{env.API_BASE}}/points: `)
	hostPort := strings.TrimPrefix(base, "http://")
	record, err := json.Marshal(p)
	require.NoError(t, err)
	require.NotContains(t, string(record), hostPort)
	for _, o := range obs.all() {
		require.NotContains(t, o.Reason, hostPort)
		if o.Err != nil {
			require.NotContains(t, o.Err.Error(), hostPort)
		}
	}
}

// A setting the host does not have fails the step, naming the setting.
func TestSettingUnset(t *testing.T) {
	ctx := context.Background()
	host := &settings{m: map[string]string{}}
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)), Ports: flow.Ports{Settings: host.lookup}})
	require.NoError(t, err)
	f, err := flow.Parse([]byte(settingsFlow))
	require.NoError(t, err)
	integPublish(t, eng, f)
	id, err := eng.Enter(ctx, "sync", store.PersonRef{ExternalID: "p1"}, nil)
	require.NoError(t, err)
	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Failed, p.Status)
	require.Equal(t, `element "first" failed: url: expression "env.API_BASE": setting env.API_BASE is not set`, p.Reason)
}

// Without Config.Ports.Settings, {{env.NAME}} reads the process's environment.
func TestSettingsDefaultToEnvironment(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var got []received
	srv := recordingServer(t, "env", &mu, &got)
	t.Setenv("FLOWKIT_TEST_API", srv.URL+"/from-env")
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	eng := integEngine(t, clk, flow.Config{})
	f, err := flow.Parse([]byte(`{"id": "hi", "elements": [
	  {"id": "call", "type": "callApi", "url": "{{env.FLOWKIT_TEST_API}}/hello"}]}`))
	require.NoError(t, err)
	integPublish(t, eng, f)
	_, err = eng.Enter(ctx, "hi", store.PersonRef{ExternalID: "ann"}, nil)
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []received{{server: "env", path: "/from-env/hello"}}, got)
}

// Settings are read by name: an expression that would see all of them is
// refused at Publish, and "env" is no variable name.
func TestSettingsRefusedShapes(t *testing.T) {
	eng, err := flow.NewEngine(flow.Config{Store: memory.New()})
	require.NoError(t, err)
	for _, tc := range []struct{ doc, want string }{
		{`{"id": "x", "elements": [{"id": "v", "type": "updateVariable", "set": [{"variable": "s", "formula": "string(env)"}]}], "variables": {"s": {"type": "text"}}}`,
			`env is read by setting name, such as env.API_URL`},
		{`{"id": "x", "elements": [{"id": "v", "type": "updateVariable", "set": [{"variable": "s", "formula": "env[s]"}]}], "variables": {"s": {"type": "text"}}}`,
			`env is read by setting name, such as env.API_URL`},
		{`{"id": "x", "elements": [{"id": "e", "type": "exit"}], "variables": {"env": {"type": "text"}}}`,
			`"env"`},
	} {
		f, err := flow.Parse([]byte(tc.doc))
		if err == nil {
			_, err = eng.Publish(context.Background(), f)
		}
		require.ErrorContains(t, err, tc.want, tc.doc)
	}
}

// recordingObserver keeps every observation.
type recordingObserver struct {
	mu  sync.Mutex
	obs []flow.Observation
}

func (o *recordingObserver) Observe(_ context.Context, ob *flow.Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.obs = append(o.obs, *ob)
}

func (o *recordingObserver) all() []flow.Observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]flow.Observation(nil), o.obs...)
}
